//! TLS ClientHello: server name (SNI) and ALPN.
//!
//! The proxy reads the first bytes of a stream, hands all of them to [`peek_client_hello`]
//! after each read and forwards the same bytes, untouched, to the backend it picks. The
//! parser keeps no state between calls: it reassembles the handshake message from the TLS
//! records each time (RFC 8446 §5.1 lets one handshake message span several records, and
//! TCP may cut anywhere), and copies only when the message does span records.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::Peek;

/// The most bytes of a stream buffered while waiting for a complete ClientHello.
pub const DEFAULT_LIMIT: usize = 16 * 1024;

/// TLS record content type `handshake` (RFC 8446 §5.1).
const CONTENT_HANDSHAKE: u8 = 22;
/// Handshake message type `client_hello` (RFC 8446 §4).
const CLIENT_HELLO: u8 = 1;
/// The longest record fragment, 2^14 bytes (RFC 8446 §5.1).
const MAX_FRAGMENT: usize = 1 << 14;
/// Extension `server_name` (RFC 6066 §3).
const EXT_SERVER_NAME: u16 = 0;
/// Extension `application_layer_protocol_negotiation` (RFC 7301 §3.1).
const EXT_ALPN: u16 = 16;
/// `NameType` `host_name` (RFC 6066 §3).
const NAME_TYPE_HOST_NAME: u8 = 0;

/// What the proxy needs from a ClientHello.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClientHello {
    /// The `host_name` of the server_name extension (RFC 6066 §3), lower-cased, without a
    /// trailing dot; `None` when the extension is absent, has no `host_name`, or names an
    /// IPv4 or IPv6 literal (RFC 6066 §3 does not permit literals: such a hello is treated
    /// like one without SNI, as an RFC-abiding client connecting by address would send).
    pub server_name: Option<String>,
    /// The protocols of the ALPN extension (RFC 7301 §3.1), in the client's order.
    pub alpn: Vec<Vec<u8>>,
    /// The legacy record version of the first record (for the alert the proxy may send).
    pub record_version: u16,
}

/// Why a stream does not begin with a usable ClientHello.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// The first byte is not a TLS handshake record (this includes an SSL 2.0-compatible
    /// hello, which TLS 1.3 servers must not accept, RFC 8446 §D.5).
    #[error("not a TLS handshake")]
    NotHandshake,
    /// The ClientHello did not end within the limit.
    #[error("ClientHello longer than {limit} bytes")]
    TooLong {
        /// The limit.
        limit: usize,
    },
    /// A length or field of the record or handshake is inconsistent.
    #[error("malformed ClientHello: {0}")]
    Malformed(&'static str),
    /// The `host_name` of the server_name extension is not a valid host name.
    #[error("bad server name in ClientHello: {0}")]
    BadServerName(&'static str),
}

/// Parses the ClientHello at the start of `buf` (all bytes read so far), buffering at most
/// `limit` bytes.
///
/// `NeedMore` until the whole handshake message is there; bytes after it are ignored. The
/// stream is refused as soon as its first bytes show it cannot become a ClientHello, so
/// garbage is closed without waiting for a timeout.
pub fn peek_client_hello(buf: &[u8], limit: usize) -> Result<Peek<ClientHello>, TlsError> {
    let avail = &buf[..buf.len().min(limit)];
    match reassemble(avail, limit)? {
        Some((record_version, msg)) => {
            let mut hello = parse_client_hello(msg.body())?;
            hello.record_version = record_version;
            Ok(Peek::Done(hello))
        }
        None if buf.len() >= limit => Err(TlsError::TooLong { limit }),
        None => Ok(Peek::NeedMore),
    }
}

/// A fatal `unrecognized_name` alert record (RFC 6066 §3, RFC 8446 §6.2) to send before closing.
pub fn unrecognized_name_alert(record_version: u16) -> [u8; 7] {
    let v = record_version.to_be_bytes();
    [21, v[0], v[1], 0, 2, 2, 112]
}

/// The handshake message, borrowed when it lies in one record, else copied together.
enum Message<'a> {
    Borrowed(&'a [u8]),
    Joined(Vec<u8>),
}

impl Message<'_> {
    /// The ClientHello body, after the 4-byte handshake header.
    fn body(&self) -> &[u8] {
        let m = match self {
            Message::Borrowed(m) => m,
            Message::Joined(m) => m.as_slice(),
        };
        m.get(4..).unwrap_or_default()
    }
}

/// Checks what there is of a record header at `avail[off..]` (fewer than 5 bytes), so
/// that a stream that is not TLS is refused at its first byte.
fn check_partial_header(h: &[u8], first: bool) -> Result<(), TlsError> {
    let not = || {
        if first {
            TlsError::NotHandshake
        } else {
            TlsError::Malformed("record other than handshake before the ClientHello ended")
        }
    };
    match h {
        [] => Ok(()),
        [t, ..] if *t != CONTENT_HANDSHAKE => Err(not()),
        [_, major, ..] if *major != 3 => Err(not()),
        _ => Ok(()),
    }
}

/// The record version and handshake message at the start of `avail`, `None` while
/// incomplete.
fn reassemble(avail: &[u8], limit: usize) -> Result<Option<(u16, Message<'_>)>, TlsError> {
    let mut off = 0;
    let mut record_version = 0;
    let mut joined: Vec<u8> = Vec::new();
    loop {
        let first = off == 0;
        let Some(h) = avail.get(off..off + 5) else {
            check_partial_header(&avail[off..], first)?;
            return Ok(None);
        };
        check_partial_header(h, first)?;
        if first {
            record_version = u16::from_be_bytes([h[1], h[2]]);
        }
        let len = usize::from(u16::from_be_bytes([h[3], h[4]]));
        // RFC 8446 §5.1: no zero-length handshake fragments; at most 2^14 bytes each.
        if len == 0 {
            return Err(TlsError::Malformed("empty handshake record"));
        }
        if len > MAX_FRAGMENT {
            return Err(TlsError::Malformed("record longer than 2^14 bytes"));
        }
        let start = off + 5;
        let end = start + len;
        let frag = &avail[start..end.min(avail.len())];
        // The common case: the whole message within the first record, borrowed.
        if first {
            if let Some(need) = message_len(frag, limit)? {
                if frag.len() >= need {
                    return Ok(Some((record_version, Message::Borrowed(&frag[..need]))));
                }
            }
        }
        joined.extend_from_slice(frag);
        if let Some(need) = message_len(&joined, limit)? {
            if joined.len() >= need {
                joined.truncate(need);
                return Ok(Some((record_version, Message::Joined(joined))));
            }
        }
        if end > avail.len() {
            return Ok(None);
        }
        off = end;
    }
}

/// The length of the handshake message (header included) that `msg` begins, once its
/// header is there; refuses anything but a ClientHello, and one that cannot fit `limit`.
fn message_len(msg: &[u8], limit: usize) -> Result<Option<usize>, TlsError> {
    match msg.first() {
        None => return Ok(None),
        Some(&CLIENT_HELLO) => {}
        Some(_) => return Err(TlsError::Malformed("first handshake message is not a ClientHello")),
    }
    let Some(h) = msg.get(..4) else { return Ok(None) };
    let body = (usize::from(h[1]) << 16) | (usize::from(h[2]) << 8) | usize::from(h[3]);
    // version, random, session id, cipher suites, compression methods: 2 + 32 + 1 + 4 + 2.
    if body < 41 {
        return Err(TlsError::Malformed("ClientHello shorter than its fixed fields"));
    }
    let need = 4 + body;
    // The fewest stream bytes that carry it: one 5-byte header per 2^14 bytes.
    if need + 5 * need.div_ceil(MAX_FRAGMENT) > limit {
        return Err(TlsError::TooLong { limit });
    }
    Ok(Some(need))
}

/// A cursor over a byte string; every read is checked.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], TlsError> {
        if self.0.len() < n {
            return Err(TlsError::Malformed(what));
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
    fn u8(&mut self, what: &'static str) -> Result<u8, TlsError> {
        Ok(self.take(1, what)?[0])
    }
    fn u16(&mut self, what: &'static str) -> Result<u16, TlsError> {
        let b = self.take(2, what)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }
    /// A vector with a one-byte length (RFC 8446 §3.4).
    fn vec8(&mut self, what: &'static str) -> Result<&'a [u8], TlsError> {
        let n = self.u8(what)?;
        self.take(usize::from(n), what)
    }
    /// A vector with a two-byte length (RFC 8446 §3.4).
    fn vec16(&mut self, what: &'static str) -> Result<&'a [u8], TlsError> {
        let n = self.u16(what)?;
        self.take(usize::from(n), what)
    }
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The ClientHello body (RFC 8446 §4.1.2; RFC 5246 §7.4.1.2 for TLS 1.2 and older).
fn parse_client_hello(body: &[u8]) -> Result<ClientHello, TlsError> {
    let mut r = Reader(body);
    let version = r.u16("truncated legacy_version")?;
    if version >> 8 != 3 {
        return Err(TlsError::Malformed("legacy_version is not 3.x"));
    }
    r.take(32, "truncated random")?;
    if r.vec8("truncated legacy_session_id")?.len() > 32 {
        return Err(TlsError::Malformed("legacy_session_id longer than 32 bytes"));
    }
    let suites = r.vec16("truncated cipher_suites")?;
    if suites.is_empty() || suites.len() % 2 != 0 {
        return Err(TlsError::Malformed("cipher_suites empty or of odd length"));
    }
    if r.vec8("truncated legacy_compression_methods")?.is_empty() {
        return Err(TlsError::Malformed("no compression method"));
    }
    let mut hello = ClientHello::default();
    // A TLS 1.2 or older hello may end here, without extensions (RFC 5246 §7.4.1.2).
    if r.is_empty() {
        return Ok(hello);
    }
    let mut exts = Reader(r.vec16("truncated extensions")?);
    if !r.is_empty() {
        return Err(TlsError::Malformed("bytes after the extensions"));
    }
    let (mut seen_sni, mut seen_alpn) = (false, false);
    while !exts.is_empty() {
        let kind = exts.u16("truncated extension type")?;
        let data = exts.vec16("truncated extension")?;
        // RFC 8446 §4.2: no more than one extension of the same type. Checked for the two
        // that steer routing; GREASE (RFC 8701), ECH (the outer hello's SNI is the public
        // name) and every other extension are skipped whole.
        match kind {
            EXT_SERVER_NAME => {
                if std::mem::replace(&mut seen_sni, true) {
                    return Err(TlsError::Malformed("two server_name extensions"));
                }
                hello.server_name = parse_server_name(data)?;
            }
            EXT_ALPN => {
                if std::mem::replace(&mut seen_alpn, true) {
                    return Err(TlsError::Malformed("two ALPN extensions"));
                }
                hello.alpn = parse_alpn(data)?;
            }
            _ => {}
        }
    }
    Ok(hello)
}

/// The server_name extension (RFC 6066 §3): the `host_name`, normalized.
fn parse_server_name(data: &[u8]) -> Result<Option<String>, TlsError> {
    let mut ext = Reader(data);
    let list = ext.vec16("truncated server_name_list")?;
    if !ext.is_empty() {
        return Err(TlsError::Malformed("bytes after server_name_list"));
    }
    if list.is_empty() {
        return Err(TlsError::Malformed("empty server_name_list"));
    }
    let mut list = Reader(list);
    let mut host: Option<&[u8]> = None;
    while !list.is_empty() {
        let kind = list.u8("truncated name_type")?;
        // Every name type defined so far is a HostName-like <1..2^16-1> vector; unknown
        // types are skipped the same way.
        let name = list.vec16("truncated server name")?;
        if kind != NAME_TYPE_HOST_NAME {
            continue;
        }
        // RFC 6066 §3: not more than one name of the same name_type.
        if host.replace(name).is_some() {
            return Err(TlsError::Malformed("two host_name entries in server_name"));
        }
    }
    let Some(name) = host else { return Ok(None) };
    if name.is_empty() {
        return Err(TlsError::BadServerName("empty host name"));
    }
    // RFC 6066 §3: "Literal IPv4 and IPv6 addresses are not permitted in HostName."
    // Treated as no SNI (see `ClientHello::server_name`).
    if is_ip_literal(name) {
        return Ok(None);
    }
    crate::normalize_host_name(name).map(Some).map_err(TlsError::BadServerName)
}

/// An IPv4 or IPv6 address literal, with or without brackets or a trailing dot.
fn is_ip_literal(name: &[u8]) -> bool {
    let Ok(s) = std::str::from_utf8(name) else { return false };
    let s = s.strip_suffix('.').unwrap_or(s);
    let s = s.strip_prefix('[').and_then(|s| s.strip_suffix(']')).unwrap_or(s);
    s.parse::<Ipv4Addr>().is_ok() || s.parse::<Ipv6Addr>().is_ok()
}

/// The ALPN extension (RFC 7301 §3.1): the protocol names, in order.
fn parse_alpn(data: &[u8]) -> Result<Vec<Vec<u8>>, TlsError> {
    let mut ext = Reader(data);
    let list = ext.vec16("truncated protocol_name_list")?;
    if !ext.is_empty() {
        return Err(TlsError::Malformed("bytes after protocol_name_list"));
    }
    if list.is_empty() {
        return Err(TlsError::Malformed("empty protocol_name_list"));
    }
    let mut list = Reader(list);
    let mut out = Vec::new();
    while !list.is_empty() {
        let name = list.vec8("truncated protocol name")?;
        // RFC 7301 §3.1: "Empty strings MUST NOT be included".
        if name.is_empty() {
            return Err(TlsError::Malformed("empty protocol name in ALPN"));
        }
        out.push(name.to_vec());
    }
    Ok(out)
}
