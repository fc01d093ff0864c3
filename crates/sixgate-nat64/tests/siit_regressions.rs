//! Fixed vectors for translator bugs found by the fuzzers and property tests
//! (`fuzz/corpus/siit_*/regress-*` hold the raw fuzz inputs).

mod common;

use common::*;
use sixgate_core::engine::{Side, Verdict};
use sixgate_nat64::Siit;
use sixgate_nat64::SiitDrop as R;
use sixgate_testkit::packets::*;

/// An IPv6 packet whose ICMPv6 message is shorter than the 8-byte header: the translator
/// read the header past the end of the packet (panic). RFC 4443 §2.1: every ICMPv6
/// message has at least type, code, checksum and 4 more bytes; it is malformed.
#[test]
fn short_icmpv6_message_is_malformed() {
    for n in 0..8 {
        let mut p = echo6("2001:db8:64::808:808", "2001:db8:64::909:909", 1, 1, b"");
        p.truncate(40 + n);
        p[4..6].copy_from_slice(&(n as u16).to_be_bytes());
        let mut s = siit();
        let (v, _) = run(&mut s, &p);
        assert_eq!(v, Verdict::Drop(R::Malformed), "{n}-byte ICMPv6 message");
    }
}

/// A hairpinned packet (IPv6 → EAM-mapped IPv4 destination → back to IPv6, RFC 7757 §4)
/// with DF set that is too big for the IPv6 side got an ICMPv4 Fragmentation Needed sent
/// out of the IPv4 side, to the EAM-mapped address of an IPv6 host. The error must hairpin
/// too: ICMPv6 Packet Too Big back to the IPv6 source (RFC 7915 §5.1 / §4.2).
#[test]
fn hairpinned_too_big_answered_with_packet_too_big() {
    let mut c = config();
    c.add_eam("2001:db8:1::/120", "192.0.2.0/24").unwrap();
    c.add_eam("2001:db8:2::/120", "203.0.113.0/24").unwrap();
    let mut s = Siit::new(c).unwrap();
    // 40 + 20 + 1441 = 1501 bytes: as IPv4 1481 > 1260, so DF; back as IPv6 1501 > 1500.
    let p = tcp6("2001:db8:1::5", "2001:db8:2::9", 80, &[0x33; 1441]);
    let (v, out) = run(&mut s, &p);
    assert_eq!(v, Verdict::Reply(Side::V6));
    v6ok(&out);
    assert!(out.len() <= 1280);
    assert_eq!(dst6(&out), a6("2001:db8:1::5"));
    assert_eq!((out[40], out[41]), (2, 0), "Packet Too Big");
    assert_eq!(u32::from_be_bytes([out[44], out[45], out[46], out[47]]), 1500);
    // A packet that fits still hairpins.
    let p = tcp6("2001:db8:1::5", "2001:db8:2::9", 80, &[0x33; 1440]);
    let (v, out) = run(&mut s, &p);
    assert_eq!(v, FWD6);
    assert_eq!(out.len(), 1500);
}

/// A fragment reaching past 65,535 bytes (offset + length) was split by the translator
/// into fragments whose offsets wrapped around. Such a fragment is invalid (RFC 8200 §4.5,
/// RFC 791) and is dropped.
#[test]
fn fragment_past_65535_bytes_dropped() {
    let mut c = config();
    c.ipv4_mtu = 576; // so that the translator would split the fragment
    let mut s = Siit::new(c).unwrap();
    let mut p = udp6("2001:db8:64::c000:20a", "2001:db8:64::c633:6414", 9, &[1; 1300]);
    let n = p.len() - 40 + 8;
    p.splice(40..40, [17, 0, 0xff, 0xf0, 0, 0, 0, 1]); // offset 65520, M clear
    p[6] = 44;
    p[4..6].copy_from_slice(&(n as u16).to_be_bytes());
    let (v, _) = run(&mut s, &p);
    assert_eq!(v, Verdict::Drop(R::Malformed));
    let mut q = udp4("192.0.2.10", "198.51.100.20", 9, &[1; 1300]);
    q[6] = 0x1f;
    q[7] = 0xfe; // offset 65520, DF clear
    fix_ipv4_checksum(&mut q);
    let (v, _) = run(&mut s, &q);
    assert_eq!(v, Verdict::Drop(R::Malformed));
}
