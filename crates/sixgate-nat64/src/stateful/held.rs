//! Unsolicited IPv4 SYNs held for TCP_INCOMING_SYN (RFC 6146 §3.5.2.2): the store, its
//! timer queue, the simultaneous open that discards a held SYN, and the ICMP Port
//! Unreachable sent for one whose time ran out.

use std::collections::{HashMap, VecDeque};
use std::time::Instant;

use sixgate_core::engine::Side;
use sixgate_core::wire::{icmpv4, ipv4, proto, Icmpv4Packet, Ipv4Packet, Ipv4Repr};

use super::{Nat64, Nat64Drop, Queued, TcpState, QUEUE_SLACK};

/// The IPv4 transport addresses a held SYN was sent to (pool address index, port) and
/// from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct HKey {
    pub(super) a4: u16,
    pub(super) p4: u16,
    pub(super) remote: u32,
    pub(super) rport: u16,
}

/// An unsolicited IPv4 SYN held for TCP_INCOMING_SYN (RFC 6146 §3.5.2.2).
#[derive(Debug)]
pub(super) struct Held {
    /// Ticks.
    pub(super) deadline: u32,
    /// The SYN as received, cut to what an ICMP error quotes (576 − 28 bytes).
    pkt: Vec<u8>,
}

/// The most an ICMPv4 error quotes (RFC 1812 §4.3.2.3: the error at most 576 bytes).
const QUOTE: usize = 576 - 28;

/// The held SYNs, by the transport addresses they were sent to and from, and their
/// timer queue.
#[derive(Debug)]
pub(super) struct HeldSyns {
    pub(super) map: HashMap<HKey, Held>,
    /// (deadline, key) of every hold, oldest first (all live TCP_INCOMING_SYN, so this is
    /// deadline order); entries of SYNs discarded by a simultaneous open are skipped.
    pub(super) q: VecDeque<(u32, HKey)>,
    /// Held at most (`max_held_syns`).
    pub(super) max: usize,
}

impl HeldSyns {
    /// An empty store for at most `max` SYNs.
    pub(super) fn new(max: usize) -> Self {
        Self { map: HashMap::new(), q: VecDeque::new(), max }
    }

    /// SYNs held.
    pub(super) fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether none is held.
    pub(super) fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Holds the SYN `pkt` for `k` until `deadline` (ticks), unless one is held for `k`
    /// already (a retransmission: `incoming-syn-held`, not stored again) or the store is
    /// full (`incoming-syn`).
    fn hold(&mut self, k: HKey, deadline: u32, pkt: &[u8]) -> Nat64Drop {
        if self.map.contains_key(&k) {
            return Nat64Drop::SynHeld;
        }
        if self.map.len() >= self.max {
            return Nat64Drop::IncomingSyn;
        }
        let pkt = pkt.get(..QUOTE).unwrap_or(pkt).to_vec();
        self.map.insert(k, Held { deadline, pkt });
        if self.q.len() >= 2 * self.map.len() + QUEUE_SLACK {
            // Drop the entries of SYNs that left early.
            let held = &self.map;
            self.q.retain(|(d, k)| held.get(k).is_some_and(|h| h.deadline == *d));
        }
        self.q.push_back((deadline, k));
        Nat64Drop::SynHeld
    }

    /// Discards the SYN held for `k`; returns whether there was one. Its queue entry is
    /// skipped when it pops.
    fn discard(&mut self, k: &HKey) -> bool {
        self.map.remove(k).is_some()
    }

    /// The earliest deadline queued (ticks).
    pub(super) fn deadline(&self) -> Option<u32> {
        self.q.front().map(|h| h.0)
    }

    /// The next held SYN whose time is up at `tick`, taken out of the store; `None` when
    /// there is none (call until then).
    pub(super) fn expire(&mut self, tick: u32) -> Option<Held> {
        while let Some(&(d, k)) = self.q.front() {
            if d > tick {
                break;
            }
            self.q.pop_front();
            // Not there (or held again later): it left by a simultaneous open.
            if self.map.get(&k).is_some_and(|h| h.deadline == d) {
                if let Some(h) = self.map.remove(&k) {
                    return Some(h);
                }
            }
        }
        None
    }

    /// The store's part of [`Nat64::check_invariants`].
    pub(super) fn check(&self) -> Result<(), String> {
        if self.map.len() > self.max
            || self.map.iter().any(|(k, h)| !self.q.contains(&(h.deadline, *k)))
            || !self.q.iter().is_sorted_by_key(|q| q.0)
            || self.q.len() > 2 * self.max + QUEUE_SLACK
        {
            return Err("held SYNs out of bounds or out of step".into());
        }
        Ok(())
    }
}

impl Nat64 {
    /// RFC 6146 §3.5.2.2 (CLOSED, V4 SYN): an unsolicited IPv4 SYN `pkt`, sent from
    /// `from` to `to` (pool address index, port), that filtering or a missing BIB entry
    /// would drop is kept for TCP_INCOMING_SYN, so that a simultaneous open from the IPv6
    /// side can still complete. A retransmission of a held SYN is not stored again. The
    /// store is bounded (`max_held_syns`) and indexed by the addresses and ports.
    pub(super) fn hold(&mut self, pkt: &[u8], hairpin: bool, to: (u16, u16), from: (u32, u16), ms: u64) -> Nat64Drop {
        let ((a4, p4), (remote, rport)) = (to, from);
        if hairpin {
            return Nat64Drop::IncomingSyn;
        }
        let deadline = Self::deadline(ms, self.timers.tcp_incoming_syn);
        self.held.hold(HKey { a4, p4, remote, rport }, deadline, pkt)
    }

    /// RFC 6146 §3.5.2.2: an IPv6 SYN just opened the TCP session in `slot`; if an IPv4
    /// SYN for the same addresses and ports is held, both sides have sent a SYN (a
    /// simultaneous open): the held packet is silently discarded and the session is
    /// established.
    pub(super) fn simultaneous_open(&mut self, slot: u32, ms: u64) {
        let s = *self.t.sess.get(slot);
        if !self.held.discard(&HKey { a4: s.a4, p4: s.p4, remote: s.remote, rport: s.rport }) {
            return;
        }
        let exp = Self::deadline(ms, self.timers.tcp_est);
        let e = self.t.sess.get_mut(slot);
        e.state = TcpState::Established;
        // The queued timer entry (earlier) pops and requeues at the new expiry.
        e.expires = exp;
    }

    /// RFC 6146 §3.5.2.2 (V4 INIT, lifetime expired): an ICMP Destination Unreachable,
    /// Port Unreachable (type 3, code 3) quoting the held SYN, back to its source, from
    /// the pool address it was sent to. No error to a non-unicast source (RFC 1812
    /// §4.3.2.7); rate-limited like the translator's own errors; at most `max_held_syns`
    /// wait for `poll_transmit`.
    pub(super) fn port_unreachable(&mut self, h: &Held, now: Instant) {
        let p = &h.pkt;
        if p.len() < ipv4::HEADER_LEN {
            return;
        }
        let held = Ipv4Packet::new_unchecked(&p[..]);
        let src = held.src_addr();
        if !sixgate_core::router::icmp4_error_allowed_to(src) {
            return;
        }
        if self.outbox.replies >= self.held.max.max(1)
            || !self.bucket.take(now, self.icmp_rate.per_second, self.icmp_rate.burst)
        {
            return;
        }
        let mut s = vec![0u8; ipv4::HEADER_LEN + icmpv4::HEADER_LEN];
        s.extend_from_slice(p);
        let mut h = [0u8; ipv4::HEADER_LEN];
        Ipv4Repr {
            tos: 0,
            total_len: s.len() as u16,
            // An atomic datagram (DF, identification 0: RFC 6864 §4.1).
            ident: 0,
            frag_field: ipv4::DF,
            ttl: sixgate_core::router::DEFAULT_IPV4_TTL,
            protocol: proto::ICMP,
            src_addr: held.dst_addr(),
            dst_addr: src,
        }
        .emit(&mut h);
        s[..ipv4::HEADER_LEN].copy_from_slice(&h);
        let mut m = Icmpv4Packet::new_unchecked(&mut s[ipv4::HEADER_LEN..]);
        m.set_msg_type(icmpv4::DEST_UNREACHABLE);
        m.set_msg_code(icmpv4::code::PORT_UNREACHABLE);
        m.fill_checksum();
        self.outbox.push(Side::V4, Queued::Reply, s);
    }
}
