//! Deterministic mapping (RFC 7422): the mapping is a bijection between subscribers and
//! (pool4 address, port range) pairs — exhaustively for a small configuration, by
//! property test in both directions over random ones — and the engine keeps every
//! session of a subscriber inside its range, refuses what does not fit, logs nothing,
//! and refuses to be split into shards or remapped by a reload.

use std::collections::HashSet;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Instant;

use ipnet::Ipv6Net;
use proptest::prelude::*;
use sixgate_core::buf::PacketBuf;
use sixgate_core::engine::{Engine, Side, Verdict};
use sixgate_core::rfc6052::Pool6;
use sixgate_nat64::{
    Allocation, ConfigError, Deterministic, DeterministicMap, LookupError, Nat64, Nat64Config, Nat64Drop, Nat64Shards,
    Pool4Range,
};
use sixgate_testkit::packets::*;

const S: &str = "64:ff9b:1::cb00:7105"; // 203.0.113.5

fn pool(p: &[(&str, u16, u16)]) -> Vec<Pool4Range> {
    p.iter().map(|&(p, a, b)| Pool4Range::new(p.parse().unwrap(), a, b)).collect()
}

fn cfg(subs: &str, len: u8, ports: u16, p: &[(&str, u16, u16)]) -> Nat64Config {
    let pool6 = Pool6::new("64:ff9b:1::/96".parse().unwrap()).unwrap();
    let mut c = Nat64Config::new(pool6, pool(p), "192.0.2.1".parse().unwrap(), "2001:db8:ffff::1".parse().unwrap());
    c.allocation = Allocation::Deterministic(Deterministic::new(subs.parse().unwrap(), len, ports));
    c
}

/// Every subscriber's share is found back from each of its ports, shares are disjoint,
/// and every pool4 transport address is either in exactly the share that holds it or
/// unassigned.
fn check_bijection(m: &DeterministicMap, d: &Deterministic, pool4: &[Pool4Range]) {
    let shift = 128 - u32::from(d.prefix_len);
    let mut taken = HashSet::new();
    for i in 0..m.subscribers() {
        let a = u128::from(d.subscribers.network()) | (u128::from(i) << shift);
        // A host inside the subscriber prefix (not its first address, when it has others).
        let a = Ipv6Addr::from(if shift > 0 { a | 1 } else { a });
        let s = m.share_of(a).unwrap();
        assert!(s.subscriber.contains(&a) && s.subscriber.prefix_len() == d.prefix_len);
        assert_eq!(s.ports.len(), usize::from(d.ports));
        for p in s.ports.clone() {
            assert!(taken.insert((s.ipv4, p)), "{} port {p} given twice", s.ipv4);
            assert_eq!(m.holder_of(s.ipv4, p).unwrap(), s);
        }
    }
    let mut assigned = 0;
    for r in pool4 {
        for a in r.prefix.hosts().chain([r.prefix.network(), r.prefix.broadcast()]).collect::<HashSet<_>>() {
            for p in r.first..=r.last {
                match m.holder_of(a, p) {
                    Ok(s) => {
                        assert!(taken.contains(&(a, p)) && s.ipv4 == a && s.ports.contains(&p));
                        assigned += 1;
                    }
                    Err(LookupError::Unassigned { .. }) => assert!(!taken.contains(&(a, p))),
                    Err(e) => panic!("{a} {p}: {e}"),
                }
            }
        }
    }
    assert_eq!(assigned, taken.len());
    assert_eq!(assigned as u64, m.subscribers() * u64::from(d.ports));
}

#[test]
fn small_config_exhaustively() {
    // 32 subscribers of 64 ports: a /30 with 512 ports (8 ranges per address) holds 32,
    // a /32 with 256 ports 4 more, which stay unassigned.
    let d = Deterministic::new("2001:db8::/123".parse().unwrap(), 128, 64);
    let p = pool(&[("198.51.100.0/30", 1024, 1535), ("203.0.113.9/32", 2000, 2255)]);
    let m = DeterministicMap::new(&d, &p).unwrap();
    assert_eq!(m.subscribers(), 32);
    check_bijection(&m, &d, &p);
    // The formula: round the addresses first.
    let s = m.share_of("2001:db8::5".parse().unwrap()).unwrap();
    assert_eq!((s.ipv4, s.ports), ("198.51.100.1".parse().unwrap(), 1088..=1151));
    assert!(matches!(m.holder_of("203.0.113.9".parse().unwrap(), 2000), Err(LookupError::Unassigned { .. })));
    // One more subscriber bit and pool4 is too small: 64 × 64 ports > 36 ranges.
    let d = Deterministic::new("2001:db8::/122".parse().unwrap(), 128, 64);
    assert_eq!(
        DeterministicMap::new(&d, &p),
        Err(ConfigError::DeterministicTooSmall { subscribers: 64, room: 36, ports: 64 })
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    /// Random configurations: subscriber prefix and length, ports per subscriber, one or
    /// two pool4 ranges. IPv6 → share → each port → the same subscriber, and every pool4
    /// transport address → at most one share that contains it.
    #[test]
    fn bijection_over_random_configs(
        net in any::<u128>(), plen in 96u8..=126, extra in 1u8..=6, ports in 1u16..200,
        a1 in 0u8..=2, f1 in 1024u16..30000, w1 in 1u16..1500, two in any::<bool>(), f2 in 40000u16..60000, w2 in 1u16..1500,
    ) {
        let len = (plen + extra).min(128);
        let subs = Ipv6Net::new(Ipv6Addr::from(net), plen).unwrap().trunc();
        let mut p = vec![Pool4Range::new(format!("198.51.100.0/{}", 32 - a1).parse().unwrap(), f1, f1 + w1)];
        if two {
            p.push(Pool4Range::new("203.0.113.7/32".parse().unwrap(), f2, f2 + w2));
        }
        let d = Deterministic::new(subs, len, ports);
        match DeterministicMap::new(&d, &p) {
            Ok(m) => check_bijection(&m, &d, &p),
            Err(ConfigError::DeterministicTooSmall { subscribers, room, .. }) => prop_assert!(room < subscribers),
            Err(ConfigError::BlockTooLarge { .. }) => prop_assert!(p.iter().any(|r| r.last - r.first + 1 < ports)),
            Err(e) => prop_assert!(false, "{e}"),
        }
    }
}

fn udp(e: &mut Nat64, c: &str, port: u16, now: Instant) -> (Verdict<Nat64Drop>, Option<(Ipv4Addr, u16)>) {
    let mut b = PacketBuf::from_slice(&udp6_ports(c, S, port, 53, b"q"));
    let v = e.process(&mut b, now);
    e.check_invariants().unwrap();
    let o = b.as_slice();
    let got = (v == Verdict::Forward(Side::V4))
        .then(|| (Ipv4Addr::new(o[12], o[13], o[14], o[15]), u16::from_be_bytes([o[20], o[21]])));
    (v, got)
}

#[test]
fn sessions_stay_in_the_subscribers_range() {
    let c = cfg("2001:db8::/48", 56, 16, &[("198.51.100.0/30", 1024, 65535)]);
    let m = DeterministicMap::new(
        match &c.allocation {
            Allocation::Deterministic(d) => d,
            _ => unreachable!(),
        },
        &c.pool4,
    )
    .unwrap();
    let mut e = Nat64::new(c).unwrap();
    let t0 = Instant::now();
    let share = m.share_of("2001:db8:0:3400::1".parse().unwrap()).unwrap();
    // The client's own port when it lies in the range.
    let own = *share.ports.start() + 3;
    assert_eq!(udp(&mut e, "2001:db8:0:3400::1", own, t0).1, Some((share.ipv4, own)));
    // 16 ports, per protocol: 15 more flows fit (from any host of the /56), the 17th not.
    for i in 0..15 {
        let (_, got) = udp(&mut e, &format!("2001:db8:0:34{i:02x}::9"), 5000 + i, t0);
        let (a, p) = got.unwrap();
        assert!(a == share.ipv4 && share.ports.contains(&p));
        assert_eq!(m.holder_of(a, p).unwrap().subscriber, share.subscriber);
    }
    let (v, _) = udp(&mut e, "2001:db8:0:3400::2", 7000, t0);
    assert_eq!(v, Verdict::Reply(Side::V6), "refused with an ICMPv6 Address Unreachable");
    assert_eq!(e.counters().answered(Nat64Drop::SubscriberPorts), 1);
    // A neighbour is unaffected; a source outside the subscriber prefix has no range.
    assert!(udp(&mut e, "2001:db8:0:3500::1", 7000, t0).1.is_some());
    let (v, _) = udp(&mut e, "2001:db9::1", 7000, t0);
    assert_eq!(v, Verdict::Drop(Nat64Drop::NotSubscriber));
    // Nothing to log.
    assert_eq!(e.poll_block_event(), None);
}

#[test]
fn no_shards_and_no_remapping_reload() {
    let c = cfg("2001:db8::/48", 56, 64, &[("198.51.100.0/28", 1024, 65535)]);
    assert!(matches!(
        Nat64Shards::new(c.clone(), 2),
        Err(sixgate_nat64::Error::Config(ConfigError::DeterministicSharded { shards: 2 }))
    ));
    assert!(Nat64Shards::new(c.clone(), 1).is_ok());
    // Nor cut between gateways: the mapping spans the whole pool4.
    assert!(matches!(c.instance("1/2".parse().unwrap()), Err(ConfigError::DeterministicInstance { k: 1, n: 2 })));
    assert!(c.instance("1/1".parse().unwrap()).is_ok());
    let mut e = Nat64::new(c.clone()).unwrap();
    let t0 = Instant::now();
    let r = e.reconfigure(cfg("2001:db8::/48", 56, 128, &[("198.51.100.0/28", 1024, 65535)]), t0).unwrap();
    assert_eq!(r.needs_restart, vec!["deterministic"]);
    let r = e.reconfigure(cfg("2001:db8::/48", 56, 64, &[("198.51.100.0/27", 1024, 65535)]), t0).unwrap();
    assert_eq!(r.needs_restart, vec!["pool4"]);
    assert!(e.reconfigure(c, t0).unwrap().is_unchanged());
    // Too few pool4 ports for the subscribers: a typed error naming the fix.
    let e = cfg("2001:db8::/40", 56, 64, &[("198.51.100.0/28", 1024, 65535)]).validate().unwrap_err();
    assert!(matches!(e, ConfigError::DeterministicTooSmall { subscribers: 65536, .. }), "{e}");
    assert!(e.to_string().contains("add pool4 addresses"), "{e}");
}
