//! PROXY protocol v1 and v2: the spec's examples, round trips, every prefix, mutations.
//! `haproxy_*.rs` checks the same code against HAProxy itself.

use std::net::SocketAddr;

use proptest::prelude::*;
use sixgate_proxy::proxy_protocol::*;
use sixgate_proxy::Peek;

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn done(b: &[u8]) -> (Header, usize) {
    match decode(b) {
        Ok(Peek::Done(h)) => h,
        other => panic!("{other:?}"),
    }
}

#[test]
fn crc32c_check_value() {
    // The CRC-32C check value (RFC 3720 §B.4 test vectors use the same polynomial).
    assert_eq!(crc32c(b"123456789"), 0xE306_9283);
    assert_eq!(crc32c(&[0; 32]), 0x8A91_36AA);
}

#[test]
fn v1_encode_decode() {
    let (s, d) = (sa("192.0.2.7:51000"), sa("198.51.100.1:443"));
    let h = encode_v1(s, d);
    assert_eq!(h, b"PROXY TCP4 192.0.2.7 198.51.100.1 51000 443\r\n");
    let mut stream = h.clone();
    stream.extend_from_slice(b"GET / HTTP/1.1\r\n");
    assert_eq!(done(&stream), (Header { addresses: Some((s, d)), tlvs: vec![] }, h.len()));
    let (s6, d6) = (sa("[2001:db8::7]:1"), sa("[2001:db8:1::1]:80"));
    assert_eq!(encode_v1(s6, d6), b"PROXY TCP6 2001:db8::7 2001:db8:1::1 1 80\r\n");
    // A dual-stack socket's IPv4-mapped peer is IPv4; mixed families are written as TCP6.
    assert!(encode_v1(sa("[::ffff:192.0.2.7]:5"), d).starts_with(b"PROXY TCP4 192.0.2.7 "));
    assert_eq!(encode_v1(s, d6), b"PROXY TCP6 ::ffff:192.0.2.7 2001:db8:1::1 51000 80\r\n");
    // The longest address line (104 bytes) fits the 107-byte bound.
    let max = encode_v1(
        sa("[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535"),
        sa("[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535"),
    );
    assert_eq!(max.len(), 104);
    assert_eq!(done(&max).1, 104);
    assert_eq!(done(b"PROXY UNKNOWN\r\n"), (Header { addresses: None, tlvs: vec![] }, 15));
    assert_eq!(done(b"PROXY UNKNOWN ffff::1 ffff::2 1 2\r\nrest").1, 35);
}

#[test]
fn v1_malformed() {
    for bad in [
        &b"PROXY TCP4 192.0.2.7 198.51.100.1 51000\r\n"[..],
        b"PROXY TCP4 192.0.2.7 198.51.100.1 51000 443 x\r\n",
        b"PROXY TCP4 2001:db8::1 198.51.100.1 1 2\r\n",
        b"PROXY TCP6 192.0.2.7 2001:db8::1 1 2\r\n",
        b"PROXY TCP4 192.0.2.7 198.51.100.1 65536 1\r\n",
        b"PROXY TCP4 192.0.2.7 198.51.100.1 -1 1\r\n",
        b"PROXY TCP4  192.0.2.7 198.51.100.1 1 1\r\n",
        b"PROXY UDP4 192.0.2.7 198.51.100.1 1 1\r\n",
        b"PROXY TCP4 192.0.2.7\n",
    ] {
        assert!(matches!(decode(bad), Err(ProxyError::Malformed(_))), "{:?}", String::from_utf8_lossy(bad));
    }
    let long = [b"PROXY UNKNOWN ".as_slice(), &[b'x'; 100]].concat();
    assert!(matches!(decode(&long), Err(ProxyError::Malformed(_))));
    assert_eq!(decode(&long[..106]), Ok(Peek::NeedMore));
    assert_eq!(decode(b"GET / HTTP/1.1\r\n"), Err(ProxyError::NoSignature));
    assert_eq!(decode(b"PROXX"), Err(ProxyError::NoSignature));
    assert_eq!(decode(b"\r\n\r\n\0\r\nQUIT!"), Err(ProxyError::NoSignature));
    assert_eq!(decode(b"\x16\x03\x01"), Err(ProxyError::NoSignature));
}

#[test]
fn v2_layout() {
    let (s, d) = (sa("192.0.2.7:51000"), sa("198.51.100.1:443"));
    let h = encode_v2(s, d, &[]);
    let mut want = V2_SIGNATURE.to_vec();
    want.extend_from_slice(&[0x21, 0x11, 0, 12, 192, 0, 2, 7, 198, 51, 100, 1, 0xc7, 0x38, 1, 0xbb]);
    assert_eq!(h, want);
    assert_eq!(done(&h), (Header { addresses: Some((s, d)), tlvs: vec![] }, 28));
    let h6 = encode_v2(sa("[2001:db8::7]:1"), sa("[2001:db8:1::1]:80"), &[]);
    assert_eq!((h6[13], h6.len()), (0x21, 52));
}

#[test]
fn v2_tlvs_and_checksum() {
    let (s, d) = (sa("[2001:db8::7]:1"), sa("[2001:db8:1::1]:80"));
    let ssl = Tlv::new(PP2_TYPE_SSL, [&[1u8, 0, 0, 0, 0][..], &[PP2_SUBTYPE_SSL_VERSION, 0, 7], b"TLSv1.3"].concat());
    let h = encode_v2_with(
        s,
        d,
        &V2Tlvs {
            authority: Some("site.example"),
            alpn: Some(b"h2"),
            unique_id: Some(b"id-1"),
            crc32c: true,
            extra: std::slice::from_ref(&ssl),
        },
    );
    let (hd, n) = done(&h);
    assert_eq!(n, h.len());
    assert_eq!(hd.addresses, Some((s, d)));
    assert_eq!(hd.authority(), Some("site.example"));
    assert_eq!(hd.alpn(), Some(&b"h2"[..]));
    assert_eq!(hd.tlv(PP2_TYPE_UNIQUE_ID), Some(&b"id-1"[..]));
    let (client, verify, subs) = hd.tlvs[3].ssl().unwrap();
    assert_eq!((client, verify, subs), (1, 0, vec![Tlv::new(PP2_SUBTYPE_SSL_VERSION, *b"TLSv1.3")]));
    assert_eq!(hd.tlvs.last().unwrap().kind, PP2_TYPE_CRC32C);
    // Every flipped bit is caught by the checksum (or breaks the structure).
    for i in 16..h.len() {
        let mut bad = h.clone();
        bad[i] ^= 0x10;
        assert!(!matches!(decode(&bad), Ok(Peek::Done((x, _))) if x == hd), "flip at {i} unnoticed");
    }
    let mut bad = h.clone();
    bad[40] ^= 1;
    assert_eq!(decode(&bad), Err(ProxyError::Checksum));
    // Re-encoding a decoded header (chaining) recomputes the checksum.
    assert_eq!(encode_v2(s, d, &hd.tlvs), h);
}

#[test]
fn v2_local_unspec_unix_and_errors() {
    let mut local = V2_SIGNATURE.to_vec();
    local.extend_from_slice(&[0x20, 0x00, 0, 3, 1, 2, 3]);
    assert_eq!(done(&local), (Header { addresses: None, tlvs: vec![] }, 19));
    let mut unix = V2_SIGNATURE.to_vec();
    unix.extend_from_slice(&[0x21, 0x31, 0, 216 + 5]);
    unix.extend_from_slice(&[0; 216]);
    unix.extend_from_slice(&[PP2_TYPE_NOOP, 0, 2, 0, 0]);
    assert_eq!(done(&unix), (Header { addresses: None, tlvs: vec![Tlv::new(PP2_TYPE_NOOP, [0, 0])] }, 237));
    let base = encode_v2(sa("192.0.2.7:1"), sa("192.0.2.8:2"), &[]);
    let with = |i: usize, v: u8| {
        let mut b = base.clone();
        b[i] = v;
        b
    };
    for (bad, why) in [
        (with(12, 0x11), "version 1"),
        (with(12, 0x22), "command 2"),
        (with(13, 0x12), "DGRAM"),
        (with(13, 0x41), "family 4"),
        (with(15, 11), "block shorter than addresses"),
        ([base.clone(), vec![PP2_TYPE_NOOP, 0]].concat(), "ignored: length says 12"),
    ] {
        if why.starts_with("ignored") {
            assert_eq!(done(&bad).1, 28);
        } else {
            assert!(matches!(decode(&bad), Err(ProxyError::Malformed(_))), "{why}");
        }
    }
    let mut trunc = base.clone();
    trunc[15] = 14;
    trunc.extend_from_slice(&[PP2_TYPE_NOOP, 0]);
    assert!(matches!(decode(&trunc), Err(ProxyError::Malformed(_))), "TLV header truncated");
    let long_id = encode_v2(sa("192.0.2.7:1"), sa("192.0.2.8:2"), &[Tlv::unique_id(&[7; 129])]);
    assert!(matches!(decode(&long_id), Err(ProxyError::Malformed(_))));
    let bad_ssl = encode_v2(sa("192.0.2.7:1"), sa("192.0.2.8:2"), &[Tlv::new(PP2_TYPE_SSL, [1, 0, 0])]);
    assert!(matches!(decode(&bad_ssl), Err(ProxyError::Malformed(_))));
    // A refused version byte does not wait for the rest.
    assert!(matches!(decode(&with(12, 0x11)[..13]), Err(ProxyError::Malformed(_))));
}

#[test]
fn oversized_tlvs_are_left_out() {
    let big = Tlv::new(PP2_TYPE_NOOP, vec![0; 70_000]);
    let fits = Tlv::new(PP2_TYPE_NOOP, vec![0; 65_000]);
    let h = encode_v2(sa("192.0.2.7:1"), sa("192.0.2.8:2"), &[big, fits.clone(), fits, Tlv::crc32c()]);
    assert!(h.len() <= V2_MAX_LEN);
    let (hd, _) = done(&h);
    assert_eq!(hd.tlvs.len(), 2, "one 65000-byte NOOP and the checksum");
}

fn addr() -> impl Strategy<Value = SocketAddr> {
    prop_oneof![
        (any::<[u8; 4]>(), any::<u16>()).prop_map(|(a, p)| SocketAddr::from((a, p))),
        (any::<[u8; 16]>(), any::<u16>()).prop_map(|(a, p)| SocketAddr::from((std::net::Ipv6Addr::from(a), p))),
    ]
}

fn canon(a: SocketAddr, v6: bool) -> SocketAddr {
    let ip = a.ip().to_canonical();
    match ip {
        std::net::IpAddr::V4(v4) if v6 => SocketAddr::from((v4.to_ipv6_mapped(), a.port())),
        _ => SocketAddr::new(ip, a.port()),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// decode(encode(x)) == x for both versions; every proper prefix asks for more.
    #[test]
    fn round_trip(s in addr(), d in addr(), tlvs in prop::collection::vec((0x06u8..0xff, prop::collection::vec(any::<u8>(), 0..40)), 0..5), crc in any::<bool>()) {
        let v6 = !(s.ip().to_canonical().is_ipv4() && d.ip().to_canonical().is_ipv4());
        let want = Some((canon(s, v6), canon(d, v6)));
        let mut list: Vec<Tlv> = tlvs.into_iter().filter(|(k, _)| *k != PP2_TYPE_SSL).map(|(k, v)| Tlv::new(k, v)).collect();
        if crc {
            list.push(Tlv::crc32c());
        }
        for h in [encode_v1(s, d), encode_v2(s, d, &list)] {
            let (hd, n) = done(&h);
            prop_assert_eq!(n, h.len());
            prop_assert_eq!(hd.addresses, want);
            for k in 0..h.len() {
                prop_assert_eq!(decode(&h[..k]), Ok(Peek::NeedMore));
            }
        }
        let (hd, _) = done(&encode_v2(s, d, &list));
        prop_assert_eq!(hd.tlvs.len(), list.len());
    }

    #[test]
    fn mutations_never_panic(v2 in any::<bool>(), edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6), cut in any::<prop::sample::Index>()) {
        let (s, d) = (sa("[2001:db8::7]:1"), sa("[2001:db8:1::1]:80"));
        let mut b = if v2 { encode_v2_with(s, d, &V2Tlvs { authority: Some("a.example"), crc32c: true, ..V2Tlvs::default() }) } else { encode_v1(s, d) };
        for (i, v) in edits {
            let i = i.index(b.len());
            b[i] = v;
        }
        b.truncate(cut.index(b.len() + 1));
        if let Ok(Peek::Done((_, n))) = decode(&b) {
            prop_assert!(n <= b.len());
        }
    }
}
