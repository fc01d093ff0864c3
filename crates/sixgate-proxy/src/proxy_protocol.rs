//! The PROXY protocol (HAProxy's specification, `proxy-protocol.txt`), versions 1 and 2.
//!
//! The proxy puts a header in front of the stream it opens to a backend, so that the
//! backend learns the client's address; [`decode`] reads one at the start of a stream,
//! for a proxy that sits behind another. Version 1 is one text line of at most
//! [`V1_MAX_LEN`] bytes; version 2 is binary: the [`V2_SIGNATURE`], version and command,
//! family and transport, a length, the addresses, then type-length-values ([`Tlv`]).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use crate::Peek;

/// The longest version 1 header, CRLF included (spec §2.1: 107 bytes for `TCP6`).
pub const V1_MAX_LEN: usize = 107;
/// The first 12 bytes of every version 2 header (spec §2.2).
pub const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";
/// The longest version 2 header: 16 fixed bytes and a 16-bit length.
pub const V2_MAX_LEN: usize = 16 + 0xffff;

/// `PP2_TYPE_ALPN`: the application protocol in use over the connection (spec §2.2.1).
pub const PP2_TYPE_ALPN: u8 = 0x01;
/// `PP2_TYPE_AUTHORITY`: the host name the client asked for, e.g. its SNI (spec §2.2.2).
pub const PP2_TYPE_AUTHORITY: u8 = 0x02;
/// `PP2_TYPE_CRC32C`: a CRC32c of the whole header (spec §2.2.3).
pub const PP2_TYPE_CRC32C: u8 = 0x03;
/// `PP2_TYPE_NOOP`: ignored, for padding (spec §2.2.4).
pub const PP2_TYPE_NOOP: u8 = 0x04;
/// `PP2_TYPE_UNIQUE_ID`: an opaque connection identifier of up to 128 bytes (spec §2.2.5).
pub const PP2_TYPE_UNIQUE_ID: u8 = 0x05;
/// `PP2_TYPE_SSL`: client flags, verify result and `PP2_SUBTYPE_SSL_*` sub-TLVs (spec §2.2.6).
pub const PP2_TYPE_SSL: u8 = 0x20;
/// `PP2_SUBTYPE_SSL_VERSION` inside [`PP2_TYPE_SSL`].
pub const PP2_SUBTYPE_SSL_VERSION: u8 = 0x21;
/// `PP2_SUBTYPE_SSL_CN` inside [`PP2_TYPE_SSL`].
pub const PP2_SUBTYPE_SSL_CN: u8 = 0x22;
/// `PP2_SUBTYPE_SSL_CIPHER` inside [`PP2_TYPE_SSL`].
pub const PP2_SUBTYPE_SSL_CIPHER: u8 = 0x23;
/// `PP2_SUBTYPE_SSL_SIG_ALG` inside [`PP2_TYPE_SSL`].
pub const PP2_SUBTYPE_SSL_SIG_ALG: u8 = 0x24;
/// `PP2_SUBTYPE_SSL_KEY_ALG` inside [`PP2_TYPE_SSL`].
pub const PP2_SUBTYPE_SSL_KEY_ALG: u8 = 0x25;
/// `PP2_TYPE_NETNS`: the network namespace name (spec §2.2.7).
pub const PP2_TYPE_NETNS: u8 = 0x30;

/// The longest `PP2_TYPE_UNIQUE_ID` value (spec §2.2.5).
const MAX_UNIQUE_ID: usize = 128;

/// One type-length-value of a version 2 header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tlv {
    /// The type (`PP2_TYPE_*`).
    pub kind: u8,
    /// The value.
    pub value: Vec<u8>,
}

impl Tlv {
    /// A TLV of any type.
    pub fn new(kind: u8, value: impl Into<Vec<u8>>) -> Self {
        Self { kind, value: value.into() }
    }

    /// `PP2_TYPE_AUTHORITY` with a host name (the client's SNI or `Host`).
    pub fn authority(name: &str) -> Self {
        Self::new(PP2_TYPE_AUTHORITY, name.as_bytes())
    }

    /// `PP2_TYPE_ALPN` with the protocol in use (e.g. `b"h2"`).
    pub fn alpn(protocol: &[u8]) -> Self {
        Self::new(PP2_TYPE_ALPN, protocol)
    }

    /// `PP2_TYPE_UNIQUE_ID` with an identifier of up to 128 bytes.
    pub fn unique_id(id: &[u8]) -> Self {
        Self::new(PP2_TYPE_UNIQUE_ID, id)
    }

    /// `PP2_TYPE_CRC32C`: [`encode_v2`] computes its value.
    pub fn crc32c() -> Self {
        Self::new(PP2_TYPE_CRC32C, [0; 4])
    }

    /// The sub-TLVs of a well-formed `PP2_TYPE_SSL` value: the client flags
    /// (`PP2_CLIENT_*`), the verify result (0 when the client certificate was verified)
    /// and the sub-TLVs; `None` for another type or a malformed value.
    pub fn ssl(&self) -> Option<(u8, u32, Vec<Self>)> {
        if self.kind != PP2_TYPE_SSL {
            return None;
        }
        let (&client, rest) = self.value.split_first()?;
        let verify = u32::from_be_bytes(rest.get(..4)?.try_into().ok()?);
        let subs = parse_tlvs(&rest[4..]).ok()?;
        Some((client, verify, subs))
    }
}

/// A decoded PROXY header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The original connection's addresses; `None` for `LOCAL` (v2) or `UNKNOWN` (v1).
    pub addresses: Option<(SocketAddr, SocketAddr)>,
    /// The TLVs (version 2 only).
    pub tlvs: Vec<Tlv>,
}

impl Header {
    /// The value of the first TLV of type `kind`.
    pub fn tlv(&self, kind: u8) -> Option<&[u8]> {
        self.tlvs.iter().find(|t| t.kind == kind).map(|t| t.value.as_slice())
    }

    /// The `PP2_TYPE_AUTHORITY` value, when it is UTF-8.
    pub fn authority(&self) -> Option<&str> {
        self.tlv(PP2_TYPE_AUTHORITY).and_then(|v| std::str::from_utf8(v).ok())
    }

    /// The `PP2_TYPE_ALPN` value.
    pub fn alpn(&self) -> Option<&[u8]> {
        self.tlv(PP2_TYPE_ALPN)
    }
}

/// Why bytes are not a PROXY header.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProxyError {
    /// Neither signature.
    #[error("no PROXY protocol signature")]
    NoSignature,
    /// The header is malformed.
    #[error("malformed PROXY header: {0}")]
    Malformed(&'static str),
    /// A `PP2_TYPE_CRC32C` TLV does not match the header.
    #[error("PROXY header CRC32c mismatch")]
    Checksum,
}

/// Both addresses in one family: IPv4 when both are IPv4 (or IPv4-mapped IPv6, as a
/// dual-stack socket reports an IPv4 peer), else IPv6 with any IPv4 one mapped.
fn same_family(source: SocketAddr, destination: SocketAddr) -> (SocketAddr, SocketAddr) {
    let canon = |a: SocketAddr| SocketAddr::new(a.ip().to_canonical(), a.port());
    let (s, d) = (canon(source), canon(destination));
    if s.is_ipv4() == d.is_ipv4() {
        return (s, d);
    }
    let v6 = |a: SocketAddr| match a.ip() {
        IpAddr::V4(v4) => SocketAddr::new(IpAddr::V6(v4.to_ipv6_mapped()), a.port()),
        IpAddr::V6(_) => a,
    };
    (v6(s), v6(d))
}

/// The version 1 (text) header for a connection from `source` to `destination`.
///
/// `PROXY TCP4 …` or `PROXY TCP6 …` (spec §2.1); mixed families are written as `TCP6`
/// with the IPv4 address mapped.
pub fn encode_v1(source: SocketAddr, destination: SocketAddr) -> Vec<u8> {
    let (s, d) = same_family(source, destination);
    let proto = if s.is_ipv4() { "TCP4" } else { "TCP6" };
    format!("PROXY {proto} {} {} {} {}\r\n", s.ip(), d.ip(), s.port(), d.port()).into_bytes()
}

/// The version 2 (binary) header, command PROXY, stream, with `tlvs`.
///
/// A [`PP2_TYPE_CRC32C`] TLV among `tlvs` gets the checksum of the header (any further one
/// is left out). TLVs that would make the header longer than [`V2_MAX_LEN`] are left out.
pub fn encode_v2(source: SocketAddr, destination: SocketAddr, tlvs: &[Tlv]) -> Vec<u8> {
    let (s, d) = same_family(source, destination);
    let mut out = Vec::with_capacity(16 + 36 + tlvs.iter().map(|t| 3 + t.value.len()).sum::<usize>());
    out.extend_from_slice(&V2_SIGNATURE);
    // Version 2, command PROXY; TCP over IPv4 (0x11) or IPv6 (0x21).
    out.push(0x21);
    out.push(if s.is_ipv4() { 0x11 } else { 0x21 });
    out.extend_from_slice(&[0, 0]);
    match (s.ip(), d.ip()) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            out.extend_from_slice(&a.octets());
            out.extend_from_slice(&b.octets());
        }
        _ => {
            out.extend_from_slice(&v6_of(s.ip()).octets());
            out.extend_from_slice(&v6_of(d.ip()).octets());
        }
    }
    out.extend_from_slice(&s.port().to_be_bytes());
    out.extend_from_slice(&d.port().to_be_bytes());
    let mut crc_at = None;
    for t in tlvs {
        let value: &[u8] = if t.kind == PP2_TYPE_CRC32C {
            if crc_at.is_some() {
                continue;
            }
            &[0; 4]
        } else {
            &t.value
        };
        if out.len() + 3 + value.len() > V2_MAX_LEN {
            continue;
        }
        if t.kind == PP2_TYPE_CRC32C {
            crc_at = Some(out.len() + 3);
        }
        out.push(t.kind);
        out.extend_from_slice(&(value.len() as u16).to_be_bytes());
        out.extend_from_slice(value);
    }
    let len = (out.len() - 16) as u16;
    out[14..16].copy_from_slice(&len.to_be_bytes());
    if let Some(at) = crc_at {
        let crc = crc32c(&out);
        out[at..at + 4].copy_from_slice(&crc.to_be_bytes());
    }
    out
}

/// What [`encode_v2_with`] adds to a version 2 header.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct V2Tlvs<'a> {
    /// `PP2_TYPE_AUTHORITY`: the name the client asked for (its SNI or `Host`).
    pub authority: Option<&'a str>,
    /// `PP2_TYPE_ALPN`: the protocol in use, when known. A proxy that does not terminate
    /// TLS only knows what the client offered, which is not what the spec means.
    pub alpn: Option<&'a [u8]>,
    /// `PP2_TYPE_UNIQUE_ID`: a connection identifier (up to 128 bytes).
    pub unique_id: Option<&'a [u8]>,
    /// A `PP2_TYPE_CRC32C` checksum over the header.
    pub crc32c: bool,
    /// Any further TLVs, after those above.
    pub extra: &'a [Tlv],
}

/// [`encode_v2`] with the TLVs a name-routing proxy knows: the authority (SNI or `Host`),
/// ALPN, a unique ID, a checksum, in that order.
pub fn encode_v2_with(source: SocketAddr, destination: SocketAddr, tlvs: &V2Tlvs<'_>) -> Vec<u8> {
    let mut list = Vec::with_capacity(4 + tlvs.extra.len());
    if let Some(a) = tlvs.authority {
        list.push(Tlv::authority(a));
    }
    if let Some(p) = tlvs.alpn {
        list.push(Tlv::alpn(p));
    }
    if let Some(id) = tlvs.unique_id {
        list.push(Tlv::unique_id(id));
    }
    list.extend_from_slice(tlvs.extra);
    if tlvs.crc32c {
        list.push(Tlv::crc32c());
    }
    encode_v2(source, destination, &list)
}

fn v6_of(ip: IpAddr) -> Ipv6Addr {
    match ip {
        IpAddr::V4(a) => a.to_ipv6_mapped(),
        IpAddr::V6(a) => a,
    }
}

/// Decodes a v1 or v2 header at the start of `buf`: the header and its length in bytes.
///
/// `NeedMore` while `buf` is a prefix of a header (at most [`V1_MAX_LEN`] or
/// [`V2_MAX_LEN`] bytes are ever needed). `NoSignature` as soon as the first bytes match
/// neither signature, so a proxy can accept streams with and without a header.
pub fn decode(buf: &[u8]) -> Result<Peek<(Header, usize)>, ProxyError> {
    const V1_PREFIX: &[u8] = b"PROXY ";
    let n = buf.len();
    if (n < V2_SIGNATURE.len() && V2_SIGNATURE.starts_with(buf)) || (n < V1_PREFIX.len() && V1_PREFIX.starts_with(buf))
    {
        return Ok(Peek::NeedMore);
    }
    if buf.starts_with(&V2_SIGNATURE) {
        decode_v2(buf)
    } else if buf.starts_with(V1_PREFIX) {
        decode_v1(buf)
    } else {
        Err(ProxyError::NoSignature)
    }
}

/// Spec §2.1: `PROXY` SP (`TCP4` | `TCP6`) SP src SP dst SP sport SP dport CRLF, or
/// `PROXY UNKNOWN` followed by anything up to the CRLF.
fn decode_v1(buf: &[u8]) -> Result<Peek<(Header, usize)>, ProxyError> {
    let window = &buf[..buf.len().min(V1_MAX_LEN)];
    let Some(cr) = window.windows(2).position(|w| w == b"\r\n") else {
        if window.len() >= V1_MAX_LEN {
            return Err(ProxyError::Malformed("v1 header without CRLF in 107 bytes"));
        }
        if window.contains(&b'\n') || window[..window.len() - 1].contains(&b'\r') {
            return Err(ProxyError::Malformed("v1 header with a bare CR or LF"));
        }
        return Ok(Peek::NeedMore);
    };
    let line = &window[6..cr];
    let len = cr + 2;
    if line == b"UNKNOWN" || line.starts_with(b"UNKNOWN ") {
        return Ok(Peek::Done((Header { addresses: None, tlvs: Vec::new() }, len)));
    }
    let text = std::str::from_utf8(line).map_err(|_| ProxyError::Malformed("v1 header is not ASCII"))?;
    let mut f = text.split(' ');
    let (Some(proto), Some(src), Some(dst), Some(sport), Some(dport), None) =
        (f.next(), f.next(), f.next(), f.next(), f.next(), f.next())
    else {
        return Err(ProxyError::Malformed("v1 header is not PROXY proto src dst sport dport"));
    };
    let port = |p: &str| -> Result<u16, ProxyError> {
        if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ProxyError::Malformed("v1 port is not a number from 0 to 65535"));
        }
        p.parse().map_err(|_| ProxyError::Malformed("v1 port is not a number from 0 to 65535"))
    };
    let (sport, dport) = (port(sport)?, port(dport)?);
    let addresses = match proto {
        "TCP4" => {
            let a: Ipv4Addr =
                src.parse().map_err(|_| ProxyError::Malformed("v1 TCP4 source is not an IPv4 address"))?;
            let b: Ipv4Addr =
                dst.parse().map_err(|_| ProxyError::Malformed("v1 TCP4 destination is not an IPv4 address"))?;
            (SocketAddr::V4(SocketAddrV4::new(a, sport)), SocketAddr::V4(SocketAddrV4::new(b, dport)))
        }
        "TCP6" => {
            let a: Ipv6Addr =
                src.parse().map_err(|_| ProxyError::Malformed("v1 TCP6 source is not an IPv6 address"))?;
            let b: Ipv6Addr =
                dst.parse().map_err(|_| ProxyError::Malformed("v1 TCP6 destination is not an IPv6 address"))?;
            (SocketAddr::V6(SocketAddrV6::new(a, sport, 0, 0)), SocketAddr::V6(SocketAddrV6::new(b, dport, 0, 0)))
        }
        _ => return Err(ProxyError::Malformed("v1 protocol is not TCP4, TCP6 or UNKNOWN")),
    };
    Ok(Peek::Done((Header { addresses: Some(addresses), tlvs: Vec::new() }, len)))
}

/// Spec §2.2: signature, version/command, family/transport, length, addresses, TLVs.
fn decode_v2(buf: &[u8]) -> Result<Peek<(Header, usize)>, ProxyError> {
    let Some(fixed) = buf.get(..16) else {
        // The version byte is refused before the rest arrives.
        if buf.len() > 12 && buf[12] >> 4 != 2 {
            return Err(ProxyError::Malformed("v2 version is not 2"));
        }
        return Ok(Peek::NeedMore);
    };
    let (ver_cmd, fam) = (fixed[12], fixed[13]);
    if ver_cmd >> 4 != 2 {
        return Err(ProxyError::Malformed("v2 version is not 2"));
    }
    let local = match ver_cmd & 0x0f {
        0 => true,
        1 => false,
        _ => return Err(ProxyError::Malformed("v2 command is neither LOCAL nor PROXY")),
    };
    let len = 16 + usize::from(u16::from_be_bytes([fixed[14], fixed[15]]));
    let Some(header) = buf.get(..len) else { return Ok(Peek::NeedMore) };
    // Spec §2.2: LOCAL (health checks and the like) uses the real endpoints; the rest of
    // the block is discarded, family included.
    if local {
        return Ok(Peek::Done((Header { addresses: None, tlvs: Vec::new() }, len)));
    }
    match fam & 0x0f {
        0 | 1 => {}
        2 => return Err(ProxyError::Malformed("v2 transport is DGRAM, not a stream")),
        _ => return Err(ProxyError::Malformed("v2 transport unknown")),
    }
    let block = &header[16..];
    let (addresses, addr_len) = match fam >> 4 {
        // UNSPEC: the receiver uses the real endpoints and ignores the block.
        0 => return Ok(Peek::Done((Header { addresses: None, tlvs: Vec::new() }, len))),
        1 => {
            let a = block.get(..12).ok_or(ProxyError::Malformed("v2 block shorter than IPv4 addresses"))?;
            let ip = |i: usize| Ipv4Addr::new(a[i], a[i + 1], a[i + 2], a[i + 3]);
            let port = |i: usize| u16::from_be_bytes([a[i], a[i + 1]]);
            (Some((SocketAddr::new(ip(0).into(), port(8)), SocketAddr::new(ip(4).into(), port(10)))), 12)
        }
        2 => {
            let a = block.get(..36).ok_or(ProxyError::Malformed("v2 block shorter than IPv6 addresses"))?;
            let ip = |i: usize| Ipv6Addr::from(<[u8; 16]>::try_from(&a[i..i + 16]).unwrap_or_default());
            let port = |i: usize| u16::from_be_bytes([a[i], a[i + 1]]);
            (Some((SocketAddr::new(ip(0).into(), port(32)), SocketAddr::new(ip(16).into(), port(34)))), 36)
        }
        // AF_UNIX: two 108-byte paths, no socket address to give.
        3 => {
            if block.len() < 216 {
                return Err(ProxyError::Malformed("v2 block shorter than UNIX addresses"));
            }
            (None, 216)
        }
        _ => return Err(ProxyError::Malformed("v2 address family unknown")),
    };
    let tlvs = parse_tlvs(&block[addr_len..])?;
    let mut crc_seen = false;
    for (i, t) in tlvs.iter().enumerate() {
        match t.kind {
            PP2_TYPE_CRC32C => {
                if std::mem::replace(&mut crc_seen, true) || t.value.len() != 4 {
                    return Err(ProxyError::Malformed("v2 CRC32C TLV repeated or not 4 bytes"));
                }
                // Spec §2.2.3: computed over the whole header with the field set to 0.
                let at = 16 + addr_len + tlv_offset(&tlvs, i) + 3;
                let mut copy = header.to_vec();
                copy[at..at + 4].fill(0);
                if crc32c(&copy).to_be_bytes()[..] != t.value[..] {
                    return Err(ProxyError::Checksum);
                }
            }
            PP2_TYPE_UNIQUE_ID if t.value.len() > MAX_UNIQUE_ID => {
                return Err(ProxyError::Malformed("v2 UNIQUE_ID longer than 128 bytes"));
            }
            PP2_TYPE_SSL if t.ssl().is_none() => return Err(ProxyError::Malformed("v2 SSL TLV malformed")),
            _ => {}
        }
    }
    Ok(Peek::Done((Header { addresses, tlvs }, len)))
}

/// Where TLV `i` starts in the TLV area.
fn tlv_offset(tlvs: &[Tlv], i: usize) -> usize {
    tlvs[..i].iter().map(|t| 3 + t.value.len()).sum()
}

/// A sequence of type, 16-bit length, value, filling `b` exactly.
fn parse_tlvs(mut b: &[u8]) -> Result<Vec<Tlv>, ProxyError> {
    let mut out = Vec::new();
    while !b.is_empty() {
        let [kind, hi, lo, rest @ ..] = b else {
            return Err(ProxyError::Malformed("v2 TLV header truncated"));
        };
        let n = usize::from(u16::from_be_bytes([*hi, *lo]));
        let value = rest.get(..n).ok_or(ProxyError::Malformed("v2 TLV value truncated"))?;
        out.push(Tlv { kind: *kind, value: value.to_vec() });
        b = &rest[n..];
    }
    Ok(out)
}

/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), as `PP2_TYPE_CRC32C` uses it.
pub fn crc32c(data: &[u8]) -> u32 {
    const TABLE: [u32; 256] = {
        let mut t = [0u32; 256];
        let mut i = 0;
        while i < 256 {
            let mut c = i as u32;
            let mut k = 0;
            while k < 8 {
                c = if c & 1 != 0 { (c >> 1) ^ 0x82F6_3B78 } else { c >> 1 };
                k += 1;
            }
            t[i] = c;
            i += 1;
        }
        t
    };
    !data.iter().fold(!0u32, |c, &b| TABLE[((c ^ u32::from(b)) & 0xff) as usize] ^ (c >> 8))
}
