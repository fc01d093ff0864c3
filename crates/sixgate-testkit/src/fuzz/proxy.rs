//! Checks of the `sixgate-proxy` parser fuzz targets (`fuzz/fuzz_targets/proxy_tls.rs`,
//! `proxy_http.rs`, `proxy_protocol.rs`), shared with their corpus replay test
//! (`crates/sixgate-proxy/tests/fuzz_corpus.rs`). The input is the start of a stream as a
//! client would send it; no mode byte.
//!
//! Properties, besides "never panics":
//! - [`tls()`]: a ClientHello that parses parses the same with bytes appended, and the same
//!   when its handshake message is cut into other records (sizes taken from the input);
//!   its server name is a fixed point of the host-name normalization; the parse with a
//!   smaller limit is the same or `TooLong`.
//! - [`http()`]: a head that parses is at most the input (and the limit) long, parses the
//!   same when cut at its end or with bytes appended, and any shorter prefix asks for
//!   more; its host is lower-case.
//! - [`proxy_protocol()`]: a header that decodes decodes the same alone, and its addresses
//!   and TLVs encode (v2, and v1 without TLVs) to a header that decodes to the same.

use std::net::SocketAddr;

use sixgate_proxy::http::{self, peek_request_head};
use sixgate_proxy::proxy_protocol::{self as pp, decode, encode_v1, encode_v2};
use sixgate_proxy::tls::{self, peek_client_hello};
use sixgate_proxy::{normalize_host_name, Peek};

/// The handshake bytes of the records at the start of `stream` (as far as they go).
fn handshake_bytes(stream: &[u8]) -> Vec<u8> {
    let mut off = 0;
    let mut msg = Vec::new();
    while let Some(h) = stream.get(off..off + 5) {
        let len = usize::from(u16::from_be_bytes([h[3], h[4]]));
        let end = (off + 5 + len).min(stream.len());
        msg.extend_from_slice(&stream[off + 5..end]);
        off += 5 + len;
    }
    msg
}

/// `msg` in handshake records of `size` bytes (the last one shorter).
fn in_records(msg: &[u8], size: usize, version: u16) -> Vec<u8> {
    let mut out = Vec::with_capacity(msg.len() + 5 * (msg.len() / size + 1));
    for chunk in msg.chunks(size) {
        out.push(22);
        out.extend_from_slice(&version.to_be_bytes());
        out.extend_from_slice(&(chunk.len() as u16).to_be_bytes());
        out.extend_from_slice(chunk);
    }
    out
}

/// `proxy_tls`: see the module documentation.
pub fn tls(data: &[u8]) {
    let r = peek_client_hello(data, tls::DEFAULT_LIMIT);
    let small = peek_client_hello(data, data.len() / 2 + 1);
    let Ok(Peek::Done(hello)) = r else { return };
    assert!(
        small == Ok(Peek::Done(hello.clone())) || matches!(small, Err(tls::TlsError::TooLong { .. })),
        "smaller limit gave {small:?}"
    );
    if let Some(name) = &hello.server_name {
        assert_eq!(normalize_host_name(name.as_bytes()).as_deref(), Ok(name.as_str()), "server name not normalized");
    }
    let mut more = data.to_vec();
    more.extend_from_slice(&[23, 3, 3, 0, 1, 0]);
    assert_eq!(
        peek_client_hello(&more, tls::DEFAULT_LIMIT),
        Ok(Peek::Done(hello.clone())),
        "appended bytes changed the result"
    );
    let msg = handshake_bytes(data);
    let hs_len = 4 + ((usize::from(msg[1]) << 16) | (usize::from(msg[2]) << 8) | usize::from(msg[3]));
    for size in [1, 2, 5, 7, 100, usize::from(data[data.len() - 1]).max(1)] {
        let split = in_records(&msg[..hs_len], size, hello.record_version);
        if split.len() > tls::DEFAULT_LIMIT {
            continue;
        }
        assert_eq!(
            peek_client_hello(&split, tls::DEFAULT_LIMIT),
            Ok(Peek::Done(hello.clone())),
            "records of {size} bytes"
        );
        assert_eq!(
            peek_client_hello(&split[..split.len() - 1], tls::DEFAULT_LIMIT),
            Ok(Peek::NeedMore),
            "records of {size} bytes, one byte short"
        );
    }
}

/// `proxy_http`: see the module documentation.
pub fn http(data: &[u8]) {
    let limit = http::DEFAULT_LIMIT;
    let Ok(Peek::Done(head)) = peek_request_head(data, limit) else { return };
    assert!(head.head_len <= data.len().min(limit), "head_len beyond the input");
    assert_eq!(head.host, head.host.to_ascii_lowercase(), "host not lower-case");
    let exact = &data[..head.head_len];
    assert_eq!(peek_request_head(exact, limit), Ok(Peek::Done(head.clone())), "cut at head_len");
    let mut more = exact.to_vec();
    more.extend_from_slice(b"\r\n\r\nGET / HTTP/1.1\r\n");
    assert_eq!(peek_request_head(&more, limit), Ok(Peek::Done(head.clone())), "appended bytes");
    for k in [0, head.head_len / 2, head.head_len - 1] {
        assert_eq!(peek_request_head(&exact[..k], limit), Ok(Peek::NeedMore), "prefix {k} of a complete head");
    }
}

fn canonical(a: SocketAddr, v6: bool) -> SocketAddr {
    match a.ip().to_canonical() {
        std::net::IpAddr::V4(v4) if v6 => SocketAddr::from((v4.to_ipv6_mapped(), a.port())),
        ip => SocketAddr::new(ip, a.port()),
    }
}

/// `proxy_protocol`: see the module documentation.
pub fn proxy_protocol(data: &[u8]) {
    let Ok(Peek::Done((header, len))) = decode(data) else { return };
    assert!(len <= data.len(), "length beyond the input");
    assert_eq!(decode(&data[..len]), Ok(Peek::Done((header.clone(), len))), "decoded differently alone");
    let Some((s, d)) = header.addresses else { return };
    let v6 = !(s.ip().to_canonical().is_ipv4() && d.ip().to_canonical().is_ipv4());
    let want = Some((canonical(s, v6), canonical(d, v6)));
    let again = encode_v2(s, d, &header.tlvs);
    let Ok(Peek::Done((h2, n2))) = decode(&again) else { panic!("re-encoded v2 header does not decode") };
    assert_eq!((h2.addresses, n2), (want, again.len()));
    let kinds = |h: &pp::Header| h.tlvs.iter().filter(|t| t.kind != pp::PP2_TYPE_CRC32C).cloned().collect::<Vec<_>>();
    assert_eq!(kinds(&h2), kinds(&header), "TLVs changed through encode_v2");
    let v1 = encode_v1(s, d);
    assert!(v1.len() <= pp::V1_MAX_LEN);
    assert_eq!(
        decode(&v1).map(|p| matches!(p, Peek::Done((h, n)) if h.addresses == want && n == v1.len())),
        Ok(true),
        "v1 round trip"
    );
}

/// Seeds for `proxy_tls`: ClientHellos captured from `openssl s_client` and curl, one in
/// two records, cut into small records, and built ones with GREASE, ECH and IP literals.
pub fn seeds_tls() -> Vec<Vec<u8>> {
    let captured: [&[u8]; 5] = [
        include_bytes!("../../../sixgate-proxy/tests/data/openssl_tls13_alpn.bin"),
        include_bytes!("../../../sixgate-proxy/tests/data/openssl_tls12.bin"),
        include_bytes!("../../../sixgate-proxy/tests/data/openssl_frag512.bin"),
        include_bytes!("../../../sixgate-proxy/tests/data/curl_h2.bin"),
        include_bytes!("../../../sixgate-proxy/tests/data/openssl_nosni.bin"),
    ];
    let mut out: Vec<Vec<u8>> = captured.iter().map(|c| c.to_vec()).collect();
    out.push(in_records(&handshake_bytes(captured[0]), 50, 0x0301));
    out.push(in_records(&handshake_bytes(captured[3]), 3, 0x0303));
    let ext = |kind: u16, data: &[u8]| [&kind.to_be_bytes()[..], &(data.len() as u16).to_be_bytes(), data].concat();
    let sni = |name: &[u8]| {
        let entry = [&[0u8][..], &(name.len() as u16).to_be_bytes(), name].concat();
        ext(0, &[&(entry.len() as u16).to_be_bytes()[..], &entry].concat())
    };
    let build = |exts: &[Vec<u8>]| {
        let all = exts.concat();
        let body = [
            &[3u8, 3][..],
            &[0x5a; 32],
            &[0],
            &[0, 4, 0x0a, 0x0a, 0x13, 0x01],
            &[1, 0],
            &(all.len() as u16).to_be_bytes(),
            &all,
        ]
        .concat();
        let msg = [&[1u8, 0][..], &(body.len() as u16).to_be_bytes(), &body].concat();
        in_records(&msg, 1 << 14, 0x0301)
    };
    out.push(build(&[
        ext(0x1a1a, &[]),
        sni(b"Public.Example."),
        ext(0xfe0d, &[0; 64]),
        ext(16, &[0, 3, 2, b'h', b'2']),
    ]));
    out.push(build(&[sni(b"192.0.2.1")]));
    out.push(build(&[sni(b"bad name")]));
    out.push(build(&[]));
    out
}

/// Seeds for `proxy_http`.
pub fn seeds_http() -> Vec<Vec<u8>> {
    [
        &b"GET / HTTP/1.1\r\nHost: site.example\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n"[..],
        b"GET http://abs.example:8081/x HTTP/1.1\r\nHost: abs.example:8081\r\n\r\n",
        b"GET / HTTP/1.0\r\n\r\n",
        b"GET http://t.example/ HTTP/1.0\r\n\r\n",
        b"POST /f HTTP/1.1\r\nhost: [2001:db8::1]:443\r\nContent-Length: 3\r\n\r\nabc",
        b"\r\nOPTIONS * HTTP/1.1\nHost: lf.example\n\n",
        b"GET / HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost : a.example\r\n\r\n",
        b"GET / HTTP/1.1\r\nX: a\r\n folded\r\nHost: a.example\r\n\r\n",
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    ]
    .iter()
    .map(|s| s.to_vec())
    .collect()
}

/// Seeds for `proxy_protocol`.
pub fn seeds_proxy() -> Vec<Vec<u8>> {
    let (s4, d4): (SocketAddr, SocketAddr) =
        (SocketAddr::from(([192, 0, 2, 7], 51000)), SocketAddr::from(([198, 51, 100, 1], 443)));
    let (s6, d6): (SocketAddr, SocketAddr) = (
        SocketAddr::from((std::net::Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 7), 1)),
        SocketAddr::from((std::net::Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0xc633, 0x6401), 80)),
    );
    let ssl = pp::Tlv::new(
        pp::PP2_TYPE_SSL,
        [&[1u8, 0, 0, 0, 0][..], &[pp::PP2_SUBTYPE_SSL_VERSION, 0, 7], b"TLSv1.3"].concat(),
    );
    let mut local = pp::V2_SIGNATURE.to_vec();
    local.extend_from_slice(&[0x20, 0, 0, 0]);
    vec![
        encode_v1(s4, d4),
        encode_v1(s6, d6),
        b"PROXY UNKNOWN\r\n".to_vec(),
        encode_v2(s4, d4, &[]),
        pp::encode_v2_with(
            s6,
            d6,
            &pp::V2Tlvs {
                authority: Some("site.example"),
                alpn: Some(b"h2"),
                unique_id: Some(b"id"),
                crc32c: true,
                extra: std::slice::from_ref(&ssl),
            },
        ),
        pp::encode_v2_with(s4, d4, &pp::V2Tlvs { authority: Some("a.example"), crc32c: true, ..Default::default() }),
        local,
    ]
}
