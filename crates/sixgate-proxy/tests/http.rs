//! The request-head parser: the Host rules of RFC 9112 / RFC 9110, every prefix of a head,
//! mutations, and the heads real curl sends (origin-form, HTTP/1.0, absolute-form through
//! a proxy, an IPv6 literal).

use proptest::prelude::*;
use sixgate_proxy::http::{error_response, peek_request_head, HttpError, RequestHead, DEFAULT_LIMIT};
use sixgate_proxy::Peek;

fn head(b: &[u8]) -> Result<Peek<RequestHead>, HttpError> {
    peek_request_head(b, DEFAULT_LIMIT)
}

fn host(b: &[u8]) -> (String, Option<u16>, usize) {
    match head(b) {
        Ok(Peek::Done(h)) => (h.host, h.port, h.head_len),
        other => panic!("{:?}: {other:?}", String::from_utf8_lossy(b)),
    }
}

fn bad_host(b: &[u8]) -> bool {
    matches!(head(b), Err(HttpError::BadHost(_)))
}

fn malformed(b: &[u8]) -> bool {
    matches!(head(b), Err(HttpError::Malformed(_)))
}

#[test]
fn host_port_and_head_len() {
    let req = b"GET /x HTTP/1.1\r\nUser-Agent: t\r\nHOST:  WWW.Example.COM.:8080 \r\nAccept: */*\r\n\r\nbody bytes";
    assert_eq!(host(req), ("www.example.com".into(), Some(8080), req.len() - 10));
    assert_eq!(host(b"GET / HTTP/1.1\r\nhost: a.example\r\n\r\n").1, None);
    assert_eq!(host(b"GET / HTTP/1.1\r\nHost: a.example:\r\n\r\n").1, None, "empty port is no port");
    assert_eq!(host(b"GET / HTTP/1.1\r\nHost: [2001:DB8:0::1]:443\r\n\r\n"), ("2001:db8::1".into(), Some(443), 45));
    assert_eq!(host(b"GET / HTTP/1.1\r\nHost: 192.0.2.1\r\n\r\n").0, "192.0.2.1");
    assert_eq!(host(b"OPTIONS * HTTP/1.1\r\nHost: a.example\r\n\r\n").0, "a.example");
    // Lone LF line ends (RFC 9112 §2.2) and leading empty lines.
    assert_eq!(host(b"\r\n\nGET / HTTP/1.0\nHost: lf.example\n\n"), ("lf.example".into(), None, 36));
}

#[test]
fn absolute_form_target_wins() {
    // RFC 9112 §3.2.2: the target's authority, not the Host field.
    assert_eq!(host(b"GET http://Target.Example:81/p?q HTTP/1.1\r\nHost: other.example\r\n\r\n").0, "target.example");
    assert_eq!(host(b"GET HTTPS://t.example HTTP/1.1\r\nHost: t.example\r\n\r\n").1, None);
    // HTTP/1.0 may leave Host out when the target carries it; HTTP/1.1 may not.
    assert_eq!(host(b"GET http://t.example/ HTTP/1.0\r\n\r\n").0, "t.example");
    assert!(bad_host(b"GET http://t.example/ HTTP/1.1\r\n\r\n"));
    assert!(bad_host(b"GET http://user@t.example/ HTTP/1.1\r\nHost: t.example\r\n\r\n"));
    assert!(malformed(b"GET ftp://t.example/ HTTP/1.1\r\nHost: t.example\r\n\r\n"));
}

#[test]
fn host_rules() {
    assert!(bad_host(b"GET / HTTP/1.0\r\n\r\n"), "HTTP/1.0 without Host cannot be routed");
    assert!(bad_host(b"GET / HTTP/1.1\r\nAccept: */*\r\n\r\n"));
    assert!(bad_host(b"GET / HTTP/1.1\r\nHost: a.example\r\nhost: a.example\r\n\r\n"), "two Host lines");
    assert!(bad_host(b"GET / HTTP/1.1\r\nHost: a.example\r\nhost: a.example\r\n"), "refused before the head ends");
    for v in [
        "",
        "a b.example",
        "a.example:99999",
        "a.example:8x",
        "[::1",
        "[::1]x",
        "[v1.x]",
        "::1",
        "-a.example",
        "a_b.ex%61mple",
    ] {
        let req = format!("GET / HTTP/1.1\r\nHost: {v}\r\n\r\n");
        assert!(bad_host(req.as_bytes()), "{v:?}");
    }
}

#[test]
fn syntax_rules() {
    // RFC 9112 §5.1: whitespace between field name and colon.
    assert!(malformed(b"GET / HTTP/1.1\r\nHost : a.example\r\n\r\n"));
    // RFC 9112 §5.2: obs-fold; §2.2: whitespace before the first field.
    assert!(malformed(b"GET / HTTP/1.1\r\nHost: a.example\r\n X: folded\r\n\r\n"));
    assert!(malformed(b"GET / HTTP/1.1\r\n\tHost: a.example\r\n\r\n"));
    assert!(malformed(b"GET / HTTP/1.1\r\nHost: a.example\r\n "), "obs-fold seen before the line ends");
    for bad in [
        &b"GET / HTTP/2.0\r\n\r\n"[..],
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
        b"GET /\r\n\r\n",
        b"GET  / HTTP/1.1\r\n\r\n",
        b"get / http/1.1\r\n\r\n",
        b"CONNECT a.example:443 HTTP/1.1\r\nHost: a.example\r\n\r\n",
        b"GET a.example HTTP/1.1\r\nHost: a.example\r\n\r\n",
        b"GET / HTTP/1.1\r\nNoColon\r\n\r\n",
        b"GET / HTTP/1.1\rHost: a\r\n\r\n",
        b"GET / HTTP/1.1\r\nX: a\0b\r\nHost: a\r\n\r\n",
    ] {
        assert!(malformed(bad), "{:?}", String::from_utf8_lossy(bad));
    }
    // Garbage (a TLS hello on the HTTP port) is refused at its first byte.
    assert!(malformed(b"\x16\x03\x01"));
    assert!(malformed(b"\x16"));
}

#[test]
fn every_prefix_needs_more() {
    let req = b"GET /index.html HTTP/1.1\r\nHost: site.example\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n";
    for n in 0..req.len() {
        assert_eq!(head(&req[..n]), Ok(Peek::NeedMore), "prefix {n}");
    }
    assert_eq!(host(req).2, req.len());
}

#[test]
fn limit_is_enforced() {
    let mut req = b"GET / HTTP/1.1\r\nHost: a.example\r\nX: ".to_vec();
    req.extend(std::iter::repeat_n(b'x', 100));
    assert_eq!(peek_request_head(&req, 64), Err(HttpError::TooLong { limit: 64 }));
    assert_eq!(peek_request_head(&req[..63], 64), Ok(Peek::NeedMore));
    req.extend_from_slice(b"\r\n\r\n");
    assert!(matches!(peek_request_head(&req, req.len()), Ok(Peek::Done(_))));
    assert_eq!(peek_request_head(&req, req.len() - 1), Err(HttpError::TooLong { limit: req.len() - 1 }));
}

#[test]
fn error_responses() {
    let r = String::from_utf8(error_response(421)).unwrap();
    assert!(r.starts_with("HTTP/1.1 421 Misdirected Request\r\n"), "{r}");
    assert!(r.contains("\r\nConnection: close\r\n"));
    let (h, body) = r.split_once("\r\n\r\n").unwrap();
    assert!(h.contains(&format!("\r\nContent-Length: {}", body.len())));
    for (s, want) in [
        (400, "400 Bad Request"),
        (502, "502 Bad Gateway"),
        (503, "503 Service Unavailable"),
        (504, "504 Gateway Timeout"),
        (200, "500 Internal Server Error"),
    ] {
        assert!(String::from_utf8(error_response(s)).unwrap().starts_with(&format!("HTTP/1.1 {want}\r\n")));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn mutations_never_panic(edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6), cut in any::<prop::sample::Index>(), limit in 1usize..200) {
        let mut b = b"GET http://a.example:80/ HTTP/1.1\r\nHost: [::1]:8080\r\nX: y\r\n\r\n".to_vec();
        for (i, v) in edits {
            let i = i.index(b.len());
            b[i] = v;
        }
        b.truncate(cut.index(b.len() + 1));
        if let Ok(Peek::Done(h)) = peek_request_head(&b, limit) {
            prop_assert!(h.head_len <= b.len().min(limit));
            prop_assert_eq!(&h.host, &h.host.to_ascii_lowercase());
        }
    }

    /// Any host name and port round-trip through a Host field.
    #[test]
    fn host_field_round_trip(labels in prop::collection::vec("[a-zA-Z0-9]([a-zA-Z0-9-]{0,10}[a-zA-Z0-9])?", 1..5), port in prop::option::of(any::<u16>())) {
        let name = labels.join(".");
        let field = match port { Some(p) => format!("{name}:{p}"), None => name.clone() };
        let req = format!("HEAD / HTTP/1.1\r\nHost: {field}\r\n\r\n");
        let (h, p, n) = host(req.as_bytes());
        prop_assert_eq!(h, name.to_ascii_lowercase());
        prop_assert_eq!(p, port);
        prop_assert_eq!(n, req.len());
    }
}

/// What real curl sends, read from a socket as it arrives.
fn curl_head(args: &[&str]) -> (Vec<u8>, RequestHead) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let args: Vec<String> = args.iter().map(|a| a.replace("PORT", &port.to_string())).collect();
    let mut child = std::process::Command::new("curl")
        .args(["-s", "-o", "/dev/null", "--max-time", "10"])
        .args(&args)
        .spawn()
        .unwrap();
    let (mut s, _) = listener.accept().unwrap();
    let mut buf = Vec::new();
    let head = loop {
        let mut chunk = [0u8; 13];
        let n = s.read(&mut chunk).unwrap();
        assert!(n > 0, "curl closed early");
        buf.extend_from_slice(&chunk[..n]);
        if let Peek::Done(h) = peek_request_head(&buf, DEFAULT_LIMIT).unwrap() {
            break h;
        }
    };
    let _ = s.write_all(&error_response(421));
    drop(s);
    let _ = child.wait();
    (buf, head)
}

#[test]
fn live_curl_heads() {
    let on_path =
        |t: &str| std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()).any(|d| d.join(t).is_file());
    if !on_path("curl") {
        eprintln!("skipping: curl not installed");
        return;
    }
    let (buf, h) = curl_head(&["--resolve", "Site.Example:PORT:127.0.0.1", "http://Site.Example:PORT/a"]);
    assert_eq!((h.host.as_str(), h.head_len), ("site.example", buf.len()));
    assert!(h.port.is_some());
    let (buf, h) = curl_head(&["-0", "--resolve", "one.example:PORT:127.0.0.1", "http://one.example:PORT/"]);
    assert!(buf.starts_with(b"GET / HTTP/1.0\r\n"));
    assert_eq!(h.host, "one.example");
    // Through a proxy, curl sends the absolute form.
    let (buf, h) = curl_head(&["-x", "http://127.0.0.1:PORT", "http://abs.example:8081/x"]);
    assert!(buf.starts_with(b"GET http://abs.example:8081/x HTTP/1.1\r\n"));
    assert_eq!((h.host.as_str(), h.port), ("abs.example", Some(8081)));
    let (_, h) = curl_head(&["-g", "-x", "http://127.0.0.1:PORT", "http://[2001:db8::7]:8082/"]);
    assert_eq!((h.host.as_str(), h.port), ("2001:db8::7", Some(8082)));
}
