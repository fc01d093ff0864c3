//! [`Nat64Shards::reconfigure`]: every shard takes a new configuration at once.

use std::time::Instant;

use ipnet::Ipv4Net;

use super::{lock, Nat64Shards};
use crate::reload::ReloadReport;
use crate::stateful::{Nat64Config, Pool4Range};
use crate::ConfigError;

impl Nat64Shards {
    /// Takes `new` live on every shard ([`crate::Nat64::reconfigure`] says what changes
    /// and how), all shards at once (each is locked, in order, while the new
    /// configuration is applied; handles never hold two locks). `new` and every shard's
    /// part of it are validated first: one that fails changes nothing.
    ///
    /// Which shard owns a packet is decided by the shard count, the seed (IPv6 sources)
    /// and the pool4 port slices (IPv4 destinations), fixed when the shards were made;
    /// so a different `shards` count or `seed` needs a restart, and pool4 may only
    /// shrink live: each shard keeps its own slice, cut to the new pool4, and a session
    /// on a removed address or port ends. A pool4 with addresses or ports that the
    /// running one does not have (or one that would leave a shard without a port) needs
    /// a restart and is not applied at all.
    pub fn reconfigure(&self, new: Nat64Config, shards: usize, now: Instant) -> Result<ReloadReport, ConfigError> {
        new.validate()?;
        let n = self.len();
        let mut r = ReloadReport::default();
        if shards.max(1) != n {
            r.mark_restart("shards");
        }
        let steer = &self.shared.steer;
        let seed = if new.seed != steer.seed {
            r.mark_restart("seed");
            steer.seed
        } else {
            new.seed
        };
        let current: Vec<Vec<Pool4Range>> = self.shared.shards.iter().map(|m| lock(m).pool4().to_vec()).collect();
        // Shrinking only: every new range lies within one running range.
        let shrinks = new.pool4.iter().all(|q| {
            let (a, b) = (u32::from(q.prefix.network()), u32::from(q.prefix.broadcast()));
            steer.pool.iter().any(|&(lo, hi, first, last)| lo <= a && b <= hi && first <= q.first && q.last <= last)
        });
        let mut slices: Vec<Vec<Pool4Range>> = current.iter().map(|s| cut(s, &new.pool4)).collect();
        if !shrinks || slices.iter().any(|s| s.is_empty()) {
            r.mark_restart("pool4");
            slices = current;
        }
        let split = |v: usize| v.div_ceil(n);
        let split32 = |v: u32| v.div_ceil(n as u32);
        let cfgs = slices
            .into_iter()
            .enumerate()
            .map(|(k, pool4)| {
                // As `Nat64Shards::new` splits the limits.
                let mut c = new.clone();
                c.pool4 = pool4;
                c.max_sessions = split(new.max_sessions);
                c.max_held_syns = split(new.max_held_syns);
                c.max_fragment_flows = split(new.max_fragment_flows);
                c.max_fragment_bytes = split(new.max_fragment_bytes / 2);
                c.xlate.icmp_rate.per_second = split32(new.xlate.icmp_rate.per_second);
                c.xlate.icmp_rate.burst = split32(new.xlate.icmp_rate.burst);
                c.max_new_sessions_per_second = split32(new.max_new_sessions_per_second);
                c.new_sessions_burst = split32(new.new_sessions_burst);
                c.seed = seed ^ (k as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
                c.validate()?;
                Ok(c)
            })
            .collect::<Result<Vec<_>, ConfigError>>()?;
        let mut guards: Vec<_> = self.shared.shards.iter().map(lock).collect();
        for (e, c) in guards.iter_mut().zip(cfgs) {
            let mut sr = e.reconfigure(c, now)?;
            // A shard's seed is its own; whether the engine's changed is decided above.
            sr.changed.retain(|&c| c != "seed");
            r.merge(sr);
        }
        drop(guards);
        let mut f = self.shared.frags.lock().unwrap_or_else(|e| e.into_inner());
        f.life = new.fragment_timeout;
        f.max_owners = new.max_fragment_flows;
        f.max_bytes = new.max_fragment_bytes - new.max_fragment_bytes / 2;
        Ok(r)
    }
}

/// The parts of `slice` (a shard's ranges) that `pool4` still holds.
fn cut(slice: &[Pool4Range], pool4: &[Pool4Range]) -> Vec<Pool4Range> {
    let mut out = Vec::new();
    for s in slice {
        for q in pool4 {
            // Two prefixes share addresses only when one holds the other.
            let prefix: Option<Ipv4Net> = if s.prefix.contains(&q.prefix) {
                Some(q.prefix)
            } else if q.prefix.contains(&s.prefix) {
                Some(s.prefix)
            } else {
                None
            };
            let (first, last) = (s.first.max(q.first), s.last.min(q.last));
            if let Some(p) = prefix.filter(|_| first <= last) {
                out.push(Pool4Range::new(p, first, last));
            }
        }
    }
    out
}
