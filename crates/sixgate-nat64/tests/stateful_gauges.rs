//! The stateful engine's gauges (`Engine::gauges`, what the metrics endpoint serves):
//! sessions by protocol and TCP state, BIB entries, pool4 ports used and free per address,
//! held SYNs, waiting fragments, each matching the tables.

use std::time::Instant;

use sixgate_core::buf::PacketBuf;
use sixgate_core::engine::{Engine, Gauge, Side, Verdict};
use sixgate_core::rfc6052::Pool6;
use sixgate_nat64::{Nat64, Nat64Config, Pool4Range};
use sixgate_testkit::packets::*;

const C: &str = "2001:db8::10";
const S: &str = "64:ff9b:1::cb00:7105"; // 203.0.113.5
const S4: &str = "203.0.113.5";

fn engine() -> Nat64 {
    let pool6 = Pool6::new("64:ff9b:1::/96".parse().unwrap()).unwrap();
    let pool4 = vec![Pool4Range::new("198.51.100.0/31".parse().unwrap(), 1024, 2047)];
    Nat64::new(Nat64Config::new(pool6, pool4, "192.0.2.1".parse().unwrap(), "2001:db8:ffff::1".parse().unwrap()))
        .unwrap()
}

fn value(gauges: &[Gauge], name: &str, labels: &[(&str, &str)]) -> u64 {
    let found: Vec<_> = gauges
        .iter()
        .filter(|g| {
            g.name == name
                && g.labels.len() == labels.len()
                && labels.iter().all(|(k, v)| g.labels.iter().any(|(gk, gv)| gk == k && gv == v))
        })
        .collect();
    assert_eq!(found.len(), 1, "{name} {labels:?} in {gauges:#?}");
    found[0].value
}

#[test]
fn gauges_follow_the_tables() {
    let mut e = engine();
    let now = Instant::now();
    let mut g = Vec::new();
    e.gauges(&mut g);
    assert_eq!(value(&g, "sessions", &[("protocol", "tcp"), ("state", "established")]), 0);
    assert_eq!(value(&g, "pool4_ports_free", &[("address", "198.51.100.1"), ("protocol", "udp")]), 1024);

    // Two UDP flows from one source port (one BIB entry), one TCP SYN from IPv6.
    for (dport, pkt) in [(53, udp6_ports(C, S, 40000, 53, b"q")), (123, udp6_ports(C, S, 40000, 123, b"q"))] {
        let mut b = PacketBuf::from_slice(&pkt);
        assert_eq!(e.process(&mut b, now), Verdict::Forward(Side::V4), "port {dport}");
    }
    let mut b = PacketBuf::from_slice(&tcp6_flags(C, S, 40001, 80, 0x02));
    assert_eq!(e.process(&mut b, now), Verdict::Forward(Side::V4));
    let p4 = u16::from_be_bytes([b.as_slice()[20], b.as_slice()[21]]);
    let a4 = std::net::Ipv4Addr::new(b.as_slice()[12], b.as_slice()[13], b.as_slice()[14], b.as_slice()[15]);
    // The SYN+ACK: established.
    let mut b = PacketBuf::from_slice(&tcp4_flags(S4, &a4.to_string(), 80, p4, 0x12));
    assert_eq!(e.process(&mut b, now), Verdict::Forward(Side::V6));

    let mut g = Vec::new();
    e.gauges(&mut g);
    assert_eq!(value(&g, "sessions", &[("protocol", "udp"), ("state", "open")]), 2);
    assert_eq!(value(&g, "sessions", &[("protocol", "tcp"), ("state", "established")]), 1);
    assert_eq!(value(&g, "sessions", &[("protocol", "tcp"), ("state", "v6_init")]), 0);
    assert_eq!(value(&g, "sessions", &[("protocol", "icmp"), ("state", "open")]), 0);
    assert_eq!(value(&g, "bib_entries", &[("protocol", "udp")]), 1);
    assert_eq!(value(&g, "bib_entries", &[("protocol", "tcp")]), 1);
    let st = e.stats();
    assert_eq!((st.sessions, st.bib), (3, 2), "the gauges agree with stats()");
    // Per address: the two of the /31, each with 1024 ports.
    let used = |a: &str, p: &str| value(&g, "pool4_ports_used", &[("address", a), ("protocol", p)]);
    let free = |a: &str, p: &str| value(&g, "pool4_ports_free", &[("address", a), ("protocol", p)]);
    let (both_udp, both_tcp) = (
        used("198.51.100.0", "udp") + used("198.51.100.1", "udp"),
        used("198.51.100.0", "tcp") + used("198.51.100.1", "tcp"),
    );
    assert_eq!((both_udp, both_tcp), (1, 1));
    assert_eq!(used(&a4.to_string(), "tcp") + free(&a4.to_string(), "tcp"), 1024);
    assert_eq!(value(&g, "held_syns", &[]), 0);
    assert_eq!(value(&g, "fragments_waiting", &[]), 0);
}

#[test]
fn a_large_pool_is_reported_per_range() {
    let pool6 = Pool6::new("64:ff9b:1::/96".parse().unwrap()).unwrap();
    let pool4 = vec![Pool4Range::new("198.51.0.0/16".parse().unwrap(), 1024, 65535)];
    let e =
        Nat64::new(Nat64Config::new(pool6, pool4, "192.0.2.1".parse().unwrap(), "2001:db8:ffff::1".parse().unwrap()))
            .unwrap();
    let mut g = Vec::new();
    e.gauges(&mut g);
    assert_eq!(value(&g, "pool4_ports_free", &[("address", "198.51.0.0/16"), ("protocol", "tcp")]), 65536 * 64512);
    assert_eq!(g.iter().filter(|g| g.name == "pool4_ports_free").count(), 3);
}
