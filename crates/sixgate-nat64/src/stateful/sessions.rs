//! The session table's life cycle: creating a session (and its BIB entry), deleting it,
//! and the session timer queue (RFC 6146 §3.5.1, §3.5.2.2, §3.5.3 lifetimes).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::time::Instant;

use super::events::NatEventKind;
use super::ports::pool_kind;
use super::tables::{Adf, Bib, Client, SKey, Sess, SHRINK_MAX_LIVE, TCP};
use super::{Filtering, Nat64, Nat64Drop, TcpState, TICK_MS};

/// The sessions' timer queue: a heap of (deadline in ticks, session slot) with lazy
/// deletion (a session refreshed to a later expiry keeps its entry, which is requeued
/// at the real expiry when it pops; one whose expiry came earlier gets a new entry, and
/// the old one is skipped).
#[derive(Debug, Default)]
pub(super) struct SessionTimers {
    heap: BinaryHeap<Reverse<(u32, u32)>>,
}

impl SessionTimers {
    /// Queues session `slot` at deadline `d` (ticks).
    #[inline]
    pub(super) fn push(&mut self, d: u32, slot: u32) {
        self.heap.push(Reverse((d, slot)));
    }

    /// The earliest deadline queued (ticks).
    pub(super) fn deadline(&self) -> Option<u32> {
        self.heap.peek().map(|Reverse((d, _))| *d)
    }

    /// Takes the earliest entry, (deadline, slot), if it is due at `tick`.
    pub(super) fn pop_due(&mut self, tick: u32) -> Option<(u32, u32)> {
        match self.heap.peek() {
            Some(&Reverse((d, i))) if d <= tick => {
                self.heap.pop();
                Some((d, i))
            }
            _ => None,
        }
    }

    /// Entries queued (live sessions and stale entries not yet popped).
    pub(super) fn len(&self) -> usize {
        self.heap.len()
    }

    /// Every queued (deadline, slot) (for checks).
    pub(super) fn entries(&self) -> impl Iterator<Item = (u32, u32)> + '_ {
        self.heap.iter().map(|r| r.0)
    }

    /// Room for `n` entries.
    pub(super) fn reserve(&mut self, n: usize) {
        self.heap.reserve(n.saturating_sub(self.heap.len()));
    }

    /// Bytes of the queue (its capacity).
    pub(super) fn bytes(&self) -> usize {
        self.heap.capacity() * size_of::<Reverse<(u32, u32)>>()
    }

    /// Gives back the room of a queue left mostly empty.
    pub(super) fn shrink(&mut self) {
        let h = self.heap.len();
        if self.heap.capacity() > 1024 && h <= SHRINK_MAX_LIVE * 4 && h * 8 <= self.heap.capacity() {
            self.heap.shrink_to(h * 2);
        }
    }
}

impl Nat64 {
    /// Creates a session (and its BIB entry if needed); returns its slot and IPv4 pool
    /// transport address (address index, port). The limits are checked first, then the
    /// creation budget (before the pool is searched, the costly part of a new flow).
    pub(super) fn create(
        &mut self,
        key: SKey,
        state: TcpState,
        now: Instant,
        ms: u64,
    ) -> Result<(u32, u16, u16), Nat64Drop> {
        if self.n_sessions >= self.max_sessions {
            return Err(Nat64Drop::SessionLimit);
        }
        let source = self.alloc.source_key(&key.client);
        let ci = self.t.find_client(&source);
        if ci.is_some_and(|c| usize::from(self.t.clients.get(c).n) >= self.max_per_source) {
            return Err(Nat64Drop::SourceLimit);
        }
        let bib = self.t.find_b6(key.proto, &key.client, key.port);
        let pi = pool_kind(key.proto);
        // A pool found full a moment ago is taken to be full still (a flood of new flows
        // would otherwise search it, at up to thousands of lookups, for every packet):
        // until the next tick, or until one of its BIB entries goes.
        if bib.is_none() && ms < self.pool.full_until[pi] {
            return Err(Nat64Drop::PoolExhausted);
        }
        let (rate, burst) = self.new_rate;
        if !self.new_bucket.take(now, rate, burst) {
            return Err(Nat64Drop::NewFlowBudget);
        }
        let (a4, p4) = match bib {
            Some(b) => {
                let e = self.t.bib.get_mut(b);
                e.sessions += 1;
                (e.a4, e.p4)
            }
            None => {
                let (a4, p4) = self.allocate_port(&key, now).inspect_err(|&r| {
                    // Port blocks keep their own "no free block" mark: a subscriber with
                    // room in its blocks is not refused because another found none.
                    if r == Nat64Drop::PoolExhausted && self.alloc.is_dynamic() {
                        self.pool.full_until[pi] = ms + TICK_MS;
                    }
                })?;
                let b = Bib { client: key.client, port: key.port, a4, p4, sessions: 1, proto: key.proto };
                self.t.insert_bib(b);
                self.port_taken(key.proto, a4, p4);
                self.log_bib(NatEventKind::BibCreated, &b);
                (a4, p4)
            }
        };
        match ci {
            Some(c) => self.t.clients.get_mut(c).n += 1,
            None => {
                self.t.insert_client(Client { addr: source, n: 1 });
            }
        }
        if self.filtering == Filtering::AddressDependent {
            match self.t.find_adf(key.proto, a4, p4, key.remote) {
                Some(a) => self.t.adf.get_mut(a).n += 1,
                None => {
                    self.t.insert_adf(Adf { remote: key.remote, a4, p4, n: 1, proto: key.proto });
                }
            }
        }
        let expires = Self::deadline(ms, self.lifetime(key.proto, state));
        let s = Sess {
            client: key.client,
            remote: key.remote,
            port: key.port,
            rport: key.rport,
            a4,
            p4,
            expires,
            queued: expires,
            proto: key.proto,
            state,
        };
        let i = self.t.insert_sess(s);
        self.log_sess(NatEventKind::SessionCreated, &s);
        self.n_sessions += 1;
        self.expiry.push(expires, i);
        Ok((i, a4, p4))
    }

    /// Deletes the session in slot `i` (and its BIB entry when it was the last one).
    pub(super) fn remove(&mut self, i: u32) {
        let ms = self.last_ms;
        let s = *self.t.sess.get(i);
        if s.proto == 0 {
            return;
        }
        self.t.remove_sess(i);
        self.log_sess(NatEventKind::SessionDeleted, &s);
        self.n_sessions -= 1;
        if let Some(c) = self.t.find_client(&self.alloc.source_key(&s.client)) {
            let e = self.t.clients.get_mut(c);
            e.n -= 1;
            if e.n == 0 {
                self.t.remove_client(c);
            }
        }
        if self.filtering == Filtering::AddressDependent {
            if let Some(a) = self.t.find_adf(s.proto, s.a4, s.p4, s.remote) {
                let e = self.t.adf.get_mut(a);
                e.n -= 1;
                if e.n == 0 {
                    self.t.remove_adf(a);
                }
            }
        }
        if let Some(b) = self.t.find_b6(s.proto, &s.client, s.port) {
            let e = self.t.bib.get_mut(b);
            e.sessions -= 1;
            // RFC 6146 §3.5.1: a BIB entry lives as long as it has sessions.
            if e.sessions == 0 {
                let e = *e;
                self.t.remove_bib(b);
                self.port_freed(s.proto, s.a4, s.p4, ms);
                self.log_bib(NatEventKind::BibDeleted, &e);
                // Its port is free: the pool is worth searching again.
                self.pool.full_until[pool_kind(s.proto)] = 0;
            }
        }
    }

    /// The tables' part of [`Nat64::check_invariants`].
    pub(super) fn check_tables(&self) -> Result<(), String> {
        let t = &self.t;
        t.sess.check(|s| s.proto != 0)?;
        t.bib.check(|b| b.proto != 0)?;
        t.clients.check(|c| c.n != 0)?;
        t.adf.check(|a| a.proto != 0)?;
        let mut n_bib = 0;
        for (i, b) in t.bib.slots().filter(|(_, b)| b.proto != 0) {
            n_bib += 1;
            if t.find_b6(b.proto, &b.client, b.port) != Some(i) || t.find_b4(b.proto, b.a4, b.p4) != Some(i) {
                return Err(format!("bib {b:?} not indexed"));
            }
            if !self.pool.contains(self.pool.addr_of(b.a4), b.p4) {
                return Err(format!("bib {b:?} outside pool4"));
            }
        }
        if n_bib != t.b6.len() || n_bib != t.b4.len() {
            return Err(format!("{n_bib} BIB entries, indexed {} and {}", t.b6.len(), t.b4.len()));
        }
        let mut per_bib: HashMap<u32, u32> = HashMap::new();
        let mut adf: HashMap<(u8, u16, u16, u32), u32> = HashMap::new();
        let mut per_source: HashMap<[u8; 16], u32> = HashMap::new();
        let queued: std::collections::HashSet<(u32, u32)> = self.expiry.entries().collect();
        let mut n = 0;
        for (i, s) in t.sess.slots().filter(|(_, s)| s.proto != 0) {
            n += 1;
            if t.find_sess(&s.key()) != Some(i) || t.find_sess4(s.proto, s.a4, s.p4, s.remote, s.rport) != Some(i) {
                return Err(format!("session {s:?} not indexed"));
            }
            let b = t.find_b6(s.proto, &s.client, s.port).ok_or_else(|| format!("session {s:?} without BIB"))?;
            let bb = t.bib.get(b);
            if (bb.a4, bb.p4) != (s.a4, s.p4) {
                return Err(format!("session {s:?} disagrees with its BIB"));
            }
            if s.queued > s.expires || !queued.contains(&(s.queued, i)) {
                return Err(format!("session {s:?} has no timer"));
            }
            *per_bib.entry(b).or_default() += 1;
            *adf.entry((s.proto, s.a4, s.p4, s.remote)).or_default() += 1;
            *per_source.entry(self.alloc.source_key(&s.client)).or_default() += 1;
        }
        if n != t.sidx.len() || n != t.s4idx.len() {
            return Err(format!("{n} sessions, indexed {} and {}", t.sidx.len(), t.s4idx.len()));
        }
        for (i, b) in t.bib.slots().filter(|(_, b)| b.proto != 0) {
            if per_bib.get(&i).copied().unwrap_or(0) != u32::from(b.sessions) || b.sessions == 0 {
                return Err(format!("bib {b:?} counts {} sessions", b.sessions));
            }
        }
        if self.filtering == Filtering::AddressDependent {
            let mut got = HashMap::new();
            for (i, a) in t.adf.slots().filter(|(_, a)| a.proto != 0) {
                if t.find_adf(a.proto, a.a4, a.p4, a.remote) != Some(i) {
                    return Err(format!("filtering entry {a:?} not indexed"));
                }
                got.insert((a.proto, a.a4, a.p4, a.remote), u32::from(a.n));
            }
            if got != adf || got.len() != t.aidx.len() {
                return Err("filtering counts disagree".into());
            }
        } else if !t.aidx.is_empty() {
            return Err("filtering entries under endpoint-independent filtering".into());
        }
        let mut got = HashMap::new();
        for (i, c) in t.clients.slots().filter(|(_, c)| c.n != 0) {
            if t.find_client(&c.addr) != Some(i) {
                return Err(format!("source {c:?} not indexed"));
            }
            got.insert(c.addr, u32::from(c.n));
        }
        if got != per_source || got.len() != t.cidx.len() {
            return Err("per-source counts disagree".into());
        }
        if n != self.n_sessions || n > self.max_sessions.max(self.reload.over_limit.0) {
            return Err(format!("{n} sessions, counted {}, limit {}", self.n_sessions, self.max_sessions));
        }
        if per_source.values().any(|&n| n as usize > self.max_per_source.max(self.reload.over_limit.1)) {
            return Err("a source over its limit".into());
        }
        Ok(())
    }

    /// Works through the session timer queue up to `tick` (`ms`: the same instant in
    /// milliseconds), at most `expiry_slice` entries; returns whether it deleted a
    /// session.
    pub(super) fn expire_sessions(&mut self, tick: u32, ms: u64) -> bool {
        let mut work = self.expiry_slice.max(1);
        let mut removed = false;
        while work > 0 {
            let Some((d, i)) = self.expiry.pop_due(tick) else { break };
            work -= 1;
            // Stale: the session is gone (its chunk maybe given back) or a newer entry for
            // it is queued.
            let Some(s) = self.t.sess.try_get_mut(i) else { continue };
            if s.proto == 0 || s.queued != d {
                continue;
            }
            if s.expires > tick {
                // Refreshed since it was queued: queue it again at its real expiry.
                s.queued = s.expires;
                self.expiry.push(s.expires, i);
                continue;
            }
            if s.proto == TCP && s.state == TcpState::Established {
                // RFC 6146 §3.5.2.2 ESTABLISHED: "If the lifetime expires, the NAT64 SHOULD
                // send a probe packet [...] The state is moved to TRANS." A packet of the
                // connection (the probe's answer) moves it back to ESTABLISHED.
                s.state = TcpState::Trans;
                let exp = Self::deadline(ms, self.timers.tcp_trans);
                s.expires = exp;
                s.queued = exp;
                let s = *s;
                self.expiry.push(exp, i);
                self.probe(&s);
                continue;
            }
            // RFC 6146 §3.5.2.2: in every other state (V4 FIN RCV and V6 FIN RCV included)
            // the Session Table Entry is deleted when its lifetime expires.
            self.remove(i);
            removed = true;
        }
        removed
    }
}
