//! Each class of packet the SIIT fast path does not handle is punted unchanged
//! (`TC_ACT_REDIRECT` to the engine's device) and counted once, under its reason, and a
//! translated one under `forwarded`. Needs root and a kernel that takes BPF programs;
//! otherwise each test prints why it skips.
#![cfg(all(feature = "programs", target_os = "linux"))]

mod common;

use common::*;
use sixgate_bpf::{SiitFastPath, SIIT_PUNT_REASONS, TC_ACT_OK, TC_ACT_REDIRECT};
use sixgate_nat64::SiitConfig;

/// pool6 2001:db8:64::/96, an EAM 2001:db8:6::/120 = 203.0.113.0/24, a denylist.
fn config() -> SiitConfig {
    let mut c = SiitConfig::new("192.0.2.1".parse().unwrap(), "2001:db8:64::c000:201".parse().unwrap());
    c.pool6 = Some("2001:db8:64::/96".parse().unwrap());
    c.add_eam("2001:db8:6::/120", "203.0.113.0/24").unwrap();
    c.denylist4 = vec!["8.8.8.0/24".parse().unwrap()];
    c.ipv4_mtu = 1500;
    c.ipv6_mtu = 1500;
    c
}

/// A TCP packet IPv6 → IPv4 from the EAM host to 198.51.100.2 (under pool6).
fn tcp6() -> Spec {
    Spec {
        version: 6,
        src: a6("2001:db8:6::2"),
        dst: a6("2001:db8:64::c633:6402"),
        proto: 6,
        ttl: 64,
        tos: 0,
        flow: 0,
        df: false,
        id: 0,
        frag: 0,
        options: vec![],
        icmp: (128, 0),
        tcp_words: 5,
        payload: vec![7; 64],
        udp_zero: false,
        csum_delta: 0,
        bad_header_checksum: false,
        trailer: 0,
    }
}

/// Its IPv4 → IPv6 counterpart.
fn tcp4() -> Spec {
    Spec { version: 4, src: a4("198.51.100.2"), dst: a4("203.0.113.2"), icmp: (8, 0), df: true, ..tcp6() }
}

/// Each class, as a packet, with the reason it must be counted under (`None`: translated).
fn cases() -> Vec<(&'static str, Option<&'static str>, Vec<u8>)> {
    let mut v = Vec::new();
    let mut add = |name: &'static str, reason: Option<&'static str>, s: Spec| v.push((name, reason, build(&s)));
    add("tcp 6 to 4", None, tcp6());
    add("tcp 4 to 6", None, tcp4());
    add("udp 6 to 4", None, Spec { proto: 17, ..tcp6() });
    add("udp 4 to 6", None, Spec { proto: 17, ..tcp4() });
    add("echo 6 to 4", None, Spec { proto: 58, ..tcp6() });
    add("echo 4 to 6", None, Spec { proto: 1, ..tcp4() });
    add("ipv4 padded by the link", None, Spec { trailer: 6, ..tcp4() });
    let mut short = build(&tcp6());
    short[5] = short[5].wrapping_add(1);
    v.push(("payload length past the packet", Some("malformed"), short));
    let mut add = |name: &'static str, reason: Option<&'static str>, s: Spec| v.push((name, reason, build(&s)));
    add("ipv4 header checksum", Some("ipv4_header_checksum"), Spec { bad_header_checksum: true, ..tcp4() });
    add("ipv4 options", Some("ipv4_options"), Spec { options: vec![1, 1, 1, 0], ..tcp4() });
    add("ipv4 fragment", Some("fragment"), Spec { frag: 0x2000, ..tcp4() });
    add("ipv6 fragment", Some("fragment"), Spec { frag: 0x2000, ..tcp6() });
    add("ipv6 hop-by-hop", Some("extension_header"), Spec { options: vec![1], ..tcp6() });
    add("to the translator (v4)", Some("to_translator"), Spec { dst: a4("192.0.2.1"), ..tcp4() });
    add("to the translator (v6)", Some("to_translator"), Spec { dst: a6("2001:db8:64::c000:201"), ..tcp6() });
    add("ttl 1", Some("ttl_exceeded"), Spec { ttl: 1, ..tcp4() });
    add("hop limit 1", Some("hop_limit_exceeded"), Spec { ttl: 1, ..tcp6() });
    add("link-local source", Some("link_local"), Spec { src: a6("fe80::1"), ..tcp6() });
    add("multicast destination", Some("forbidden_address"), Spec { dst: a6("ff0e::1"), ..tcp6() });
    add("loopback source", Some("forbidden_address"), Spec { src: a4("127.0.0.1"), ..tcp4() });
    add("source not mapped", Some("untranslatable_source"), Spec { src: a6("2001:db8:99::1"), ..tcp6() });
    add("destination not mapped", Some("untranslatable_destination"), Spec { dst: a6("2001:db8:99::1"), ..tcp6() });
    add("denylisted", Some("denylisted_address"), Spec { src: a4("8.8.8.8"), ..tcp4() });
    add("hairpin", Some("hairpin"), Spec { dst: a6("2001:db8:64::cb00:7105"), ..tcp6() });
    add("icmp error", Some("icmp_not_echo"), Spec { proto: 1, icmp: (3, 1), ..tcp4() });
    add("icmpv6 error", Some("icmp_not_echo"), Spec { proto: 58, icmp: (1, 3), ..tcp6() });
    add("sctp", Some("unknown_protocol"), Spec { proto: 132, ..tcp4() });
    add("udp without checksum", Some("udp_zero_checksum"), Spec { proto: 17, udp_zero: true, ..tcp4() });
    add("udp6 without checksum", Some("udp6_zero_checksum"), Spec { proto: 17, udp_zero: true, ..tcp6() });
    add("too big for ipv6", Some("too_big"), Spec { payload: vec![1; 1460], ..tcp4() });
    add("too big for ipv4", Some("too_big"), Spec { payload: vec![1; 1480], ..tcp6() });
    v
}

fn counts(f: &SiitFastPath) -> Vec<(&'static str, u64)> {
    let c = f.counters().expect("counters");
    let mut v = vec![("forwarded", c.forwarded)];
    v.extend(c.punted);
    v
}

#[test]
fn each_punt_class_is_counted_once_under_its_reason() {
    let cfg = config();
    let Some(mut f) = load_or_skip(&cfg) else { return };
    let mut seen = std::collections::BTreeSet::new();
    for (name, reason, p) in cases() {
        let before = counts(&f);
        let out = program(&mut f, &p);
        let after = counts(&f);
        let diff: Vec<(&str, u64)> =
            before.iter().zip(&after).filter(|(b, a)| a.1 != b.1).map(|(b, a)| (a.0, a.1 - b.1)).collect();
        let want = reason.unwrap_or("forwarded");
        assert_eq!(diff, vec![(want, 1)], "{name}: counters moved {diff:?}");
        match reason {
            None => assert_eq!(out.action, TC_ACT_OK, "{name}: not translated"),
            Some(_) => {
                assert_eq!(out.action, TC_ACT_REDIRECT, "{name}: not punted");
                assert_eq!(out.data, frame(&p), "{name}: punted changed");
            }
        }
        // What is translated is what the engine makes of it.
        check_equal(&mut f, &cfg, &p).unwrap_or_else(|e| panic!("{name}: {e}"));
        seen.insert(want);
    }
    // RFC 6052 §3.1 needs the well-known prefix.
    let mut wkp = config();
    wkp.pool6 = Some(sixgate_core::rfc6052::Pool6::well_known());
    let Some(mut g) = load_or_skip(&wkp) else { return };
    let p = build(&Spec { src: a4("10.0.0.1"), dst: a4("203.0.113.2"), ..tcp4() });
    let before = counts(&g);
    let out = program(&mut g, &p);
    let after = counts(&g);
    let diff: Vec<(&str, u64)> =
        before.iter().zip(&after).filter(|(b, a)| a.1 != b.1).map(|(b, a)| (a.0, a.1 - b.1)).collect();
    assert_eq!(diff, vec![("wkp_non_global", 1)]);
    assert_eq!((out.action, out.data), (TC_ACT_REDIRECT, frame(&p)));
    seen.insert("wkp_non_global");
    // Every reason the program can give without a kernel route, a GSO packet or a
    // reconfiguration in flight is covered.
    for r in SIIT_PUNT_REASONS {
        if !["no_route", "helper_failed", "reconfiguring", "gso_short_tail"].contains(r) {
            assert!(seen.contains(r), "no case for {r}");
        }
    }
}

#[test]
fn while_the_tables_change_every_packet_goes_to_the_engine_and_after_they_have_changed_the_new_ones_apply() {
    let cfg = config();
    let Some(mut f) = load_or_skip(&cfg) else { return };
    let p = build(&tcp6());
    assert_eq!(program(&mut f, &p).action, TC_ACT_OK);
    // A new pool6: the old one's addresses no longer map, the new one's do.
    let mut new = cfg.clone();
    new.pool6 = Some("2001:db8:46::/96".parse().unwrap());
    f.reconfigure(&new).expect("reconfigure");
    let out = program(&mut f, &p);
    assert_eq!(out.action, TC_ACT_REDIRECT, "the old pool6 still maps");
    let moved = Spec { dst: a6("2001:db8:46::c633:6402"), ..tcp6() };
    check_equal(&mut f, &new, &build(&moved)).unwrap();
    assert_eq!(program(&mut f, &build(&moved)).action, TC_ACT_OK, "the new pool6 does not map");
    // An EAM entry removed is gone from the program's table.
    let mut fewer = new.clone();
    fewer.eamt = Default::default();
    f.reconfigure(&fewer).expect("reconfigure");
    let c = counts(&f);
    assert_eq!(program(&mut f, &build(&moved)).action, TC_ACT_REDIRECT, "the removed EAM entry still maps");
    let after = counts(&f);
    let untranslatable = |v: &[(&str, u64)]| v.iter().find(|(n, _)| *n == "untranslatable_source").map(|x| x.1);
    assert_eq!(untranslatable(&after), untranslatable(&c).map(|n| n + 1));
}

#[test]
fn a_configuration_the_tables_cannot_hold_is_refused_before_anything_is_loaded() {
    let mut cfg = config();
    // 5,000 separate /32s: more IPv4 ranges than the program's table holds.
    cfg.denylist4 = (0..5000u32)
        .map(|i| format!("{}/32", std::net::Ipv4Addr::from(0x0800_0000 + 2 * i)).parse().unwrap())
        .collect();
    match SiitFastPath::load(&cfg) {
        Err(sixgate_bpf::BpfError::Config(why)) => assert!(why.contains("denylist"), "{why}"),
        other => panic!("expected a configuration error, got {other:?}"),
    }
}
