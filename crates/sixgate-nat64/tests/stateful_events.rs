//! BIB and session events (RFC 6888 REQ-12): what the engine records at each level, with
//! which addresses, ports and times; none when off; the shards' handles pass them on;
//! pool4 cut between instances (`k/n`).

use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use proptest::prelude::*;
use sixgate_core::buf::PacketBuf;
use sixgate_core::engine::{Engine, Side, Verdict};
use sixgate_core::rfc6052::Pool6;
use sixgate_core::Protocol;
use sixgate_nat64::{
    ConfigError, EventLevel, Instance, Nat64, Nat64Config, Nat64Shards, NatEvent, NatEventKind, Pool4Range,
};
use sixgate_testkit::packets::*;

const C: &str = "2001:db8::10";
const S: &str = "64:ff9b:1::cb00:7105"; // 203.0.113.5
const P4: &str = "198.51.100.1";

fn cfg(level: EventLevel) -> Nat64Config {
    let pool6 = Pool6::new("64:ff9b:1::/96".parse().unwrap()).unwrap();
    let pool4 = vec![Pool4Range::new("198.51.100.1/32".parse().unwrap(), 1024, 65535)];
    let mut c = Nat64Config::new(pool6, pool4, "192.0.2.1".parse().unwrap(), "2001:db8:ffff::1".parse().unwrap());
    c.events = level;
    c
}

fn drain(e: &mut Nat64) -> Vec<NatEvent> {
    std::iter::from_fn(|| e.poll_event()).collect()
}

/// Sends one UDP packet C:sport → S:53 at `now`; the pool4 port it got.
fn send(e: &mut Nat64, sport: u16, now: Instant) -> u16 {
    let mut b = PacketBuf::from_slice(&udp6_ports(C, S, sport, 53, b"q"));
    assert_eq!(e.process(&mut b, now), Verdict::Forward(Side::V4));
    u16::from_be_bytes([b.as_slice()[20], b.as_slice()[21]])
}

#[test]
fn session_level_records_bib_and_session_creation_then_deletion_at_expiry() {
    let mut e = Nat64::new(cfg(EventLevel::Session)).unwrap();
    let t0 = Instant::now();
    let p4 = send(&mut e, 5000, t0);
    let ev = drain(&mut e);
    assert_eq!(ev.iter().map(|e| e.kind).collect::<Vec<_>>(), [NatEventKind::BibCreated, NatEventKind::SessionCreated]);
    for x in &ev {
        assert_eq!(x.time, t0);
        assert_eq!(x.protocol, Protocol::Udp);
        assert_eq!((x.ipv6, x.ipv6_port), (C.parse::<Ipv6Addr>().unwrap(), 5000));
        assert_eq!((x.pool4, x.pool4_port), (P4.parse::<Ipv4Addr>().unwrap(), p4));
    }
    assert_eq!(ev[0].remote, None);
    let r = ev[1].remote.unwrap();
    assert_eq!((r.ipv4, r.port, r.ipv6), ("203.0.113.5".parse().unwrap(), 53, S.parse().unwrap()));
    // A second packet of the session records nothing.
    send(&mut e, 5000, t0 + Duration::from_secs(1));
    assert!(drain(&mut e).is_empty());
    // UDP_DEFAULT (5 min) after the last packet: session and BIB entry go.
    let later = t0 + Duration::from_secs(1 + 301);
    e.handle_timeout(later);
    let ev = drain(&mut e);
    assert_eq!(ev.iter().map(|e| e.kind).collect::<Vec<_>>(), [NatEventKind::SessionDeleted, NatEventKind::BibDeleted]);
    assert!(ev.iter().all(|x| x.time == later && x.pool4_port == p4 && x.ipv6_port == 5000));
    assert_eq!(e.events_lost(), 0);
}

#[test]
fn bib_level_records_one_line_per_mapping_not_per_session() {
    let mut e = Nat64::new(cfg(EventLevel::Bib)).unwrap();
    let t0 = Instant::now();
    // One BIB entry (C:5000), three destinations: three sessions.
    for dst in ["64:ff9b:1::cb00:7105", "64:ff9b:1::cb00:7106", "64:ff9b:1::cb00:7107"] {
        let mut b = PacketBuf::from_slice(&udp6_ports(C, dst, 5000, 53, b"q"));
        assert_eq!(e.process(&mut b, t0), Verdict::Forward(Side::V4));
    }
    let ev = drain(&mut e);
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].kind, NatEventKind::BibCreated);
}

#[test]
fn off_records_nothing_and_reload_switches_it_on() {
    let mut e = Nat64::new(cfg(EventLevel::Off)).unwrap();
    let t0 = Instant::now();
    send(&mut e, 5000, t0);
    assert!(drain(&mut e).is_empty());
    let r = e.reconfigure(cfg(EventLevel::Bib), t0).unwrap();
    assert!(r.changed.contains(&"events"), "{r:?}");
    send(&mut e, 5001, t0);
    assert_eq!(drain(&mut e).len(), 1);
}

#[test]
fn the_queue_is_bounded_and_counts_what_it_loses() {
    let mut c = cfg(EventLevel::Session);
    c.max_new_sessions_per_second = 0;
    c.max_sessions_per_source = 65535;
    let mut e = Nat64::new(c).unwrap();
    let t0 = Instant::now();
    let n = sixgate_nat64::stateful::MAX_QUEUED_EVENTS / 2 + 10;
    for p in 0..n {
        send(&mut e, 1024 + p as u16, t0);
    }
    // Two events a new BIB entry with its session; nobody drained them.
    assert_eq!(e.events_lost(), 20);
    assert_eq!(drain(&mut e).len(), sixgate_nat64::stateful::MAX_QUEUED_EVENTS);
}

#[test]
fn pool4_removed_by_a_reload_logs_the_ended_entries() {
    let mut e = Nat64::new(cfg(EventLevel::Session)).unwrap();
    let t0 = Instant::now();
    send(&mut e, 5000, t0);
    drain(&mut e);
    let mut c = cfg(EventLevel::Session);
    c.pool4 = vec![Pool4Range::new("198.51.100.2/32".parse().unwrap(), 1024, 65535)];
    e.reconfigure(c, t0).unwrap();
    let kinds: Vec<_> = drain(&mut e).iter().map(|e| e.kind).collect();
    assert_eq!(kinds, [NatEventKind::SessionDeleted, NatEventKind::BibDeleted]);
}

#[test]
fn a_reload_that_ends_more_sessions_than_the_queue_holds_records_them_all() {
    let mut c = cfg(EventLevel::Bib);
    c.max_new_sessions_per_second = 0;
    c.max_sessions_per_source = 65535;
    let mut e = Nat64::new(c.clone()).unwrap();
    let t0 = Instant::now();
    let n = sixgate_nat64::stateful::MAX_QUEUED_EVENTS + 100;
    for p in 0..n {
        send(&mut e, 1024 + p as u16, t0);
        e.poll_event();
    }
    c.pool4 = vec![Pool4Range::new("198.51.100.2/32".parse().unwrap(), 1024, 65535)];
    e.reconfigure(c, t0).unwrap();
    let ev = drain(&mut e);
    assert_eq!(ev.len(), n);
    assert!(ev.iter().all(|x| x.kind == NatEventKind::BibDeleted));
    assert_eq!(e.events_lost(), 0);
}

#[test]
fn shard_handles_pass_on_the_events_of_the_shards_they_used() {
    let shards = Nat64Shards::new(cfg(EventLevel::Bib), 2).unwrap();
    let mut hs = shards.into_handles();
    let t0 = Instant::now();
    let mut got = 0;
    for i in 0..16u16 {
        let src = format!("2001:db8::{:x}", 0x100 + i);
        let mut b = PacketBuf::from_slice(&udp6_ports(&src, S, 5000, 53, b"q"));
        let h = &mut hs[usize::from(i % 2)];
        assert_eq!(h.process(&mut b, t0), Verdict::Forward(Side::V4));
        let ev: Vec<_> = std::iter::from_fn(|| h.poll_event()).collect();
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0].ipv6, src.parse::<Ipv6Addr>().unwrap());
        got += 1;
    }
    assert_eq!(got, 16);
}

fn pool(entries: &[&str]) -> Nat64Config {
    let mut c = cfg(EventLevel::Off);
    c.pool4 = entries.iter().map(|p| Pool4Range::new(p.parse().unwrap(), 1024, 65535)).collect();
    c
}

fn addrs(c: &Nat64Config) -> Vec<u32> {
    c.pool4.iter().flat_map(|r| u32::from(r.prefix.network())..=u32::from(r.prefix.broadcast())).collect()
}

#[test]
fn instances_get_disjoint_address_parts_as_prefixes() {
    let c = pool(&["198.51.100.0/30"]);
    let one = c.instance("1/2".parse().unwrap()).unwrap();
    let two = c.instance("2/2".parse().unwrap()).unwrap();
    assert_eq!(one.pool4, vec![Pool4Range::new("198.51.100.0/31".parse().unwrap(), 1024, 65535)]);
    assert_eq!(two.pool4, vec![Pool4Range::new("198.51.100.2/31".parse().unwrap(), 1024, 65535)]);
    one.validate().unwrap();
    assert_eq!(
        c.instance("3/4".parse().unwrap()).unwrap().pool4,
        vec![Pool4Range::new("198.51.100.2/32".parse().unwrap(), 1024, 65535)]
    );
}

#[test]
fn bad_instances_are_typed_errors() {
    for s in ["0/2", "3/2", "1", "a/b", "1/0", ""] {
        assert!(matches!(s.parse::<Instance>(), Err(ConfigError::BadInstance { .. })), "{s}");
    }
    let e = pool(&["198.51.100.0/31"]).instance("1/3".parse().unwrap()).unwrap_err();
    assert_eq!(e, ConfigError::InstanceTooFewAddresses { k: 1, n: 3, addresses: 2 });
}

proptest! {
    /// The parts of every instance are disjoint and together are pool4, whatever the
    /// entries and the number of instances.
    #[test]
    fn instance_parts_partition_pool4(lens in proptest::collection::vec(24u8..=32, 1..4), n in 1u32..12) {
        let entries: Vec<String> = lens.iter().enumerate().map(|(i, l)| format!("198.51.{}.0/{l}", 100 + i)).collect();
        let c = pool(&entries.iter().map(String::as_str).collect::<Vec<_>>());
        let all = addrs(&c);
        prop_assume!(all.len() as u32 >= n);
        let mut seen = Vec::new();
        for k in 1..=n {
            let part = c.instance(Instance { k, n }).unwrap();
            part.validate().unwrap();
            let a = addrs(&part);
            prop_assert!(!a.is_empty());
            seen.extend(a);
        }
        prop_assert_eq!(seen, all);
    }
}

/// One step of [`events_follow_the_tables`]: a UDP or TCP SYN packet from one of a few
/// clients and ports to one of two servers, or time passing.
#[derive(Debug, Clone)]
enum Step {
    Packet { client: u8, port: u8, server: bool, tcp: bool },
    Wait(u16),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (0u8..4, 0u8..4, any::<bool>(), any::<bool>())
            .prop_map(|(client, port, server, tcp)| Step::Packet { client, port, server, tcp }),
        1 => (0u16..400).prop_map(Step::Wait),
    ]
}

/// (protocol, IPv6 address and port, remote IPv4 address and port).
type SessionKey = (u8, Ipv6Addr, u16, Ipv4Addr, u16);

proptest! {
    /// Whatever the packets and timers, the event stream replays into the engine's tables:
    /// every creation is of something not yet there, every deletion of something there,
    /// each with the mapping the engine holds, and what the events leave alive is what the
    /// tables hold.
    #[test]
    fn events_follow_the_tables(steps in proptest::collection::vec(step(), 1..60)) {
        use std::collections::BTreeMap;
        let mut e = Nat64::new(cfg(EventLevel::Session)).unwrap();
        let t0 = Instant::now();
        let mut now = t0;
        let mut bib: BTreeMap<(u8, Ipv6Addr, u16), (Ipv4Addr, u16)> = BTreeMap::new();
        let mut sess: BTreeMap<SessionKey, (Ipv4Addr, u16)> = BTreeMap::new();
        for s in steps {
            match s {
                Step::Packet { client, port, server, tcp } => {
                    let src = format!("2001:db8::{}", 0x10 + client);
                    let dst = if server { "64:ff9b:1::cb00:7105" } else { "64:ff9b:1::cb00:7106" };
                    let sport = 4000 + u16::from(port);
                    let p = if tcp { tcp6_flags(&src, dst, sport, 80, 0x02) } else { udp6_ports(&src, dst, sport, 53, b"q") };
                    let mut b = PacketBuf::from_slice(&p);
                    let _ = e.process(&mut b, now);
                }
                Step::Wait(s) => {
                    now += Duration::from_secs(u64::from(s));
                    while e.poll_timeout().is_some_and(|d| d <= now) {
                        e.handle_timeout(now);
                    }
                }
            }
            while let Some(ev) = e.poll_event() {
                let proto = u8::from(ev.protocol);
                let v4 = (ev.pool4, ev.pool4_port);
                match (ev.kind, ev.remote) {
                    (NatEventKind::BibCreated, None) => prop_assert!(bib.insert((proto, ev.ipv6, ev.ipv6_port), v4).is_none()),
                    (NatEventKind::BibDeleted, None) => prop_assert_eq!(bib.remove(&(proto, ev.ipv6, ev.ipv6_port)), Some(v4)),
                    (NatEventKind::SessionCreated, Some(r)) => {
                        prop_assert_eq!(bib.get(&(proto, ev.ipv6, ev.ipv6_port)), Some(&v4));
                        prop_assert!(sess.insert((proto, ev.ipv6, ev.ipv6_port, r.ipv4, r.port), v4).is_none());
                    }
                    (NatEventKind::SessionDeleted, Some(r)) => {
                        prop_assert_eq!(sess.remove(&(proto, ev.ipv6, ev.ipv6_port, r.ipv4, r.port)), Some(v4));
                    }
                    other => prop_assert!(false, "event {other:?}"),
                }
                prop_assert!(ev.time <= now);
            }
            let st = e.stats();
            prop_assert_eq!((st.bib, st.sessions), (bib.len(), sess.len()));
            for (&(p, a, port), &v4) in &bib {
                let proto = if p == 6 { Protocol::Tcp } else { Protocol::Udp };
                prop_assert_eq!(e.binding(proto, a, port), Some(v4));
            }
        }
    }
}
