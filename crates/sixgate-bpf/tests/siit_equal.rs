//! The SIIT fast path against the engine: the verifier accepts the program for every
//! configuration below; generated packets of every class, and the engine's fuzz corpora,
//! go through both (`BPF_PROG_TEST_RUN` and `sixgate_nat64::Siit`). A packet of the fast
//! path's classes must come out of both byte for byte the same (the whole IP packet,
//! nothing masked: the program's IPv4 Identification is set to the engine's); any other
//! must come out of the program unchanged, punted (`TC_ACT_REDIRECT`). Needs root and a
//! kernel that takes BPF programs; otherwise each test prints why it skips.
#![cfg(all(feature = "programs", target_os = "linux"))]

mod common;

use std::cell::RefCell;
use std::net::{Ipv4Addr, Ipv6Addr};

use common::*;
use proptest::prelude::*;
use sixgate_bpf::SiitFastPath;
use sixgate_core::rfc6052;
use sixgate_nat64::{SiitConfig, TosPolicy};

/// The configurations: the eight of the engine's fuzz targets, then pool6 /48 with EAM,
/// the well-known prefix with a denylist, and a /96 with forced TOS and traffic class.
fn configs() -> Vec<SiitConfig> {
    let mut v: Vec<SiitConfig> = (0..8).map(sixgate_testkit::fuzz::nat64::config).collect();
    let mut c = SiitConfig::new("192.0.2.1".parse().unwrap(), "2001:db8:ffff::1".parse().unwrap());
    c.pool6 = Some("2001:db8:48::/48".parse().unwrap());
    c.add_eam("2001:db8:aaaa::/96", "203.0.113.0/24").unwrap();
    c.add_eam("2001:db8:bbbb::7/128", "198.51.100.7/32").unwrap();
    c.add_eam("2001:db8:cccc::/64", "100.64.0.0/10").unwrap();
    v.push(c);
    let mut c = SiitConfig::new("192.0.2.1".parse().unwrap(), "2001:db8::1".parse().unwrap());
    c.pool6 = Some(rfc6052::Pool6::well_known());
    c.denylist4 = vec!["8.8.0.0/16".parse().unwrap(), "1.2.3.4/32".parse().unwrap()];
    v.push(c);
    let mut c = SiitConfig::new("192.0.2.1".parse().unwrap(), "2001:db8::1".parse().unwrap());
    c.pool6 = Some("2001:db8:96::/96".parse().unwrap());
    c.tos = TosPolicy::Force(0xb8);
    c.traffic_class = TosPolicy::Force(0x28);
    c.ipv4_mtu = 1280;
    c.ipv6_mtu = 1300;
    v.push(c);
    v
}

thread_local! {
    static LOADED: RefCell<Option<Vec<SiitFastPath>>> = const { RefCell::new(None) };
}

/// Runs `f` with the programs of every configuration loaded (once per thread), or skips.
fn with_programs(f: impl FnOnce(&[SiitConfig], &mut [SiitFastPath])) {
    let cfgs = configs();
    LOADED.with(|l| {
        let mut l = l.borrow_mut();
        if l.is_none() {
            let mut progs = Vec::new();
            for c in &cfgs {
                match load_or_skip(c) {
                    Some(p) => progs.push(p),
                    None => return,
                }
            }
            *l = Some(progs);
        }
        if let Some(progs) = l.as_mut() {
            f(&cfgs, progs);
        }
    });
}

#[test]
fn the_verifier_accepts_the_program_for_every_configuration() {
    with_programs(|cfgs, progs| assert_eq!(cfgs.len(), progs.len()));
}

/// An IPv4 address of the kind `k` for `cfg` (`r` the random bits).
fn v4_of(cfg: &SiitConfig, k: u8, r: u32) -> Ipv4Addr {
    let eams = cfg.eamt.entries();
    match k % 8 {
        0 | 1 => Ipv4Addr::from(r),
        // Global unicast, most often.
        2 | 3 => Ipv4Addr::from(0x4000_0000 | (r & 0x3fff_ffff)),
        4 if !eams.is_empty() => {
            let e = eams[(r as usize >> 3) % eams.len()];
            let host = u32::MAX.checked_shr(u32::from(e.v4().prefix_len())).unwrap_or(0);
            Ipv4Addr::from(u32::from(e.v4().network()) | (r & host))
        }
        4 => Ipv4Addr::new(10, (r >> 8) as u8, (r >> 16) as u8, r as u8),
        5 => [Ipv4Addr::new(127, 0, 0, 1), Ipv4Addr::new(224, 0, 0, 5), Ipv4Addr::new(169, 254, 1, 1), cfg.own_ipv4]
            [(r % 4) as usize],
        6 => match cfg.denylist4.first() {
            Some(n) => n.network(),
            None => Ipv4Addr::new(192, 0, 2, (r % 256) as u8),
        },
        _ => Ipv4Addr::new(198, 51, 100, (r % 256) as u8),
    }
}

/// An IPv6 address of the kind `k` for `cfg`.
fn v6_of(cfg: &SiitConfig, k: u8, r4: u32, r6: u128) -> Ipv6Addr {
    let eams = cfg.eamt.entries();
    match k % 10 {
        0..=4 => match cfg.pool6 {
            Some(p) => rfc6052::embed(&p, v4_of(cfg, k >> 1 | (r4 as u8 & 1), r4)),
            None => Ipv6Addr::from(r6),
        },
        5 | 6 if !eams.is_empty() => {
            let e = eams[(r4 as usize) % eams.len()];
            let host = u128::MAX.checked_shr(u32::from(e.v6().prefix_len())).unwrap_or(0);
            Ipv6Addr::from(u128::from(e.v6().network()) | (r6 & host))
        }
        5 => Ipv6Addr::from(r6),
        6 => match cfg.pool6 {
            // Under pool6 with a non-zero u-octet (or any suffix).
            Some(p) => {
                let host = u128::MAX.checked_shr(u32::from(p.prefix_len())).unwrap_or(0);
                Ipv6Addr::from(u128::from(p.net().network()) | (r6 & host))
            }
            None => Ipv6Addr::from(r6),
        },
        7 => cfg.own_ipv6,
        8 => ["fe80::1".parse().unwrap(), "ff02::1".parse().unwrap(), "ff0e::1".parse().unwrap()][(r4 % 3) as usize],
        _ => Ipv6Addr::from(r6),
    }
}

/// A generated packet for configuration `ci`.
#[derive(Debug, Clone)]
struct Gen {
    ci: usize,
    v6: bool,
    src_kind: u8,
    dst_kind: u8,
    r4: (u32, u32),
    r6: (u128, u128),
    proto: u8,
    ttl: u8,
    tos: u8,
    flow: u32,
    df: bool,
    id: u16,
    frag: u16,
    options: u8,
    icmp: (u8, u8),
    tcp_words: u8,
    payload: Vec<u8>,
    udp_zero: bool,
    csum_delta: u16,
    bad_header_checksum: bool,
    trailer: usize,
}

fn gen(n_cfg: usize) -> impl Strategy<Value = Gen> {
    let addrs = (0..n_cfg, any::<bool>(), 0u8..40, 0u8..40, any::<(u32, u32)>(), any::<(u128, u128)>());
    let proto = prop_oneof![6 => Just(6u8), 6 => Just(17u8), 4 => Just(1u8), 1 => any::<u8>()];
    let ttl = prop_oneof![8 => 2u8..=255, 1 => Just(1u8), 1 => Just(0u8), 1 => Just(2u8)];
    let hdr = (proto, ttl, any::<u8>(), any::<u32>(), any::<bool>(), any::<u16>());
    let frag = prop_oneof![12 => Just(0u16), 1 => Just(0x2000u16), 1 => 1u16..0x2000, 1 => Just(0x2005u16)];
    let options = prop_oneof![12 => Just(0u8), 1 => 1u8..=3];
    let icmp = prop_oneof![
        4 => (prop_oneof![Just(8u8), Just(0u8), Just(128u8), Just(129u8)], prop_oneof![3 => Just(0u8), 1 => any::<u8>()]),
        1 => (any::<u8>(), any::<u8>())
    ];
    let payload = prop_oneof![
        6 => proptest::collection::vec(any::<u8>(), 0..200),
        2 => proptest::collection::vec(any::<u8>(), 1200..1500),
        1 => proptest::collection::vec(any::<u8>(), 1500..1700)
    ];
    let rest = (
        frag,
        options,
        icmp,
        5u8..=15,
        payload,
        prop_oneof![9 => Just(false), 1 => Just(true)],
        prop_oneof![9 => Just(0u16), 1 => any::<u16>()],
        prop_oneof![19 => Just(false), 1 => Just(true)],
        prop_oneof![8 => Just(0usize), 1 => 1usize..12],
    );
    (addrs, hdr, rest).prop_map(
        |(
            (ci, v6, src_kind, dst_kind, r4, r6),
            (proto, ttl, tos, flow, df, id),
            (frag, options, icmp, tcp_words, payload, udp_zero, csum_delta, bad_header_checksum, trailer),
        )| Gen {
            ci,
            v6,
            src_kind,
            dst_kind,
            r4,
            r6,
            proto,
            ttl,
            tos,
            flow,
            df,
            id,
            frag,
            options,
            icmp,
            tcp_words,
            payload,
            udp_zero,
            csum_delta,
            bad_header_checksum,
            trailer,
        },
    )
}

fn packet_of(cfg: &SiitConfig, g: &Gen) -> Vec<u8> {
    let version = if g.v6 { 6 } else { 4 };
    let (src, dst) = if g.v6 {
        (
            v6_of(cfg, g.src_kind, g.r4.0, g.r6.0).octets().to_vec(),
            v6_of(cfg, g.dst_kind, g.r4.1, g.r6.1).octets().to_vec(),
        )
    } else {
        (v4_of(cfg, g.src_kind, g.r4.0).octets().to_vec(), v4_of(cfg, g.dst_kind, g.r4.1).octets().to_vec())
    };
    let proto = if g.proto == 1 && g.v6 { 58 } else { g.proto };
    // IPv4 options: NOPs, a record route, or a (loose) source route, padded to 4 bytes.
    let options = match g.options {
        0 => vec![],
        1 => vec![1, 1, 1, 0],
        2 => vec![7, 7, 4, 0, 0, 0, 0, 0],
        _ => vec![131, 7, 4, 192, 0, 2, 9, 0],
    };
    build(&Spec {
        version,
        src,
        dst,
        proto,
        ttl: g.ttl,
        tos: g.tos,
        flow: g.flow,
        df: g.df,
        id: g.id,
        frag: g.frag,
        options,
        icmp: if g.v6 { (g.icmp.0 | 0x80, g.icmp.1) } else { g.icmp },
        tcp_words: g.tcp_words,
        payload: g.payload.clone(),
        udp_zero: g.udp_zero,
        csum_delta: g.csum_delta,
        bad_header_checksum: g.bad_header_checksum,
        trailer: if g.v6 { 0 } else { g.trailer },
    })
}

/// Thousands of generated packets of every class (TCP, UDP, ICMP echo and other ICMP,
/// other protocols, both ways, every configuration; options, fragments, extension headers,
/// TTL 0 and 1, sizes around the MTUs, bad checksums, padding) through both. Counts what
/// the program translated, so that a program that punts everything fails too.
#[test]
fn generated_packets_come_out_of_the_program_as_out_of_the_engine() {
    let mut loaded = false;
    with_programs(|_, _| loaded = true);
    if !loaded {
        return;
    }
    let n_cfg = configs().len();
    let translated = std::cell::Cell::new(0u32);
    let total = std::cell::Cell::new(0u32);
    let mut runner =
        proptest::test_runner::TestRunner::new(ProptestConfig { cases: 6000, ..ProptestConfig::default() });
    let result = runner.run(&gen(n_cfg), |g| {
        let mut failure = None;
        with_programs(|cfgs, progs| {
            let cfg = &cfgs[g.ci];
            let p = packet_of(cfg, &g);
            match check_equal(&mut progs[g.ci], cfg, &p) {
                Ok(t) => {
                    total.set(total.get() + 1);
                    translated.set(translated.get() + u32::from(t));
                }
                Err(e) => failure = Some(format!("configuration {}: {e}", g.ci)),
            }
        });
        prop_assert!(failure.is_none(), "{}", failure.unwrap_or_default());
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    eprintln!("{} generated packets, {} translated by both, the rest punted", total.get(), translated.get());
    assert!(translated.get() * 10 >= total.get(), "fewer than one packet in ten translated");
}

/// The generated packets must be able to see the fast path at work: a fixed sample of each
/// class is translated (not punted) for each configuration that maps it.
#[test]
fn common_packets_of_every_class_are_translated_in_both_directions() {
    with_programs(|cfgs, progs| {
        let mut translated = 0;
        for (ci, cfg) in cfgs.iter().enumerate() {
            let Some(pool) = cfg.pool6 else { continue };
            let (h4, h6) = (Ipv4Addr::new(74, 207, 254, 16), Ipv4Addr::new(93, 184, 216, 34));
            let (s6, d6) = (rfc6052::embed(&pool, h6), rfc6052::embed(&pool, h4));
            for proto in [6u8, 17, 1] {
                for v6 in [false, true] {
                    let (src, dst) = if v6 {
                        (s6.octets().to_vec(), d6.octets().to_vec())
                    } else {
                        (h4.octets().to_vec(), h6.octets().to_vec())
                    };
                    let p = build(&Spec {
                        version: if v6 { 6 } else { 4 },
                        src,
                        dst,
                        proto: if proto == 1 && v6 { 58 } else { proto },
                        ttl: 64,
                        tos: 0x20,
                        flow: 0x12345,
                        df: true,
                        id: 77,
                        frag: 0,
                        options: vec![],
                        icmp: if v6 { (128, 0) } else { (8, 0) },
                        tcp_words: 8,
                        payload: (0..100).collect(),
                        udp_zero: false,
                        csum_delta: 0,
                        bad_header_checksum: false,
                        trailer: 0,
                    });
                    match check_equal(&mut progs[ci], cfg, &p) {
                        Ok(true) => translated += 1,
                        Ok(false) => {
                            // Well-known prefix with non-global addresses, or the like: the
                            // engine did not forward it either (check_equal saw to that).
                        }
                        Err(e) => panic!("configuration {ci}: {e}"),
                    }
                }
            }
        }
        assert!(translated >= 40, "only {translated} sample packets translated");
    });
}

/// Replays one fuzz corpus through both.
fn replay(target: &str, version: u8) {
    let fuzz_cfgs: Vec<SiitConfig> = (0..8).map(sixgate_testkit::fuzz::nat64::config).collect();
    // The fuzz configurations are the first eight of configs().
    with_programs(|cfgs, progs| {
        assert_eq!(
            cfgs[..8].iter().map(|c| format!("{c:?}")).collect::<Vec<_>>(),
            fuzz_cfgs.iter().map(|c| format!("{c:?}")).collect::<Vec<_>>()
        );
        let dir = sixgate_testkit::corpus::corpus_dir(target);
        let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
        files.sort();
        let (mut translated, mut punted, mut too_big) = (0, 0, 0);
        for path in &files {
            let data = std::fs::read(path).unwrap();
            let Some((mode, p)) = sixgate_testkit::fuzz::nat64::prepare(&data, version) else { continue };
            // Test runs take a frame within one page that holds the IP header (the kernel
            // refuses others with EINVAL); the rest are the engine's alone.
            let header = if version == 4 { 20 } else { 40 };
            if p.len() > MAX_TEST_FRAME || p.len() < header {
                too_big += 1;
                continue;
            }
            let ci = usize::from((mode >> 3) & 7);
            match check_equal(&mut progs[ci], &cfgs[ci], &p) {
                Ok(true) => translated += 1,
                Ok(false) => punted += 1,
                Err(e) => panic!("{}: {e}", path.display()),
            }
        }
        eprintln!(
            "{target}: {} inputs, {translated} translated by both, {punted} punted, {too_big} over {MAX_TEST_FRAME} bytes or shorter than a header",
            files.len()
        );
        assert!(files.len() >= 100, "{target}: only {} corpus files", files.len());
        assert!(translated >= 10, "{target}: only {translated} inputs translated");
    });
}

#[test]
fn the_siit_4to6_fuzz_corpus_replays_equal() {
    replay("siit_4to6", 4);
}

#[test]
fn the_siit_6to4_fuzz_corpus_replays_equal() {
    replay("siit_6to4", 6);
}
