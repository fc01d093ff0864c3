//! [`Nat64::reconfigure`]: the stateful translator takes a new configuration live,
//! keeping its sessions and BIB.

use std::cmp::Reverse;
use std::time::Instant;

use hashbrown::HashTable;

use super::ports::Pool;
use super::tables::{hash_a, hash_b4, hash_s4_of, Adf, Slab, Tables};
use super::{Allocation, Filtering, Nat64, Nat64Config, Nat64Drop, Pool4Range, QUEUE_SLACK};
use crate::reload::ReloadReport;
use crate::ConfigError;

/// What reloads leave behind in an engine.
#[derive(Debug, Default)]
pub(super) struct ReloadState {
    /// Sessions in all and of one IPv6 source that the tables held above limits a
    /// reload lowered (0: none). Such sessions stay until they end; no new one is made
    /// while a count is at or above its limit, so counts stay at or below the larger of
    /// the limit and this ([`Nat64::check_invariants`]).
    pub(super) over_limit: (usize, usize),
    /// Sessions and BIB entries ended because their transport address left pool4.
    pub(super) sessions_ended: u64,
    pub(super) bib_ended: u64,
}

impl Nat64 {
    /// Takes `new` live, between two packets. `new` is validated first: one that fails
    /// changes nothing and comes back as its [`ConfigError`]. Otherwise:
    ///
    /// * **Timers** apply from the next packet of each session. RFC 6146 sets a
    ///   session's lifetime when a packet creates or refreshes it (§3.5.1 for UDP,
    ///   §3.5.3 for ICMP, §3.5.2.2 per TCP state), never between packets, so the
    ///   lifetime an entry was given stands and its next refresh uses the new value.
    ///   Sessions are not re-armed: that would touch every entry of a million-session
    ///   table in one call, and cut short lifetimes already granted.
    /// * **Limits** (`max_sessions`, `max_sessions_per_source`) apply to new sessions:
    ///   existing ones over a lowered limit stay until they end, and no new one is made
    ///   while a count is at or over its limit. `max_held_syns`, `max_fragment_flows` and
    ///   `max_fragment_bytes` are bounds on stores: what a lowered one no longer holds is
    ///   let go at once, counted as the store being full (`incoming-syn`, `fragment`).
    /// * **Filtering**, the **ICMP error rate** (its bucket keeps its tokens), the
    ///   **session-creation budget**, `fragment_timeout` (for fragments from now on) and
    ///   the **translation settings** (own addresses, MTUs, TOS, denylist, RFC 6791
    ///   pools) change at once.
    /// * **pool6 needs a restart**: every session's IPv6 remote is pool6 + its IPv4
    ///   address (RFC 6146 §3.5, RFC 6052), so a new prefix would end every session, and
    ///   keeping the old prefix for old sessions would run two prefixes at once; the
    ///   running prefix stays and `pool6` is reported in
    ///   [`ReloadReport::needs_restart`].
    /// * **pool4**: added addresses and ports are usable at once. Sessions (and their BIB
    ///   entries) whose IPv4 transport address left the pool end now: removed from the
    ///   tables, counted ([`Nat64::pool4_removed`], stable name
    ///   [`POOL4_REMOVED`](crate::POOL4_REMOVED)) and reported. RFC 6146 has
    ///   no rule for this (§3.5.2.2 ends TCP sessions only by their timers); no RST or
    ///   ICMP error is sent for them, as for a session that idles out: the endpoints
    ///   learn by their next packet, which finds no binding (an IPv4 one `no-binding`,
    ///   an IPv6 one makes a new session on a port still in the pool). Held SYNs and
    ///   fragment mappings on removed addresses go too. Every other session keeps its
    ///   binding.
    /// * The port-choice `seed` applies to new BIB entries.
    ///
    /// `now` is the instant of the reload.
    pub fn reconfigure(&mut self, new: Nat64Config, now: Instant) -> Result<ReloadReport, ConfigError> {
        new.validate()?;
        let mut r = ReloadReport::default();
        // The translation settings, but the running pool6. The only step that can fail
        // (it does not, `new` being valid), so it goes first.
        let mut xlate = new.xlate.clone();
        if xlate.pool6 != Some(self.pool6) {
            r.mark_restart("pool6");
            xlate.pool6 = Some(self.pool6);
        }
        r.merge(self.siit.reconfigure(xlate)?);
        self.icmp_rate = new.xlate.icmp_rate;
        // The time base starts at the reload if no packet came before.
        let _ = self.now_ms(now);

        if self.timers != new.timers {
            r.mark_changed("timers");
            self.timers = new.timers;
        }
        if self.filtering != new.filtering {
            r.mark_changed("filtering");
            self.set_filtering(new.filtering);
        }
        let max_sessions = new.max_sessions.min(u32::MAX as usize - 1);
        if self.max_sessions != max_sessions {
            r.mark_changed("max_sessions");
            self.max_sessions = max_sessions;
        }
        if self.max_per_source != new.max_sessions_per_source {
            r.mark_changed("max_sessions_per_source");
            self.max_per_source = new.max_sessions_per_source;
        }
        let new_rate = (new.max_new_sessions_per_second, new.new_sessions_burst);
        if self.new_rate.0 != new_rate.0 {
            r.mark_changed("max_new_sessions_per_second");
        }
        if self.new_rate.1 != new_rate.1 {
            r.mark_changed("new_sessions_burst");
        }
        self.new_rate = new_rate;
        self.set_held_max(new.max_held_syns, &mut r);
        self.set_fragment_limits(&new, &mut r);

        if self.pool.seed != new.seed {
            r.mark_changed("seed");
        }
        // The allocation mode and its parameters (and, outside the dynamic mode, pool4,
        // which the blocks and the RFC 7422 mapping are cut from) are kept: changing
        // them would move subscribers' ports under their sessions and make the block log
        // or the deterministic mapping lie. They need a restart.
        if self.alloc.config() != new.allocation {
            r.mark_restart(match new.allocation {
                Allocation::Deterministic(_) => "deterministic",
                _ => "port_block",
            });
        }
        if self.alloc.config() != Allocation::Dynamic && self.pool.ranges != new.pool4 {
            r.mark_restart("pool4");
        } else if self.pool.ranges != new.pool4 {
            r.mark_changed("pool4");
            self.repool(new.pool4, new.seed, &mut r);
        } else if self.pool.seed != new.seed {
            self.pool = Pool::new(new.pool4, new.seed);
        }
        if self.event_level() != new.events {
            r.mark_changed("events");
            self.set_event_level(new.events);
        }
        self.note_over_limit();
        Ok(r)
    }

    /// Sessions and BIB entries that reloads ended because their IPv4 transport address
    /// left pool4 ([`POOL4_REMOVED`](crate::POOL4_REMOVED)), since the engine
    /// was made.
    pub fn pool4_removed(&self) -> (u64, u64) {
        (self.reload.sessions_ended, self.reload.bib_ended)
    }

    /// The pool4 ranges in force (for a shard: its slices).
    pub(crate) fn pool4(&self) -> &[Pool4Range] {
        &self.pool.ranges
    }

    /// Remembers the counts above limits just lowered (see [`ReloadState::over_limit`]).
    fn note_over_limit(&mut self) {
        let most = self.t.clients.slots().map(|(_, c)| usize::from(c.n)).max().unwrap_or(0);
        self.reload.over_limit = (
            if self.n_sessions > self.max_sessions { self.n_sessions } else { 0 },
            if most > self.max_per_source { most } else { 0 },
        );
    }

    /// Switches filtering: the address-dependent filtering counts are built from the
    /// sessions, or dropped.
    fn set_filtering(&mut self, f: Filtering) {
        self.filtering = f;
        let t = &mut self.t;
        t.adf = Slab::default();
        t.aidx = HashTable::new();
        if f == Filtering::AddressDependent {
            let live: Vec<_> = t.sess.slots().filter(|(_, s)| s.proto != 0).map(|(_, s)| *s).collect();
            for s in live {
                match t.find_adf(s.proto, s.a4, s.p4, s.remote) {
                    Some(a) => t.adf.get_mut(a).n += 1,
                    None => {
                        t.insert_adf(Adf { remote: s.remote, a4: s.a4, p4: s.p4, n: 1, proto: s.proto });
                    }
                }
            }
        }
    }

    /// A new bound on held SYNs; those above it (the oldest) are let go (each was
    /// counted as `incoming-syn-held` when it came, and is not counted again).
    fn set_held_max(&mut self, max: usize, r: &mut ReloadReport) {
        let h = &mut self.held;
        if h.max == max {
            return;
        }
        r.mark_changed("max_held_syns");
        h.max = max;
        let mut excess = h.map.len().saturating_sub(max);
        while excess > 0 {
            let Some((d, k)) = h.q.pop_front() else { break };
            if h.map.get(&k).is_some_and(|e| e.deadline == d) {
                // Counted already, as `incoming-syn-held`, when it came.
                h.map.remove(&k);
                excess -= 1;
            }
        }
        let map = &h.map;
        h.q.retain(|(d, k)| map.get(k).is_some_and(|e| e.deadline == *d));
    }

    /// New fragment settings: the timeout for fragments from now on; the bounds at once,
    /// what they no longer hold let go (waiting fragments counted as `fragment`).
    fn set_fragment_limits(&mut self, new: &Nat64Config, r: &mut ReloadReport) {
        let f = &mut self.frags;
        if f.life != new.fragment_timeout {
            r.mark_changed("fragment_timeout");
            f.life = new.fragment_timeout;
        }
        if f.max_flows != new.max_fragment_flows {
            r.mark_changed("max_fragment_flows");
            f.max_flows = new.max_fragment_flows;
            if f.flows.len() > f.max_flows {
                // The mappings that would end first go.
                let mut by_deadline: Vec<_> = f.flows.iter().map(|(k, v)| (v.deadline, *k)).collect();
                by_deadline.sort_unstable();
                let n = f.flows.len() - f.max_flows;
                for (_, k) in by_deadline.into_iter().take(n) {
                    f.flows.remove(&k);
                }
                let flows = &f.flows;
                f.flow_q.retain(|Reverse((_, k))| flows.contains_key(k));
            }
        }
        if f.max_bytes != new.max_fragment_bytes {
            r.mark_changed("max_fragment_bytes");
            f.max_bytes = new.max_fragment_bytes;
            // The oldest waiting fragments go first.
            while f.wait_bytes > f.max_bytes {
                let Some((_, k)) = f.wait_q.pop_front() else { break };
                let Some(v) = f.wait.get_mut(&k) else { continue };
                if v.is_empty() {
                    continue;
                }
                let (_, p) = v.remove(0);
                if v.is_empty() {
                    f.wait.remove(&k);
                }
                f.wait_n -= 1;
                f.wait_bytes -= p.len();
                self.counters.release_dropped(Nat64Drop::Fragment);
            }
            // The queue rebuilt from what waits, in deadline order (it may hold entries
            // left behind beyond what the new bound allows).
            let mut q: Vec<_> = f.wait.iter().flat_map(|(k, v)| v.iter().map(move |w| (w.0, *k))).collect();
            q.sort_unstable();
            f.wait_q = q.into();
        }
        debug_assert!(self.frags.wait_q.len() <= 2 * (self.frags.max_bytes / 20) + QUEUE_SLACK);
    }

    /// Takes a new pool4 (and seed): sessions, BIB entries, held SYNs and fragment
    /// mappings on transport addresses that left it end; the others keep their
    /// bindings, moved to the new pool's address numbering when it changed.
    fn repool(&mut self, ranges: Vec<Pool4Range>, seed: u64, r: &mut ReloadReport) {
        let new = Pool::new(ranges, seed);
        let old = &self.pool;
        let n_old: usize = old.ranges.iter().map(|r| 1usize << (32 - r.prefix.prefix_len())).sum();
        // Old address index → new one (none: the address left the pool).
        let map: Vec<Option<u16>> = (0..n_old).map(|i| new.idx(old.addr_of(i as u16))).collect();
        let gone_addr = |a4: u16| map.get(usize::from(a4)).copied().flatten().is_none();
        let keeps = |a4: u16, p4: u16| !gone_addr(a4) && new.contains(old.addr_of(a4), p4);
        let gone: Vec<u32> =
            self.t.sess.slots().filter(|(_, s)| s.proto != 0 && !keeps(s.a4, s.p4)).map(|(i, _)| i).collect();
        // A BIB entry's sessions and filtering counts share its transport address: they all
        // go, or all stay.
        let bib_gone: Vec<u32> =
            self.t.bib.slots().filter(|(_, b)| b.proto != 0 && !keeps(b.a4, b.p4)).map(|(i, _)| i).collect();
        let adf_gone: Vec<u32> =
            self.t.adf.slots().filter(|(_, a)| a.proto != 0 && !keeps(a.a4, a.p4)).map(|(i, _)| i).collect();
        let held_gone: Vec<_> = self.held.map.keys().filter(|k| !keeps(k.a4, k.p4)).copied().collect();
        let flows_gone: Vec<_> = self.frags.flows.iter().filter(|(_, f)| gone_addr(f.a4)).map(|(k, _)| *k).collect();
        self.log_ended(&gone, &bib_gone);
        self.end_all(&gone, &bib_gone, &adf_gone);
        let bib_ended = bib_gone.len();
        r.sessions_ended += gone.len();
        r.bib_ended += bib_ended;
        self.reload.sessions_ended += gone.len() as u64;
        self.reload.bib_ended += bib_ended as u64;
        if !gone.is_empty() {
            // Memory to give back at the next timer call.
            self.shrink_pending = true;
        }
        // Held SYNs sent to removed transport addresses are let go without an answer (the
        // address is no longer the translator's to answer from).
        for k in &held_gone {
            self.held.map.remove(k);
        }
        for k in &flows_gone {
            self.frags.flows.remove(k);
        }
        let flows = &self.frags.flows;
        self.frags.flow_q.retain(|Reverse((_, k))| flows.contains_key(k));

        let identity = map.iter().enumerate().all(|(i, m)| m.is_none_or(|j| usize::from(j) == i));
        if !identity {
            let to = |a4: u16| map.get(usize::from(a4)).copied().flatten().unwrap_or(a4);
            self.renumber(&to);
            let held = std::mem::take(&mut self.held.map);
            self.held.map = held
                .into_iter()
                .map(|(mut k, h)| {
                    k.a4 = to(k.a4);
                    (k, h)
                })
                .collect();
            for (_, k) in self.held.q.iter_mut() {
                k.a4 = to(k.a4);
            }
            for f in self.frags.flows.values_mut() {
                f.a4 = to(f.a4);
            }
        }
        let held = &self.held.map;
        self.held.q.retain(|(d, k)| held.get(k).is_some_and(|e| e.deadline == *d));
        self.pool = new;
    }

    /// Ends the sessions in slots `gone`, with their BIB entries (`bib`) and filtering
    /// counts (`adf`), which are all those on their transport addresses. In bulk: each
    /// hash index is swept once (no hashing) rather than searched per entry, which matters
    /// when a pool4 change ends half of a million sessions.
    fn end_all(&mut self, gone: &[u32], bib: &[u32], adf: &[u32]) {
        let t = &mut self.t;
        for &i in gone {
            let client = self.alloc.source_key(&t.sess.get(i).client);
            if let Some(c) = t.find_client(&client) {
                let e = t.clients.get_mut(c);
                e.n -= 1;
                if e.n == 0 {
                    t.remove_client(c);
                }
            }
        }
        let marks = |slots: &[u32], len: u32| {
            let mut m = vec![false; len as usize];
            for &i in slots {
                m[i as usize] = true;
            }
            m
        };
        let dead = marks(gone, t.sess.len);
        t.sidx.retain(|i| !dead[*i as usize]);
        t.s4idx.retain(|i| !dead[*i as usize]);
        for &i in gone {
            t.sess.release(i);
        }
        self.n_sessions -= gone.len();
        let dead = marks(bib, t.bib.len);
        t.b6.retain(|i| !dead[*i as usize]);
        t.b4.retain(|i| !dead[*i as usize]);
        for &i in bib {
            t.bib.release(i);
        }
        let dead = marks(adf, t.adf.len);
        t.aidx.retain(|i| !dead[*i as usize]);
        for &i in adf {
            t.adf.release(i);
        }
    }

    /// Moves every session, BIB entry and filtering count to new pool address indices
    /// (`to`), and rebuilds the indices keyed by them.
    fn renumber(&mut self, to: &impl Fn(u16) -> u16) {
        let Tables { hs, sess, s4idx, bib, b4, adf, aidx, .. } = &mut self.t;
        for i in 0..sess.len {
            let s = sess.get_mut(i);
            if s.proto != 0 {
                s.a4 = to(s.a4);
            }
        }
        for i in 0..bib.len {
            let b = bib.get_mut(i);
            if b.proto != 0 {
                b.a4 = to(b.a4);
            }
        }
        for i in 0..adf.len {
            let a = adf.get_mut(i);
            if a.proto != 0 {
                a.a4 = to(a.a4);
            }
        }
        s4idx.clear();
        for (i, s) in sess.slots().filter(|(_, s)| s.proto != 0) {
            s4idx.insert_unique(hash_s4_of(hs, s), i, |&j| hash_s4_of(hs, sess.get(j)));
        }
        b4.clear();
        for (i, b) in bib.slots().filter(|(_, b)| b.proto != 0) {
            b4.insert_unique(hash_b4(hs, b.proto, b.a4, b.p4), i, |&j| {
                let b = bib.get(j);
                hash_b4(hs, b.proto, b.a4, b.p4)
            });
        }
        aidx.clear();
        for (i, a) in adf.slots().filter(|(_, a)| a.proto != 0) {
            aidx.insert_unique(hash_a(hs, a.proto, a.a4, a.p4, a.remote), i, |&j| {
                let a = adf.get(j);
                hash_a(hs, a.proto, a.a4, a.p4, a.remote)
            });
        }
    }
}
