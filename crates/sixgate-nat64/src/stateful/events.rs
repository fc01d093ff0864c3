//! BIB and session events for traceability logs (RFC 6888 REQ-12, RFC 6146 §3.5).
//!
//! Off by default ([`EventLevel::Off`]). When on, the engine records every BIB entry
//! (and, at [`EventLevel::Session`], every session) it creates or deletes as a
//! [`NatEvent`] in a bounded queue, which the I/O side drains with
//! [`Nat64::poll_event`] (for shards, [`crate::Nat64Handle::poll_event`]) and writes
//! to a log. RFC 6888 REQ-12 asks a carrier-grade NAT to be able to log "the
//! internal source IP address and port, the external translated IP address and port, and
//! a timestamp" per mapping (a BIB entry), and RFC 6888 §4 notes destination logging
//! (a session) as heavier and optional; Jool's `logging-bib` and `logging-session` make
//! the same two levels, and so do these. The engine does no I/O: it stamps each event
//! with the `now` it was given (an [`Instant`]), and the I/O side maps that to wall-clock
//! time.
//!
//! The queue is bounded ([`MAX_QUEUED`]): a driver that does not drain it loses the
//! newest events, counted ([`Nat64::events_lost`]), and the data path never waits. The
//! deletions a reload records (sessions on pool4 addresses it removed) are queued all,
//! however many.

use std::collections::VecDeque;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Instant;

use sixgate_core::rfc6052::embed;
use sixgate_core::Protocol;

use super::tables::{Bib, Sess, ICMP, TCP};
use super::Nat64;

/// Events queued at most in one engine between two drains; more are lost and counted.
/// A timer slice ([`super::EXPIRY_SLICE`]) deletes at most that many sessions, each with at
/// most one BIB entry, so a drain after each call to the engine never loses any.
pub const MAX_QUEUED: usize = 8192;

/// Which events the engine records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, PartialOrd, Ord)]
pub enum EventLevel {
    /// None (the default): the engine pays one branch per created or deleted entry.
    #[default]
    Off,
    /// BIB entries created and deleted: one line per mapping (RFC 6888 REQ-12; Jool's
    /// `logging-bib`).
    Bib,
    /// BIB entries and sessions (with the remote side; Jool's `logging-session`).
    Session,
}

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NatEventKind {
    /// A BIB entry was created (RFC 6146 §3.5.1: the first session of an IPv6 transport
    /// address).
    BibCreated,
    /// A BIB entry was deleted (its last session ended, or its address left pool4).
    BibDeleted,
    /// A session was created.
    SessionCreated,
    /// A session was deleted (expired, or ended by a reload).
    SessionDeleted,
}

impl NatEventKind {
    /// A stable name for logs: `bib-add`, `bib-del`, `session-add`, `session-del`.
    pub fn name(self) -> &'static str {
        match self {
            Self::BibCreated => "bib-add",
            Self::BibDeleted => "bib-del",
            Self::SessionCreated => "session-add",
            Self::SessionDeleted => "session-del",
        }
    }

    /// Whether this is a creation.
    pub fn is_create(self) -> bool {
        matches!(self, Self::BibCreated | Self::SessionCreated)
    }

    /// Whether this is a session event (else a BIB one).
    pub fn is_session(self) -> bool {
        matches!(self, Self::SessionCreated | Self::SessionDeleted)
    }
}

/// The remote side of a session: its IPv4 transport address and, as the IPv6 client
/// addressed it, the IPv6 address (pool6 with the IPv4 address embedded, RFC 6052).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Remote {
    /// The remote IPv6 address (pool6 + `ipv4`).
    pub ipv6: Ipv6Addr,
    /// The remote IPv4 address.
    pub ipv4: Ipv4Addr,
    /// The remote port (0 for ICMP).
    pub port: u16,
}

/// A BIB or session event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NatEvent {
    /// What happened.
    pub kind: NatEventKind,
    /// When: the `now` the engine was given with the packet or timer that caused it.
    pub time: Instant,
    /// TCP, UDP, or ICMP (queries; the "port" is the query identifier).
    pub protocol: Protocol,
    /// The IPv6 client's address.
    pub ipv6: Ipv6Addr,
    /// The IPv6 client's port (ICMP: identifier).
    pub ipv6_port: u16,
    /// The pool4 address it is mapped to.
    pub pool4: Ipv4Addr,
    /// The pool4 port (ICMP: identifier).
    pub pool4_port: u16,
    /// For session events, the remote side.
    pub remote: Option<Remote>,
}

/// The engine's event queue.
#[derive(Debug)]
pub(super) struct Events {
    pub(super) level: EventLevel,
    q: VecDeque<NatEvent>,
    /// The latest `now` the engine was given.
    pub(super) now: Option<Instant>,
    lost: u64,
    /// Set while a reload records the entries it ends: they are queued whatever their
    /// number (a reload may end half a million sessions at once; the driver's channel
    /// counts what it cannot take).
    unbounded: bool,
}

impl Events {
    pub(super) fn new(level: EventLevel) -> Self {
        Self { level, q: VecDeque::new(), now: None, lost: 0, unbounded: false }
    }

    fn push(&mut self, e: NatEvent) {
        if self.q.len() >= MAX_QUEUED && !self.unbounded {
            self.lost += 1;
        } else {
            self.q.push_back(e);
        }
    }
}

fn protocol(p: u8) -> Protocol {
    match p {
        TCP => Protocol::Tcp,
        ICMP => Protocol::Icmp,
        _ => Protocol::Udp,
    }
}

impl Nat64 {
    /// Records a BIB event (when logging is on).
    #[inline]
    pub(super) fn log_bib(&mut self, kind: NatEventKind, b: &Bib) {
        if self.events.level == EventLevel::Off {
            return;
        }
        self.push_event(kind, b.proto, b.client, b.port, b.a4, b.p4, None);
    }

    /// Records a session event (when session logging is on).
    #[inline]
    pub(super) fn log_sess(&mut self, kind: NatEventKind, s: &Sess) {
        if self.events.level != EventLevel::Session {
            return;
        }
        let v4 = Ipv4Addr::from(s.remote);
        let remote = Remote { ipv6: embed(&self.pool6, v4), ipv4: v4, port: s.rport };
        self.push_event(kind, s.proto, s.client, s.port, s.a4, s.p4, Some(remote));
    }

    #[allow(clippy::too_many_arguments)]
    #[cold]
    fn push_event(
        &mut self,
        kind: NatEventKind,
        proto: u8,
        client: [u8; 16],
        port: u16,
        a4: u16,
        p4: u16,
        remote: Option<Remote>,
    ) {
        let Some(time) = self.events.now.or(self.base) else { return };
        self.events.push(NatEvent {
            kind,
            time,
            protocol: protocol(proto),
            ipv6: Ipv6Addr::from(client),
            ipv6_port: port,
            pool4: Ipv4Addr::from(self.pool.addr_of(a4)),
            pool4_port: p4,
            remote,
        });
    }

    /// Records the deletion of sessions `gone` and BIB entries `bib` (slots) that a
    /// reload ends, before they are released.
    pub(super) fn log_ended(&mut self, gone: &[u32], bib: &[u32]) {
        if self.events.level == EventLevel::Off {
            return;
        }
        self.events.unbounded = true;
        for &i in gone {
            let s = *self.t.sess.get(i);
            self.log_sess(NatEventKind::SessionDeleted, &s);
        }
        for &i in bib {
            let b = *self.t.bib.get(i);
            self.log_bib(NatEventKind::BibDeleted, &b);
        }
        self.events.unbounded = false;
    }

    /// The oldest event not yet taken (none while logging is off).
    #[inline]
    pub fn poll_event(&mut self) -> Option<NatEvent> {
        self.events.q.pop_front()
    }

    /// Events lost because the queue was full ([`MAX_QUEUED`]): nobody drained it.
    pub fn events_lost(&self) -> u64 {
        self.events.lost
    }

    /// Which events the engine records.
    pub fn event_level(&self) -> EventLevel {
        self.events.level
    }

    /// Sets which events the engine records from now on (switching off drops the queue).
    pub fn set_event_level(&mut self, level: EventLevel) {
        self.events.level = level;
        if level == EventLevel::Off {
            self.events.q.clear();
        }
    }
}
