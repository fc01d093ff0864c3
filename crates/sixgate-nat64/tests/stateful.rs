//! Stateful NAT64 (RFC 6146) with a simulated clock: mapping, filtering, the TCP state
//! machine and every timer, hairpinning, ICMP errors, limits, port allocation, and
//! property tests over arbitrary packet sequences.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use proptest::prelude::*;
use sixgate_core::buf::PacketBuf;
use sixgate_core::checksum::{add, finish, pseudo_v4, pseudo_v6, sum};
use sixgate_core::engine::{Engine, Side, Verdict};
use sixgate_core::rfc6052::Pool6;
use sixgate_core::Protocol;
use sixgate_nat64::{Filtering, Nat64, Nat64Config, Nat64Drop, Pool4Range, SiitDrop, TcpState};
use sixgate_testkit::packets::*;

mod common;

const C: &str = "2001:db8::10";
const C2: &str = "2001:db8::20";
const S: &str = "64:ff9b:1::cb00:7105"; // 203.0.113.5
const S4: &str = "203.0.113.5";
const S2: &str = "64:ff9b:1::cb00:7106"; // 203.0.113.6
const S24: &str = "203.0.113.6";
const P4: &str = "198.51.100.1";

fn cfg(filtering: Filtering) -> Nat64Config {
    let pool6 = Pool6::new("64:ff9b:1::/96".parse().unwrap()).unwrap();
    let pool4 = vec![Pool4Range::new("198.51.100.1/32".parse().unwrap(), 1024, 65535)];
    let mut c = Nat64Config::new(pool6, pool4, "192.0.2.1".parse().unwrap(), "2001:db8:ffff::1".parse().unwrap());
    c.filtering = filtering;
    c
}

struct T {
    e: Nat64,
    t0: Instant,
}

impl T {
    fn new(c: Nat64Config) -> Self {
        Self { e: Nat64::new(c).unwrap(), t0: Instant::now() }
    }
    fn at(&self, secs: f64) -> Instant {
        self.t0 + Duration::from_secs_f64(secs)
    }
    /// Runs timers up to `secs`, then processes `pkt` at `secs`.
    fn send(&mut self, pkt: &[u8], secs: f64) -> (Verdict<Nat64Drop>, Vec<u8>) {
        self.tick(secs);
        let mut b = PacketBuf::from_slice(pkt);
        let v = self.e.process(&mut b, self.at(secs));
        if matches!(v, Verdict::Forward(_) | Verdict::Reply(_)) {
            check_sums(b.as_slice());
        }
        self.e.check_invariants().unwrap();
        (v, b.as_slice().to_vec())
    }
    fn tick(&mut self, secs: f64) {
        let now = self.at(secs);
        // Drive timers the way a driver does: only when poll_timeout says so.
        while let Some(d) = self.e.poll_timeout() {
            if d > now {
                break;
            }
            self.e.handle_timeout(d);
        }
        self.e.handle_timeout(now);
        self.e.check_invariants().unwrap();
    }
    /// The client's SYN from port 40000 to the server's port 80 at `syn`, the SYN+ACK
    /// back at `syn_ack`: an established session. Returns its pool port.
    fn establish(&mut self, syn: f64, syn_ack: f64) -> u16 {
        let (_, o) = self.send(&tcp6_flags(C, S, 40000, 80, SYN), syn);
        let p4 = port(&o, 20);
        let _ = self.send(&tcp4_flags(S4, P4, 80, p4, SYNACK), syn_ack);
        p4
    }
    fn tcp_state(&self, cport: u16, rport: u16) -> Option<TcpState> {
        self.e.session_state(Protocol::Tcp, C.parse().unwrap(), cport, S4.parse().unwrap(), rport)
    }
}

/// Every output must carry good checksums (IPv4 header; TCP, UDP, ICMP of both families).
fn check_sums(p: &[u8]) {
    if p[0] >> 4 == 4 {
        let ihl = usize::from(p[0] & 15) * 4;
        assert_eq!(finish(sum(&p[..ihl])), 0, "IPv4 header checksum");
        let (s, d) = (v4(p, 12), v4(p, 16));
        let l4 = &p[ihl..];
        let ps = match p[9] {
            6 | 17 => pseudo_v4(s, d, p[9], l4.len() as u16),
            _ => 0,
        };
        assert_eq!(finish(add(ps, sum(l4))), 0, "IPv4 transport checksum");
    } else {
        let (s, d) = (v6(p, 8), v6(p, 24));
        let l4 = &p[40..];
        assert_eq!(finish(add(pseudo_v6(s, d, p[6], l4.len() as u32), sum(l4))), 0, "IPv6 transport checksum");
    }
}

fn v4(p: &[u8], o: usize) -> Ipv4Addr {
    Ipv4Addr::new(p[o], p[o + 1], p[o + 2], p[o + 3])
}
fn v6(p: &[u8], o: usize) -> Ipv6Addr {
    Ipv6Addr::from(<[u8; 16]>::try_from(&p[o..o + 16]).unwrap())
}
fn port(p: &[u8], o: usize) -> u16 {
    u16::from_be_bytes([p[o], p[o + 1]])
}

const SYN: u8 = 0x02;
const ACK: u8 = 0x10;
const FIN: u8 = 0x11;
const RST: u8 = 0x04;
const SYNACK: u8 = 0x12;

#[test]
fn udp_endpoint_independent_mapping_and_return() {
    let mut t = T::new(cfg(Filtering::AddressDependent));
    let (v, o) = t.send(&udp6_ports(C, S, 40000, 53, b"q"), 0.0);
    assert_eq!(v, Verdict::Forward(Side::V4));
    assert_eq!((v4(&o, 12), port(&o, 20)), (P4.parse().unwrap(), 40000), "the client's own port is tried first");
    assert_eq!((v4(&o, 16), port(&o, 22)), (S4.parse().unwrap(), 53));
    // EIM: the same source to another destination keeps its mapping.
    let (v, o2) = t.send(&udp6_ports(C, S2, 40000, 123, b"q"), 1.0);
    assert_eq!(v, Verdict::Forward(Side::V4));
    assert_eq!((v4(&o2, 12), port(&o2, 20)), (v4(&o, 12), port(&o, 20)));
    assert_eq!(t.e.stats().bib, 1);
    assert_eq!(t.e.stats().sessions, 2);
    // The answer comes back to the client's address and port.
    let (v, r) = t.send(&udp4_ports(S4, P4, 53, 40000, b"a"), 2.0);
    assert_eq!(v, Verdict::Forward(Side::V6));
    assert_eq!((v6(&r, 24), port(&r, 42)), (C.parse().unwrap(), 40000));
    assert_eq!((v6(&r, 8), port(&r, 40)), (S.parse().unwrap(), 53));
}

#[test]
fn address_dependent_filtering_refuses_strangers() {
    let mut t = T::new(cfg(Filtering::AddressDependent));
    let _ = t.send(&udp6_ports(C, S, 40000, 53, b"q"), 0.0);
    // The same host from another port passes (address-dependent, not port-dependent).
    let (v, _) = t.send(&udp4_ports(S4, P4, 5353, 40000, b"a"), 1.0);
    assert_eq!(v, Verdict::Forward(Side::V6));
    // Another host does not.
    let (v, _) = t.send(&udp4_ports(S24, P4, 53, 40000, b"a"), 1.0);
    assert_eq!(v, Verdict::Drop(Nat64Drop::Filtered));
    assert_eq!(t.e.counters().dropped(Nat64Drop::Filtered), 1);
    // No binding at all.
    let (v, _) = t.send(&udp4_ports(S4, P4, 53, 40002, b"a"), 1.0);
    assert_eq!(v, Verdict::Drop(Nat64Drop::NoBinding));
}

#[test]
fn endpoint_independent_filtering_lets_anyone_in() {
    let mut t = T::new(cfg(Filtering::EndpointIndependent));
    let _ = t.send(&udp6_ports(C, S, 40000, 53, b"q"), 0.0);
    let (v, r) = t.send(&udp4_ports(S24, P4, 9, 40000, b"a"), 1.0);
    assert_eq!(v, Verdict::Forward(Side::V6));
    assert_eq!(v6(&r, 8), S2.parse::<Ipv6Addr>().unwrap());
    assert_eq!(t.e.stats().sessions, 2);
}

#[test]
fn udp_timer_expires_at_five_minutes_and_refreshes() {
    let mut t = T::new(cfg(Filtering::AddressDependent));
    let _ = t.send(&udp6_ports(C, S, 40000, 53, b"q"), 0.0);
    assert_eq!(t.e.poll_timeout(), Some(t.at(300.0)));
    // Refreshed by the reply at 200 s: alive until 500 s.
    let (v, _) = t.send(&udp4_ports(S4, P4, 53, 40000, b"a"), 200.0);
    assert_eq!(v, Verdict::Forward(Side::V6));
    t.tick(499.0);
    assert_eq!(t.e.stats().sessions, 1);
    t.tick(500.0);
    assert_eq!(t.e.stats().sessions, 0);
    assert_eq!(t.e.stats().bib, 0, "the BIB entry goes with its last session");
    let (v, _) = t.send(&udp4_ports(S4, P4, 53, 40000, b"a"), 501.0);
    assert_eq!(v, Verdict::Drop(Nat64Drop::NoBinding));
    assert_eq!(t.e.stats().timers, 0, "no timer entries left behind");
}

#[test]
fn icmp_echo_identifiers_are_ports_with_a_minute_timer() {
    let mut t = T::new(cfg(Filtering::AddressDependent));
    let (v, o) = t.send(&echo6(C, S, 7, 1, b"ping"), 0.0);
    assert_eq!(v, Verdict::Forward(Side::V4));
    assert_eq!(o[20], 8);
    let id = port(&o, 24);
    assert!(id >= 1024, "identifier from the pool range, got {id}");
    let (v, r) = t.send(&echo_reply4(S4, P4, id, 1, b"ping"), 1.0);
    assert_eq!(v, Verdict::Forward(Side::V6));
    assert_eq!((r[40], port(&r, 44)), (129, 7));
    assert_eq!(v6(&r, 24), C.parse::<Ipv6Addr>().unwrap());
    t.tick(60.9);
    assert_eq!(t.e.stats().sessions, 1);
    t.tick(61.0);
    assert_eq!(t.e.stats().sessions, 0);
}

#[test]
fn tcp_handshake_and_close_from_both_sides() {
    let mut t = T::new(cfg(Filtering::AddressDependent));
    let (v, o) = t.send(&tcp6_flags(C, S, 40000, 80, SYN), 0.0);
    assert_eq!(v, Verdict::Forward(Side::V4));
    let p4 = port(&o, 20);
    assert_eq!(t.tcp_state(40000, 80), Some(TcpState::V6Init));
    assert_eq!(t.e.poll_timeout(), Some(t.at(240.0)), "V6 INIT lives TCP_TRANS");
    let (v, r) = t.send(&tcp4_flags(S4, P4, 80, p4, SYNACK), 1.0);
    assert_eq!(v, Verdict::Forward(Side::V6));
    assert_eq!(port(&r, 42), 40000);
    assert_eq!(t.tcp_state(40000, 80), Some(TcpState::Established));
    let _ = t.send(&tcp6_flags(C, S, 40000, 80, ACK), 2.0);
    assert_eq!(t.tcp_state(40000, 80), Some(TcpState::Established));
    let _ = t.send(&tcp6_flags(C, S, 40000, 80, FIN), 3.0);
    assert_eq!(t.tcp_state(40000, 80), Some(TcpState::V6FinRcv));
    let _ = t.send(&tcp4_flags(S4, P4, 80, p4, FIN), 4.0);
    assert_eq!(t.tcp_state(40000, 80), Some(TcpState::V4FinV6FinRcv));
    // The last ACK does not refresh: the session ends TCP_TRANS after both FINs.
    let _ = t.send(&tcp6_flags(C, S, 40000, 80, ACK), 100.0);
    t.tick(243.9);
    assert_eq!(t.tcp_state(40000, 80), Some(TcpState::V4FinV6FinRcv));
    t.tick(244.0);
    assert_eq!(t.tcp_state(40000, 80), None);
    assert_eq!(t.e.stats().bib, 0);
}

#[test]
fn tcp_v4_fin_first() {
    let mut t = T::new(cfg(Filtering::AddressDependent));
    let p4 = t.establish(0.0, 0.5);
    let _ = t.send(&tcp4_flags(S4, P4, 80, p4, FIN), 1.0);
    assert_eq!(t.tcp_state(40000, 80), Some(TcpState::V4FinRcv));
    // Data in a half-closed session refreshes TCP_EST.
    let _ = t.send(&tcp6_flags(C, S, 40000, 80, ACK), 2.0);
    assert_eq!(t.tcp_state(40000, 80), Some(TcpState::V4FinRcv));
    let _ = t.send(&tcp6_flags(C, S, 40000, 80, FIN), 3.0);
    assert_eq!(t.tcp_state(40000, 80), Some(TcpState::V4FinV6FinRcv));
}

#[test]
fn tcp_rst_makes_transitory_and_traffic_revives() {
    let mut t = T::new(cfg(Filtering::AddressDependent));
    let p4 = t.establish(0.0, 0.5);
    let _ = t.send(&tcp4_flags(S4, P4, 80, p4, RST), 1.0);
    assert_eq!(t.tcp_state(40000, 80), Some(TcpState::Trans));
    let _ = t.send(&tcp6_flags(C, S, 40000, 80, ACK), 2.0);
    assert_eq!(t.tcp_state(40000, 80), Some(TcpState::Established), "a non-RST packet revives TRANS");
    let _ = t.send(&tcp6_flags(C, S, 40000, 80, RST), 3.0);
    assert_eq!(t.tcp_state(40000, 80), Some(TcpState::Trans));
    t.tick(242.9);
    assert_eq!(t.tcp_state(40000, 80), Some(TcpState::Trans));
    t.tick(243.0);
    assert_eq!(t.tcp_state(40000, 80), None);
}

#[test]
fn tcp_established_idle_timer_then_transitory() {
    let mut t = T::new(cfg(Filtering::AddressDependent));
    t.establish(0.0, 1.0);
    let est = 2.0 * 3600.0 + 240.0;
    assert_eq!(t.e.poll_timeout(), Some(t.at(240.0)), "stale V6 INIT entry first");
    t.tick(1.0 + est - 0.5);
    assert_eq!(t.tcp_state(40000, 80), Some(TcpState::Established));
    t.tick(1.0 + est);
    assert_eq!(t.tcp_state(40000, 80), Some(TcpState::Trans));
    t.tick(1.0 + est + 239.0);
    assert_eq!(t.tcp_state(40000, 80), Some(TcpState::Trans));
    t.tick(1.0 + est + 240.0);
    assert_eq!(t.tcp_state(40000, 80), None);
}

/// The packets waiting in `poll_transmit` that go to the IPv6 side (probes), checked for
/// good checksums; anything for the IPv4 side is returned in the second vector.
fn transmitted_by_side(t: &mut T) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let (mut v6s, mut v4s) = (Vec::new(), Vec::new());
    let mut b = PacketBuf::new();
    while let Some(side) = t.e.poll_transmit(&mut b) {
        check_sums(b.as_slice());
        match side {
            Side::V6 => v6s.push(b.as_slice().to_vec()),
            Side::V4 => v4s.push(b.as_slice().to_vec()),
        }
    }
    (v6s, v4s)
}

/// Checks `p` is the RFC 6146 §3.5.2.2 probe of the session (C, cport) ↔ (S, rport): an
/// IPv6 TCP segment from the server as the client knows it to the client, no data,
/// sequence and acknowledgment numbers 0, only ACK, and a TCP checksum that verifies.
fn assert_probe(p: &[u8], cport: u16, rport: u16) {
    assert_eq!(p.len(), 60, "IPv6 header and a bare TCP header: {p:02x?}");
    assert_eq!((p[0] >> 4, port(p, 4), p[6]), (6, 20, 6), "IPv6, payload 20 bytes, TCP");
    assert!(p[7] > 1, "a hop limit that reaches the client");
    assert_eq!((v6(p, 8), v6(p, 24)), (S.parse().unwrap(), C.parse().unwrap()));
    assert_eq!((port(p, 40), port(p, 42)), (rport, cport));
    assert_eq!(&p[44..52], &[0; 8], "sequence and acknowledgment numbers 0");
    assert_eq!((p[52], p[53]), (0x50, ACK), "data offset 5, only ACK");
    // The checksum, recomputed over the pseudo-header and the segment.
    let mut z = p[40..].to_vec();
    z[16] = 0;
    z[17] = 0;
    let want = finish(add(pseudo_v6(v6(p, 8), v6(p, 24), 6, 20), sum(&z)));
    assert_eq!(port(p, 56), want, "TCP checksum");
}

#[test]
fn idle_established_session_is_probed_then_ends_unanswered() {
    let mut t = T::new(cfg(Filtering::AddressDependent));
    t.establish(0.0, 1.0);
    let est = 2.0 * 3600.0 + 240.0;
    t.tick(1.0 + est - 0.5);
    assert_eq!(transmitted_by_side(&mut t), (vec![], vec![]), "no probe before TCP_EST");
    let replied = t.e.counters().replied;
    t.tick(1.0 + est);
    assert_eq!(t.tcp_state(40000, 80), Some(TcpState::Trans));
    let (probes, other) = transmitted_by_side(&mut t);
    assert!(other.is_empty());
    assert_eq!(probes.len(), 1, "one probe");
    assert_probe(&probes[0], 40000, 80);
    assert_eq!(t.e.counters().replied, replied, "the probe answers no packet");
    assert_eq!(t.e.counters().generated, 1, "the probe is counted as a timer's own packet");
    // Nobody answers: the session ends after TCP_TRANS, with no second probe.
    t.tick(1.0 + est + 239.9);
    assert_eq!(t.tcp_state(40000, 80), Some(TcpState::Trans));
    t.tick(1.0 + est + 240.0);
    assert_eq!(t.tcp_state(40000, 80), None);
    assert_eq!(t.e.stats().bib, 0);
    assert_eq!(transmitted_by_side(&mut t), (vec![], vec![]));
}

#[test]
fn probe_answered_by_the_client_revives_the_session() {
    let mut t = T::new(cfg(Filtering::AddressDependent));
    let p4 = t.establish(0.0, 0.0);
    let est = 2.0 * 3600.0 + 240.0;
    t.tick(est);
    let (probes, _) = transmitted_by_side(&mut t);
    assert_eq!(probes.len(), 1);
    assert_probe(&probes[0], 40000, 80);
    assert_eq!(t.tcp_state(40000, 80), Some(TcpState::Trans));
    // The client's TCP finds the probe out of its window and answers with an ACK: the
    // session is ESTABLISHED again, with a fresh TCP_EST, and outlives TCP_TRANS.
    let (v, _) = t.send(&tcp6_flags(C, S, 40000, 80, ACK), est + 0.05);
    assert_eq!(v, Verdict::Forward(Side::V4));
    assert_eq!(t.tcp_state(40000, 80), Some(TcpState::Established));
    t.tick(est + 600.0);
    assert_eq!(t.tcp_state(40000, 80), Some(TcpState::Established));
    assert!(transmitted_by_side(&mut t).0.is_empty());
    // Idle again for TCP_EST: probed again.
    t.tick(2.0 * est + 0.1);
    assert_eq!(t.tcp_state(40000, 80), Some(TcpState::Trans));
    let (probes, _) = transmitted_by_side(&mut t);
    assert_eq!(probes.len(), 1);
    assert_probe(&probes[0], 40000, 80);
    // An answer from the server side revives it as well.
    let (v, _) = t.send(&tcp4_flags(S4, P4, 80, p4, ACK), 2.0 * est + 1.0);
    assert_eq!(v, Verdict::Forward(Side::V6));
    assert_eq!(t.tcp_state(40000, 80), Some(TcpState::Established));
}

#[test]
fn probe_answered_with_rst_lets_the_session_end() {
    let mut t = T::new(cfg(Filtering::AddressDependent));
    // C2 holds TCP port 40000 (a half-open session that ends after TCP_TRANS), so C's
    // pool port differs from its own: the probe must carry the client's port.
    let _ = t.send(&tcp6_flags(C2, S2, 40000, 443, SYN), 0.0);
    let (_, o) = t.send(&tcp6_flags(C, S, 40000, 80, SYN), 0.0);
    let p4 = port(&o, 20);
    assert_ne!(p4, 40000);
    let _ = t.send(&tcp4_flags(S4, P4, 80, p4, SYNACK), 0.0);
    let est = 2.0 * 3600.0 + 240.0;
    t.tick(est);
    let (probes, _) = transmitted_by_side(&mut t);
    assert_eq!(probes.len(), 1);
    assert_probe(&probes[0], 40000, 80);
    // The client no longer has the connection: RST. TRANS stays, the session ends.
    let (v, _) = t.send(&tcp6_flags(C, S, 40000, 80, RST), est + 0.05);
    assert_eq!(v, Verdict::Forward(Side::V4));
    assert_eq!(t.tcp_state(40000, 80), Some(TcpState::Trans));
    t.tick(est + 240.0);
    assert_eq!(t.tcp_state(40000, 80), None);
}

#[test]
fn idle_half_closed_sessions_are_deleted_without_a_probe() {
    // RFC 6146 §3.5.2.2 V4 FIN RCV / V6 FIN RCV: when the lifetime expires the entry is
    // deleted (only ESTABLISHED is probed and moved to TRANS).
    let mut t = T::new(cfg(Filtering::AddressDependent));
    let p4 = t.establish(0.0, 0.0);
    let _ = t.send(&tcp4_flags(S4, P4, 80, p4, FIN), 0.0);
    assert_eq!(t.tcp_state(40000, 80), Some(TcpState::V4FinRcv));
    let (_, o) = t.send(&tcp6_flags(C, S, 40001, 81, SYN), 0.0);
    let p4b = port(&o, 20);
    let _ = t.send(&tcp4_flags(S4, P4, 81, p4b, SYNACK), 0.0);
    let _ = t.send(&tcp6_flags(C, S, 40001, 81, FIN), 0.0);
    assert_eq!(t.tcp_state(40001, 81), Some(TcpState::V6FinRcv));
    let est = 2.0 * 3600.0 + 240.0;
    t.tick(est - 0.1);
    assert_eq!((t.tcp_state(40000, 80), t.tcp_state(40001, 81)), (Some(TcpState::V4FinRcv), Some(TcpState::V6FinRcv)));
    t.tick(est);
    assert_eq!((t.tcp_state(40000, 80), t.tcp_state(40001, 81)), (None, None));
    assert_eq!(t.e.stats().sessions, 0);
    assert_eq!(transmitted_by_side(&mut t), (vec![], vec![]), "no probe for a half-closed session");
}

#[test]
fn probes_waiting_for_poll_transmit_are_capped() {
    let mut t = T::new(cfg(Filtering::EndpointIndependent));
    let n = 4100u32;
    // Straight through the engine (`T::send` checks the whole tables after every packet).
    for i in 0..n {
        let c = format!("2001:db8:5::{:x}", i + 1);
        let mut b = PacketBuf::from_slice(&tcp6_flags(&c, S, 5000, 80, SYN));
        assert_eq!(t.e.process(&mut b, t.t0), Verdict::Forward(Side::V4));
        let mut b = PacketBuf::from_slice(&tcp4_flags(S4, P4, 80, port(&b, 20), SYNACK));
        assert_eq!(t.e.process(&mut b, t.t0), Verdict::Forward(Side::V6));
    }
    t.e.check_invariants().unwrap();
    t.tick(2.0 * 3600.0 + 240.0);
    // Every session moved to TRANS; 4,096 probes wait (the rest went without one).
    let (probes, _) = transmitted_by_side(&mut t);
    assert_eq!(probes.len(), 4096);
    assert_eq!(t.e.stats().sessions, n as usize);
    assert!(transmitted_by_side(&mut t).0.is_empty());
    t.tick(2.0 * 3600.0 + 480.0);
    assert_eq!(t.e.stats().sessions, 0, "every one of them was transitory");
}

#[test]
fn tcp_half_open_v6_init_expires() {
    let mut t = T::new(cfg(Filtering::AddressDependent));
    let _ = t.send(&tcp6_flags(C, S, 40000, 80, SYN), 0.0);
    // ACKs from IPv6 do not keep a half-open session alive; SYN retransmissions do.
    let _ = t.send(&tcp6_flags(C, S, 40000, 80, SYN), 100.0);
    let _ = t.send(&tcp6_flags(C, S, 40000, 80, ACK), 200.0);
    t.tick(339.0);
    assert_eq!(t.tcp_state(40000, 80), Some(TcpState::V6Init));
    t.tick(340.0);
    assert_eq!(t.tcp_state(40000, 80), None);
}

#[test]
fn tcp_new_flows_need_syn() {
    let mut t = T::new(cfg(Filtering::AddressDependent));
    let (v, _) = t.send(&tcp6_flags(C, S, 40000, 80, ACK), 0.0);
    assert_eq!(v, Verdict::Drop(Nat64Drop::TcpNotSyn));
    let (_, o) = t.send(&tcp6_flags(C, S, 40000, 80, SYN), 1.0);
    let p4 = port(&o, 20);
    let (v, _) = t.send(&tcp4_flags(S4, P4, 81, p4, ACK), 2.0);
    assert_eq!(v, Verdict::Drop(Nat64Drop::NoSession));
    // ADF: an unsolicited SYN from a stranger is not forwarded; it is held (RFC 6146
    // §3.5.2.2, see the held-SYN tests below).
    let (v, _) = t.send(&tcp4_flags(S24, P4, 80, p4, SYN), 2.0);
    assert_eq!(v, Verdict::Drop(Nat64Drop::SynHeld));
    assert_eq!(t.e.counters().dropped(Nat64Drop::SynHeld), 1);
    assert_eq!(t.e.stats().held_syns, 1);
}

/// The ICMP errors waiting in `poll_transmit`.
fn transmitted(t: &mut T) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut b = PacketBuf::new();
    while let Some(side) = t.e.poll_transmit(&mut b) {
        assert_eq!(side, Side::V4);
        check_sums(b.as_slice());
        out.push(b.as_slice().to_vec());
    }
    out
}

#[test]
fn held_syn_then_ipv6_syn_completes_a_simultaneous_open() {
    // RFC 6146 §3.5.2.2: address-dependent filtering, the BIB entry exists (from a
    // connection to another server), the IPv4 SYN comes first and is held.
    let mut t = T::new(cfg(Filtering::AddressDependent));
    let (_, o) = t.send(&tcp6_flags(C, S2, 40000, 443, SYN), 0.0);
    let p4 = port(&o, 20);
    let (v, _) = t.send(&tcp4_flags(S4, P4, 80, p4, SYN), 1.0);
    assert_eq!(v, Verdict::Drop(Nat64Drop::SynHeld));
    assert_eq!(t.e.stats().held_syns, 1);
    assert_eq!(t.tcp_state(40000, 80), None, "held, not a session");
    // A retransmission is not stored twice.
    let (v, _) = t.send(&tcp4_flags(S4, P4, 80, p4, SYN), 3.0);
    assert_eq!(v, Verdict::Drop(Nat64Drop::SynHeld));
    assert_eq!(t.e.stats().held_syns, 1);
    // The IPv6 side's SYN within 6 s: the held SYN is discarded, the session established.
    let (v, o) = t.send(&tcp6_flags(C, S, 40000, 80, SYN), 5.0);
    assert_eq!(v, Verdict::Forward(Side::V4));
    assert_eq!(port(&o, 20), p4);
    assert_eq!(t.e.stats().held_syns, 0);
    assert_eq!(t.tcp_state(40000, 80), Some(TcpState::Established));
    // Nothing goes back for it, and the session outlives TCP_TRANS (it is established).
    t.tick(20.0);
    assert!(transmitted(&mut t).is_empty());
    t.tick(600.0);
    assert_eq!(t.tcp_state(40000, 80), Some(TcpState::Established));
    let (v, _) = t.send(&tcp4_flags(S4, P4, 80, p4, ACK), 601.0);
    assert_eq!(v, Verdict::Forward(Side::V6));
}

#[test]
fn held_syn_without_binding_meets_an_ipv6_syn_from_that_port() {
    // No BIB entry: the SYN is held under its IPv4 addresses; an IPv6 client whose new
    // binding gets that pool port (its own port is tried first) completes the open.
    let mut t = T::new(cfg(Filtering::EndpointIndependent));
    let (v, _) = t.send(&tcp4_flags(S4, P4, 5000, 40000, SYN), 0.0);
    assert_eq!(v, Verdict::Drop(Nat64Drop::SynHeld));
    let (v, o) = t.send(&tcp6_flags(C, S, 40000, 5000, SYN), 2.0);
    assert_eq!(v, Verdict::Forward(Side::V4));
    assert_eq!(port(&o, 20), 40000);
    assert_eq!(t.e.stats().held_syns, 0);
    assert_eq!(t.tcp_state(40000, 5000), Some(TcpState::Established));
    t.tick(30.0);
    assert!(transmitted(&mut t).is_empty());
}

#[test]
fn held_syn_nobody_answers_gets_port_unreachable_after_6_s() {
    let mut t = T::new(cfg(Filtering::AddressDependent));
    let syn = tcp4_flags(S4, P4, 5000, 40000, SYN);
    let (v, _) = t.send(&syn, 1.0);
    assert_eq!(v, Verdict::Drop(Nat64Drop::SynHeld));
    // The only deadline is the held SYN's: TCP_INCOMING_SYN after it arrived.
    assert_eq!(t.e.poll_timeout(), Some(t.at(7.0)));
    t.tick(6.9);
    assert!(transmitted(&mut t).is_empty());
    assert_eq!(t.e.stats().held_syns, 1);
    // An IPv6 SYN to another port does not match it.
    let _ = t.send(&tcp6_flags(C, S, 40000, 5001, SYN), 6.95);
    assert_eq!(t.e.stats().held_syns, 1);
    t.tick(7.0);
    assert_eq!(t.e.stats().held_syns, 0);
    let out = transmitted(&mut t);
    assert_eq!(out.len(), 1);
    let e = &out[0];
    // ICMP Destination Unreachable, Port Unreachable, from the pool address to the SYN's
    // source, quoting the SYN.
    assert_eq!((e[9], e[20], e[21]), (1, 3, 3));
    assert_eq!(v4(e, 12), P4.parse::<Ipv4Addr>().unwrap());
    assert_eq!(v4(e, 16), S4.parse::<Ipv4Addr>().unwrap());
    assert_eq!(&e[28..], &syn[..]);
    // A timer's packet, not an answer to one given: the SYN was counted when it came.
    assert_eq!((t.e.counters().replied, t.e.counters().generated), (0, 1));
    assert!(transmitted(&mut t).is_empty());
    // Not held any more: a late IPv6 SYN opens an ordinary session.
    let _ = t.send(&tcp6_flags(C, S, 40000, 5000, SYN), 8.0);
    assert_eq!(t.tcp_state(40000, 5000), Some(TcpState::V6Init));
}

#[test]
fn held_syns_are_capped_and_counted() {
    let mut c = cfg(Filtering::AddressDependent);
    c.max_held_syns = 2;
    let mut t = T::new(c);
    let (v, _) = t.send(&tcp4_flags(S4, P4, 5000, 40000, SYN), 0.0);
    assert_eq!(v, Verdict::Drop(Nat64Drop::SynHeld));
    let (v, _) = t.send(&tcp4_flags(S24, P4, 5000, 40000, SYN), 0.0);
    assert_eq!(v, Verdict::Drop(Nat64Drop::SynHeld));
    // Full: the third is dropped and counted; a retransmission of a held one still is
    // recognised as held.
    let (v, _) = t.send(&tcp4_flags(S4, P4, 5001, 40000, SYN), 0.5);
    assert_eq!(v, Verdict::Drop(Nat64Drop::IncomingSyn));
    let (v, _) = t.send(&tcp4_flags(S4, P4, 5000, 40000, SYN), 0.5);
    assert_eq!(v, Verdict::Drop(Nat64Drop::SynHeld));
    assert_eq!(t.e.stats().held_syns, 2);
    assert_eq!(t.e.counters().dropped(Nat64Drop::IncomingSyn), 1);
    assert_eq!(t.e.counters().dropped(Nat64Drop::SynHeld), 3);
    t.tick(6.0);
    let out = transmitted(&mut t);
    assert_eq!(out.len(), 2);
    assert_eq!((v4(&out[0], 16), v4(&out[1], 16)), (S4.parse().unwrap(), S24.parse().unwrap()));
    // Room again.
    let (v, _) = t.send(&tcp4_flags(S4, P4, 5001, 40000, SYN), 7.0);
    assert_eq!(v, Verdict::Drop(Nat64Drop::SynHeld));
    // With no room at all, unsolicited SYNs are dropped as before.
    let mut c = cfg(Filtering::AddressDependent);
    c.max_held_syns = 0;
    let mut t = T::new(c);
    let (v, _) = t.send(&tcp4_flags(S4, P4, 5000, 40000, SYN), 0.0);
    assert_eq!(v, Verdict::Drop(Nat64Drop::IncomingSyn));
    t.tick(10.0);
    assert!(transmitted(&mut t).is_empty());
}

#[test]
fn held_syns_are_found_by_their_addresses_among_many() {
    // 500 held SYNs from as many remote ports; IPv6 SYNs meet exactly theirs, the others
    // get their Port Unreachable in the order they came.
    let mut c = cfg(Filtering::EndpointIndependent);
    c.max_held_syns = 500;
    c.xlate.icmp_rate.burst = 1000;
    let mut t = T::new(c);
    for i in 0..500u16 {
        let (v, _) = t.send(&tcp4_flags(S4, P4, 2000 + i, 40000, SYN), 0.0);
        assert_eq!(v, Verdict::Drop(Nat64Drop::SynHeld));
    }
    let (v, _) = t.send(&tcp4_flags(S4, P4, 2100, 40000, SYN), 0.5);
    assert_eq!(v, Verdict::Drop(Nat64Drop::SynHeld), "a retransmission is recognised");
    assert_eq!(t.e.stats().held_syns, 500);
    for rp in [2499u16, 2000, 2250] {
        let (v, _) = t.send(&tcp6_flags(C, S, 40000, rp, SYN), 1.0);
        assert_eq!(v, Verdict::Forward(Side::V4));
        assert_eq!(t.tcp_state(40000, rp), Some(TcpState::Established), "port {rp}");
    }
    assert_eq!(t.e.stats().held_syns, 497);
    t.tick(6.0);
    let out = transmitted(&mut t);
    let ports: Vec<u16> = out.iter().map(|e| port(e, 48)).collect();
    let want: Vec<u16> = (2000..2500).filter(|p| ![2499, 2000, 2250].contains(p)).collect();
    assert_eq!(ports, want, "one error each, oldest first, none for the three that met their IPv6 SYN");
}

#[test]
fn a_syn_held_again_after_a_simultaneous_open_gets_its_full_time() {
    // The first hold's expiry entry outlives it (the simultaneous open took the SYN);
    // it must not cut short a later hold of the same addresses and ports.
    let mut c = cfg(Filtering::EndpointIndependent);
    c.timers.tcp_trans = Duration::from_secs(1);
    let mut t = T::new(c);
    let syn = tcp4_flags(S4, P4, 5000, 40000, SYN);
    assert_eq!(t.send(&syn, 0.0).0, Verdict::Drop(Nat64Drop::SynHeld));
    assert_eq!(t.send(&tcp6_flags(C, S, 40000, 5000, SYN), 1.0).0, Verdict::Forward(Side::V4));
    assert_eq!(t.tcp_state(40000, 5000), Some(TcpState::Established));
    // Reset; the session ends after TCP_TRANS (1 s here), the BIB entry with it.
    let _ = t.send(&tcp6_flags(C, S, 40000, 5000, RST), 1.5);
    t.tick(2.5);
    assert_eq!(t.tcp_state(40000, 5000), None);
    // Held again at 3 s: its error is due at 9 s, not at 6 s when the old entry pops.
    assert_eq!(t.send(&syn, 3.0).0, Verdict::Drop(Nat64Drop::SynHeld));
    t.tick(8.9);
    assert!(transmitted(&mut t).is_empty());
    assert_eq!(t.e.stats().held_syns, 1);
    t.tick(9.0);
    assert_eq!(transmitted(&mut t).len(), 1);
    assert_eq!(t.e.stats().held_syns, 0);
}

#[test]
fn simultaneous_open_v6_first() {
    let mut t = T::new(cfg(Filtering::AddressDependent));
    let (_, o) = t.send(&tcp6_flags(C, S, 40000, 80, SYN), 0.0);
    let p4 = port(&o, 20);
    // Both ends send a bare SYN.
    let (v, _) = t.send(&tcp4_flags(S4, P4, 80, p4, SYN), 0.1);
    assert_eq!(v, Verdict::Forward(Side::V6));
    assert_eq!(t.tcp_state(40000, 80), Some(TcpState::Established));
}

#[test]
fn simultaneous_open_v4_first_with_endpoint_independent_filtering() {
    let mut t = T::new(cfg(Filtering::EndpointIndependent));
    // A BIB entry from an earlier connection to another server.
    let (_, o) = t.send(&tcp6_flags(C, S2, 40000, 443, SYN), 0.0);
    let p4 = port(&o, 20);
    let (v, _) = t.send(&tcp4_flags(S4, P4, 80, p4, SYN), 1.0);
    assert_eq!(v, Verdict::Forward(Side::V6));
    assert_eq!(t.tcp_state(40000, 80), Some(TcpState::V4Init));
    let (v, _) = t.send(&tcp6_flags(C, S, 40000, 80, SYNACK), 2.0);
    assert_eq!(v, Verdict::Forward(Side::V4));
    assert_eq!(t.tcp_state(40000, 80), Some(TcpState::Established));
    // A V4 INIT nobody answers lives TCP_INCOMING_SYN (6 s).
    let _ = t.send(&tcp4_flags(S4, P4, 81, p4, SYN), 10.0);
    assert_eq!(t.tcp_state(40000, 81), Some(TcpState::V4Init));
    t.tick(15.9);
    assert_eq!(t.tcp_state(40000, 81), Some(TcpState::V4Init));
    t.tick(16.0);
    assert_eq!(t.tcp_state(40000, 81), None);
}

#[test]
fn hairpinning_between_two_clients() {
    let mut t = T::new(cfg(Filtering::EndpointIndependent));
    // C2 has a binding (it talked to a server).
    let (_, o) = t.send(&udp6_ports(C2, S, 5000, 53, b"q"), 0.0);
    let pb = port(&o, 20);
    // C sends to C2's pool transport address through pool6.
    let dst = "64:ff9b:1::c633:6401"; // 198.51.100.1
    let (v, r) = t.send(&udp6_ports(C, dst, 6000, pb, b"hi"), 1.0);
    assert_eq!(v, Verdict::Forward(Side::V6), "hairpinned back to the IPv6 side");
    assert_eq!((v6(&r, 24), port(&r, 42)), (C2.parse().unwrap(), 5000));
    let pa = t.e.binding(Protocol::Udp, C.parse().unwrap(), 6000).unwrap();
    assert_eq!(v6(&r, 8), dst.parse::<Ipv6Addr>().unwrap());
    assert_eq!(port(&r, 40), pa.1);
    // And C2's answer reaches C the same way.
    let (v, r) = t.send(&udp6_ports(C2, dst, 5000, pa.1, b"yo"), 2.0);
    assert_eq!(v, Verdict::Forward(Side::V6));
    assert_eq!((v6(&r, 24), port(&r, 42)), (C.parse().unwrap(), 6000));
}

#[test]
fn icmpv4_error_goes_back_to_its_session() {
    let mut t = T::new(cfg(Filtering::AddressDependent));
    let (_, o) = t.send(&udp6_ports(C, S, 40000, 53, b"query"), 0.0);
    // Move the port: a second client took 40000 first? No: force a different pool port.
    let p4 = port(&o, 20);
    // A router answers Port Unreachable quoting the translated packet.
    let err = icmp4("192.0.2.77", P4, 3, 3, [0; 4], &o);
    let (v, r) = t.send(&err, 1.0);
    assert_eq!(v, Verdict::Forward(Side::V6));
    assert_eq!((r[40], r[41]), (1, 4));
    assert_eq!(v6(&r, 24), C.parse::<Ipv6Addr>().unwrap());
    // The quoted packet is the client's original: its address and port.
    assert_eq!(v6(&r, 48 + 8), C.parse::<Ipv6Addr>().unwrap());
    assert_eq!(port(&r, 88), 40000);
    let _ = p4;
    // Inner UDP checksum is right too (the whole packet was quoted).
    let inner = &r[48..];
    let l4 = &inner[40..];
    assert_eq!(finish(add(pseudo_v6(v6(inner, 8), v6(inner, 24), 17, l4.len() as u32), sum(l4))), 0);
    // An error about an unbound port is dropped.
    let mut o2 = o.clone();
    o2[20..22].copy_from_slice(&1999u16.to_be_bytes());
    let (v, _) = t.send(&icmp4("192.0.2.77", P4, 3, 3, [0; 4], &o2), 1.0);
    assert_eq!(v, Verdict::Drop(Nat64Drop::NoBinding));
}

#[test]
fn icmp_error_with_a_rewritten_port() {
    let mut t = T::new(cfg(Filtering::AddressDependent));
    // C2 takes 40000; C gets another port, so the rewrite is visible.
    let _ = t.send(&udp6_ports(C2, S, 40000, 53, b"x"), 0.0);
    let (_, o) = t.send(&udp6_ports(C, S, 40000, 53, b"query"), 0.0);
    let p4 = port(&o, 20);
    assert_ne!(p4, 40000);
    assert_eq!(p4 & 1, 0, "parity kept");
    let (v, r) = t.send(&icmp4("192.0.2.77", P4, 11, 0, [0; 4], &o), 1.0);
    assert_eq!(v, Verdict::Forward(Side::V6));
    assert_eq!(v6(&r, 24), C.parse::<Ipv6Addr>().unwrap());
    assert_eq!(port(&r, 88), 40000);
    // ICMPv6 error from the client about the server's (translated) answer.
    let (_, a) = t.send(&udp4_ports(S4, P4, 53, p4, b"answer"), 2.0);
    assert_eq!(port(&a, 42), 40000);
    let err6 = icmp6(C, S, 1, 4, [0; 4], &a);
    let (v, r) = t.send(&err6, 3.0);
    assert_eq!(v, Verdict::Forward(Side::V4));
    assert_eq!((r[20], r[21]), (3, 3));
    assert_eq!(v4(&r, 12), P4.parse::<Ipv4Addr>().unwrap());
    assert_eq!(v4(&r, 16), S4.parse::<Ipv4Addr>().unwrap());
    // Inner: server → pool address and port.
    assert_eq!(v4(&r, 28 + 16), P4.parse::<Ipv4Addr>().unwrap());
    assert_eq!(port(&r, 50), p4);
    let inner = &r[28..];
    let l4 = &inner[20..];
    assert_eq!(finish(add(pseudo_v4(v4(inner, 12), v4(inner, 16), 17, l4.len() as u16), sum(l4))), 0);
}

#[test]
fn limits_hold_under_a_flood_and_established_flows_keep_working() {
    let mut c = cfg(Filtering::AddressDependent);
    c.max_sessions = 50;
    c.max_sessions_per_source = 10;
    let mut t = T::new(c);
    let p4 = t.establish(0.0, 0.1);
    // One source floods: it stops at its own limit.
    let mut source_limited = 0;
    for i in 0..100u16 {
        let (v, _) = t.send(&udp6_ports(C, S, 1000 + i, 53, b"x"), 1.0);
        // Refused: answered with an ICMPv6 error while the rate allows, dropped after.
        if v != Verdict::Forward(Side::V4) {
            source_limited += 1;
        }
    }
    assert_eq!(source_limited, 100 - 9);
    // Many sources flood: the table stops at its limit.
    let mut table_limited = 0;
    for i in 0..200u16 {
        let src = format!("2001:db8:1::{i:x}");
        let (v, _) = t.send(&udp6_ports(&src, S, 2000 + i, 53, b"x"), 2.0);
        if v != Verdict::Forward(Side::V4) {
            table_limited += 1;
        }
    }
    assert_eq!(t.e.stats().sessions, 50);
    assert_eq!(table_limited, 200 - 40);
    // Every refusal counted once, answered (as the ICMP error rate allows) or silently.
    let c = t.e.counters();
    assert_eq!(c.dropped(Nat64Drop::SessionLimit) + c.answered(Nat64Drop::SessionLimit), 160, "{c}");
    assert_eq!(c.dropped(Nat64Drop::SourceLimit) + c.answered(Nat64Drop::SourceLimit), 91, "{c}");
    assert_eq!(c.answered_total(), c.replied, "{c}");
    // The established connection still works both ways.
    let (v, _) = t.send(&tcp6_flags(C, S, 40000, 80, ACK), 3.0);
    assert_eq!(v, Verdict::Forward(Side::V4));
    let (v, _) = t.send(&tcp4_flags(S4, P4, 80, p4, ACK), 3.0);
    assert_eq!(v, Verdict::Forward(Side::V6));
}

#[test]
fn port_allocation_keeps_range_and_parity() {
    let pool6 = Pool6::new("64:ff9b:1::/96".parse().unwrap()).unwrap();
    let pool4 = vec![Pool4Range::new("198.51.100.1/32".parse().unwrap(), 1, 65535)];
    let c = Nat64Config::new(pool6, pool4, "192.0.2.1".parse().unwrap(), "2001:db8:ffff::1".parse().unwrap());
    let mut t = T::new(c);
    for (i, sport) in [53u16, 53, 53, 40001, 40001, 40001, 1023, 1023].into_iter().enumerate() {
        let src = format!("2001:db8:2::{}", i + 1);
        let (v, o) = t.send(&udp6_ports(&src, S, sport, 53, b"x"), 0.0);
        assert_eq!(v, Verdict::Forward(Side::V4));
        let got = port(&o, 20);
        assert_eq!(got & 1, sport & 1, "parity of {sport} → {got}");
        assert_eq!(got < 1024, sport < 1024, "range of {sport} → {got}");
    }
}

#[test]
fn pool_exhaustion_is_counted() {
    let pool6 = Pool6::new("64:ff9b:1::/96".parse().unwrap()).unwrap();
    let pool4 = vec![Pool4Range::new("198.51.100.1/32".parse().unwrap(), 2000, 2003)];
    let c = Nat64Config::new(pool6, pool4, "192.0.2.1".parse().unwrap(), "2001:db8:ffff::1".parse().unwrap());
    let mut t = T::new(c);
    for i in 0..4 {
        let (v, _) = t.send(&udp6_ports(&format!("2001:db8:3::{}", i + 1), S, 5000, 53, b"x"), 0.0);
        assert_eq!(v, Verdict::Forward(Side::V4));
    }
    let (v, _) = t.send(&udp6_ports("2001:db8:3::99", S, 5000, 53, b"x"), 0.0);
    assert_eq!(v, Verdict::Reply(Side::V6), "refused with an ICMPv6 error");
    assert_eq!(t.e.counters().answered(Nat64Drop::PoolExhausted), 1);
    // An existing binding gets new sessions without a new port.
    let (v, _) = t.send(&udp6_ports("2001:db8:3::1", S2, 5000, 53, b"x"), 0.0);
    assert_eq!(v, Verdict::Forward(Side::V4));
}

/// Checks that `e` is the ICMPv6 Destination Unreachable, Address Unreachable (type 1,
/// code 3) that the translator (own address `2001:db8:ffff::1`) sends back about `pkt`:
/// addresses, lengths, the unused word, the quote (all of `pkt`, under 1280 bytes) and
/// the checksum, computed here with the independent sum of the SIIT tests.
fn assert_address_unreachable(e: &[u8], pkt: &[u8]) {
    assert_eq!(e[0] >> 4, 6, "IPv6");
    assert_eq!(e[6], 58, "ICMPv6");
    assert!(e[7] > 1, "a hop limit that reaches the client");
    assert_eq!(v6(e, 8), "2001:db8:ffff::1".parse::<Ipv6Addr>().unwrap(), "from the translator");
    assert_eq!(v6(e, 24), v6(pkt, 8), "to the refused packet's source");
    assert_eq!(usize::from(port(e, 4)), e.len() - 40, "payload length");
    assert_eq!((e[40], e[41]), (1, 3), "Destination Unreachable, Address Unreachable");
    assert_eq!(&e[44..48], &[0; 4], "unused");
    assert_eq!(&e[48..], pkt, "the whole invoking packet is quoted");
    assert!(e.len() <= 1280);
    let len = ((e.len() - 40) as u32).to_be_bytes();
    let ck = common::naive_sum(&[&e[8..40], &len, &[0, 0, 0, 58], &e[40..42], &e[44..]]);
    assert_eq!(port(e, 42), ck, "ICMPv6 checksum");
}

/// A pool of four ports (2000–2003) on one address.
fn tiny_pool() -> Nat64Config {
    let pool6 = Pool6::new("64:ff9b:1::/96".parse().unwrap()).unwrap();
    let pool4 = vec![Pool4Range::new("198.51.100.1/32".parse().unwrap(), 2000, 2003)];
    Nat64Config::new(pool6, pool4, "192.0.2.1".parse().unwrap(), "2001:db8:ffff::1".parse().unwrap())
}

#[test]
fn pool_exhaustion_answers_address_unreachable_for_udp_tcp_and_icmp() {
    let mut t = T::new(tiny_pool());
    for i in 0..4 {
        let (v, _) = t.send(&udp6_ports(&format!("2001:db8:3::{}", i + 1), S, 5000, 53, b"x"), 0.0);
        assert_eq!(v, Verdict::Forward(Side::V4));
    }
    // RFC 6146 §3.5.1.1 (UDP; TCP by §3.5.2.2) and §3.5.3 (ICMP queries): no IPv4
    // transport address left, so Destination Unreachable, code 3. TCP and ICMP have
    // their own BIBs: fill those too.
    for i in 0..4 {
        let c = format!("2001:db8:3::{}", i + 1);
        assert_eq!(t.send(&tcp6_flags(&c, S, 5000, 80, SYN), 0.0).0, Verdict::Forward(Side::V4));
        assert_eq!(t.send(&echo6(&c, S, 7, 1, b"ping"), 0.0).0, Verdict::Forward(Side::V4));
    }
    let before = t.e.counters().replied;
    let udp = udp6_ports("2001:db8:3::99", S, 5000, 53, b"refused udp");
    let tcp = tcp6_flags("2001:db8:3::99", S, 5000, 80, SYN);
    let icmp = echo6("2001:db8:3::99", S, 7, 1, b"refused ping");
    for (i, pkt) in [udp, tcp, icmp].iter().enumerate() {
        let (v, e) = t.send(pkt, 0.0);
        assert_eq!(v, Verdict::Reply(Side::V6), "refusal {i}");
        assert_address_unreachable(&e, pkt);
        assert_eq!(t.e.counters().answered(Nat64Drop::PoolExhausted), i as u64 + 1);
    }
    assert_eq!(t.e.counters().replied, before + 3, "each error counted as a reply");
    assert_eq!((t.e.stats().bib, t.e.stats().sessions), (12, 12), "no state for the refused");
}

#[test]
fn a_full_pool_is_refused_at_once_until_a_port_is_freed() {
    let mut c = tiny_pool();
    c.timers.udp = Duration::from_secs(300);
    let mut t = T::new(c);
    for i in 0..4 {
        let (v, _) = t.send(&udp6_ports(&format!("2001:db8:3::{}", i + 1), S, 5000, 53, b"x"), f64::from(i));
        assert_eq!(v, Verdict::Forward(Side::V4));
    }
    // Refused (found full, then known full) at every instant up to the first expiry...
    for (i, secs) in [10.0, 10.0, 10.05, 200.0, 299.9].into_iter().enumerate() {
        let (v, _) = t.send(&udp6_ports(&format!("2001:db8:4::{i:x}"), S, 5000, 53, b"x"), secs);
        assert_eq!(v, Verdict::Reply(Side::V6), "refusal {i}");
    }
    // ... and when the oldest binding expires (at 300 s) its port serves the next flow at
    // once, not a tick later.
    t.tick(300.05);
    assert_eq!(t.e.stats().bib, 3);
    let (v, o) = t.send(&udp6_ports("2001:db8:4::99", S, 5000, 53, b"x"), 300.05);
    assert_eq!(v, Verdict::Forward(Side::V4));
    assert!((2000..=2003).contains(&port(&o, 20)));
    assert_eq!(t.e.counters().answered(Nat64Drop::PoolExhausted), 5);
}

#[test]
fn session_and_source_limits_answer_address_unreachable() {
    let mut c = cfg(Filtering::AddressDependent);
    c.max_sessions = 3;
    c.max_sessions_per_source = 2;
    let mut t = T::new(c);
    for p in [1000, 1001] {
        assert_eq!(t.send(&udp6_ports(C, S, p, 53, b"x"), 0.0).0, Verdict::Forward(Side::V4));
    }
    // The per-source limit: a third flow from C, even on an existing binding.
    let pkt = udp6_ports(C, S2, 1000, 53, b"third");
    let (v, e) = t.send(&pkt, 0.0);
    assert_eq!(v, Verdict::Reply(Side::V6));
    assert_address_unreachable(&e, &pkt);
    assert_eq!(t.e.counters().answered(Nat64Drop::SourceLimit), 1);
    // The session limit: the table holds 3.
    assert_eq!(t.send(&udp6_ports(C2, S, 1000, 53, b"x"), 0.0).0, Verdict::Forward(Side::V4));
    let pkt = tcp6_flags(C2, S, 1001, 80, SYN);
    let (v, e) = t.send(&pkt, 0.0);
    assert_eq!(v, Verdict::Reply(Side::V6));
    assert_address_unreachable(&e, &pkt);
    assert_eq!(t.e.counters().answered(Nat64Drop::SessionLimit), 1);
    assert_eq!(t.e.counters().replied, 2);
    assert_eq!(t.e.stats().sessions, 3);
    // A refused TCP segment that is not a SYN opens nothing and gets no error
    // (RFC 6146 §3.5.2.2 CLOSED: silently dropped).
    assert_eq!(t.send(&tcp6_flags(C2, S, 1002, 80, ACK), 0.0).0, Verdict::Drop(Nat64Drop::TcpNotSyn));
}

#[test]
fn refusal_errors_are_rate_limited_and_counted() {
    let mut c = tiny_pool();
    c.xlate.icmp_rate.per_second = 1;
    c.xlate.icmp_rate.burst = 3;
    let mut t = T::new(c);
    for i in 0..4 {
        let _ = t.send(&udp6_ports(&format!("2001:db8:3::{}", i + 1), S, 5000, 53, b"x"), 0.0);
    }
    let refuse =
        |t: &mut T, i: u32, secs: f64| t.send(&udp6_ports(&format!("2001:db8:4::{i:x}"), S, 5000, 53, b"x"), secs).0;
    let v: Vec<_> = (0..10).map(|i| refuse(&mut t, i, 1.0)).collect();
    assert_eq!(v.iter().filter(|v| **v == Verdict::Reply(Side::V6)).count(), 3, "the burst");
    assert_eq!(v.iter().filter(|v| **v == Verdict::Drop(Nat64Drop::PoolExhausted)).count(), 7);
    assert_eq!(t.e.icmp_suppressed(), 7);
    let c = t.e.counters();
    assert_eq!(
        c.dropped(Nat64Drop::PoolExhausted) + c.answered(Nat64Drop::PoolExhausted),
        10,
        "every refusal counted once"
    );
    assert_eq!((c.replied, c.answered(Nat64Drop::PoolExhausted)), (3, 3));
    // One a second: one more a second later, not two.
    assert_eq!(refuse(&mut t, 100, 2.0), Verdict::Reply(Side::V6));
    assert_eq!(refuse(&mut t, 101, 2.0), Verdict::Drop(Nat64Drop::PoolExhausted));
    // The bucket is the one the engine's other errors use: the Port Unreachable for a
    // held SYN (RFC 6146 §3.5.2.2, TCP_INCOMING_SYN 6 s) takes a token of the refilled
    // bucket, which leaves two for refusals.
    assert_eq!(t.send(&tcp4_flags(S4, P4, 80, 2000, SYN), 2.0).0, Verdict::Drop(Nat64Drop::SynHeld));
    t.tick(8.05);
    let (_, to_v4) = transmitted_by_side(&mut t);
    assert_eq!(to_v4.len(), 1, "the held SYN's Port Unreachable");
    let v: Vec<_> = (200..205).map(|i| refuse(&mut t, i, 8.05)).collect();
    assert_eq!(v.iter().filter(|v| **v == Verdict::Reply(Side::V6)).count(), 2);
    // A source that must not get an error (RFC 4443 §2.4(e)): none, counted.
    let supp = t.e.icmp_suppressed();
    let (v, _) = t.send(&udp6_ports("::", S, 5000, 53, b"x"), 30.0);
    assert_eq!(v, Verdict::Drop(Nat64Drop::PoolExhausted));
    assert_eq!(t.e.icmp_suppressed(), supp + 1);
}

#[test]
fn new_flow_budget_refuses_silently_and_spares_established_flows() {
    let mut c = cfg(Filtering::AddressDependent);
    c.max_new_sessions_per_second = 100;
    c.new_sessions_burst = 5;
    let mut t = T::new(c);
    let p4 = t.establish(0.0, 0.0);
    // A flood of new flows at one instant: the burst's 4 remaining tokens, then refusals,
    // with no ICMP error (RFC 4443 §3.1: not for congestion).
    let mut created = 0;
    for i in 0..50u32 {
        let (v, _) = t.send(&udp6_ports(&format!("2001:db8:5::{i:x}"), S, 3000, 53, b"x"), 0.0);
        match v {
            Verdict::Forward(Side::V4) => created += 1,
            Verdict::Drop(Nat64Drop::NewFlowBudget) => {}
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(created, 4);
    assert_eq!(t.e.counters().dropped(Nat64Drop::NewFlowBudget), 46);
    assert_eq!(t.e.counters().replied, 0);
    assert_eq!(t.e.icmp_suppressed(), 0, "not an error withheld: none is due");
    // Established traffic goes on, both ways, and so does a known flow's.
    assert_eq!(t.send(&tcp6_flags(C, S, 40000, 80, ACK), 0.0).0, Verdict::Forward(Side::V4));
    assert_eq!(t.send(&tcp4_flags(S4, P4, 80, p4, ACK), 0.0).0, Verdict::Forward(Side::V6));
    assert_eq!(t.send(&udp6_ports("2001:db8:5::0", S, 3000, 53, b"x"), 0.0).0, Verdict::Forward(Side::V4));
    // 100 ms later, 10 tokens earned, at most the burst kept.
    let mut later = 0;
    for i in 0..50u32 {
        let (v, _) = t.send(&udp6_ports(&format!("2001:db8:6::{i:x}"), S, 3000, 53, b"x"), 0.1);
        later += usize::from(v == Verdict::Forward(Side::V4));
    }
    assert_eq!(later, 5, "the burst refilled to at most 5 (10 tokens earned)");
    // 0 disables it.
    let mut c = cfg(Filtering::AddressDependent);
    c.max_new_sessions_per_second = 0;
    let mut t = T::new(c);
    for i in 0..500u32 {
        assert_eq!(
            t.send(&udp6_ports(&format!("2001:db8:5::{i:x}"), S, 3000, 53, b"x"), 0.0).0,
            Verdict::Forward(Side::V4)
        );
    }
}

#[test]
fn new_flow_budget_covers_flows_opened_from_ipv4() {
    let mut c = cfg(Filtering::EndpointIndependent);
    c.max_new_sessions_per_second = 10;
    c.new_sessions_burst = 2;
    let mut t = T::new(c);
    let (_, o) = t.send(&udp6_ports(C, S, 40000, 53, b"q"), 0.0);
    let p4 = port(&o, 20);
    // One token left: one new IPv4 remote gets a session, the next is refused silently.
    assert_eq!(t.send(&udp4_ports(S24, P4, 53, p4, b"a"), 0.0).0, Verdict::Forward(Side::V6));
    assert_eq!(t.send(&udp4_ports("203.0.113.7", P4, 53, p4, b"a"), 0.0).0, Verdict::Drop(Nat64Drop::NewFlowBudget));
    // The established one still answers.
    assert_eq!(t.send(&udp4_ports(S4, P4, 53, p4, b"a"), 0.0).0, Verdict::Forward(Side::V6));
}

/// An engine without a creation budget, over 16 pool addresses.
fn big() -> T {
    let mut c = cfg(Filtering::AddressDependent);
    c.max_new_sessions_per_second = 0;
    c.pool4 = vec![Pool4Range::new("198.51.100.0/28".parse().unwrap(), 1024, 65535)];
    T::new(c)
}

/// `n` more UDP sessions, each from its own source, created at the engine's start.
fn fill(t: &mut T, n: u32) {
    let mut b = PacketBuf::new();
    let tmpl = udp6_ports("2001:db8:7::", S, 1024, 53, b"x");
    for i in 0..n {
        let _ = b.set(&tmpl);
        b.as_mut_slice()[20..24].copy_from_slice(&i.to_be_bytes());
        assert_eq!(t.e.process(&mut b, t.t0), Verdict::Forward(Side::V4));
    }
}

#[test]
fn mass_expiry_runs_in_slices_and_gives_memory_back() {
    use sixgate_nat64::stateful::EXPIRY_SLICE;
    let n = 80 * EXPIRY_SLICE as u32 + 77;
    let mut t = big();
    // One session, created first, stays alive throughout (refreshed now and then).
    let keep = udp6_ports(C, S, 4000, 53, b"k");
    assert_eq!(t.send(&keep, 0.0).0, Verdict::Forward(Side::V4));
    fill(&mut t, n);
    for secs in [60.0, 120.0, 180.0, 240.0, 290.0] {
        assert_eq!(t.send(&keep, secs).0, Verdict::Forward(Side::V4));
    }
    assert_eq!(t.e.stats().sessions, n as usize + 1);
    let full = t.e.table_bytes();
    // At 301 s every other session is due: each wake-up deletes at most a slice and,
    // while some are left, the timer queue says "now" (a deadline already passed).
    let now = t.at(301.0);
    let mut calls = 0;
    let mut left = t.e.stats().sessions;
    while t.e.poll_timeout().is_some_and(|d| d <= now) {
        t.e.handle_timeout(now);
        calls += 1;
        let s = t.e.stats().sessions;
        assert!(left - s <= EXPIRY_SLICE, "{} deleted in one call", left - s);
        left = s;
        if calls % 20 == 0 {
            t.e.check_invariants().unwrap();
        }
        assert!(calls < 1000, "expiry does not end");
    }
    // n entries and the survivor's own (requeued at its later expiry), then perhaps a few
    // calls that only give memory back (a slab or a hash index each).
    let slices = (n as usize + 1).div_ceil(EXPIRY_SLICE);
    assert!((slices..slices + 12).contains(&calls), "{calls} calls for {slices} slices");
    assert_eq!((t.e.stats().sessions, t.e.stats().bib), (1, 1));
    assert!(t.e.poll_timeout().unwrap() > now, "nothing due is left");
    assert_eq!(t.e.counters().dropped_total(), 0);
    // The survivor still works, and the memory of the others is given back.
    assert_eq!(t.send(&keep, 301.0).0, Verdict::Forward(Side::V4));
    let after = t.e.table_bytes();
    // What is left: about one slab chunk of each kind (4,096 entries).
    assert!(after * 8 < full, "{after} bytes of tables left of {full}");
    // The tables work after shrinking: new sessions, and their expiry.
    for i in 0..3 * EXPIRY_SLICE as u16 {
        let mut b = PacketBuf::from_slice(&udp6_ports(&format!("2001:db8:8::{i:x}"), S, 5000, 53, b"x"));
        assert_eq!(t.e.process(&mut b, t.at(302.0)), Verdict::Forward(Side::V4));
    }
    t.e.check_invariants().unwrap();
    assert_eq!(t.e.stats().sessions, 1 + 3 * EXPIRY_SLICE);
    t.tick(302.0 + 301.0);
    assert_eq!((t.e.stats().sessions, t.e.stats().bib, t.e.stats().timers), (0, 0, 0));
    assert_eq!(t.e.counters().forwarded, u64::from(n) + 7 + 3 * EXPIRY_SLICE as u64);
}

#[test]
fn expiry_slice_is_a_bound_for_every_kind_of_work() {
    // Idle established TCP sessions are probed (and requeued) rather than deleted; stale
    // queue entries are skipped: each counts against the slice.
    let mut c = cfg(Filtering::AddressDependent);
    c.max_new_sessions_per_second = 0;
    let mut t = T::new(c);
    for i in 0..40u16 {
        let (_, o) = t.send(&tcp6_flags(C, S, 10000 + i, 80, SYN), 0.0);
        let _ = t.send(&tcp4_flags(S4, P4, 80, port(&o, 20), SYNACK), 0.0);
    }
    t.e.set_expiry_slice(7);
    let now = t.at(2.0 * 3600.0 + 4.0 * 60.0 + 1.0);
    let mut calls = 0;
    while t.e.poll_timeout().is_some_and(|d| d <= now) {
        t.e.handle_timeout(now);
        calls += 1;
    }
    // 40 entries, each a probe (both lifetimes have passed).
    assert_eq!(calls, 40usize.div_ceil(7));
    let (to_v6, _) = transmitted_by_side(&mut t);
    assert_eq!(to_v6.len(), 40, "one probe each");
}

#[test]
fn refused_packets_leave_no_state() {
    let mut t = T::new(cfg(Filtering::AddressDependent));
    // A zero IPv6 UDP checksum is refused by the header translator after the session
    // was tentatively created: it must be rolled back.
    let mut p = udp6_ports(C, S, 40000, 53, b"q");
    p[46] = 0;
    p[47] = 0;
    let (v, _) = t.send(&p, 0.0);
    assert_eq!(v, Verdict::Drop(Nat64Drop::Xlate(SiitDrop::Udp6ZeroChecksum)));
    assert_eq!(t.e.stats().sessions, 0);
    assert_eq!(t.e.stats().bib, 0);
    // A first fragment without a binding is refused like a whole packet; ICMP fragments
    // are refused and counted (RFC 7915 §1.2).
    let mut f = udp4_ports(S4, P4, 53, 40000, b"a");
    f[6] = 0x20;
    fix_ipv4_checksum(&mut f);
    assert_eq!(t.send(&f, 0.0).0, Verdict::Drop(Nat64Drop::NoBinding));
    let mut f = echo_reply4(S4, P4, 40000, 1, b"a");
    f[6] = 0x20;
    fix_ipv4_checksum(&mut f);
    assert_eq!(t.send(&f, 0.0).0, Verdict::Drop(Nat64Drop::Xlate(SiitDrop::FragmentedIcmp)));
    assert_eq!((t.e.stats().sessions, t.e.stats().bib), (0, 0));
}

#[test]
fn drop_reason_names_are_unique() {
    use sixgate_core::engine::Reason;
    let mut names: Vec<_> = Nat64Drop::ALL.iter().map(|r| r.name()).collect();
    for (i, r) in Nat64Drop::ALL.iter().enumerate() {
        assert_eq!(r.index(), i);
    }
    names.sort_unstable();
    let n = names.len();
    names.dedup();
    assert_eq!(names.len(), n);
}

// ------------------------------------------------------------------ properties

#[derive(Debug, Clone)]
enum Op {
    /// Client `c` sends proto `p` from port `sp` to server `s` port `dp`, TCP flags `f`.
    Out { c: u8, s: u8, p: u8, sp: u16, dp: u16, f: u8 },
    /// Server `s` sends to pool port `pp` (index into the bindings seen so far).
    In { s: u8, p: u8, sp: u16, pick: u8, f: u8 },
    /// Time passes.
    Wait(u32),
}

fn op() -> impl Strategy<Value = Op> {
    let flags = prop::sample::select(vec![SYN, ACK, FIN, RST, SYNACK]);
    prop_oneof![
        (0u8..4, 0u8..3, 0u8..3, 1000u16..1008, 1u16..4, flags.clone()).prop_map(|(c, s, p, sp, dp, f)| Op::Out {
            c,
            s,
            p,
            sp,
            dp,
            f
        }),
        (0u8..3, 0u8..3, 1u16..4, any::<u8>(), flags).prop_map(|(s, p, sp, pick, f)| Op::In { s, p, sp, pick, f }),
        prop_oneof![0u32..5_000, 0u32..400_000, 0u32..8_000_000].prop_map(Op::Wait),
    ]
}

fn client(i: u8) -> String {
    format!("2001:db8:9::{}", i + 1)
}
fn server4(i: u8) -> String {
    format!("203.0.113.{}", i + 1)
}
fn server6(i: u8) -> String {
    format!("64:ff9b:1::cb00:71{:02x}", i + 1)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// Any sequence keeps the tables consistent (BIB one-to-one, counts right), and every
    /// packet that goes out and comes back is translated back to its original tuple.
    #[test]
    fn any_sequence_keeps_invariants_and_round_trips(
        ops in prop::collection::vec(op(), 1..60),
        eif in any::<bool>(),
    ) {
        let mut c = cfg(if eif { Filtering::EndpointIndependent } else { Filtering::AddressDependent });
        c.pool4 = vec![Pool4Range::new("198.51.100.0/31".parse().unwrap(), 1000, 1011)];
        c.max_sessions = 20;
        c.max_sessions_per_source = 8;
        let mut t = T::new(c);
        let mut now = 0.0f64;
        let mut seen: Vec<(u8, Ipv4Addr, u16)> = Vec::new();
        for op in ops {
            match op {
                Op::Wait(ms) => {
                    now += f64::from(ms) / 1000.0;
                    t.tick(now);
                }
                Op::Out { c, s, p, sp, dp, f } => {
                    let (cl, sv) = (client(c), server6(s));
                    let pkt = match p {
                        0 => tcp6_flags(&cl, &sv, sp, dp, f),
                        1 => udp6_ports(&cl, &sv, sp, dp, b"x"),
                        _ => echo6(&cl, &sv, sp, 1, b"x"),
                    };
                    let (v, o) = t.send(&pkt, now);
                    if v == Verdict::Forward(Side::V4) {
                        let a = v4(&o, 12);
                        let pp = if p == 2 { port(&o, 24) } else { port(&o, 20) };
                        let proto = [Protocol::Tcp, Protocol::Udp, Protocol::Icmp][usize::from(p)];
                        // The binding the packet used is the one the BIB holds.
                        prop_assert_eq!(t.e.binding(proto, cl.parse().unwrap(), sp), Some((a, pp)));
                        prop_assert_eq!(t.e.binding_v4(proto, a, pp), Some((cl.parse().unwrap(), sp)));
                        seen.push((p, a, pp));
                        // A reply now must come back to the original tuple (ICMP: echo reply).
                        let sv4 = server4(s);
                        let back = match p {
                            0 => tcp4_flags(&sv4, &a.to_string(), dp, pp, ACK),
                            1 => udp4_ports(&sv4, &a.to_string(), dp, pp, b"y"),
                            _ => echo_reply4(&sv4, &a.to_string(), pp, 1, b"y"),
                        };
                        let (v, r) = t.send(&back, now);
                        prop_assert_eq!(v, Verdict::Forward(Side::V6));
                        prop_assert_eq!(v6(&r, 24), cl.parse::<Ipv6Addr>().unwrap());
                        prop_assert_eq!(v6(&r, 8), sv.parse::<Ipv6Addr>().unwrap());
                        let got = if p == 2 { port(&r, 44) } else { port(&r, 42) };
                        prop_assert_eq!(got, sp);
                    }
                }
                Op::In { s, p, sp, pick, f } => {
                    let (proto_i, a, pp) = if seen.is_empty() {
                        (p, "198.51.100.0".parse().unwrap(), 1000)
                    } else {
                        seen[usize::from(pick) % seen.len()]
                    };
                    let sv4 = server4(s);
                    let pkt = match proto_i {
                        0 => tcp4_flags(&sv4, &a.to_string(), sp, pp, f),
                        1 => udp4_ports(&sv4, &a.to_string(), sp, pp, b"z"),
                        _ => echo_reply4(&sv4, &a.to_string(), pp, 1, b"z"),
                    };
                    let _ = t.send(&pkt, now);
                }
            }
        }
        // Everything expires eventually, leaving empty tables.
        t.tick(now + 3.0 * 3600.0);
        prop_assert_eq!(t.e.stats(), Default::default());
    }
}

#[test]
fn shards_split_the_port_ranges_and_steer_return_traffic() {
    let base = cfg(Filtering::AddressDependent);
    let n = 3;
    let mut covered = 0u32;
    let mut engines: Vec<Nat64> = (0..n).map(|k| Nat64::new(base.shard(k, n)).unwrap()).collect();
    for k in 0..n {
        let r = base.shard(k, n).pool4[0];
        covered += u32::from(r.last - r.first) + 1;
        for other in 0..k {
            let o = base.shard(other, n).pool4[0];
            assert!(r.first > o.last || r.last < o.first, "shards {k} and {other} overlap");
        }
    }
    assert_eq!(covered, 65535 - 1024 + 1);
    let now = Instant::now();
    for (k, e) in engines.iter_mut().enumerate() {
        let mut b = PacketBuf::from_slice(&udp6_ports(C, S, 40000, 53, b"q"));
        assert_eq!(e.process(&mut b, now), Verdict::Forward(Side::V4));
        let p4 = port(&b, 20);
        assert_eq!(base.shard_of_v4(P4.parse().unwrap(), p4, n), Some(k), "port {p4}");
    }
    assert_eq!(base.shard_of_v4("198.51.100.9".parse().unwrap(), 2000, n), None);
}

#[test]
fn icmp_errors_about_echo_and_tcp_restore_identifier_and_port() {
    let mut t = T::new(cfg(Filtering::AddressDependent));
    // Echo: the identifier 7 is outside the pool range, so it is rewritten.
    let (_, o) = t.send(&echo6(C, S, 7, 1, b"ping"), 0.0);
    let id = port(&o, 24);
    assert_ne!(id, 7);
    let (v, r) = t.send(&icmp4("192.0.2.77", P4, 11, 0, [0; 4], &o), 1.0);
    assert_eq!(v, Verdict::Forward(Side::V6));
    assert_eq!((r[40], r[41]), (3, 0));
    let inner = &r[48..];
    assert_eq!((inner[40], port(inner, 44)), (128, 7), "inner echo request with the client's identifier");
    let l4 = &inner[40..];
    assert_eq!(finish(add(pseudo_v6(v6(inner, 8), v6(inner, 24), 58, l4.len() as u32), sum(l4))), 0);
    // TCP, with C2 holding the client's port so it is rewritten.
    let _ = t.send(&tcp6_flags(C2, S, 40000, 80, SYN), 2.0);
    let (_, o) = t.send(&tcp6_flags(C, S, 40000, 80, SYN), 2.0);
    let p4 = port(&o, 20);
    assert_ne!(p4, 40000);
    let (v, r) = t.send(&icmp4("192.0.2.77", P4, 3, 1, [0; 4], &o), 3.0);
    assert_eq!(v, Verdict::Forward(Side::V6));
    let inner = &r[48..];
    assert_eq!(port(inner, 40), 40000);
    let l4 = &inner[40..];
    assert_eq!(finish(add(pseudo_v6(v6(inner, 8), v6(inner, 24), 6, l4.len() as u32), sum(l4))), 0);
    // The error does not touch the session: still V6 INIT.
    assert_eq!(t.tcp_state(40000, 80), Some(TcpState::V6Init));
}

// ------------------------------------------------------------------ fragments

/// Reassembles translated fragments (either family) and checks the transport checksum of
/// the whole datagram; returns the transport bytes.
fn reassemble(frags: &[Vec<u8>]) -> Vec<u8> {
    let mut parts: Vec<(usize, bool, Vec<u8>)> = frags
        .iter()
        .map(|p| {
            if p[0] >> 4 == 4 {
                assert_eq!(finish(sum(&p[..20])), 0, "IPv4 header checksum");
                let ff = port(p, 6);
                (usize::from(ff & 0x1fff) * 8, ff & 0x2000 != 0, p[20..].to_vec())
            } else {
                assert_eq!(p[6], 44, "a fragment header");
                let fo = port(p, 42);
                (usize::from(fo & 0xfff8), fo & 1 == 1, p[48..].to_vec())
            }
        })
        .collect();
    parts.sort_by_key(|x| x.0);
    let mut data = Vec::new();
    for (off, _, d) in &parts {
        assert_eq!(*off, data.len(), "fragments leave no hole");
        data.extend_from_slice(d);
    }
    assert!(!parts.last().unwrap().1, "the last fragment has M clear");
    let p = &frags[0];
    let ps = if p[0] >> 4 == 4 {
        let ids: Vec<u16> = frags.iter().map(|f| port(f, 4)).collect();
        assert!(ids.iter().all(|&i| i == ids[0]), "one identification");
        pseudo_v4(v4(p, 12), v4(p, 16), p[9], data.len() as u16)
    } else {
        let ids: Vec<u32> = frags.iter().map(|f| u32::from_be_bytes([f[44], f[45], f[46], f[47]])).collect();
        assert!(ids.iter().all(|&i| i == ids[0]), "one identification");
        pseudo_v6(v6(p, 8), v6(p, 24), p[40], data.len() as u32)
    };
    assert_eq!(finish(add(ps, sum(&data))), 0, "transport checksum of the reassembled datagram");
    data
}

impl T {
    /// Processes a fragment (no per-packet checksum check: fragments carry part of the
    /// datagram); returns the verdict, the buffer and what `poll_transmit` then gives.
    fn send_frag(&mut self, pkt: &[u8], secs: f64) -> (Verdict<Nat64Drop>, Vec<u8>, Vec<Vec<u8>>) {
        self.tick(secs);
        let mut b = PacketBuf::from_slice(pkt);
        let v = self.e.process(&mut b, self.at(secs));
        let out = b.as_slice().to_vec();
        let mut more = Vec::new();
        while self.e.poll_transmit(&mut b).is_some() {
            more.push(b.as_slice().to_vec());
        }
        self.e.check_invariants().unwrap();
        (v, out, more)
    }
}

fn udp6_big() -> Vec<u8> {
    udp6_ports(C, S, 6000, 53, &(0..100u8).collect::<Vec<_>>())
}

#[test]
fn fragments_in_order_follow_the_first_fragments_session() {
    let mut t = T::new(cfg(Filtering::AddressDependent));
    let [f1, f2] = frag6(&udp6_big(), 0x1234_5678, 32);
    let (v, o1, _) = t.send_frag(&f1, 0.0);
    assert_eq!(v, Verdict::Forward(Side::V4));
    let (v, o2, _) = t.send_frag(&f2, 0.1);
    assert_eq!(v, Verdict::Forward(Side::V4));
    let (a, p4) = t.e.binding(Protocol::Udp, C.parse().unwrap(), 6000).unwrap();
    assert_eq!((v4(&o1, 12), v4(&o2, 12)), (a, a));
    assert_eq!(v4(&o2, 16), S4.parse::<Ipv4Addr>().unwrap());
    let l4 = reassemble(&[o1, o2]);
    assert_eq!((port(&l4, 0), port(&l4, 2)), (p4, 53));
    assert_eq!(t.e.stats().sessions, 1);
    // The reply, fragmented on the IPv4 side, goes back to the client's port.
    let reply = udp4_ports(S4, &a.to_string(), 53, p4, &(0..100u8).rev().collect::<Vec<_>>());
    let [r1, r2] = frag4(&reply, 0xbeef, 40);
    let (v, o1, _) = t.send_frag(&r1, 1.0);
    assert_eq!(v, Verdict::Forward(Side::V6));
    let (v, o2, _) = t.send_frag(&r2, 1.0);
    assert_eq!(v, Verdict::Forward(Side::V6));
    assert_eq!((v6(&o1, 24), v6(&o2, 24)), (C.parse().unwrap(), C.parse().unwrap()));
    let l4 = reassemble(&[o1, o2]);
    assert_eq!((port(&l4, 0), port(&l4, 2)), (53, 6000));
}

#[test]
fn a_fragment_before_its_first_one_waits_for_it() {
    let mut t = T::new(cfg(Filtering::AddressDependent));
    let [f1, f2] = frag6(&udp6_big(), 7, 32);
    let (v, _, more) = t.send_frag(&f2, 0.0);
    assert_eq!(v, Verdict::Drop(Nat64Drop::FragmentHeld));
    assert!(more.is_empty());
    assert_eq!(t.e.stats().sessions, 0, "a non-first fragment creates nothing");
    let (v, o1, more) = t.send_frag(&f1, 0.5);
    assert_eq!(v, Verdict::Forward(Side::V4));
    assert_eq!(more.len(), 1, "the waiting fragment comes out after the first");
    let l4 = reassemble(&[o1, more[0].clone()]);
    let (_, p4) = t.e.binding(Protocol::Udp, C.parse().unwrap(), 6000).unwrap();
    assert_eq!(port(&l4, 0), p4);
    // Counted once each, as forwarded: waiting was not a drop.
    assert_eq!(t.e.counters().forwarded, 2);
    assert_eq!(t.e.counters().dropped_total(), 0);
}

#[test]
fn fragments_time_out() {
    let mut t = T::new(cfg(Filtering::AddressDependent));
    // A fragment whose first fragment never comes is dropped and counted after 2 s.
    let [_, f2] = frag6(&udp6_big(), 9, 32);
    let (v, _, _) = t.send_frag(&f2, 0.0);
    assert_eq!(v, Verdict::Drop(Nat64Drop::FragmentHeld));
    assert_eq!(t.e.poll_timeout(), Some(t.at(2.0)));
    t.tick(1.9);
    assert_eq!(t.e.counters().dropped_total(), 0, "not dropped while it waits");
    t.tick(2.0);
    assert_eq!(t.e.counters().dropped(Nat64Drop::FragmentTimeout), 1);
    assert_eq!(t.e.counters().dropped_total(), 1, "one fragment lost, counted once");
    assert_eq!(t.e.poll_timeout(), None);
    // The mapping a first fragment chose serves its datagram for 2 s, not longer.
    let [f1, f2] = frag6(&udp6_big(), 10, 32);
    let (v, _, _) = t.send_frag(&f1, 3.0);
    assert_eq!(v, Verdict::Forward(Side::V4));
    let (v, _, _) = t.send_frag(&f2, 5.5);
    assert_eq!(v, Verdict::Drop(Nat64Drop::FragmentHeld));
}

#[test]
fn fragments_that_keep_coming_keep_their_mapping() {
    // RFC 6146 §4: FRAGMENT_MIN (2 s) is a minimum. A datagram whose fragments come 1.5 s
    // apart, the last 3 s after the first, is translated whole: each fragment that uses
    // the mapping keeps it another 2 s.
    let mut t = T::new(cfg(Filtering::AddressDependent));
    let fr = frag6_at(&udp6_big(), 0x77, &[32, 64]);
    let mut out = Vec::new();
    for (f, at) in fr.iter().zip([0.0, 1.5, 3.0]) {
        let (v, o, more) = t.send_frag(f, at);
        assert_eq!((v, more.len()), (Verdict::Forward(Side::V4), 0), "fragment at {at} s");
        out.push(o);
    }
    let l4 = reassemble(&out);
    let (a, p4) = t.e.binding(Protocol::Udp, C.parse().unwrap(), 6000).unwrap();
    assert_eq!((port(&l4, 0), port(&l4, 2)), (p4, 53));
    // The mapping lasts 2 s after its last use (3.0 s): a duplicate at 4.9 s still uses
    // it (and keeps it to 6.9 s); at 7.0 s it is gone and the fragment waits.
    let (v, _, _) = t.send_frag(&fr[2], 4.9);
    assert_eq!(v, Verdict::Forward(Side::V4));
    let (v, _, _) = t.send_frag(&fr[2], 7.0);
    assert_eq!(v, Verdict::Drop(Nat64Drop::FragmentHeld));
    // The same from the IPv4 side: the reply in three fragments over 3 s.
    let reply = udp4_ports(S4, &a.to_string(), 53, p4, &(0..100u8).rev().collect::<Vec<_>>());
    let mut out = Vec::new();
    for (f, at) in frag4_at(&reply, 0xbeef, &[32, 64]).iter().zip([10.0, 11.5, 13.0]) {
        let (v, o, more) = t.send_frag(f, at);
        assert_eq!((v, more.len()), (Verdict::Forward(Side::V6), 0), "fragment at {at} s");
        out.push(o);
    }
    let l4 = reassemble(&out);
    assert_eq!((port(&l4, 0), port(&l4, 2)), (53, 6000));
}

#[test]
fn every_fragment_is_counted_once() {
    // Fates: translated at once, waited then translated, waited and lost, refused for
    // want of room. Forwarded + dropped must equal the fragments sent, and a lost one is
    // `fragment-timeout`, not also `fragment-held` or `fragment`.
    let mut c = cfg(Filtering::AddressDependent);
    c.max_fragment_bytes = 200;
    let mut t = T::new(c);
    let [a1, a2] = frag6(&udp6_big(), 1, 32);
    let [_, b2] = frag6(&udp6_big(), 2, 32);
    let [_, c2] = frag6(&udp6_big(), 3, 32);
    let (v, _, _) = t.send_frag(&a2, 0.0);
    assert_eq!(v, Verdict::Drop(Nat64Drop::FragmentHeld));
    let (v, _, more) = t.send_frag(&a1, 0.1);
    assert_eq!((v, more.len()), (Verdict::Forward(Side::V4), 1));
    let (v, _, _) = t.send_frag(&b2, 0.2);
    assert_eq!(v, Verdict::Drop(Nat64Drop::FragmentHeld));
    let (v, _, _) = t.send_frag(&c2, 0.2);
    assert_eq!(v, Verdict::Drop(Nat64Drop::Fragment), "no room: 200 bytes");
    t.tick(5.0);
    let c = t.e.counters();
    assert_eq!(c.forwarded, 2);
    assert_eq!(c.dropped(Nat64Drop::FragmentTimeout), 1);
    assert_eq!(c.dropped(Nat64Drop::Fragment), 1);
    assert_eq!(c.dropped(Nat64Drop::FragmentHeld), 0);
    assert_eq!(c.forwarded + c.dropped_total(), 4, "four fragments, four counts");
}

#[test]
fn icmp_echo_fragments_are_not_translated() {
    // RFC 7915 §1.2: a fragmented echo request (6 → 4) or reply (4 → 6) is dropped and
    // counted (`fragmented-icmp`): the ICMPv6 checksum needs the whole message's length,
    // which the first fragment does not carry (see the module doc).
    let mut t = T::new(cfg(Filtering::AddressDependent));
    let req = echo6(C, S, 7, 1, &[0x5a; 100]);
    for f in frag6_at(&req, 9, &[48]) {
        let (v, _, more) = t.send_frag(&f, 0.0);
        assert_eq!((v, more.len()), (Verdict::Drop(Nat64Drop::Xlate(SiitDrop::FragmentedIcmp)), 0));
    }
    assert_eq!((t.e.stats().sessions, t.e.stats().bib), (0, 0), "no session from a fragment");
    // With a session (from a whole echo request), the fragmented reply is dropped too.
    let (_, o) = t.send(&echo6(C, S, 7, 2, b"ping"), 1.0);
    let id = port(&o, 24);
    for f in frag4_at(&echo_reply4(S4, P4, id, 2, &[0xa5; 100]), 10, &[48]) {
        let (v, _, _) = t.send_frag(&f, 1.5);
        assert_eq!(v, Verdict::Drop(Nat64Drop::Xlate(SiitDrop::FragmentedIcmp)));
    }
    assert_eq!(t.e.counters().dropped(Nat64Drop::Xlate(SiitDrop::FragmentedIcmp)), 4);
    t.tick(10.0);
    assert_eq!(t.e.counters().dropped_total(), 4, "nothing kept to be counted later");
}

#[test]
fn waiting_fragments_go_out_with_their_own_first_fragment_only() {
    // Second fragments of 300 datagrams wait; their first fragments come in reverse
    // order and each takes out exactly its own. Then 300 more wait and leave one by one,
    // so that the expiry queue's leftovers pile up and are cleared. One that never meets
    // its first fragment still times out on time, counted once.
    let mut t = T::new(cfg(Filtering::AddressDependent));
    let fr: Vec<[Vec<u8>; 2]> = (0..300u32).map(|id| frag6(&udp6_big(), 1000 + id, 32)).collect();
    let [_, lonely] = frag6(&udp6_big(), 7, 32);
    for [_, second] in &fr {
        assert_eq!(t.send_frag(second, 0.0).0, Verdict::Drop(Nat64Drop::FragmentHeld));
    }
    assert_eq!(t.send_frag(&lonely, 0.5).0, Verdict::Drop(Nat64Drop::FragmentHeld));
    for (i, [first, second]) in fr.iter().enumerate().rev() {
        let (v, o, more) = t.send_frag(first, 1.0);
        assert_eq!((v, more.len()), (Verdict::Forward(Side::V4), 1), "datagram {i}");
        // The one that came out is this datagram's second fragment (RFC 7915 §5.1: the
        // identification's low 16 bits).
        assert_eq!(&more[0][4..6], &second[46..48]);
        let _ = reassemble(&[o, more[0].clone()]);
    }
    for id in 0..300u32 {
        let [first, second] = frag6(&udp6_big(), 5000 + id, 32);
        assert_eq!(t.send_frag(&second, 1.2).0, Verdict::Drop(Nat64Drop::FragmentHeld));
        let (v, _, more) = t.send_frag(&first, 1.2);
        assert_eq!((v, more.len()), (Verdict::Forward(Side::V4), 1));
    }
    t.tick(2.4);
    assert_eq!(t.e.counters().dropped_total(), 0);
    t.tick(2.5);
    assert_eq!(t.e.counters().dropped(Nat64Drop::FragmentTimeout), 1);
    assert_eq!(t.e.counters().dropped_total(), 1);
    assert_eq!(t.e.counters().forwarded, 1200);
}

#[test]
fn waiting_fragments_are_capped() {
    let mut c = cfg(Filtering::AddressDependent);
    c.max_fragment_bytes = 200;
    let mut t = T::new(c);
    let [_, a] = frag6(&udp6_big(), 1, 32);
    let [_, b] = frag6(&udp6_big(), 2, 32);
    assert!(a.len() + b.len() > 200 && a.len() <= 200);
    let (v, _, _) = t.send_frag(&a, 0.0);
    assert_eq!(v, Verdict::Drop(Nat64Drop::FragmentHeld));
    let (v, _, _) = t.send_frag(&b, 0.0);
    assert_eq!(v, Verdict::Drop(Nat64Drop::Fragment));
    assert_eq!(t.e.counters().dropped(Nat64Drop::Fragment), 1);
    // Room again once the first one timed out.
    let (v, _, _) = t.send_frag(&b, 2.5);
    assert_eq!(v, Verdict::Drop(Nat64Drop::FragmentHeld));
}

/// RFC 6146 §3.8 hairpinning applies to ICMP errors too: C2's error about the packet C
/// hairpinned to it goes back to C (not out of the IPv4 side to the pool address), with
/// the outer source and the quoted destination the pool6 form of C2's pool address
/// (the one home for hairpinned addresses, as for EAM hairpinning, RFC 7757 §4) and the
/// quoted source C's own transport address: the quote is what C sent.
#[test]
fn hairpinned_icmp_error_goes_back_to_the_sender() {
    let mut t = T::new(cfg(Filtering::EndpointIndependent));
    let (_, o) = t.send(&udp6_ports(C2, S, 5000, 53, b"q"), 0.0);
    let pb = port(&o, 20);
    let dst = "64:ff9b:1::c633:6401"; // 198.51.100.1
    let sent = udp6_ports(C, dst, 6000, pb, b"hi");
    let (_, got) = t.send(&sent, 1.0);
    let (v, out) = t.send(&icmp6(C2, dst, 1, 4, [0; 4], &got), 2.0);
    assert_eq!(v, Verdict::Forward(Side::V6), "the error hairpins");
    assert_eq!((out[40], out[41]), (1, 4));
    assert_eq!(v6(&out, 8), dst.parse::<Ipv6Addr>().unwrap(), "outer source: C2's pool address via pool6");
    assert_eq!(v6(&out, 24), C.parse::<Ipv6Addr>().unwrap());
    let quote = &out[48..];
    assert_eq!(&quote[8..40], &sent[8..40], "quoted addresses as C sent them");
    assert_eq!(&quote[40..44], &sent[40..44], "quoted ports as C sent them");
}
