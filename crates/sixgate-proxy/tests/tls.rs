//! The ClientHello parser against hellos captured from `openssl s_client` and curl (in
//! `tests/data/`), hellos built here with GREASE and ECH extensions, every split into TCP
//! segments and TLS records, mutations, and a live `openssl s_client` sending its hello
//! in 512-byte records.

use proptest::prelude::*;
use sixgate_proxy::tls::{peek_client_hello, unrecognized_name_alert, ClientHello, TlsError, DEFAULT_LIMIT};
use sixgate_proxy::Peek;

const TLS13_ALPN: &[u8] = include_bytes!("data/openssl_tls13_alpn.bin");
const TLS12: &[u8] = include_bytes!("data/openssl_tls12.bin");
const FRAG512: &[u8] = include_bytes!("data/openssl_frag512.bin");
const CURL: &[u8] = include_bytes!("data/curl_h2.bin");
const NOSNI: &[u8] = include_bytes!("data/openssl_nosni.bin");

fn done(buf: &[u8]) -> ClientHello {
    match peek_client_hello(buf, DEFAULT_LIMIT) {
        Ok(Peek::Done(h)) => h,
        other => panic!("expected a ClientHello, got {other:?}"),
    }
}

/// The handshake message of a captured stream (its records joined).
fn message(stream: &[u8]) -> Vec<u8> {
    let mut off = 0;
    let mut msg = Vec::new();
    while off + 5 <= stream.len() {
        let len = usize::from(u16::from_be_bytes([stream[off + 3], stream[off + 4]]));
        msg.extend_from_slice(&stream[off + 5..off + 5 + len]);
        off += 5 + len;
    }
    msg
}

/// `msg` in records of the sizes `sizes` (cycled; the last record takes the rest).
fn records(msg: &[u8], sizes: &[usize], version: u16) -> Vec<u8> {
    let mut out = Vec::new();
    let mut off = 0;
    let mut i = 0;
    while off < msg.len() {
        let n = sizes[i % sizes.len()].clamp(1, 1 << 14).min(msg.len() - off);
        out.push(22);
        out.extend_from_slice(&version.to_be_bytes());
        out.extend_from_slice(&(n as u16).to_be_bytes());
        out.extend_from_slice(&msg[off..off + n]);
        off += n;
        i += 1;
    }
    out
}

fn ext(kind: u16, data: &[u8]) -> Vec<u8> {
    let mut e = kind.to_be_bytes().to_vec();
    e.extend_from_slice(&(data.len() as u16).to_be_bytes());
    e.extend_from_slice(data);
    e
}

fn sni_ext(name: &[u8]) -> Vec<u8> {
    let mut entry = vec![0];
    entry.extend_from_slice(&(name.len() as u16).to_be_bytes());
    entry.extend_from_slice(name);
    let mut list = (entry.len() as u16).to_be_bytes().to_vec();
    list.extend_from_slice(&entry);
    ext(0, &list)
}

fn alpn_ext(protos: &[&[u8]]) -> Vec<u8> {
    let mut names = Vec::new();
    for p in protos {
        names.push(p.len() as u8);
        names.extend_from_slice(p);
    }
    let mut list = (names.len() as u16).to_be_bytes().to_vec();
    list.extend_from_slice(&names);
    ext(16, &list)
}

/// A TLS 1.3-style ClientHello record with these extensions (GREASE cipher suite first).
fn build(exts: &[Vec<u8>]) -> Vec<u8> {
    let mut body = vec![3, 3];
    body.extend_from_slice(&[0x5a; 32]);
    body.push(32);
    body.extend_from_slice(&[0x11; 32]);
    body.extend_from_slice(&[0, 8, 0x0a, 0x0a, 0x13, 0x01, 0x13, 0x02, 0x13, 0x03]);
    body.extend_from_slice(&[1, 0]);
    let all: Vec<u8> = exts.concat();
    body.extend_from_slice(&(all.len() as u16).to_be_bytes());
    body.extend_from_slice(&all);
    let mut msg = vec![1, 0, (body.len() >> 8) as u8, body.len() as u8];
    msg.extend_from_slice(&body);
    records(&msg, &[1 << 14], 0x0301)
}

#[test]
fn captured_hellos() {
    let h = done(TLS13_ALPN);
    assert_eq!(h.server_name.as_deref(), Some("www.example.com"), "SNI lower-cased");
    assert_eq!(h.alpn, vec![b"h2".to_vec(), b"http/1.1".to_vec()]);
    assert_eq!(h.record_version, 0x0301);

    let h = done(TLS12);
    assert_eq!(h.server_name.as_deref(), Some("example.org"));
    assert!(h.alpn.is_empty());

    let h = done(CURL);
    assert_eq!(h.server_name.as_deref(), Some("site.example.com"));
    assert_eq!(h.alpn, vec![b"h2".to_vec(), b"http/1.1".to_vec()]);

    assert_eq!(done(NOSNI).server_name, None);
}

#[test]
fn captured_hello_in_two_records() {
    // openssl s_client -max_send_frag 512: a 569-byte message in records of 512 and 57.
    assert_eq!(FRAG512[3..5], [2, 0]);
    let h = done(FRAG512);
    let l = "a".repeat(60);
    assert_eq!(h.server_name, Some(format!("{l}.{l}.{l}.frag.example")));
    assert_eq!(h.alpn.len(), 9);
    assert_eq!(h.alpn[0], b"http/1.1");
}

#[test]
fn every_prefix_needs_more_and_the_whole_is_done() {
    for stream in [TLS13_ALPN, TLS12, FRAG512, CURL, NOSNI] {
        let want = done(stream);
        for n in 0..stream.len() {
            assert_eq!(peek_client_hello(&stream[..n], DEFAULT_LIMIT), Ok(Peek::NeedMore), "prefix {n}");
        }
        // Bytes after the hello (early data, the next record) do not matter.
        let mut more = stream.to_vec();
        more.extend_from_slice(&[23, 3, 3, 0, 1, 0]);
        assert_eq!(done(&more), want);
    }
}

#[test]
fn grease_ech_and_many_extensions() {
    let mut exts = vec![ext(0x0a0a, &[]), ext(0xfe0d, &[0; 200])];
    for k in 0..100u16 {
        exts.push(ext(0x1000 + k, &[k as u8; 7]));
    }
    exts.push(sni_ext(b"public.example.NET."));
    exts.push(alpn_ext(&[b"h2", b"\x3a\x3a"]));
    exts.push(ext(0xdada, &[0]));
    let h = done(&build(&exts));
    assert_eq!(h.server_name.as_deref(), Some("public.example.net"));
    assert_eq!(h.alpn, vec![b"h2".to_vec(), b"::".to_vec()]);
}

#[test]
fn server_name_rules() {
    // RFC 6066 §3: literals are not host names; treated as no SNI.
    for lit in [&b"192.0.2.1"[..], b"2001:db8::1", b"[2001:db8::1]"] {
        assert_eq!(done(&build(&[sni_ext(lit)])).server_name, None, "{lit:?}");
    }
    for bad in [&b"a b.example"[..], b"-a.example", b"a..example", b"\xc3\xa9.example", b""] {
        assert!(
            matches!(peek_client_hello(&build(&[sni_ext(bad)]), DEFAULT_LIMIT), Err(TlsError::BadServerName(_))),
            "{bad:?}"
        );
    }
    let long = format!("{}.example", "a".repeat(64));
    assert!(matches!(
        peek_client_hello(&build(&[sni_ext(long.as_bytes())]), DEFAULT_LIMIT),
        Err(TlsError::BadServerName(_))
    ));
    let two = build(&[sni_ext(b"a.example"), sni_ext(b"b.example")]);
    assert!(matches!(peek_client_hello(&two, DEFAULT_LIMIT), Err(TlsError::Malformed(_))));
    assert!(matches!(peek_client_hello(&build(&[alpn_ext(&[b""])]), DEFAULT_LIMIT), Err(TlsError::Malformed(_))));
}

#[test]
fn not_tls_is_refused_at_the_first_bytes() {
    assert_eq!(peek_client_hello(b"G", DEFAULT_LIMIT), Err(TlsError::NotHandshake));
    assert_eq!(peek_client_hello(b"\x16\x01", DEFAULT_LIMIT), Err(TlsError::NotHandshake));
    // An SSL 2.0-compatible CLIENT-HELLO (RFC 5246 §E.2).
    let v2 = [0x80, 0x2e, 0x01, 0x03, 0x01, 0x00, 0x15, 0x00, 0x00, 0x00, 0x10];
    assert_eq!(peek_client_hello(&v2, DEFAULT_LIMIT), Err(TlsError::NotHandshake));
    // An alert record first, a handshake message other than ClientHello.
    assert_eq!(peek_client_hello(&[21, 3, 1, 0, 2, 2, 40], DEFAULT_LIMIT), Err(TlsError::NotHandshake));
    assert!(matches!(peek_client_hello(&[22, 3, 1, 0, 4, 2, 0, 0, 0], DEFAULT_LIMIT), Err(TlsError::Malformed(_))));
    // A zero-length handshake record (RFC 8446 §5.1).
    assert!(matches!(peek_client_hello(&[22, 3, 1, 0, 0], DEFAULT_LIMIT), Err(TlsError::Malformed(_))));
    // A record of another type between the fragments.
    let mut mixed = FRAG512[..517].to_vec();
    mixed.extend_from_slice(&[23, 3, 3, 0, 1, 0]);
    assert!(matches!(peek_client_hello(&mixed, DEFAULT_LIMIT), Err(TlsError::Malformed(_))));
}

#[test]
fn limit_is_enforced() {
    // The announced length alone shows it cannot fit: refused at once.
    assert_eq!(peek_client_hello(&TLS13_ALPN[..9], 300), Err(TlsError::TooLong { limit: 300 }));
    assert_eq!(
        peek_client_hello(TLS13_ALPN, TLS13_ALPN.len() - 1),
        Err(TlsError::TooLong { limit: TLS13_ALPN.len() - 1 })
    );
    assert!(matches!(peek_client_hello(TLS13_ALPN, TLS13_ALPN.len()), Ok(Peek::Done(_))));
    // A stream of tiny records never completing within the limit.
    let msg = message(TLS13_ALPN);
    let tiny = records(&msg, &[1], 0x0301);
    assert_eq!(peek_client_hello(&tiny[..1000], 1000), Err(TlsError::TooLong { limit: 1000 }));
    assert_eq!(peek_client_hello(&tiny[..999], 1000), Ok(Peek::NeedMore));
}

#[test]
fn alert_bytes() {
    assert_eq!(unrecognized_name_alert(0x0301), [21, 3, 1, 0, 2, 2, 112]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Any split of a captured hello into records and then into TCP segments: every
    /// incomplete prefix asks for more, the whole gives the same result.
    #[test]
    fn any_split_same_result(which in 0usize..5, sizes in prop::collection::vec(1usize..600, 1..8), cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..6)) {
        let stream = [TLS13_ALPN, TLS12, FRAG512, CURL, NOSNI][which];
        let want = done(stream);
        let split = records(&message(stream), &sizes, 0x0301);
        let mut ends: Vec<usize> = cuts.iter().map(|c| c.index(split.len())).collect();
        ends.sort_unstable();
        for e in ends {
            prop_assert_eq!(peek_client_hello(&split[..e], DEFAULT_LIMIT), Ok(Peek::NeedMore));
        }
        prop_assert_eq!(done(&split), ClientHello { record_version: 0x0301, ..want });
    }

    /// Mutated hellos never panic; what still parses has a valid name.
    #[test]
    fn mutations_never_panic(which in 0usize..5, edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8), cut in any::<prop::sample::Index>()) {
        let mut b = [TLS13_ALPN, TLS12, FRAG512, CURL, NOSNI][which].to_vec();
        for (i, v) in edits {
            let i = i.index(b.len());
            b[i] = v;
        }
        b.truncate(cut.index(b.len() + 1));
        if let Ok(Peek::Done(h)) = peek_client_hello(&b, DEFAULT_LIMIT) {
            if let Some(n) = h.server_name {
                let again = sixgate_proxy::normalize_host_name(n.as_bytes());
                prop_assert_eq!(again, Ok(n));
            }
        }
    }

    #[test]
    fn random_bytes_never_panic(b in prop::collection::vec(any::<u8>(), 0..600), limit in 0usize..700) {
        let _ = peek_client_hello(&b, limit);
    }
}

/// A live `openssl s_client` sending its ClientHello in 512-byte records
/// (`-max_send_frag 512`), read from a socket as it comes.
#[test]
fn live_openssl_fragmented_hello() {
    use std::io::Read;
    let on_path =
        |t: &str| std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()).any(|d| d.join(t).is_file());
    if !on_path("openssl") {
        eprintln!("skipping: openssl not installed");
        return;
    }
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let l = "b".repeat(63);
    let name = format!("{l}.{l}.{l}.Live.Example");
    let mut child = std::process::Command::new("openssl")
        .args(["s_client", "-connect", &format!("127.0.0.1:{port}"), "-servername", &name, "-max_send_frag", "512"])
        .args(["-alpn", "http/1.1,h2,acme-tls/1,webrtc,c-webrtc,ftp,imap,pop3,managesieve,coap"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let (mut s, _) = listener.accept().unwrap();
    let mut buf = Vec::new();
    let hello = loop {
        let mut chunk = [0u8; 97];
        let n = s.read(&mut chunk).unwrap();
        assert!(n > 0, "openssl closed before its hello was complete");
        buf.extend_from_slice(&chunk[..n]);
        match peek_client_hello(&buf, DEFAULT_LIMIT).unwrap() {
            Peek::NeedMore => continue,
            Peek::Done(h) => break h,
        }
    };
    drop(s);
    let _ = child.kill();
    let _ = child.wait();
    assert!(usize::from(u16::from_be_bytes([buf[3], buf[4]])) <= 512, "openssl did not split its records");
    assert_eq!(hello.server_name, Some(name.to_ascii_lowercase()));
    assert_eq!(hello.alpn[..2], [b"http/1.1".to_vec(), b"h2".to_vec()]);
}
