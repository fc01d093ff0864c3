//! Taking a new configuration live: `Nat64::reconfigure`, `Nat64Shards::reconfigure` and
//! `Siit::reconfigure` keep sessions and BIB, end exactly the sessions on removed pool4
//! addresses and ports, refuse a bad configuration without changing anything, and report
//! what needs a restart without applying it.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use proptest::prelude::*;
use sixgate_core::buf::PacketBuf;
use sixgate_core::engine::{Engine, Side, Verdict};
use sixgate_core::rfc6052::Pool6;
use sixgate_core::Protocol;
use sixgate_nat64::{
    ConfigError, Filtering, Nat64, Nat64Config, Nat64Drop, Nat64Shards, Pool4Range, Siit, SiitConfig, TcpState,
};
use sixgate_testkit::packets::*;

const C: &str = "2001:db8::10";
const S: &str = "64:ff9b:1::cb00:7105"; // 203.0.113.5
const S4: &str = "203.0.113.5";
const SYN: u8 = 0x02;
const ACK: u8 = 0x10;
const SYNACK: u8 = 0x12;

fn range(p: &str, first: u16, last: u16) -> Pool4Range {
    Pool4Range::new(p.parse().unwrap(), first, last)
}

fn cfg(pool4: Vec<Pool4Range>) -> Nat64Config {
    let pool6 = Pool6::new("64:ff9b:1::/96".parse().unwrap()).unwrap();
    Nat64Config::new(pool6, pool4, "192.0.2.1".parse().unwrap(), "2001:db8:ffff::1".parse().unwrap())
}

fn run(e: &mut impl Engine<Reason = Nat64Drop>, p: &[u8], now: Instant) -> (Verdict<Nat64Drop>, Vec<u8>) {
    let mut b = PacketBuf::from_slice(p);
    let v = e.process(&mut b, now);
    (v, b.as_slice().to_vec())
}

fn src4(p: &[u8]) -> Ipv4Addr {
    Ipv4Addr::new(p[12], p[13], p[14], p[15])
}
fn port(p: &[u8], o: usize) -> u16 {
    u16::from_be_bytes([p[o], p[o + 1]])
}
fn client(i: u16) -> String {
    format!("2001:db8::{:x}", 0x100 + i)
}

#[test]
fn an_established_tcp_flow_keeps_its_binding_across_a_reload() {
    let t0 = Instant::now();
    let mut e = Nat64::new(cfg(vec![range("198.51.100.1/32", 1024, 65535)])).unwrap();
    let (v, o) = run(&mut e, &tcp6_flags(C, S, 40000, 80, SYN), t0);
    assert_eq!(v, Verdict::Forward(Side::V4));
    let p4 = port(&o, 20);
    let (v, _) = run(&mut e, &tcp4_flags(S4, "198.51.100.1", 80, p4, SYNACK), t0);
    assert_eq!(v, Verdict::Forward(Side::V6));
    let before = e.binding(Protocol::Tcp, C.parse().unwrap(), 40000);

    // Everything that can change live changes (pool4 grows, timers, limits, filtering,
    // MTUs, ICMP rate): the flow goes on with the same binding.
    let mut c = cfg(vec![range("198.51.100.1/32", 1024, 65535), range("198.51.100.8/30", 1024, 65535)]);
    c.timers.udp = Duration::from_secs(600);
    c.max_sessions = 500;
    c.max_sessions_per_source = 100;
    c.filtering = Filtering::EndpointIndependent;
    c.xlate.ipv4_mtu = 1400;
    c.xlate.icmp_rate.per_second = 10;
    let r = e.reconfigure(c, t0 + Duration::from_secs(1)).unwrap();
    for name in ["pool4", "timers", "max_sessions", "max_sessions_per_source", "filtering", "ipv4_mtu", "icmp_rate"] {
        assert!(r.changed.contains(&name), "{name} in {r:?}");
    }
    assert!(r.needs_restart.is_empty(), "{r:?}");
    assert_eq!((r.sessions_ended, r.bib_ended), (0, 0));
    e.check_invariants().unwrap();

    assert_eq!(e.binding(Protocol::Tcp, C.parse().unwrap(), 40000), before);
    let t1 = t0 + Duration::from_secs(2);
    let (v, o) = run(&mut e, &tcp6_flags(C, S, 40000, 80, ACK), t1);
    assert_eq!(v, Verdict::Forward(Side::V4));
    assert_eq!((src4(&o), port(&o, 20)), before.unwrap());
    let (v, o) = run(&mut e, &tcp4_flags(S4, "198.51.100.1", 80, p4, ACK), t1);
    assert_eq!(v, Verdict::Forward(Side::V6));
    assert_eq!(port(&o, 42), 40000);
    assert_eq!(
        e.session_state(Protocol::Tcp, C.parse().unwrap(), 40000, S4.parse().unwrap(), 80),
        Some(TcpState::Established)
    );
    e.check_invariants().unwrap();
}

/// UDP sessions from `n` clients, each from port 5000; returns their bindings.
fn fill(e: &mut Nat64, n: u16, now: Instant) -> Vec<(String, (Ipv4Addr, u16))> {
    (0..n)
        .map(|i| {
            let c = client(i);
            let (v, o) = run(e, &udp6_ports(&c, S, 5000, 53, b"q"), now);
            assert_eq!(v, Verdict::Forward(Side::V4));
            (c, (src4(&o), port(&o, 20)))
        })
        .collect()
}

#[test]
fn shrinking_pool4_ends_exactly_the_sessions_on_removed_addresses_and_ports() {
    let t0 = Instant::now();
    // Three addresses; the middle one goes and the ports above 40000 go: the third
    // address is renumbered in the tables.
    let old = vec![
        range("198.51.100.1/32", 1024, 65535),
        range("198.51.100.2/32", 1024, 65535),
        range("198.51.100.3/32", 1024, 65535),
    ];
    let mut c = cfg(old);
    c.seed = 7;
    let mut e = Nat64::new(c).unwrap();
    let mut bound = fill(&mut e, 300, t0);
    // And some sessions whose ports are high: a client's own port is tried first.
    for i in 300..340 {
        let c = client(i);
        let (_, o) = run(&mut e, &udp6_ports(&c, S, 50000 + i, 53, b"q"), t0);
        bound.push((c, (src4(&o), port(&o, 20))));
    }
    let removed = |&(a, p): &(Ipv4Addr, u16)| a == Ipv4Addr::new(198, 51, 100, 2) || p > 40000;
    let expect = bound.iter().filter(|b| removed(&b.1)).count();
    assert!(expect > 0 && expect < bound.len(), "{expect} of {}", bound.len());
    assert!(bound.iter().any(|b| b.1 .0 == Ipv4Addr::new(198, 51, 100, 3) && !removed(&b.1)));

    let mut c = cfg(vec![range("198.51.100.1/32", 1024, 40000), range("198.51.100.3/32", 1024, 40000)]);
    c.seed = 7;
    let r = e.reconfigure(c, t0 + Duration::from_secs(1)).unwrap();
    assert_eq!(r.changed, ["pool4"]);
    assert_eq!((r.sessions_ended, r.bib_ended), (expect, expect), "one UDP session per BIB entry");
    assert_eq!(e.pool4_removed(), (expect as u64, expect as u64));
    assert_eq!(e.stats().sessions, bound.len() - expect);
    e.check_invariants().unwrap();

    let t1 = t0 + Duration::from_secs(2);
    for (c, b) in &bound {
        let a6: Ipv6Addr = c.parse().unwrap();
        let now_bound = bound_port(&e, a6);
        if removed(b) {
            assert_eq!(now_bound, None, "{c} on {b:?} ended");
            assert_eq!(e.binding_v4(Protocol::Udp, b.0, b.1), None);
            // Its answers find no binding now.
            let (v, _) = run(&mut e, &udp4_ports(S4, &b.0.to_string(), 53, b.1, b"a"), t1);
            assert!(matches!(v, Verdict::Drop(_)), "{v:?}");
        } else {
            assert_eq!(now_bound, Some(*b), "{c} keeps its binding");
            // Answers still reach the client (renumbered addresses too).
            let (v, o) = run(&mut e, &udp4_ports(S4, &b.0.to_string(), 53, b.1, b"a"), t1);
            assert_eq!(v, Verdict::Forward(Side::V6), "{c} {b:?}");
            assert_eq!(Ipv6Addr::from(<[u8; 16]>::try_from(&o[24..40]).unwrap()), a6);
        }
    }
    e.check_invariants().unwrap();
}

fn bound_port(e: &Nat64, a6: Ipv6Addr) -> Option<(Ipv4Addr, u16)> {
    e.binding(Protocol::Udp, a6, 5000).or_else(|| (50000..50400).find_map(|p| e.binding(Protocol::Udp, a6, p)))
}

/// A fixed sequence of packets of both directions, timed.
fn sequence() -> Vec<(Vec<u8>, u64)> {
    let mut s = Vec::new();
    for i in 0..20u16 {
        s.push((udp6_ports(&client(i % 5), S, 6000 + i, 53, b"x"), u64::from(i)));
        s.push((udp4_ports(S4, "198.51.100.1", 53, 6000 + i, b"y"), u64::from(i)));
        s.push((tcp6_flags(&client(i % 3), S, 7000 + i, 80, SYN), u64::from(i)));
    }
    s
}

fn replay(e: &mut Nat64, seq: &[(Vec<u8>, u64)], t0: Instant) -> Vec<(Verdict<Nat64Drop>, Vec<u8>)> {
    seq.iter()
        .map(|(p, ms)| {
            let now = t0 + Duration::from_millis(*ms);
            let r = run(e, p, now);
            e.handle_timeout(now);
            r
        })
        .collect()
}

#[test]
fn a_bad_configuration_is_refused_and_the_engine_behaves_exactly_as_before() {
    let t0 = Instant::now();
    let seq = sequence();
    let (first, second) = seq.split_at(30);
    let good = cfg(vec![range("198.51.100.1/32", 1024, 65535)]);
    let mut a = Nat64::new(good.clone()).unwrap();
    let mut b = Nat64::new(good.clone()).unwrap();
    assert_eq!(replay(&mut a, first, t0), replay(&mut b, first, t0));
    let stats = b.stats();

    // Bad in a late check (pool4 overlap), with valid changes before it: none applies.
    let mut bad = good.clone();
    bad.timers.udp = Duration::from_secs(1);
    bad.max_sessions = 1;
    bad.xlate.ipv6_mtu = 1400;
    bad.pool4 = vec![range("198.51.100.0/24", 1024, 65535), range("198.51.100.1/32", 1, 100)];
    assert!(matches!(b.reconfigure(bad.clone(), t0), Err(ConfigError::Pool4Overlap { .. })));
    bad.pool4 = good.pool4.clone();
    bad.xlate.ipv6_mtu = 1279;
    assert!(matches!(b.reconfigure(bad, t0), Err(ConfigError::MtuTooSmall { field: "ipv6_mtu", .. })));
    assert_eq!(b.stats(), stats);
    b.check_invariants().unwrap();

    let later: Vec<_> = second.iter().map(|(p, ms)| (p.clone(), ms + 400_000)).collect();
    let (ra, rb) = (replay(&mut a, &later, t0), replay(&mut b, &later, t0));
    assert_eq!(ra, rb, "same verdicts and bytes after a refused reload");
    assert_eq!(a.stats(), b.stats());
    assert!(a.counters() == b.counters(), "same counters");
}

#[test]
fn a_pool6_change_needs_a_restart_and_is_not_applied() {
    let t0 = Instant::now();
    let mut e = Nat64::new(cfg(vec![range("198.51.100.1/32", 1024, 65535)])).unwrap();
    fill(&mut e, 3, t0);
    let mut c = cfg(vec![range("198.51.100.1/32", 1024, 65535)]);
    c.xlate.pool6 = Some(Pool6::new("2001:db8:64::/96".parse().unwrap()).unwrap());
    c.timers.icmp = Duration::from_secs(30);
    let r = e.reconfigure(c, t0).unwrap();
    assert_eq!(r.needs_restart, ["pool6"]);
    assert_eq!(r.changed, ["timers"], "the rest is applied");
    assert_eq!(e.stats().sessions, 3);
    // The running prefix still translates; the new one does not.
    let (v, _) = run(&mut e, &udp6_ports(C, S, 1234, 53, b"q"), t0);
    assert_eq!(v, Verdict::Forward(Side::V4));
    let (v, _) = run(&mut e, &udp6_ports(C, "2001:db8:64::cb00:7105", 1235, 53, b"q"), t0);
    assert!(matches!(v, Verdict::Drop(_)), "{v:?}");
    // The same configuration again changes nothing.
    let same = e.reconfigure(cfg(vec![range("198.51.100.1/32", 1024, 65535)]), t0).unwrap();
    assert_eq!(same.changed, ["timers"]);
    let again = e.reconfigure(cfg(vec![range("198.51.100.1/32", 1024, 65535)]), t0).unwrap();
    assert!(again.is_unchanged(), "{again:?}");
}

#[test]
fn sessions_over_a_lowered_limit_stay_and_new_ones_are_refused() {
    let t0 = Instant::now();
    let mut e = Nat64::new(cfg(vec![range("198.51.100.1/32", 1024, 65535)])).unwrap();
    let bound = fill(&mut e, 10, t0);
    let mut c = cfg(vec![range("198.51.100.1/32", 1024, 65535)]);
    c.max_sessions = 4;
    e.reconfigure(c, t0).unwrap();
    e.check_invariants().unwrap();
    assert_eq!(e.stats().sessions, 10);
    // Existing sessions work both ways ...
    for (cl, b) in &bound {
        let (v, _) = run(&mut e, &udp6_ports(cl, S, 5000, 53, b"q"), t0);
        assert_eq!(v, Verdict::Forward(Side::V4));
        let (v, _) = run(&mut e, &udp4_ports(S4, &b.0.to_string(), 53, b.1, b"a"), t0);
        assert_eq!(v, Verdict::Forward(Side::V6));
    }
    // ... a new one is refused (answered with an ICMPv6 Address Unreachable).
    let (v, _) = run(&mut e, &udp6_ports(C, S, 9999, 53, b"q"), t0);
    assert_eq!(v, Verdict::Reply(Side::V6));
    assert_eq!(e.counters().answered(Nat64Drop::SessionLimit), 1);
    assert_eq!(e.stats().sessions, 10);
    e.check_invariants().unwrap();
}

#[test]
fn shards_shrink_pool4_together_and_a_new_shard_count_needs_a_restart() {
    let t0 = Instant::now();
    let old = vec![range("198.51.100.1/32", 1024, 65535), range("198.51.100.2/32", 1024, 65535)];
    let shards = Nat64Shards::new(cfg(old.clone()), 2).unwrap();
    let mut hs = shards.clone().into_handles();
    let mut bound = Vec::new();
    for i in 0..200u16 {
        let c = client(i);
        let h = &mut hs[usize::from(i) % 2];
        let (v, o) = run(h, &udp6_ports(&c, S, 5000, 53, b"q"), t0);
        assert_eq!(v, Verdict::Forward(Side::V4));
        bound.push((c, (src4(&o), port(&o, 20))));
    }
    let gone = bound.iter().filter(|b| b.1 .0 == Ipv4Addr::new(198, 51, 100, 2)).count();
    assert!(gone > 0);

    // Growing pool4 under shards needs a restart and is not applied.
    let grown = vec![range("198.51.100.1/32", 1024, 65535), range("198.51.100.8/30", 1024, 65535)];
    let r = shards.reconfigure(cfg(grown), 3, t0).unwrap();
    assert_eq!(r.needs_restart, ["shards", "pool4"]);
    assert_eq!(r.sessions_ended, 0);
    assert_eq!(shards.stats().sessions, 200);

    let r = shards.reconfigure(cfg(vec![range("198.51.100.1/32", 1024, 65535)]), 2, t0).unwrap();
    assert!(r.needs_restart.is_empty(), "{r:?}");
    assert_eq!(r.changed, ["pool4"]);
    assert_eq!(r.sessions_ended, gone);
    assert_eq!(shards.stats().sessions, 200 - gone);
    for k in 0..2 {
        shards.with_shard(k, |e| e.check_invariants().unwrap());
    }
    // The survivors' answers still arrive, through either handle.
    for (i, (c, b)) in bound.iter().enumerate() {
        let (v, o) = run(&mut hs[i % 2], &udp4_ports(S4, &b.0.to_string(), 53, b.1, b"a"), t0);
        if b.0 == Ipv4Addr::new(198, 51, 100, 2) {
            assert!(matches!(v, Verdict::Drop(_)), "{v:?}");
        } else {
            assert_eq!(v, Verdict::Forward(Side::V6), "{c}");
            assert_eq!(Ipv6Addr::from(<[u8; 16]>::try_from(&o[24..40]).unwrap()), c.parse::<Ipv6Addr>().unwrap());
        }
    }
}

#[test]
fn siit_takes_eam_and_pool6_at_once_and_its_rate_limit_bucket_survives() {
    let t0 = Instant::now();
    let mut c = SiitConfig::new("192.0.2.1".parse().unwrap(), "2001:db8::1".parse().unwrap());
    c.pool6 = Some(Pool6::new("64:ff9b::/96".parse().unwrap()).unwrap());
    c.icmp_rate.per_second = 1;
    c.icmp_rate.burst = 1;
    let mut s = Siit::new(c.clone()).unwrap();
    // A hop limit of 1: answered with Time Exceeded, once (the bucket holds one).
    let mut ttl1 = udp6_ports("2001:db8::5", "64:ff9b::cb00:7105", 1, 2, b"x");
    ttl1[7] = 1;
    let answered = |s: &mut Siit| {
        let mut b = PacketBuf::from_slice(&ttl1);
        matches!(s.process(&mut b, t0), Verdict::Reply(_))
    };
    assert!(answered(&mut s));
    assert!(!answered(&mut s));
    let mut n = c.clone();
    n.add_eam("2001:db8:6::/120", "198.51.100.0/24").unwrap();
    n.pool6 = Some(Pool6::new("64:ff9b:2::/96".parse().unwrap()).unwrap());
    let r = s.reconfigure(n).unwrap();
    assert_eq!(r.changed, ["pool6", "eamt"]);
    assert!(!answered(&mut s), "the emptied bucket stays empty across the reload");
    let mut b = PacketBuf::from_slice(&udp6_ports("2001:db8:6::7", "64:ff9b:2::cb00:7105", 1, 2, b"x"));
    assert_eq!(s.process(&mut b, t0), Verdict::Forward(Side::V4));
    assert_eq!(src4(b.as_slice()), Ipv4Addr::new(198, 51, 100, 7), "EAM in force");
    // A bad one changes nothing.
    let mut bad = c;
    bad.ipv4_mtu = 10;
    assert!(s.reconfigure(bad).is_err());
    let mut b = PacketBuf::from_slice(&udp6_ports("2001:db8:6::7", "64:ff9b:2::cb00:7105", 1, 2, b"x"));
    assert_eq!(s.process(&mut b, t0), Verdict::Forward(Side::V4));
}

/// A few configurations to move between: pool4 grows, shrinks and is renumbered;
/// limits and filtering change.
fn config_pick(k: u8, limit: usize, adf: bool) -> Nat64Config {
    let pool4 = match k % 4 {
        0 => vec![range("198.51.100.1/32", 1024, 65535)],
        1 => vec![range("198.51.100.1/32", 1024, 65535), range("198.51.100.2/31", 1024, 65535)],
        2 => vec![range("198.51.100.3/32", 1024, 2000), range("198.51.100.1/32", 2000, 3000)],
        _ => vec![range("198.51.100.2/31", 1500, 65535)],
    };
    let mut c = cfg(pool4);
    c.max_sessions = limit;
    c.max_sessions_per_source = limit.min(8);
    c.max_held_syns = limit % 5;
    c.max_fragment_bytes = 100 * limit;
    c.filtering = if adf { Filtering::AddressDependent } else { Filtering::EndpointIndependent };
    c
}

#[derive(Debug, Clone)]
enum Op {
    Udp6(u8, u16),
    Udp4(u8, u16),
    Syn4(u8, u16),
    Tcp6(u8, u16, u8),
    Reload(u8, usize, bool),
    Wait(u16),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0u8..6, 1000u16..3100).prop_map(|(c, p)| Op::Udp6(c, p)),
        (0u8..4, 1000u16..3100).prop_map(|(a, p)| Op::Udp4(a, p)),
        (0u8..4, 1000u16..3100).prop_map(|(a, p)| Op::Syn4(a, p)),
        (0u8..6, 1000u16..3100, prop::sample::select(vec![SYN, ACK, 0x11, 0x04]))
            .prop_map(|(c, p, f)| Op::Tcp6(c, p, f)),
        (any::<u8>(), 1usize..40, any::<bool>()).prop_map(|(k, l, a)| Op::Reload(k, l, a)),
        (0u16..400).prop_map(Op::Wait),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn random_reloads_between_random_packets_keep_the_invariants(ops in prop::collection::vec(op(), 1..120)) {
        let t0 = Instant::now();
        let mut now = t0;
        let mut e = Nat64::new(config_pick(1, 30, true)).unwrap();
        let mut ended = 0u64;
        for o in ops {
            match o {
                Op::Udp6(c, p) => { let _ = run(&mut e, &udp6_ports(&client(c.into()), S, p, 53, b"q"), now); }
                Op::Udp4(a, p) => { let _ = run(&mut e, &udp4_ports(S4, &format!("198.51.100.{}", a), 53, p, b"a"), now); }
                Op::Syn4(a, p) => { let _ = run(&mut e, &tcp4_flags(S4, &format!("198.51.100.{}", a), 80, p, SYN), now); }
                Op::Tcp6(c, p, f) => { let _ = run(&mut e, &tcp6_flags(&client(c.into()), S, p, 80, f), now); }
                Op::Reload(k, l, a) => {
                    let before = e.stats().sessions;
                    let r = e.reconfigure(config_pick(k, l, a), now).unwrap();
                    prop_assert_eq!(e.stats().sessions, before - r.sessions_ended);
                    ended += r.sessions_ended as u64;
                    prop_assert_eq!(e.pool4_removed().0, ended);
                }
                Op::Wait(s) => {
                    now += Duration::from_secs(u64::from(s));
                    while let Some(d) = e.poll_timeout() {
                        if d > now { break; }
                        e.handle_timeout(d);
                    }
                    let mut b = PacketBuf::new();
                    while e.poll_transmit(&mut b).is_some() {}
                }
            }
            if let Err(m) = e.check_invariants() {
                return Err(TestCaseError::fail(m));
            }
        }
    }
}

#[cfg(feature = "dns64")]
#[test]
fn dns64_takes_a_new_prefix_at_once_and_refuses_a_bad_config() {
    use sixgate_nat64::dns64::{Dns64, Dns64Config, Dns64Error};
    let mut d = Dns64::new(Dns64Config::default()).unwrap();
    let p = Pool6::new("64:ff9b:1::/96".parse().unwrap()).unwrap();
    let mut c = Dns64Config::new(p);
    c.synthesize_ptr = false;
    let r = d.reconfigure(c.clone()).unwrap();
    assert_eq!(r.changed, ["prefix", "synthesize_ptr"]);
    assert_eq!(d.config().prefix, p);
    let mut bad = c;
    bad.prefix = Pool6::well_known();
    bad.upstream_timeout = Duration::ZERO;
    assert_eq!(d.reconfigure(bad).unwrap_err(), Dns64Error::ZeroTimeout);
    assert_eq!(d.config().prefix, p, "the running prefix stays");
}
