//! RFC 7915 behaviour of the stateless translator for ICMP, packet by packet: echo,
//! the errors it sends (and those it must not), ICMP errors translated both ways with the
//! packet they quote, RFC 4884 extensions, and the rate limit. Every translated packet is
//! checked with an independent checksum implementation (tests/common/mod.rs).

mod common;

use common::*;
use sixgate_core::engine::{Engine, Side, Verdict};
use sixgate_nat64::{Siit, SiitConfig, SiitDrop as R};
use sixgate_testkit::packets::*;

#[test]
fn echo_both_ways() {
    let mut s = siit();
    let (v, out) = run(&mut s, &echo4("192.0.2.10", "198.51.100.20", 77, 3, b"abcdefg"));
    assert_eq!(v, FWD6);
    v6ok(&out);
    assert_eq!(out[6], 58);
    assert_eq!((out[40], out[41]), (128, 0));
    assert_eq!(&out[44..48], &[0, 77, 0, 3]);
    let (v, back) = run(&mut s, &out);
    assert_eq!(v, FWD4);
    v4l4ok(&back);
    assert_eq!((back[20], back[9]), (8, 1));
    let (v, out) = run(&mut s, &echo6("2001:db8:64::c000:20a", "2001:db8:64::c633:6414", 1, 1, b"x"));
    assert_eq!(v, FWD4);
    v4l4ok(&out);
    assert_eq!(out[20], 8);
}

#[test]
fn ttl_exceeded_answered_from_own_address() {
    let mut s = siit();
    let mut pkt = udp4("192.0.2.10", "198.51.100.20", 53, b"x");
    pkt[8] = 1;
    fix_ipv4_checksum(&mut pkt);
    let (v, out) = run(&mut s, &pkt);
    assert_eq!(v, Verdict::Reply(Side::V4));
    v4l4ok(&out);
    assert_eq!(src4(&out), a4("198.51.100.1"));
    assert_eq!(dst4(&out), a4("192.0.2.10"));
    assert_eq!((out[20], out[21]), (11, 0));
    assert_eq!(&out[28..], &pkt[..], "quotes the whole short packet");
    assert_eq!(s.counters().answered(R::TtlExceeded), 1);
    assert_eq!(s.counters().replied, 1);
}

#[test]
fn hop_limit_exceeded_answered() {
    let mut s = siit();
    let mut pkt = udp6("2001:db8:64::c000:20a", "2001:db8:64::c633:6414", 53, b"x");
    pkt[7] = 1;
    let (v, out) = run(&mut s, &pkt);
    assert_eq!(v, Verdict::Reply(Side::V6));
    v6ok(&out);
    assert_eq!(src6(&out), a6("2001:db8::1"));
    assert_eq!((out[40], out[41]), (3, 0));
    assert_eq!(&out[48..], &pkt[..]);
}

#[test]
fn no_error_about_an_error() {
    let mut s = siit();
    let inner = udp4("198.51.100.20", "192.0.2.10", 53, b"x");
    let mut pkt = icmp4("192.0.2.10", "198.51.100.20", 3, 3, [0; 4], &inner);
    pkt[8] = 1;
    fix_ipv4_checksum(&mut pkt);
    let (v, _) = run(&mut s, &pkt);
    assert_eq!(v, Verdict::Drop(R::TtlExceeded));
    assert_eq!(s.icmp_suppressed(), 1);
}

#[test]
fn fragmentation_needed_for_df_packets() {
    let mut c = config();
    c.ipv6_mtu = 1400;
    let mut s = Siit::new(c).unwrap();
    // 1381 bytes of IPv4 → 1401 of IPv6: too big, DF set by udp4().
    let pkt = udp4("192.0.2.10", "198.51.100.20", 53, &[0u8; 1381 - 28]);
    let (v, out) = run(&mut s, &pkt);
    assert_eq!(v, Verdict::Reply(Side::V4));
    v4l4ok(&out);
    assert_eq!((out[20], out[21]), (3, 4));
    assert_eq!(u16::from_be_bytes([out[26], out[27]]), 1380, "MTU in IPv4 terms");
    assert_eq!(out.len(), 576, "ICMPv4 errors are truncated to 576 bytes");
    // 1380 bytes fit.
    let (v, out) = run(&mut s, &udp4("192.0.2.10", "198.51.100.20", 53, &[0u8; 1380 - 28]));
    assert_eq!(v, FWD6);
    assert_eq!(out.len(), 1400);
}

#[test]
fn packet_too_big_for_large_ipv6() {
    let mut c = config();
    c.ipv4_mtu = 1400;
    let mut s = Siit::new(c).unwrap();
    let pkt = udp6("2001:db8:64::c000:20a", "2001:db8:64::c633:6414", 53, &[0u8; 1500 - 48]);
    let (v, out) = run(&mut s, &pkt);
    assert_eq!(v, Verdict::Reply(Side::V6));
    v6ok(&out);
    assert_eq!((out[40], out[41]), (2, 0));
    assert_eq!(u32::from_be_bytes([out[44], out[45], out[46], out[47]]), 1420);
    assert_eq!(out.len(), 1280, "ICMPv6 errors are truncated to 1280 bytes");
}

/// RFC 1812 §4.3.2.7: no ICMPv4 error about an ICMPv4 error message or a non-first
/// fragment (here: TTL expiry).
#[test]
fn no_icmpv4_error_about_icmpv4_error_or_non_first_fragment() {
    let (c, srv) = ("192.0.2.10", "198.51.100.20");
    let quoted = udp4(srv, c, 53, b"q");
    let mut err = icmp4(c, srv, 3, 1, [0; 4], &quoted);
    err[8] = 1;
    fix_ipv4_checksum(&mut err);
    let mut s = siit();
    let (v, _) = run(&mut s, &err);
    assert_eq!(v, Verdict::Drop(R::TtlExceeded));
    let mut frag = udp4(c, srv, 53, b"0123456789abcdef");
    frag[6..8].copy_from_slice(&1u16.to_be_bytes());
    frag[8] = 1;
    fix_ipv4_checksum(&mut frag);
    let mut s = siit();
    let (v, _) = run(&mut s, &frag);
    assert_eq!(v, Verdict::Drop(R::TtlExceeded));
    // The first fragment of the same datagram is answered.
    let mut first = udp4(c, srv, 53, b"0123456789abcdef");
    first[6..8].copy_from_slice(&0x2000u16.to_be_bytes());
    first[8] = 1;
    fix_ipv4_checksum(&mut first);
    let mut s = siit();
    let (v, out) = run(&mut s, &first);
    assert_eq!(v, Verdict::Reply(Side::V4));
    assert_eq!((out[20], out[21]), (11, 0));
}

/// RFC 7757 §4 and Appendix B with the two host entries of RFC 7757's example EAMT
/// (§3.3: 192.0.2.1 = 2001:db8:aaaa::, 192.0.2.2 = 2001:db8:bbbb::b): host A writes to
/// host B's IPv4 address through the translation prefix; B's ICMPv6 error about what it
/// received hairpins back to A with its quote rebuilt as A sent it: source A's own address
/// (EAM), destination B's pool6 address (RFC 6052, like the hairpinned outer source).
#[test]
fn hairpinned_icmp_error_quotes_what_was_sent() {
    let mut c = SiitConfig::new(a4("198.51.100.1"), a6("2001:db8::1"));
    c.pool6 = Some("2001:db8:46::/96".parse().unwrap());
    c.add_eam("2001:db8:aaaa::/128", "192.0.2.1/32").unwrap();
    c.add_eam("2001:db8:bbbb::b/128", "192.0.2.2/32").unwrap();
    let mut s = Siit::new(c).unwrap();
    let sent = udp6("2001:db8:aaaa::", "2001:db8:46::c000:202", 53, b"query");
    let (v, got) = run(&mut s, &sent);
    assert_eq!(v, FWD6);
    assert_eq!(src6(&got), a6("2001:db8:46::c000:201"));
    assert_eq!(dst6(&got), a6("2001:db8:bbbb::b"));
    // B answers Port Unreachable about the packet as it got it.
    let err = icmp6("2001:db8:bbbb::b", "2001:db8:46::c000:201", 1, 4, [0; 4], &got);
    let (v, out) = run(&mut s, &err);
    assert_eq!(v, FWD6, "the error hairpins too");
    v6ok(&out);
    assert_eq!((out[40], out[41]), (1, 4));
    assert_eq!(src6(&out), a6("2001:db8:46::c000:202"), "outer source via pool6");
    assert_eq!(dst6(&out), a6("2001:db8:aaaa::"));
    let quote = &out[48..];
    assert_eq!(src6(quote), src6(&sent), "quoted source as A sent it");
    assert_eq!(dst6(quote), dst6(&sent), "quoted destination as A sent it (RFC 6052)");
    // The quote is whole here, so its UDP checksum verifies against those addresses.
    v6ok(quote);
    assert_eq!(&quote[40..], &sent[40..], "the quoted UDP header and data are what A sent");
}

/// The same with a hairpinned packet too big for the IPv6 side: the translator's own
/// Fragmentation Needed hairpins as Packet Too Big whose quote names B by the pool6 address
/// A wrote to.
#[test]
fn hairpinned_packet_too_big_quotes_the_pool6_destination() {
    let mut c = SiitConfig::new(a4("198.51.100.1"), a6("2001:db8::1"));
    c.pool6 = Some("2001:db8:46::/96".parse().unwrap());
    c.add_eam("2001:db8:aaaa::/128", "192.0.2.1/32").unwrap();
    c.add_eam("2001:db8:bbbb::b/128", "192.0.2.2/32").unwrap();
    let mut s = Siit::new(c).unwrap();
    // 40 + 20 + 1441 = 1501 bytes: DF as IPv4 (> 1260), too big for the 1500-byte IPv6 side.
    let sent = tcp6("2001:db8:aaaa::", "2001:db8:46::c000:202", 80, &[0x33; 1441]);
    let (v, out) = run(&mut s, &sent);
    assert_eq!(v, Verdict::Reply(Side::V6));
    v6ok(&out);
    assert_eq!((out[40], out[41]), (2, 0), "Packet Too Big");
    assert_eq!(dst6(&out), a6("2001:db8:aaaa::"));
    assert_eq!(src6(&out), a6("2001:db8:46::c633:6401"), "the translator's own address via pool6");
    let quote = &out[48..];
    assert_eq!(src6(quote), a6("2001:db8:aaaa::"));
    assert_eq!(dst6(quote), a6("2001:db8:46::c000:202"));
}

#[test]
fn icmpv4_port_unreachable_with_inner_packet() {
    let mut s = siit();
    // The IPv6 host 2001:db8:64::c000:20a (192.0.2.10) sent UDP to 198.51.100.20:53, which
    // answered Port Unreachable.
    let inner = udp4("192.0.2.10", "198.51.100.20", 53, b"query");
    let pkt = icmp4("198.51.100.20", "192.0.2.10", 3, 3, [0; 4], &inner);
    let (v, out) = run(&mut s, &pkt);
    assert_eq!(v, FWD6);
    v6ok(&out);
    assert_eq!((out[40], out[41]), (1, 4));
    let inner6 = &out[48..];
    assert_eq!(inner6[0] >> 4, 6);
    assert_eq!(src6(inner6), a6("2001:db8:64::c000:20a"));
    assert_eq!(dst6(inner6), a6("2001:db8:64::c633:6414"));
    assert_eq!(inner6[7], 64, "inner hop limit not decremented");
    // The inner packet is complete here, so its UDP checksum must verify too.
    v6ok(inner6);
}

#[test]
fn icmpv6_errors_to_icmpv4() {
    let mut s = siit();
    let inner = udp6("2001:db8:64::c000:20a", "2001:db8:64::c633:6414", 53, b"query");
    // Packet Too Big 1400 → Fragmentation Needed 1380.
    let pkt = icmp6("2001:db8:64::c633:6414", "2001:db8:64::c000:20a", 2, 0, 1400u32.to_be_bytes(), &inner);
    let (v, out) = run(&mut s, &pkt);
    assert_eq!(v, FWD4);
    v4l4ok(&out);
    assert_eq!((out[20], out[21]), (3, 4));
    assert_eq!(u16::from_be_bytes([out[26], out[27]]), 1380);
    let inner4 = &out[28..];
    v4l4ok(inner4);
    assert_eq!(src4(inner4), a4("192.0.2.10"));
    // Parameter Problem pointer 7 (hop limit) → pointer 8 (TTL).
    let pkt = icmp6("2001:db8:64::c633:6414", "2001:db8:64::c000:20a", 4, 0, 7u32.to_be_bytes(), &inner);
    let (v, out) = run(&mut s, &pkt);
    assert_eq!(v, FWD4);
    assert_eq!((out[20], out[21], out[24]), (12, 0, 8));
    // Pointer 2 (flow label) has no counterpart.
    let pkt = icmp6("2001:db8:64::c633:6414", "2001:db8:64::c000:20a", 4, 0, 2u32.to_be_bytes(), &inner);
    assert_eq!(run(&mut s, &pkt).0, Verdict::Drop(R::UntranslatablePointer));
    // Unrecognized next header → Protocol Unreachable.
    let pkt = icmp6("2001:db8:64::c633:6414", "2001:db8:64::c000:20a", 4, 1, 6u32.to_be_bytes(), &inner);
    let (_, out) = run(&mut s, &pkt);
    assert_eq!((out[20], out[21]), (3, 2));
    // Neighbour solicitation: single hop.
    let pkt = icmp6("2001:db8:64::c633:6414", "2001:db8:64::c000:20a", 135, 0, [0; 4], &[0; 16]);
    assert_eq!(run(&mut s, &pkt).0, Verdict::Drop(R::SingleHop));
}

#[test]
fn router_source_uses_rfc6791_pool() {
    let mut c = config();
    c.rfc6791_v4 = Some("192.0.2.200/32".parse().unwrap());
    let mut s = Siit::new(c).unwrap();
    let inner = udp6("2001:db8:64::c000:20a", "2001:db8:64::c633:6414", 53, b"q");
    // A Time Exceeded from an IPv6 router whose address is not under pool6.
    let pkt = icmp6("2001:db8:ffff::1", "2001:db8:64::c000:20a", 3, 0, [0; 4], &inner);
    let (v, out) = run(&mut s, &pkt);
    assert_eq!(v, FWD4);
    assert_eq!(src4(&out), a4("192.0.2.200"));
    assert_eq!((out[20], out[21]), (11, 0));
}

#[test]
fn fragmentation_needed_mtu_zero_uses_plateaus() {
    let mut c = config();
    c.ipv6_mtu = 9000;
    c.ipv4_mtu = 9000;
    let mut s = Siit::new(c).unwrap();
    let mut inner = udp4("192.0.2.10", "198.51.100.20", 53, &[0u8; 4000 - 28]);
    inner.truncate(100);
    let pkt = icmp4("198.51.100.20", "192.0.2.10", 3, 4, [0; 4], &inner);
    let (v, out) = run(&mut s, &pkt);
    assert_eq!(v, FWD6);
    v6ok(&out);
    assert_eq!(out[40], 2);
    // Plateau below 4000 is 2002 → 2022.
    assert_eq!(u32::from_be_bytes([out[44], out[45], out[46], out[47]]), 2022);
}

#[test]
fn rfc4884_extensions_are_carried() {
    let mut s = siit();
    let inner = udp4("192.0.2.10", "198.51.100.20", 53, b"q");
    let mut orig = inner.clone();
    orig.resize(128, 0);
    let ext = [0x20, 0, 0, 0, 0, 8, 1, 1, 0, 0, 0, 42]; // version 2 header + one object
    let mut data = orig.clone();
    data.extend_from_slice(&ext);
    let pkt = icmp4("198.51.100.20", "192.0.2.10", 11, 0, [0, 32, 0, 0], &data);
    let (v, out) = run(&mut s, &pkt);
    assert_eq!(v, FWD6);
    v6ok(&out);
    let la = usize::from(out[44]) * 8;
    assert!(la >= 128 && la % 8 == 0);
    assert_eq!(&out[48 + la..], &ext[..], "extension structure follows the padded original datagram");
    // And the reverse direction.
    let (v, back) = run(&mut s, &{
        let mut inner6 = out[48..48 + la].to_vec();
        inner6.extend_from_slice(&ext);
        icmp6("2001:db8:64::c633:6414", "2001:db8:64::c000:20a", 3, 0, [(la / 8) as u8, 0, 0, 0], &inner6)
    });
    assert_eq!(v, FWD4);
    v4l4ok(&back);
    let la4 = usize::from(back[25]) * 4;
    assert!(la4 >= 128 && la4 % 4 == 0);
    assert_eq!(&back[28 + la4..], &ext[..]);
}

#[test]
fn nested_icmp_errors_dropped() {
    let mut s = siit();
    let inner_inner = udp4("192.0.2.10", "198.51.100.20", 53, b"q");
    let inner = icmp4("192.0.2.10", "198.51.100.20", 3, 3, [0; 4], &inner_inner);
    let pkt = icmp4("198.51.100.20", "192.0.2.10", 3, 1, [0; 4], &inner);
    assert_eq!(run(&mut s, &pkt).0, Verdict::Drop(R::NestedIcmpError));
}

#[test]
fn unknown_icmp_types_dropped_and_counted() {
    let mut s = siit();
    for (t, c, r) in [
        (13, 0, R::UntranslatableIcmp),
        (5, 0, R::SingleHop),
        (4, 0, R::UntranslatableIcmp),
        (3, 14, R::UntranslatableIcmp),
    ] {
        let inner = udp4("192.0.2.10", "198.51.100.20", 53, b"q");
        let pkt = icmp4("198.51.100.20", "192.0.2.10", t, c, [0; 4], &inner);
        assert_eq!(run(&mut s, &pkt).0, Verdict::Drop(r), "type {t} code {c}");
    }
    let (v, _) = run(&mut s, &ipv4_header(a4("192.0.2.10"), a4("224.0.0.1"), 2, 0, 1, 1, false));
    assert!(matches!(v, Verdict::Drop(_)));
    assert!(s.counters().dropped_total() >= 4);
}

#[test]
fn bad_icmp_error_checksum_dropped() {
    let mut s = siit();
    let inner = udp4("192.0.2.10", "198.51.100.20", 53, b"q");
    let mut pkt = icmp4("198.51.100.20", "192.0.2.10", 3, 3, [0; 4], &inner);
    pkt[22] ^= 1;
    assert_eq!(run(&mut s, &pkt).0, Verdict::Drop(R::IcmpChecksum));
}

#[test]
fn pings_to_the_translator_are_answered() {
    let mut s = siit();
    let (v, out) = run(&mut s, &echo4("192.0.2.10", "198.51.100.1", 5, 6, b"ping"));
    assert_eq!(v, Verdict::Reply(Side::V4));
    v4l4ok(&out);
    assert_eq!((src4(&out), dst4(&out), out[20]), (a4("198.51.100.1"), a4("192.0.2.10"), 0));
    let (v, out) = run(&mut s, &echo6("2001:db8:64::c000:20a", "2001:db8::1", 5, 6, b"ping"));
    assert_eq!(v, Verdict::Reply(Side::V6));
    v6ok(&out);
    assert_eq!(out[40], 129);
    let (v, _) = run(&mut s, &udp4("192.0.2.10", "198.51.100.1", 53, b"q"));
    assert_eq!(v, Verdict::Drop(R::ToTranslator));
}

#[test]
fn icmp_errors_are_rate_limited() {
    let mut c = config();
    c.icmp_rate = sixgate_nat64::IcmpRateLimit::new(1, 2);
    let mut s = Siit::new(c).unwrap();
    let mut pkt = udp4("192.0.2.10", "198.51.100.20", 53, b"x");
    pkt[8] = 1;
    fix_ipv4_checksum(&mut pkt);
    let now = std::time::Instant::now();
    let mut replies = 0;
    for _ in 0..10 {
        let mut b = sixgate_core::buf::PacketBuf::from_slice(&pkt);
        if let Verdict::Reply(_) = s.process(&mut b, now) {
            replies += 1;
        }
    }
    assert_eq!(replies, 2, "burst of two, then nothing within the same instant");
    let mut b = sixgate_core::buf::PacketBuf::from_slice(&pkt);
    assert!(matches!(s.process(&mut b, now + std::time::Duration::from_secs(1)), Verdict::Reply(_)));
    // Every refusal counted once: answered (the burst, and the one a second later) or not.
    let c = s.counters();
    assert_eq!((c.answered(R::TtlExceeded), c.dropped(R::TtlExceeded)), (3, 8), "{c}");
}

/// RFC 7915 §5.1.1: an ICMPv6 error that came with a Fragment Header (an atomic fragment)
/// takes the low-order 16 bits of its Identification, DF clear, like any other packet
/// with one.
#[test]
fn icmp6_error_in_a_fragment_header_keeps_its_identification() {
    let mut s = siit();
    let inner = udp6("2001:db8:64::c633:6414", "2001:db8:64::c000:20a", 53, b"q");
    let err = icmp6("2001:db8:64::c000:20a", "2001:db8:64::c633:6414", 1, 4, [0; 4], &inner);
    let [pkt] = <[Vec<u8>; 1]>::try_from(frag6_at(&err, 0xdead_beef, &[])).unwrap();
    assert_eq!((pkt[6], pkt[42], pkt[43]), (44, 0, 0), "an atomic fragment");
    for _ in 0..2 {
        let (v, out) = run(&mut s, &pkt);
        assert_eq!(v, FWD4);
        v4l4ok(&out);
        assert_eq!((out[20], out[21]), (3, 3), "Port Unreachable");
        assert_eq!(u16::from_be_bytes([out[4], out[5]]), 0xbeef, "identification from the Fragment Header");
        assert_eq!(u16::from_be_bytes([out[6], out[7]]), 0, "DF and MF clear, offset 0");
    }
    // The same error without the Fragment Header gets a fresh identification each time.
    let (_, a) = run(&mut s, &err);
    let (_, b) = run(&mut s, &err);
    assert_ne!(a[4..6], b[4..6]);
}

/// An RFC 4884 extension structure (version 2, valid checksum) of `len` bytes in all: one
/// object of class 0xfe filled with `fill`.
fn extension(len: usize, fill: u8) -> Vec<u8> {
    let mut e = vec![0x20, 0, 0, 0];
    let olen = (len - 4) as u16;
    e.extend_from_slice(&olen.to_be_bytes());
    e.extend_from_slice(&[0xfe, 1]);
    e.resize(len, fill);
    let c = sixgate_core::checksum::finish(sixgate_core::checksum::sum(&e));
    e[2..4].copy_from_slice(&c.to_be_bytes());
    e
}

/// RFC 4884: an extension that does not fit next to the whole original datagram within
/// 1280 bytes (ICMPv6) or 576 (ICMPv4) stays whole; the original datagram field is
/// trimmed instead (never below 128 bytes) and the length attribute says so. Where even
/// 128 bytes leave no room, the extension is left out and the quote truncated as usual.
#[test]
fn rfc4884_extensions_that_do_not_fit_trim_the_original_datagram() {
    let mut s = siit();
    // 4→6: Time Exceeded about a 1000-byte UDP packet, 300 bytes of extension.
    let inner = udp4("192.0.2.10", "198.51.100.20", 53, &[0x5a; 1000 - 28]);
    let ext = extension(300, 0x11);
    let mut data = inner.clone();
    data.extend_from_slice(&ext);
    let pkt = icmp4("198.51.100.20", "192.0.2.10", 11, 0, [0, (1000 / 4) as u8, 0, 0], &data);
    let (v, out) = run(&mut s, &pkt);
    assert_eq!(v, FWD6);
    v6ok(&out);
    assert!(out.len() <= 1280, "{} bytes", out.len());
    let field = usize::from(out[44]) * 8;
    assert_eq!(field, (1280 - 48 - 300) / 8 * 8, "the original datagram field fills what is left");
    assert_eq!(out.len(), 48 + field + 300);
    assert_eq!(&out[48 + field..], &ext[..], "the extension, whole, after the field");
    // The field is the translated packet's first bytes: IPv6 header, UDP header, payload.
    assert_eq!((out[48] >> 4, out[48 + 6]), (6, 17));
    assert_eq!(u16::from_be_bytes([out[52], out[53]]), 1000 - 20, "inner payload length as sent");
    assert!(out[48 + 48..48 + field].iter().all(|&b| b == 0x5a));

    // 6→4: Destination Unreachable about a 1000-byte IPv6 UDP packet, 200 bytes of
    // extension.
    let inner6 = udp6("2001:db8:64::c633:6414", "2001:db8:64::c000:20a", 53, &[0x5a; 1000 - 48]);
    let ext = extension(200, 0x22);
    let mut data = inner6.clone();
    data.extend_from_slice(&ext);
    let pkt = icmp6("2001:db8:64::c000:20a", "2001:db8:64::c633:6414", 1, 4, [(1000 / 8) as u8, 0, 0, 0], &data);
    let (v, out) = run(&mut s, &pkt);
    assert_eq!(v, FWD4);
    v4l4ok(&out);
    assert_eq!(out.len(), 576);
    let field = usize::from(out[25]) * 4;
    assert_eq!(field, 576 - 28 - 200);
    assert_eq!(&out[28 + field..], &ext[..]);
    assert_eq!((out[28] >> 4, out[28 + 9]), (4, 17));
    assert!(out[28 + 28..28 + field].iter().all(|&b| b == 0x5a));

    // An extension that leaves no room for 128 bytes of the original datagram in ICMPv4
    // (576 − 28 − 128 = 420): left out, the quote truncated to 576 bytes.
    let ext = extension(424, 0x33);
    let mut data = inner6.clone();
    data.extend_from_slice(&ext);
    let pkt = icmp6("2001:db8:64::c000:20a", "2001:db8:64::c633:6414", 1, 4, [(1000 / 8) as u8, 0, 0, 0], &data);
    let (v, out) = run(&mut s, &pkt);
    assert_eq!(v, FWD4);
    v4l4ok(&out);
    assert_eq!((out.len(), out[25]), (576, 0), "no length attribute, no extension");
    // Exactly 128 bytes left: kept.
    let ext = extension(420, 0x33);
    let mut data = inner6.clone();
    data.extend_from_slice(&ext);
    let pkt = icmp6("2001:db8:64::c000:20a", "2001:db8:64::c633:6414", 1, 4, [(1000 / 8) as u8, 0, 0, 0], &data);
    let (v, out) = run(&mut s, &pkt);
    assert_eq!(v, FWD4);
    v4l4ok(&out);
    assert_eq!((out.len(), usize::from(out[25]) * 4), (576, 128));
    assert_eq!(&out[28 + 128..], &ext[..]);
}

/// Zero padding after the quoted datagram (the datagram's own length, from its IPv6
/// Payload Length or IPv4 Total Length, is shorter than the field) is not datagram: the
/// translated quote ends where the quoted datagram ends (RFC 7915 §4.3, §5.3 translate
/// the packet in the error).
#[test]
fn padding_after_quoted_datagram_is_not_translated_as_datagram() {
    let (a, b) = ("2001:db8:64::c633:6414", "2001:db8:64::c000:20a");
    let mut quoted = udp6(b, a, 53, b"q");
    quoted.extend_from_slice(&[0; 16]);
    let err = icmp6(a, b, 1, 4, [0; 4], &quoted);
    let mut s = siit();
    let (v, out) = run(&mut s, &err);
    assert_eq!(v, FWD4);
    v4ok(&out);
    assert_eq!((out[20], out[21]), (3, 3));
    assert_eq!(out.len(), 20 + 8 + 20 + 8 + 1, "the padding is left out");
    assert_eq!(u16::from_be_bytes([out[30], out[31]]), 29, "quoted total length");

    let (a4s, b4s) = ("198.51.100.20", "192.0.2.10");
    let mut quoted = udp4(b4s, a4s, 53, b"q");
    quoted.extend_from_slice(&[0; 16]);
    let err = icmp4(a4s, b4s, 3, 3, [0; 4], &quoted);
    let mut s = siit();
    let (v, out) = run(&mut s, &err);
    assert_eq!(v, FWD6);
    v6ok(&out);
    assert_eq!((out[40], out[41]), (1, 4));
    assert_eq!(out.len(), 40 + 8 + 40 + 8 + 1, "the padding is left out");
}
