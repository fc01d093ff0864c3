//! RFC 7915 behaviour of the stateless translator at the IP layer, packet by packet:
//! header fields, DF and fragmentation, extension headers, checksums, address rules and
//! EAM; the ICMP side is in `siit_rfc7915_icmp.rs`. Every translated packet is checked
//! with an independent checksum implementation (tests/common/mod.rs).

mod common;

use common::*;
use sixgate_core::engine::{Engine, Side, Verdict};
use sixgate_nat64::{Siit, SiitDrop as R, TosPolicy};
use sixgate_testkit::packets::*;

#[test]
fn udp_4to6_header_fields() {
    let mut s = siit();
    let mut pkt = udp4("192.0.2.10", "198.51.100.20", 53, b"hello");
    pkt[1] = 0xb8; // DSCP EF
    fix_ipv4_checksum(&mut pkt);
    let (v, out) = run(&mut s, &pkt);
    assert_eq!(v, FWD6);
    v6ok(&out);
    // §4.1: version 6, traffic class copied, flow label 0.
    assert_eq!(u32::from_be_bytes([out[0], out[1], out[2], out[3]]), 0x6b80_0000);
    assert_eq!(out[6], 17, "next header = protocol");
    assert_eq!(out[7], 63, "hop limit = TTL - 1");
    assert_eq!(src6(&out), a6("2001:db8:64::c000:20a"));
    assert_eq!(dst6(&out), a6("2001:db8:64::c633:6414"));
    assert_eq!(
        &out[40..],
        &pkt[20..28]
            .iter()
            .copied()
            .enumerate()
            .map(|(i, b)| if i == 6 || i == 7 { out[40 + i] } else { b })
            .chain(b"hello".iter().copied())
            .collect::<Vec<_>>()[..]
    );
}

#[test]
fn tcp_6to4_header_fields() {
    let mut s = siit();
    let pkt = tcp6("2001:db8:64::c000:20a", "2001:db8:64::c633:6414", 80, &[7u8; 100]);
    let (v, out) = run(&mut s, &pkt);
    assert_eq!(v, FWD4);
    v4l4ok(&out);
    assert_eq!(out.len(), 20 + 120);
    assert_eq!(out[8], 63);
    assert_eq!(out[9], 6);
    assert_eq!(src4(&out), a4("192.0.2.10"));
    assert_eq!(dst4(&out), a4("198.51.100.20"));
    // §5.1: small packet → DF clear, MF clear, offset 0.
    assert_eq!(u16::from_be_bytes([out[6], out[7]]), 0);
}

#[test]
fn df_set_above_1260_only() {
    let mut s = siit();
    // 1240-byte payload + 20 TCP + 20 IPv4 = 1280 > 1260 → DF.
    let (v, out) = run(&mut s, &tcp6("2001:db8:64::c000:20a", "2001:db8:64::c633:6414", 80, &[1u8; 1220]));
    assert_eq!(v, FWD4);
    assert_eq!(out.len(), 1260);
    assert_eq!(out[6] & 0x40, 0, "1260 bytes: DF clear");
    let (_, out) = run(&mut s, &tcp6("2001:db8:64::c000:20a", "2001:db8:64::c633:6414", 80, &[1u8; 1221]));
    assert_eq!(out.len(), 1261);
    assert_eq!(out[6] & 0x40, 0x40, "1261 bytes: DF set");
}

#[test]
fn small_ipv4_mtu_fragments_df_clear_packets() {
    let mut c = config();
    c.ipv4_mtu = 576;
    let mut s = Siit::new(c).unwrap();
    // 1180 bytes of IPv4: DF clear (≤ 1260) and bigger than 576 → IPv4 fragments.
    let pkt =
        udp6("2001:db8:64::c000:20a", "2001:db8:64::c633:6414", 53, &(0..1152u32).map(|i| i as u8).collect::<Vec<_>>());
    let (v, frags) = run_all(&mut s, &pkt);
    assert_eq!(v, FWD4);
    assert_eq!(frags.len(), 3);
    let mut data = vec![0u8; 1160];
    let id = u16::from_be_bytes([frags[0][4], frags[0][5]]);
    for (i, f) in frags.iter().enumerate() {
        v4ok(f);
        assert!(f.len() <= 576);
        assert_eq!(u16::from_be_bytes([f[4], f[5]]), id);
        let ff = u16::from_be_bytes([f[6], f[7]]);
        assert_eq!(ff & 0x2000 != 0, i < 2, "MF on all but the last");
        let off = usize::from(ff & 0x1fff) * 8;
        data[off..off + f.len() - 20].copy_from_slice(&f[20..]);
    }
    // Reassembled: a valid UDP datagram.
    let mut whole = frags[0][..20].to_vec();
    whole.extend_from_slice(&data);
    whole[2..4].copy_from_slice(&1180u16.to_be_bytes());
    whole[6] = 0;
    whole[7] = 0;
    fix_ipv4_checksum(&mut whole);
    v4l4ok(&whole);
}

#[test]
fn df_clear_ipv4_fragmented_to_lowest_ipv6_mtu() {
    let mut s = siit();
    let mut pkt = udp4("192.0.2.10", "198.51.100.20", 53, &(0..2972u32).map(|i| (i * 7) as u8).collect::<Vec<_>>());
    pkt[6] = 0; // DF clear
    fix_ipv4_checksum(&mut pkt);
    let (v, frags) = run_all(&mut s, &pkt);
    assert_eq!(v, FWD6);
    assert_eq!(frags.len(), 3);
    let mut data = vec![0u8; 2980];
    for (i, f) in frags.iter().enumerate() {
        assert!(f.len() <= 1280, "fits the lowest IPv6 MTU");
        assert_eq!(usize::from(u16::from_be_bytes([f[4], f[5]])) + 40, f.len());
        assert_eq!(f[6], 44, "fragment header");
        assert_eq!(f[40], 17);
        assert_eq!(u32::from_be_bytes([f[44], f[45], f[46], f[47]]), 0x1234, "identification from IPv4");
        let fo = u16::from_be_bytes([f[42], f[43]]);
        assert_eq!(fo & 1 == 1, i < 2);
        let off = usize::from(fo & 0xfff8);
        data[off..off + f.len() - 48].copy_from_slice(&f[48..]);
    }
    let mut whole = frags[0][..40].to_vec();
    whole[6] = 17;
    whole[4..6].copy_from_slice(&2980u16.to_be_bytes());
    whole.extend_from_slice(&data);
    v6ok(&whole);
}

#[test]
fn small_df_clear_packet_gets_no_atomic_fragment() {
    let mut s = siit();
    let mut pkt = udp4("192.0.2.10", "198.51.100.20", 53, b"tiny");
    pkt[6] = 0;
    fix_ipv4_checksum(&mut pkt);
    let (v, out) = run(&mut s, &pkt);
    assert_eq!(v, FWD6);
    assert_eq!(out[6], 17, "RFC 8021: no atomic fragment");
}

#[test]
fn ipv4_fragments_keep_identification_and_offset() {
    let mut s = siit();
    // A non-first fragment: offset 185*8, MF set, no transport header.
    let mut pkt = ipv4_header(a4("192.0.2.10"), a4("198.51.100.20"), 17, 64, 64, 0xbeef, false).to_vec();
    pkt[6] = 0x20;
    pkt[7] = 185;
    fix_ipv4_checksum(&mut pkt);
    pkt.extend_from_slice(&[0xaa; 64]);
    let (v, out) = run(&mut s, &pkt);
    assert_eq!(v, FWD6);
    assert_eq!(out[6], 44);
    assert_eq!(out[40], 17);
    assert_eq!(u16::from_be_bytes([out[42], out[43]]), (185 * 8) | 1);
    assert_eq!(u32::from_be_bytes([out[44], out[45], out[46], out[47]]), 0xbeef);
    assert_eq!(&out[48..], &[0xaa; 64][..], "payload untouched");
    // And back: the fragment header becomes the IPv4 fragment fields.
    let (v, back) = run(&mut s, &out);
    assert_eq!(v, FWD4);
    v4ok(&back);
    assert_eq!(u16::from_be_bytes([back[4], back[5]]), 0xbeef);
    assert_eq!(u16::from_be_bytes([back[6], back[7]]), 0x2000 | 185);
}

#[test]
fn routing_header_with_segments_left_is_refused() {
    let mut s = siit();
    let inner = udp6("2001:db8:64::c000:20a", "2001:db8:64::c633:6414", 53, b"x");
    let mut pkt = inner[..40].to_vec();
    pkt[6] = 43;
    let rh = [17u8, 0, 0, 1, 0, 0, 0, 0];
    pkt.extend_from_slice(&rh);
    pkt.extend_from_slice(&inner[40..]);
    let pl = (pkt.len() - 40) as u16;
    pkt[4..6].copy_from_slice(&pl.to_be_bytes());
    let (v, out) = run(&mut s, &pkt);
    assert_eq!(v, Verdict::Reply(Side::V6));
    v6ok(&out);
    assert_eq!((out[40], out[41]), (4, 0));
    assert_eq!(u32::from_be_bytes([out[44], out[45], out[46], out[47]]), 43, "points at Segments Left");
    // Segments left 0: skipped, translated.
    pkt[43] = 0;
    let (v, out) = run(&mut s, &pkt);
    assert_eq!(v, FWD4);
    v4ok(&out);
    assert_eq!(out[9], 17);
    assert_eq!(out.len(), 20 + 9);
}

/// `pkt` (an IPv6 packet without extension headers) with a Fragment Header (`frag_off`
/// bytes, M flag `more`, identification `id`) whose Next Header is `ext`, then an 8-byte
/// extension header of that type chained to the upper layer.
fn with_frag_then_ext(pkt: &[u8], ext: u8, frag_off: u16, more: bool, id: u32) -> Vec<u8> {
    let mut out = pkt[..40].to_vec();
    out[6] = 44;
    out.extend_from_slice(&[ext, 0]);
    out.extend_from_slice(&(frag_off | u16::from(more)).to_be_bytes());
    out.extend_from_slice(&id.to_be_bytes());
    // Hop-by-Hop / Destination Options (PadN), Routing (type 0, segments left 0), or a
    // second Fragment Header: 8 bytes each, chained to the upper layer.
    if matches!(ext, 0 | 60) {
        out.extend_from_slice(&[pkt[6], 0, 1, 4, 0, 0, 0, 0]);
    } else {
        out.extend_from_slice(&[pkt[6], 0, 0, 0, 0, 0, 0, 0]);
    }
    out.extend_from_slice(&pkt[40..]);
    let pl = (out.len() - 40) as u16;
    out[4..6].copy_from_slice(&pl.to_be_bytes());
    out
}

/// RFC 7915 §5.1 has no Parameter Problem for an extension header after the Fragment
/// Header: the packet is dropped, counted, and answered with Destination Unreachable,
/// code 1 (administratively prohibited), unused field zero, quoting the packet as it
/// arrived. Whole datagrams, first and later fragments alike; every header the translator
/// would otherwise remove (Hop-by-Hop, Routing, Destination Options) and a second Fragment
/// Header.
#[test]
fn extension_after_fragment_header_is_refused() {
    let inner = udp6("2001:db8:64::c000:20a", "2001:db8:64::c633:6414", 53, b"x");
    for ext in [0u8, 43, 60, 44] {
        for (frag_off, more) in [(0, false), (0, true), (8, false), (16, true)] {
            let mut s = siit();
            let pkt = with_frag_then_ext(&inner, ext, frag_off, more, 1);
            let (v, out) = run(&mut s, &pkt);
            let what = format!("ext {ext}, offset {frag_off}, M {more}");
            assert_eq!(v, Verdict::Reply(Side::V6), "{what}");
            v6ok(&out);
            assert_eq!((out[40], out[41]), (1, 1), "Destination Unreachable, administratively prohibited: {what}");
            assert_eq!(&out[44..48], &[0; 4], "unused field zero: {what}");
            assert_eq!(&out[48..], &pkt[..], "quotes the packet as it arrived: {what}");
            assert_eq!((src6(&out), dst6(&out)), (a6("2001:db8::1"), a6("2001:db8:64::c000:20a")));
            assert_eq!(s.counters().answered(R::ExtensionAfterFragment), 1, "{what}");
            assert_eq!(s.counters().forwarded, 0);
        }
    }
}

/// RFC 7915 §5.1.1: "If the Next Header field of the Fragment Header is an extension
/// header (except ESP, but including the Authentication Header (AH)), then the packet
/// SHOULD be dropped and logged." AH and the other IANA IPv6 extension header numbers
/// (Mobility, HIP, Shim6, the experimental 253 and 254) are refused like the others and
/// answered per RFC 7915 §5.4; ESP after the Fragment Header is translated as Protocol 50.
#[test]
fn ah_and_other_extension_headers_after_fragment_header_are_refused() {
    let inner = udp6("2001:db8:64::c000:20a", "2001:db8:64::c633:6414", 53, b"x");
    for ext in [51u8, 135, 139, 140, 253, 254] {
        let mut s = siit();
        let pkt = with_frag_then_ext(&inner, ext, 0, true, 7);
        let (v, out) = run(&mut s, &pkt);
        assert_eq!(v, Verdict::Reply(Side::V6), "ext {ext}");
        v6ok(&out);
        assert_eq!((out[40], out[41]), (1, 1), "ext {ext}");
        assert_eq!(&out[44..48], &[0; 4], "ext {ext}");
        assert_eq!(&out[48..], &pkt[..], "ext {ext}");
        assert_eq!(s.counters().answered(R::ExtensionAfterFragment), 1, "ext {ext}");
        assert_eq!(s.counters().forwarded, 0, "ext {ext}");
    }
    let mut s = siit();
    let pkt = with_frag_then_ext(&inner, 50, 0, true, 7);
    let (v, out) = run(&mut s, &pkt);
    assert_eq!(v, FWD4, "ESP after the Fragment Header is translated");
    v4ok(&out);
    assert_eq!(out[9], 50);
    assert_eq!(s.counters().dropped(R::ExtensionAfterFragment), 0);
}

/// `pkt` (an IPv6 packet without extension headers) with the given chain of 8-byte
/// extension headers (Hop-by-Hop / Destination Options carry PadN; a Fragment Header is
/// atomic) in front of its upper layer.
fn with_chain(pkt: &[u8], chain: &[u8]) -> Vec<u8> {
    let mut out = pkt[..40].to_vec();
    let mut nexts = chain[1..].to_vec();
    nexts.push(pkt[6]);
    out[6] = chain[0];
    for (h, n) in chain.iter().zip(nexts) {
        match h {
            44 => out.extend_from_slice(&[n, 0, 0, 0, 0, 0, 0, 3]),
            _ => out.extend_from_slice(&[n, 0, 1, 4, 0, 0, 0, 0]),
        }
    }
    out.extend_from_slice(&pkt[40..]);
    let pl = (out.len() - 40) as u16;
    out[4..6].copy_from_slice(&pl.to_be_bytes());
    out
}

/// RFC 4443 §2.4(e.1) and RFC 7915 §5.4: no ICMPv6 error about an ICMPv6 error message,
/// whatever extension headers come before it; for a packet refused under §5.4 (an
/// extension header after the Fragment Header), none about any ICMPv6 message.
#[test]
fn no_icmpv6_error_about_icmpv6_behind_extension_headers() {
    let (c, srv) = ("2001:db8:64::c000:20a", "2001:db8:64::c633:6414");
    let quoted = udp6(srv, c, 53, b"q");
    let err = icmp6(c, srv, 1, 4, [0; 4], &quoted);
    let echo = echo6(c, srv, 1, 1, b"ping");
    // Fragment Header, then Destination Options, then the ICMPv6 message: refused, silent.
    for (what, m) in [("error", &err), ("echo", &echo)] {
        let mut s = siit();
        let pkt = with_chain(m, &[44, 60]);
        let (v, _) = run(&mut s, &pkt);
        assert_eq!(v, Verdict::Drop(R::ExtensionAfterFragment), "{what}");
        assert_eq!(s.counters().dropped(R::ExtensionAfterFragment), 1, "{what}");
    }
    // Hop-by-Hop (and Destination Options) before an ICMPv6 error with hop limit 1: no
    // Time Exceeded.
    for chain in [&[0u8][..], &[0, 60]] {
        let mut s = siit();
        let mut pkt = with_chain(&err, chain);
        pkt[7] = 1;
        let (v, _) = run(&mut s, &pkt);
        assert_eq!(v, Verdict::Drop(R::HopLimitExceeded), "chain {chain:?}");
    }
    // An echo request behind the same headers still gets its Time Exceeded.
    let mut s = siit();
    let mut pkt = with_chain(&echo, &[0]);
    pkt[7] = 1;
    let (v, out) = run(&mut s, &pkt);
    assert_eq!(v, Verdict::Reply(Side::V6));
    assert_eq!((out[40], out[41]), (3, 0));
}

#[test]
fn hop_by_hop_and_destination_options_skipped() {
    let mut s = siit();
    let inner = tcp6("2001:db8:64::c000:20a", "2001:db8:64::c633:6414", 80, b"data");
    let mut pkt = inner[..40].to_vec();
    pkt[6] = 0;
    pkt.extend_from_slice(&[60, 0, 1, 4, 0, 0, 0, 0]); // HBH with PadN
    pkt.extend_from_slice(&[6, 1, 1, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]); // DstOpts 16 bytes
    pkt.extend_from_slice(&inner[40..]);
    let pl = (pkt.len() - 40) as u16;
    pkt[4..6].copy_from_slice(&pl.to_be_bytes());
    let (v, out) = run(&mut s, &pkt);
    assert_eq!(v, FWD4);
    v4l4ok(&out);
    assert_eq!(out.len(), 20 + 24);
}

#[test]
fn udp_zero_checksum() {
    let mut pkt = udp4("192.0.2.10", "198.51.100.20", 53, b"zero");
    pkt[26] = 0;
    pkt[27] = 0;
    // Default: refused with ICMPv4 administratively prohibited.
    let mut s = siit();
    let (v, out) = run(&mut s, &pkt);
    assert_eq!(v, Verdict::Reply(Side::V4));
    assert_eq!((out[20], out[21]), (3, 13));
    assert_eq!(s.counters().answered(R::UdpZeroChecksum), 1);
    // With the option: computed.
    let mut c = config();
    c.amend_udp_checksum_zero = true;
    let mut s = Siit::new(c).unwrap();
    let (v, out) = run(&mut s, &pkt);
    assert_eq!(v, FWD6);
    v6ok(&out);
    // Never for fragments.
    let mut frag = pkt.clone();
    frag[6] = 0x20; // MF, DF clear: a first fragment
    fix_ipv4_checksum(&mut frag);
    let (v, _) = run(&mut s, &frag);
    assert_eq!(v, Verdict::Reply(Side::V4));
}

#[test]
fn wrong_checksum_stays_exactly_as_wrong() {
    let mut s = siit();
    let mut pkt = tcp4("192.0.2.10", "198.51.100.20", 80, b"payload");
    let good = u16::from_be_bytes([pkt[36], pkt[37]]);
    pkt[36..38].copy_from_slice(&good.wrapping_add(5).to_be_bytes());
    let (_, out) = run(&mut s, &pkt);
    let mut fixed = pkt.clone();
    fixed[36..38].copy_from_slice(&good.to_be_bytes());
    let (_, ok) = run(&mut s, &fixed);
    let d = u16::from_be_bytes([out[56], out[57]]).wrapping_sub(u16::from_be_bytes([ok[56], ok[57]]));
    assert_eq!(d, 5, "the error is carried over unchanged");
}

#[test]
fn well_known_prefix_refuses_non_global() {
    let mut c = config();
    c.pool6 = Some("64:ff9b::/96".parse().unwrap());
    let mut s = Siit::new(c).unwrap();
    let (v, _) = run(&mut s, &udp4("10.0.0.1", "8.8.8.8", 53, b"x"));
    assert_eq!(v, Verdict::Drop(R::WellKnownPrefixNonGlobal));
    let (v, _) = run(&mut s, &udp6("64:ff9b::a00:1", "64:ff9b::808:808", 53, b"x"));
    assert_eq!(v, Verdict::Drop(R::WellKnownPrefixNonGlobal));
    let (v, out) = run(&mut s, &udp4("74.207.254.16", "8.8.8.8", 53, b"x"));
    assert_eq!(v, FWD6);
    assert_eq!(src6(&out), a6("64:ff9b::4acf:fe10"));
}

#[test]
fn forbidden_and_denylisted_addresses() {
    let mut c = config();
    c.denylist4.push("203.0.113.0/24".parse().unwrap());
    let mut s = Siit::new(c).unwrap();
    for bad in ["127.0.0.1", "0.1.2.3", "169.254.1.1", "224.0.0.5"] {
        let (v, _) = run(&mut s, &udp4(bad, "198.51.100.20", 53, b"x"));
        assert_eq!(v, Verdict::Drop(R::ForbiddenAddress), "{bad}");
    }
    let (v, _) = run(&mut s, &udp4("203.0.113.9", "198.51.100.20", 53, b"x"));
    assert_eq!(v, Verdict::Drop(R::DenylistedAddress));
    let (v, _) = run(&mut s, &udp6("2001:db8:64::7f00:1", "2001:db8:64::c633:6414", 53, b"x"));
    assert_eq!(v, Verdict::Drop(R::ForbiddenAddress));
    let (v, _) = run(&mut s, &udp6("2001:db8:99::1", "2001:db8:64::c633:6414", 53, b"x"));
    assert_eq!(v, Verdict::Drop(R::UntranslatableSource));
}

#[test]
fn eam_takes_precedence_and_hairpins() {
    let mut c = config();
    c.add_eam("2001:db8:aaaa::/120", "198.51.100.0/24").unwrap();
    c.add_eam("2001:db8:bbbb::/120", "203.0.113.0/24").unwrap();
    let mut s = Siit::new(c).unwrap();
    // 4→6: EAM for the destination, pool6 for the source.
    let (v, out) = run(&mut s, &udp4("192.0.2.10", "198.51.100.20", 53, b"x"));
    assert_eq!(v, FWD6);
    assert_eq!(dst6(&out), a6("2001:db8:aaaa::14"));
    assert_eq!(src6(&out), a6("2001:db8:64::c000:20a"));
    v6ok(&out);
    // Hairpin: an EAM host writes to another EAM host's IPv4 address, 203.0.113.5, through
    // pool6 (RFC 7757 §4). The destination maps through the EAMT; the source is built with
    // pool6, not the EAMT, so that the receiver answers through the translator.
    let (v, out) = run(&mut s, &udp6("2001:db8:aaaa::14", "2001:db8:64::cb00:7105", 53, b"hairpin"));
    assert_eq!(v, FWD6);
    v6ok(&out);
    assert_eq!(src6(&out), a6("2001:db8:64::c633:6414"), "RFC 7757 §4: hairpinned source via pool6");
    assert_eq!(dst6(&out), a6("2001:db8:bbbb::5"));
    assert_eq!(out[7], 63, "hop limit decremented once");
    // The answer, to the source the receiver saw, hairpins the same way: the first host
    // sees it come from the address it wrote to.
    let (v, back) = run(&mut s, &udp6("2001:db8:bbbb::5", "2001:db8:64::c633:6414", 53, b"answer"));
    assert_eq!(v, FWD6);
    v6ok(&back);
    assert_eq!(src6(&back), a6("2001:db8:64::cb00:7105"));
    assert_eq!(dst6(&back), a6("2001:db8:aaaa::14"));
}

#[test]
fn bad_ipv4_header_checksum_dropped() {
    let mut s = siit();
    let mut pkt = udp4("192.0.2.10", "198.51.100.20", 53, b"q");
    pkt[10] ^= 0xff;
    assert_eq!(run(&mut s, &pkt).0, Verdict::Drop(R::Ipv4HeaderChecksum));
}

#[test]
fn source_route_option_refused() {
    let mut s = siit();
    let base = udp4("192.0.2.10", "198.51.100.20", 53, b"q");
    let mut pkt = base[..20].to_vec();
    pkt[0] = 0x47; // IHL 7: 8 bytes of options
    pkt.extend_from_slice(&[131, 7, 4, 10, 0, 0, 1, 0]); // LSRR, pointer 4 ≤ length 7: unexpired
    pkt.extend_from_slice(&base[20..]);
    let tl = pkt.len() as u16;
    pkt[2..4].copy_from_slice(&tl.to_be_bytes());
    fix_ipv4_checksum(&mut pkt);
    let (v, out) = run(&mut s, &pkt);
    assert_eq!(v, Verdict::Reply(Side::V4));
    assert_eq!((out[20], out[21]), (3, 5));
    // Expired (pointer > length): options ignored, packet translated without them.
    pkt[22] = 8;
    fix_ipv4_checksum(&mut pkt);
    let (v, out) = run(&mut s, &pkt);
    assert_eq!(v, FWD6);
    v6ok(&out);
    assert_eq!(out.len(), 40 + 9);
}

#[test]
fn traffic_class_policies() {
    let mut c = config();
    c.traffic_class = TosPolicy::Zero;
    c.tos = TosPolicy::Force(0x20);
    let mut s = Siit::new(c).unwrap();
    let mut pkt = udp4("192.0.2.10", "198.51.100.20", 53, b"q");
    pkt[1] = 0xb8;
    fix_ipv4_checksum(&mut pkt);
    let (_, out) = run(&mut s, &pkt);
    assert_eq!(u32::from_be_bytes([out[0], out[1], out[2], out[3]]), 0x6000_0000);
    let (_, back) = run(&mut s, &out);
    assert_eq!(back[1], 0x20);
}

#[test]
fn malformed_inputs_are_dropped() {
    let mut s = siit();
    for bad in [&[][..], &[0x45][..], &[0x60; 39][..], &[0x10; 60][..]] {
        assert_eq!(run(&mut s, bad).0, Verdict::Drop(R::Malformed));
    }
    // Total length beyond the buffer.
    let mut pkt = udp4("192.0.2.10", "198.51.100.20", 53, b"q");
    pkt[3] += 10;
    fix_ipv4_checksum(&mut pkt);
    assert_eq!(run(&mut s, &pkt).0, Verdict::Drop(R::Malformed));
    // Trailing link padding is cut off.
    let mut pkt = udp4("192.0.2.10", "198.51.100.20", 53, b"q");
    pkt.extend_from_slice(&[0; 10]);
    let (v, out) = run(&mut s, &pkt);
    assert_eq!(v, FWD6);
    v6ok(&out);
}

/// RFC 8200 §3 / RFC 2675 §3: a zero Payload Length without a Jumbo Payload option is an
/// empty payload. No Next Header (59) becomes a 20-byte IPv4 packet with Protocol 59, on
/// the fast-path configuration and on the general path alike; and back.
#[test]
fn zero_payload_length_is_an_empty_payload() {
    let mut slow = config();
    slow.denylist4.push("0.0.0.0/32".parse().unwrap()); // turns the fast path off
    for mut s in [siit(), Siit::new(slow).unwrap()] {
        let pkt = ipv6_header(a6("2001:db8:64::c000:20a"), a6("2001:db8:64::c633:6414"), 59, 0, 64).to_vec();
        let (v, out) = run(&mut s, &pkt);
        assert_eq!(v, FWD4);
        v4ok(&out);
        assert_eq!(out.len(), 20);
        assert_eq!((out[8], out[9]), (63, 59), "TTL one less, Protocol 59");
        assert_eq!((src4(&out), dst4(&out)), (a4("192.0.2.10"), a4("198.51.100.20")));
        // Back: a 40-byte IPv6 packet, Payload Length 0, Next Header 59.
        let (v, back) = run(&mut s, &out);
        assert_eq!(v, FWD6);
        assert_eq!(back.len(), 40);
        assert_eq!((back[4], back[5], back[6]), (0, 0, 59));
        // A zero Payload Length with TCP or UDP is a truncated header, not a jumbogram.
        for nh in [6, 17] {
            let pkt = ipv6_header(a6("2001:db8:64::c000:20a"), a6("2001:db8:64::c633:6414"), nh, 0, 64).to_vec();
            assert_eq!(run(&mut s, &pkt).0, Verdict::Drop(R::Malformed), "nh {nh}");
        }
        // An empty payload after a Destination Options header that is all padding.
        let mut pkt = ipv6_header(a6("2001:db8:64::c000:20a"), a6("2001:db8:64::c633:6414"), 60, 8, 64).to_vec();
        pkt.extend_from_slice(&[59, 0, 1, 4, 0, 0, 0, 0]);
        let (v, out) = run(&mut s, &pkt);
        assert_eq!(v, FWD4);
        assert_eq!((out.len(), out[9]), (20, 59));
    }
}

/// RFC 2675 §3: Payload Length 0 with a Hop-by-Hop Jumbo Payload option is a jumbogram,
/// which IPv4 cannot carry: dropped and counted under its own name.
#[test]
fn jumbograms_are_dropped() {
    let mut s = siit();
    let mut pkt = ipv6_header(a6("2001:db8:64::c000:20a"), a6("2001:db8:64::c633:6414"), 0, 0, 64).to_vec();
    // Hop-by-Hop: Pad1, then Jumbo Payload (type 0xC2, length 4) of 70,000, PadN... 8 bytes.
    pkt.extend_from_slice(&[17, 0, 0xc2, 4, 0, 1, 0x11, 0x70]);
    pkt.extend_from_slice(&udp6("2001:db8:64::c000:20a", "2001:db8:64::c633:6414", 53, b"jumbo")[40..]);
    assert_eq!(run(&mut s, &pkt).0, Verdict::Drop(R::Jumbogram));
    assert_eq!(s.counters().dropped(R::Jumbogram), 1);
    // The same Hop-by-Hop header with padding instead of the option: the header does not
    // fit in a zero Payload Length.
    pkt[42..48].copy_from_slice(&[1, 4, 0, 0, 0, 0]);
    assert_eq!(run(&mut s, &pkt).0, Verdict::Drop(R::Malformed));
}

/// A Fragment Header that is the last header (Next Header 59, RFC 8200 §4.7) translates to
/// an IPv4 packet of Protocol 59 with no payload, its Identification the low 16 bits of
/// the Fragment Header's (RFC 7915 §5.1.1); a Fragment Header shorter than its 8 bytes is
/// malformed and dropped without an error.
#[test]
fn fragment_header_last_or_truncated() {
    let base = udp6("2001:db8:64::c000:20a", "2001:db8:64::c633:6414", 53, b"");
    let mut pkt = base[..40].to_vec();
    pkt[6] = 44;
    pkt.extend_from_slice(&[59, 0, 0, 0, 0x00, 0x01, 0x23, 0x45]);
    pkt[4..6].copy_from_slice(&8u16.to_be_bytes());
    let mut s = siit();
    let (v, out) = run(&mut s, &pkt);
    assert_eq!(v, FWD4);
    v4ok(&out);
    assert_eq!(out.len(), 20);
    assert_eq!(out[9], 59);
    assert_eq!(&out[4..6], &[0x23, 0x45]);
    for cut in 1..8 {
        let mut t = pkt[..40 + cut].to_vec();
        t[4..6].copy_from_slice(&(cut as u16).to_be_bytes());
        let mut s = siit();
        let (v, _) = run(&mut s, &t);
        assert_eq!(v, Verdict::Drop(R::Malformed), "{cut} bytes");
    }
}
