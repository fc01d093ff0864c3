//! The TCP state machine of RFC 6146 §3.5.2.2, session refresh, and the probe of an idle
//! established session.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use sixgate_core::checksum::{self, add};
use sixgate_core::engine::Side;
use sixgate_core::rfc6052;
use sixgate_core::wire::{ipv6, proto, tcp, Ipv6Repr, TcpPacket};

use super::tables::{SKey, Sess, ICMP, TCP, UDP};
use super::{Nat64, Queued};

/// TCP states of RFC 6146 §3.5.2.2 (UDP and ICMP sessions use `Open`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[repr(u8)]
pub enum TcpState {
    /// UDP or ICMP session (no state machine).
    #[default]
    Open,
    /// An IPv6 SYN was seen.
    V6Init,
    /// An IPv4 SYN was seen.
    V4Init,
    /// Both SYNs seen.
    Established,
    /// FIN from IPv4.
    V4FinRcv,
    /// FIN from IPv6.
    V6FinRcv,
    /// FIN from both.
    V4FinV6FinRcv,
    /// Transitory: RST seen or idle; deleted when its timer runs out.
    Trans,
}

/// TCP flags that drive the state machine (RFC 9293 §3.1).
pub(super) use sixgate_core::wire::tcp::SYN;
use sixgate_core::wire::tcp::{ACK, FIN, RST};

/// Probes of idle TCP sessions waiting for `poll_transmit` at most (60 bytes each); when
/// more sessions idle out at once, the rest move to TRANS without one (the RFC's SHOULD).
pub(super) const MAX_PROBES: usize = 4096;

impl Nat64 {
    pub(super) fn lifetime(&self, proto: u8, st: TcpState) -> Duration {
        match (proto, st) {
            (UDP, _) => self.timers.udp,
            (ICMP, _) => self.timers.icmp,
            (_, TcpState::Established | TcpState::V4FinRcv | TcpState::V6FinRcv) => self.timers.tcp_est,
            (_, TcpState::V4Init) => self.timers.tcp_incoming_syn,
            _ => self.timers.tcp_trans,
        }
    }

    /// RFC 6146 §3.5.2.2: the TCP state after a segment with `flags` from `from`.
    pub(super) fn tcp_next(st: TcpState, from: Side, flags: u8) -> TcpState {
        use TcpState as S;
        let syn = flags & SYN != 0;
        let fin = flags & FIN != 0;
        let rst = flags & RST != 0;
        match (st, from) {
            (S::V6Init, Side::V4) if syn => S::Established,
            (S::V4Init, Side::V6) if syn => S::Established,
            (S::Established, _) if rst => S::Trans,
            (S::Established, Side::V4) if fin => S::V4FinRcv,
            (S::Established, Side::V6) if fin => S::V6FinRcv,
            (S::V4FinRcv, Side::V6) if fin => S::V4FinV6FinRcv,
            (S::V6FinRcv, Side::V4) if fin => S::V4FinV6FinRcv,
            (S::V4FinRcv | S::V6FinRcv, _) if rst => S::Trans,
            (S::Trans, _) if !rst => S::Established,
            (s, _) => s,
        }
    }

    /// Updates an existing session for a packet from `from` and refreshes its timer;
    /// returns its slot and IPv4 pool transport address (address index, port), or `None`
    /// when there is no such session. (It runs before the header translation, so one
    /// lookup serves both; a packet the translator then refuses has still refreshed its
    /// session.)
    #[inline]
    pub(super) fn touch(&mut self, key: &SKey, from: Side, flags: u8, ms: u64) -> Option<(u32, u16, u16)> {
        let i = self.t.find_sess(key)?;
        Some(self.touch_slot(i, from, flags, ms))
    }

    /// [`Nat64::touch`] for the session in slot `i`.
    #[inline]
    pub(super) fn touch_slot(&mut self, i: u32, from: Side, flags: u8, ms: u64) -> (u32, u16, u16) {
        let proto = self.t.sess.get(i).proto;
        let (tcp_est, tcp_trans, tcp_syn) = (self.timers.tcp_est, self.timers.tcp_trans, self.timers.tcp_incoming_syn);
        let (udp, icmp) = (self.timers.udp, self.timers.icmp);
        let s = self.t.sess.get_mut(i);
        let found = (i, s.a4, s.p4);
        let old = s.state;
        let new = if proto == TCP { Self::tcp_next(old, from, flags) } else { old };
        s.state = new;
        // RFC 6146 §3.5.2.2: in V4 FIN + V6 FIN RCV the lifetime is not refreshed; in the
        // INIT states only the SYN that completes the handshake (or a SYN retransmission
        // from the same side) changes it.
        let refresh = match (old, new) {
            (TcpState::V4FinV6FinRcv, _) => false,
            (TcpState::V6Init, TcpState::V6Init) => from == Side::V6 && flags & SYN != 0,
            (TcpState::V4Init, TcpState::V4Init) => false,
            (TcpState::Trans, TcpState::Trans) => false,
            _ => true,
        };
        if refresh || old != new {
            let life = match (proto, new) {
                (UDP, _) => udp,
                (ICMP, _) => icmp,
                (_, TcpState::Established | TcpState::V4FinRcv | TcpState::V6FinRcv) => tcp_est,
                (_, TcpState::V4Init) => tcp_syn,
                _ => tcp_trans,
            };
            let exp = Self::deadline(ms, life);
            s.expires = exp;
            // A later expiry is picked up when the queued entry pops; an earlier one
            // needs a new entry (the old one becomes stale and is skipped).
            if exp < s.queued {
                s.queued = exp;
                self.expiry.push(exp, i);
            }
        }
        found
    }

    // -------------------------------------------------------------- probes

    /// RFC 6146 §3.5.2.2 (ESTABLISHED, lifetime expired): a probe of TCP session `s`, "a
    /// TCP segment for the connection with no data. The sequence number and the
    /// acknowledgment number are set to zero. All flags but the ACK flag are set to zero."
    /// It goes to the IPv6 endpoint (the RFC asks for at least one), from the remote as
    /// the IPv6 host knows it (pool6 + IPv4 address, port). Being out of the window, it
    /// makes a live endpoint answer with an ACK that moves the session back to
    /// ESTABLISHED (RFC 9293 §3.10.7.4); an endpoint without the connection answers RST,
    /// and one that is gone does not answer, so the session ends after TCP_TRANS. No
    /// sequence numbers need to be kept. At most `MAX_PROBES` wait for `poll_transmit`.
    pub(super) fn probe(&mut self, s: &Sess) {
        if self.outbox.probes >= MAX_PROBES {
            return;
        }
        let src = rfc6052::embed(&self.pool6, Ipv4Addr::from(s.remote));
        let dst = Ipv6Addr::from(s.client);
        let mut h = [0u8; ipv6::HEADER_LEN];
        Ipv6Repr {
            traffic_class: 0,
            payload_len: tcp::HEADER_LEN as u16,
            next_header: proto::TCP,
            hop_limit: sixgate_core::router::DEFAULT_HOP_LIMIT,
            src_addr: src,
            dst_addr: dst,
        }
        .emit(&mut h);
        let mut p = vec![0u8; ipv6::HEADER_LEN + tcp::HEADER_LEN];
        p[..ipv6::HEADER_LEN].copy_from_slice(&h);
        let mut seg = TcpPacket::new_unchecked(&mut p[ipv6::HEADER_LEN..]);
        seg.set_src_port(s.rport);
        seg.set_dst_port(s.port);
        // Sequence and acknowledgment numbers 0, no options, only ACK, window 0, urgent
        // pointer 0.
        seg.set_header_len(tcp::HEADER_LEN);
        seg.set_flags(ACK);
        let len = tcp::HEADER_LEN as u32;
        let c = checksum::finish(add(checksum::pseudo_v6(src, dst, proto::TCP, len), checksum::sum(seg.into_inner())));
        TcpPacket::new_unchecked(&mut p[ipv6::HEADER_LEN..]).set_checksum(c);
        self.outbox.push(Side::V6, Queued::Probe, p);
    }
}
