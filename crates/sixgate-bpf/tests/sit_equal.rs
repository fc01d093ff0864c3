//! The 6in4 programs and the engine (`sixgate_6in4::SitTunnel`) on the same bytes: the
//! verifier accepts both programs; what a program sends on is the engine's output byte for
//! byte (the decapsulated inner packet; the whole outer packet, its Identification set by
//! the test mode); what it punts comes out unchanged with `TC_ACT_OK`; and a packet of the
//! classes it handles that the engine forwards whole, it does not punt. Generated packets
//! in every mode (static, static with ECN compatibility, DSCP copy and a smaller link,
//! 6to4 with and without a relay), learned path MTUs mirrored, and the engine's fuzz
//! corpus replayed. Needs root (a network namespace for the FIB lookup, CAP_BPF);
//! otherwise each test prints why it skips.
#![cfg(all(feature = "programs", target_os = "linux"))]

mod sit_common;

use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Instant;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use sixgate_6in4::{SitConfig, SitTunnel};
use sixgate_bpf::SitFastPath;
use sixgate_testkit::fuzz::sit::{config, LOCAL, RELAY, REMOTE};
use sixgate_testkit::packets::sit::{ipv4_header, ipv6};

use sit_common::*;

const OUTER_SRC: [Ipv4Addr; 6] = [
    REMOTE,
    Ipv4Addr::new(198, 51, 100, 9),
    RELAY,
    Ipv4Addr::new(12, 0, 0, 2),
    Ipv4Addr::new(10, 0, 0, 1),
    Ipv4Addr::new(13, 0, 0, 1),
];
const INNER_SRC: [&str; 12] = [
    "2001:db8:b::2",
    "2002:c00:1::1",
    "2002:c00:2::1",
    "2002:a00:1::1",
    "2002:d00:1::1",
    "::1",
    "::",
    "ff02::1",
    "::ffff:1.2.3.4",
    "::1.2.3.4",
    "2002:c000:201::1",
    // 192.0.0.9 is global inside the non-global 192.0.0.0/24 (longest match).
    "2002:c000:9::1",
];
const INNER_DST: [&str; 7] = [
    "2001:db8:a::2",
    "2002:b00:1::1",
    "2002:b00:2::1",
    "2002:c00:1::5",
    "2002:a00:1::1",
    "2002:c000:9::1",
    "2001:db8:b::2",
];
/// Destinations to encapsulate to: not 2002:b00:1::/48, which embeds our own address (the
/// FIB answers local, and the program leaves such a packet to the engine).
const ENCAP_DST: [&str; 7] = [
    "2001:db8:a::2",
    "2002:b00:2::1",
    "2002:c00:1::5",
    "2002:c00:2::1",
    "2002:a00:1::1",
    "2002:c000:9::1",
    "2001:db8:b::2",
];
/// Path MTUs to teach the engine towards its far end (0: none).
const PMTU: [u16; 5] = [0, 1300, 1290, 1400, 1350];

fn a6(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

/// The four programs, one per configuration of [`config`].
fn load_all() -> Option<Vec<(SitConfig, SitFastPath)>> {
    let first = setup(&config(0))?;
    let mut v = vec![(config(0), first)];
    for n in 1..4 {
        v.push((config(n), load(&config(n)).expect("load")));
    }
    Some(v)
}

fn inner(src: &str, dst: &str, nh: u8, tc: u8, len: usize) -> Vec<u8> {
    let payload: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
    let mut p = ipv6(a6(src), a6(dst), if nh == 0 { 17 } else { 59 }, tc, &payload);
    p[7] = 1 + (len % 255) as u8; // any hop limit: neither program touches it
    p
}

/// Teaches a new engine the path MTU and mirrors the engine's table into the program's map.
fn engine_with_pmtu(cfg: &SitConfig, fp: &mut SitFastPath, pmtu: u16, now: Instant) -> SitTunnel {
    let mut e = SitTunnel::new(cfg.clone()).unwrap();
    if let (true, Some(far)) = (pmtu != 0, far_end(cfg)) {
        teach_path_mtu(&mut e, far, pmtu, now);
    }
    let table: Vec<_> = e.path_mtus(now).collect();
    fp.set_path_mtus(&table).unwrap();
    e
}

/// IHL 5, and the outer and inner lengths agree with the bytes: the decapsulation
/// program's class.
fn decap_class(p: &[u8]) -> bool {
    p.len() >= 60
        && p[0] == 0x45
        && usize::from(u16::from_be_bytes([p[2], p[3]])) == p.len()
        && 60 + usize::from(u16::from_be_bytes([p[24], p[25]])) == p.len()
}

fn fix_checksum(p: &mut [u8]) {
    p[10] = 0;
    p[11] = 0;
    let c = sixgate_core::checksum::checksum(&p[..20]);
    p[10..12].copy_from_slice(&c.to_be_bytes());
}

#[test]
fn the_verifier_accepts_both_programs() {
    if let Some(mut all) = load_all() {
        // A test run of each: both loaded.
        let (_, fp) = &mut all[0];
        let f = frame(0x0806, &[0; 28]);
        assert_eq!(fp.test_run(sixgate_bpf::Direction::Ingress, &f).unwrap().action, sixgate_bpf::TC_ACT_OK);
        assert_eq!(fp.test_run(sixgate_bpf::Direction::Egress, &f).unwrap().action, sixgate_bpf::TC_ACT_OK);
    }
}

#[test]
fn decapsulation_equals_the_engine() {
    let Some(all) = load_all() else { return };
    let all = std::cell::RefCell::new(all);
    let mut runner = TestRunner::new(Config { cases: 4000, failure_persistence: None, ..Config::default() });
    let taken = std::cell::Cell::new(0u32);
    let strategy = (
        (0usize..4, 0..OUTER_SRC.len(), any::<bool>(), any::<u8>(), any::<bool>()),
        (0..INNER_SRC.len(), 0..INNER_DST.len(), 0u8..2, any::<u8>(), 0usize..1400),
        (prop::collection::vec((0usize..80, any::<u8>()), 0..3), any::<bool>(), any::<bool>()),
    );
    runner
        .run(&strategy, |((c, s4, ours, tos, df), (s6, d6, nh, tc, len), (flips, fix_sum, good))| {
            let mut all = all.borrow_mut();
            let (cfg, fp) = &mut all[c];
            let now = Instant::now();
            // Half the cases a packet the engine should take: source and destination its
            // mode accepts, no damage (the ECN fields and lengths still vary).
            let (src6, dst6, src4) = match (good, cfg.mode) {
                (true, sixgate_6in4::Mode::Static { remote }) => (INNER_SRC[s6 % 5], INNER_DST[d6], remote),
                (true, sixgate_6in4::Mode::SixToFour { relay }) => match relay {
                    Some(r) if s6 % 2 == 0 => ("2001:db8:b::2", "2002:b00:1::1", r),
                    _ => ("2002:d00:1::1", "2002:b00:1::7", Ipv4Addr::new(13, 0, 0, 1)),
                },
                (false, _) => (INNER_SRC[s6], INNER_DST[d6], OUTER_SRC[s4]),
            };
            let dst4 = if ours || good { cfg.local } else { Ipv4Addr::new(192, 0, 2, 2) };
            let inn = inner(src6, dst6, nh, tc, len);
            let mut p = ipv4_header(src4, dst4, 41, inn.len(), tos, df).to_vec();
            p.extend_from_slice(&inn);
            for (at, x) in flips.iter().filter(|_| !good) {
                if let Some(b) = p.get_mut(*at) {
                    *b ^= x;
                }
            }
            if fix_sum && p[0] == 0x45 {
                fix_checksum(&mut p);
            }
            let mut e = SitTunnel::new(cfg.clone()).unwrap();
            if check_decap(fp, &mut e, &p, decap_class(&p), now) {
                taken.set(taken.get() + 1);
            }
            Ok(())
        })
        .unwrap();
    // The generator reaches the handled class often, and not only it.
    eprintln!("{} of 4000 decapsulated by the program", taken.get());
    assert!(taken.get() > 1000 && taken.get() < 3800, "{} of 4000 decapsulated", taken.get());
}

#[test]
fn encapsulation_equals_the_engine() {
    let Some(all) = load_all() else { return };
    let all = std::cell::RefCell::new(all);
    let mut runner = TestRunner::new(Config { cases: 4000, failure_persistence: None, ..Config::default() });
    let taken = std::cell::Cell::new(0u32);
    let strategy = (
        (0usize..4, 0..PMTU.len()),
        (0..INNER_SRC.len(), 0..ENCAP_DST.len(), 0u8..2, any::<u8>(), 0usize..1500),
        (0usize..3, prop::collection::vec((0usize..48, any::<u8>()), 0..2)),
    );
    runner
        .run(&strategy, |((c, m), (s6, d6, nh, tc, len), (trailing, flips))| {
            // Flipped bytes in a third of the cases only.
            let flips = if trailing == 1 { flips } else { Vec::new() };
            let mut all = all.borrow_mut();
            let (cfg, fp) = &mut all[c];
            let now = Instant::now();
            let mut e = engine_with_pmtu(cfg, fp, PMTU[m], now);
            let mut p = inner(INNER_SRC[s6], ENCAP_DST[d6], nh, tc, len);
            p.extend(std::iter::repeat_n(0xee, if trailing == 2 { 3 } else { 0 }));
            for (at, x) in &flips {
                // The version stays 6: the TUN hands the program IPv6 by its ethertype.
                if let Some(b) = p.get_mut(*at).filter(|_| *at != 0) {
                    *b ^= x;
                }
            }
            let exact = p.len() >= 40 && 40 + usize::from(u16::from_be_bytes([p[4], p[5]])) == p.len();
            if check_encap(fp, &mut e, &p, exact, now) {
                taken.set(taken.get() + 1);
            }
            Ok(())
        })
        .unwrap();
    eprintln!("{} of 4000 encapsulated by the program", taken.get());
    assert!(taken.get() > 200 && taken.get() < 3800, "{} of 4000 encapsulated", taken.get());
}

/// The engine's fuzz corpus (`fuzz/corpus/sit_decap`), prepared as the fuzz target does
/// (mode byte: repaired lengths and checksum, configuration, direction, a learned path MTU
/// of 1300), through both.
#[test]
fn the_fuzz_corpus_through_both() {
    let Some(mut all) = load_all() else { return };
    let dir = sixgate_testkit::corpus::corpus_dir("sit_decap");
    let mut inputs: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .map(|p| std::fs::read(p).unwrap())
        .collect();
    assert!(inputs.len() >= 20, "the corpus is seeded: only {} files", inputs.len());
    inputs.extend(sixgate_testkit::fuzz::sit::seeds());
    let mut taken = 0;
    for data in &inputs {
        let Some((&mode, rest)) = data.split_first() else { continue };
        let mut p = rest.to_vec();
        let encap = mode & 0x10 != 0;
        if let Some(b) = p.first_mut() {
            *b = (*b & 0x0f) | if encap { 0x60 } else { 0x40 };
        }
        if mode & 1 != 0 {
            if encap && p.len() >= 40 {
                let l = (p.len() - 40).min(0xffff) as u16;
                p[4..6].copy_from_slice(&l.to_be_bytes());
            } else if !encap && p.len() >= 20 {
                let l = p.len().min(0xffff) as u16;
                p[2..4].copy_from_slice(&l.to_be_bytes());
            }
        }
        if mode & 2 != 0 && !encap && p.len() >= 20 && p[0] == 0x45 {
            fix_checksum(&mut p);
        }
        let (cfg, fp) = &mut all[usize::from((mode >> 2) & 3)];
        let now = Instant::now();
        let mut e = engine_with_pmtu(cfg, fp, if mode & 0x20 != 0 { 1300 } else { 0 }, now);
        let took = if encap {
            let exact = p.len() >= 40 && 40 + usize::from(u16::from_be_bytes([p[4], p[5]])) == p.len();
            check_encap(fp, &mut e, &p, exact, now)
        } else {
            check_decap(fp, &mut e, &p, decap_class(&p), now)
        };
        taken += usize::from(took);
    }
    assert!(taken >= 5, "only {taken} corpus inputs taken by the programs");
    eprintln!("{} corpus inputs and seeds, {taken} taken by the programs", inputs.len());
}

/// The static endpoint pair of the engine's own example, one packet each way.
#[test]
fn one_packet_each_way() {
    let Some(mut all) = load_all() else { return };
    let (cfg, fp) = &mut all[0];
    assert_eq!(cfg.local, LOCAL);
    let now = Instant::now();
    let mut e = SitTunnel::new(cfg.clone()).unwrap();
    let p = inner("2001:db8:a::2", "2001:db8:b::2", 0, 0xb9, 100);
    assert!(check_encap(fp, &mut e, &p, true, now), "encapsulated");
    let mut outer = ipv4_header(REMOTE, LOCAL, 41, p.len(), 0xb8 | 3, true).to_vec();
    outer.extend_from_slice(&p);
    assert!(check_decap(fp, &mut e, &outer, true, now), "decapsulated");
    assert_eq!(counter(fp, "forwarded"), 2);
}

/// SIGHUP: the configuration map is rewritten in place and the programs follow the new
/// configuration at once; a configuration the engine refuses leaves the old one.
#[test]
fn reconfigure_rewrites_the_maps_in_place() {
    let Some(mut all) = load_all() else { return };
    let (cfg, fp) = &mut all[0];
    let now = Instant::now();
    let p = inner("2001:db8:a::2", "2001:db8:b::2", 0, 0xb9, 100);
    let mut new = cfg.clone();
    new.ttl = 9;
    new.copy_dscp = true;
    new.mtu = Some(1300);
    fp.reconfigure(&new).unwrap();
    let mut e = SitTunnel::new(new.clone()).unwrap();
    assert!(check_encap(fp, &mut e, &p, true, now), "encapsulated with the new TTL and DSCP");
    let big = inner("2001:db8:a::2", "2001:db8:b::2", 0, 0, 1301 - 40);
    assert!(!check_encap(fp, &mut SitTunnel::new(new.clone()).unwrap(), &big, true, now), "the new tunnel MTU");
    let mut bad = new.clone();
    bad.ttl = 0;
    assert!(matches!(fp.reconfigure(&bad), Err(sixgate_bpf::BpfError::Config(_))));
    assert!(check_encap(fp, &mut SitTunnel::new(new).unwrap(), &p, true, now), "the refused one left the old");
}
