//! Accounting of the stateless translator: every packet given to `process` is counted
//! exactly once — forwarded, replied (answered with an ICMP error, by reason, or with an
//! echo reply) or dropped silently, by reason — so `forwarded + replied + dropped =
//! received` after every call, whatever the packet: every kind of seed packet of the
//! fuzz corpus (TCP, UDP, ICMP queries and errors, options, extension headers, every
//! configuration), with TTL or hop limit 1 (Time Exceeded, RFC 7915 §4.1/§5.1), too big
//! with DF (Fragmentation Needed / Packet Too Big, §4.1/§5.1), cut into fragments given in
//! any order, truncated or with bytes flipped. And every packet that goes out is counted
//! once: the first (or only) one as forwarded or replied, the further fragments of a
//! packet the translator split as `extra_fragments`.

use std::time::{Duration, Instant};

use proptest::prelude::*;
use sixgate_core::buf::PacketBuf;
use sixgate_core::engine::{drive, Counters, Engine, Reason, Verdict};
use sixgate_nat64::{Siit, SiitDrop};
use sixgate_testkit::fuzz::nat64 as fuzz;
use sixgate_testkit::packets::{fix_ipv4_checksum, frag4_at, frag6_at, udp4, udp6};

/// How one input is made from a seed.
#[derive(Debug, Clone)]
enum Tweak {
    None,
    /// TTL / hop limit set to this.
    Ttl(u8),
    /// Cut into fragments at these payload offsets (multiples of 8), given in this order
    /// (a rotation).
    Frag(usize, usize),
    /// Bytes xored at these positions.
    Flip(Vec<(u16, u8)>),
    /// The last bytes cut off.
    Cut(usize),
}

fn tweak() -> impl Strategy<Value = Tweak> {
    prop_oneof![
        3 => Just(Tweak::None),
        2 => prop::sample::select(vec![0u8, 1, 2]).prop_map(Tweak::Ttl),
        2 => (1usize..4, 0usize..3).prop_map(|(n, r)| Tweak::Frag(n, r)),
        1 => prop::collection::vec((any::<u16>(), any::<u8>()), 1..4).prop_map(Tweak::Flip),
        1 => (1usize..40).prop_map(Tweak::Cut),
    ]
}

/// The inputs one seed (`dir` 4 or 6, index `i` among that configuration's seeds) and a
/// tweak make.
fn inputs(seeds: &Seeds, dir: u8, i: usize, t: &Tweak) -> Vec<Vec<u8>> {
    let of_dir: Vec<&Vec<u8>> = seeds.iter().filter(|s| s.0 == dir).map(|s| &s.1).collect();
    let Some(p) = of_dir.get(i % of_dir.len().max(1)) else { return Vec::new() };
    let mut p = (*p).clone();
    match t {
        Tweak::None => vec![p],
        Tweak::Ttl(ttl) => {
            if dir == 4 && p.len() >= 20 {
                p[8] = *ttl;
                fix_ipv4_checksum(&mut p);
            } else if p.len() >= 40 {
                p[7] = *ttl;
            }
            vec![p]
        }
        Tweak::Frag(n, rot) => {
            let (hl, has_frag) = if dir == 4 { (20, p.len() >= 20 && p[0] == 0x45) } else { (40, p.len() >= 40) };
            let payload = p.len().saturating_sub(hl);
            if !has_frag || payload < 16 || (dir == 4 && u16::from_be_bytes([p[6], p[7]]) & 0x3fff != 0) {
                return vec![p];
            }
            let step = (payload / (n + 1)).max(8) & !7;
            let cuts: Vec<usize> = (1..=*n).map(|k| k * step).filter(|&c| c < payload).collect();
            let mut v = if dir == 4 { frag4_at(&p, 0x1234, &cuts) } else { frag6_at(&p, 0x5678, &cuts) };
            let r = rot % v.len();
            v.rotate_left(r);
            v
        }
        Tweak::Flip(f) => {
            for &(at, x) in f {
                let k = usize::from(at) % p.len().max(1);
                if let Some(b) = p.get_mut(k) {
                    *b ^= x;
                }
            }
            vec![p]
        }
        Tweak::Cut(n) => {
            p.truncate(p.len().saturating_sub(*n));
            vec![p]
        }
    }
}

/// Seed packets of one configuration: (direction, packet).
type Seeds = Vec<(u8, Vec<u8>)>;

/// Every configuration's seed packets, both directions: (configuration, seeds).
fn corpus() -> Vec<(u8, Seeds)> {
    let mut by_cfg: Vec<(u8, Seeds)> = (0..8).map(|c| (c, Vec::new())).collect();
    for (dir, seeds) in [(4u8, fuzz::seeds_4to6()), (6, fuzz::seeds_6to4())] {
        for s in seeds {
            if let Some((mode, p)) = fuzz::prepare(&s, dir) {
                by_cfg[usize::from((mode >> 3) & 7)].1.push((dir, p));
            }
        }
    }
    // Too big, DF set (IPv4) or not fragmentable (IPv6): answered (RFC 7915 §4.1, §5.1).
    let mut big4 = udp4("192.0.2.33", "203.0.113.7", 53, &[7; 1480]);
    big4[6] |= 0x40;
    fix_ipv4_checksum(&mut big4);
    by_cfg[0].1.push((4, big4));
    by_cfg[0].1.push((6, udp6("2001:db8:64::c000:221", "2001:db8:64::cb00:7107", 53, &[7; 1480])));
    by_cfg
}

/// What the verdicts and the outputs were.
#[derive(Debug, Default)]
struct Tally {
    received: u64,
    forwarded: u64,
    replied: u64,
    dropped: u64,
    /// Packets handed out (the processed one and everything queued).
    out: u64,
}

/// The counters add up to what was given and agree with the verdicts and the outputs.
fn agree(c: &Counters<SiitDrop>, t: &Tally) -> Result<(), TestCaseError> {
    prop_assert_eq!(c.forwarded + c.replied + c.dropped_total(), t.received, "{}", c);
    prop_assert_eq!(c.received(), t.received, "{}", c);
    prop_assert_eq!((c.forwarded, c.replied, c.dropped_total()), (t.forwarded, t.replied, t.dropped), "{}", c);
    prop_assert_eq!(c.forwarded + c.replied + c.extra_fragments + c.generated, t.out, "{}", c);
    prop_assert!(c.answered_total() <= c.replied, "{}", c);
    prop_assert_eq!((c.waiting, c.generated), (0, 0), "a stateless translator keeps nothing: {}", c);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn every_packet_is_counted_once(
        cfg in 0usize..8,
        steps in prop::collection::vec((prop::sample::select(vec![4u8, 6]), any::<usize>(), tweak()), 1..60),
    ) {
        let corpus = corpus();
        let (c, seeds) = &corpus[cfg];
        let mut e = Siit::new(fuzz::config(*c)).unwrap();
        let t0 = Instant::now();
        let mut t = Tally::default();
        for (k, (dir, i, tw)) in steps.iter().enumerate() {
            for p in inputs(seeds, *dir, *i, tw) {
                let before = e.counters().clone();
                let mut buf = PacketBuf::from_slice(&p);
                let mut out = 0;
                let v = drive(&mut e, &mut buf, t0 + Duration::from_millis(k as u64), |_, _, _| {
                    out += 1;
                    Ok::<(), ()>(())
                })
                .unwrap();
                t.received += 1;
                t.out += out;
                match v {
                    Verdict::Forward(_) => t.forwarded += 1,
                    Verdict::Reply(_) => {
                        t.replied += 1;
                        // At most one reason moved, by one: the refusal this answers.
                        let moved: u64 = SiitDrop::ALL
                            .iter()
                            .map(|&r| e.counters().answered(r) - before.answered(r))
                            .sum();
                        prop_assert!(moved <= 1, "{}", e.counters());
                    }
                    Verdict::Drop(r) => {
                        t.dropped += 1;
                        prop_assert_eq!(e.counters().dropped(r), before.dropped(r) + 1);
                        prop_assert_eq!(e.counters().answered_total(), before.answered_total());
                    }
                }
                agree(e.counters(), &t)?;
            }
        }
    }
}

/// A Time Exceeded answer is counted as answered for `ttl-exceeded`, not as a drop too.
#[test]
fn an_answered_packet_is_not_also_a_drop() {
    let mut e = Siit::new(fuzz::config(0)).unwrap();
    let mut p = udp4("192.0.2.33", "203.0.113.7", 53, b"x");
    p[8] = 1;
    fix_ipv4_checksum(&mut p);
    let mut buf = PacketBuf::from_slice(&p);
    assert!(matches!(e.process(&mut buf, Instant::now()), Verdict::Reply(_)));
    let c = e.counters();
    assert_eq!((c.replied, c.answered(SiitDrop::TtlExceeded), c.dropped_total()), (1, 1, 0), "{c}");
    assert_eq!(c.received(), 1);
    assert_eq!(c.to_string(), "forwarded=0 replied=1 dropped=0 answered:ttl-exceeded=1");
}
