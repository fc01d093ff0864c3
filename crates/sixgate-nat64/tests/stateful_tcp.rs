//! Stateful NAT64 (RFC 6146) with a simulated clock: the TCP state machine and its
//! timers, the probes of idle sessions, held SYNs and simultaneous opens.

use std::net::Ipv4Addr;
use std::time::Duration;

use sixgate_core::buf::PacketBuf;
use sixgate_core::checksum::{add, finish, pseudo_v6, sum};
use sixgate_core::engine::{Engine, Side, Verdict};
use sixgate_nat64::{Filtering, Nat64Drop, TcpState};
use sixgate_testkit::packets::*;

mod common;

use common::stateful::*;

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
