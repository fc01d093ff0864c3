//! TCP and UDP fragments without reassembly (RFC 6146 §3.4, §3.5): the mapping a
//! datagram's first fragment chose serves its other fragments, and fragments that come
//! before their first one wait for it (bounded), each with its timer queue.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use sixgate_core::buf::PacketBuf;
use sixgate_core::engine::{Engine, Side};

use super::{Nat64, Nat64Drop, Queued, QUEUE_SLACK};
use crate::siit::Out;

/// A fragmented datagram: the direction (`v6`: from the IPv6 side), addresses (IPv4 ones
/// in the low 32 bits), identification and protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(super) struct FKey {
    pub(super) v6: bool,
    pub(super) src: u128,
    pub(super) dst: u128,
    pub(super) id: u32,
    pub(super) proto: u8,
}

/// An IPv6 fragment header: offset (bytes), more fragments, identification.
pub(super) type Frag6 = (u16, bool, u32);

/// The mapping a datagram's first fragment chose: the IPv6 client and its pool address.
#[derive(Debug, Clone, Copy)]
pub(super) struct FFlow {
    /// Ticks.
    pub(super) deadline: u32,
    pub(super) client: [u8; 16],
    pub(super) a4: u16,
}

/// Fragment state: the mappings first fragments chose and the fragments waiting for
/// their first fragment, each with its expiry queue.
#[derive(Debug)]
pub(super) struct Fragments {
    /// Fragmented datagrams whose first fragment was translated.
    pub(super) flows: HashMap<FKey, FFlow>,
    /// Their expiry: one (deadline, datagram) entry each, requeued at its real deadline
    /// when it pops after the mapping was refreshed.
    pub(super) flow_q: BinaryHeap<Reverse<(u32, FKey)>>,
    /// Fragments waiting for their datagram's first fragment, by datagram, oldest first,
    /// with their deadlines (ticks).
    pub(super) wait: HashMap<FKey, Vec<(u32, Vec<u8>)>>,
    /// (deadline, datagram) of every waiting fragment, oldest first; entries of
    /// fragments that left with their first fragment are skipped.
    pub(super) wait_q: VecDeque<(u32, FKey)>,
    /// Waiting fragments and their bytes.
    pub(super) wait_n: usize,
    pub(super) wait_bytes: usize,
    /// `fragment_timeout` (FRAGMENT_MIN).
    pub(super) life: Duration,
    pub(super) max_flows: usize,
    pub(super) max_bytes: usize,
}

impl Fragments {
    /// Empty, with `fragment_timeout`, `max_fragment_flows` and `max_fragment_bytes`.
    pub(super) fn new(life: Duration, max_flows: usize, max_bytes: usize) -> Self {
        Self {
            flows: HashMap::new(),
            flow_q: BinaryHeap::new(),
            wait: HashMap::new(),
            wait_q: VecDeque::new(),
            wait_n: 0,
            wait_bytes: 0,
            life,
            max_flows,
            max_bytes,
        }
    }

    /// Sets (or replaces) the mapping of datagram `k`; `false` when the table is full.
    fn start(&mut self, k: FKey, flow: FFlow) -> bool {
        let n = self.flows.len();
        match self.flows.get_mut(&k) {
            Some(f) => *f = flow,
            None if n < self.max_flows => {
                self.flows.insert(k, flow);
                self.flow_q.push(Reverse((flow.deadline, k)));
            }
            None => return false,
        }
        true
    }

    /// Takes the fragments of `k` that wait (their queue entries are skipped when they
    /// pop).
    fn take_waiting(&mut self, k: &FKey) -> Option<Vec<(u32, Vec<u8>)>> {
        let ready = self.wait.remove(k)?;
        self.wait_n -= ready.len();
        self.wait_bytes -= ready.iter().map(|w| w.1.len()).sum::<usize>();
        Some(ready)
    }

    /// The mapping of datagram `k`, kept until `deadline` from now on (the queued entry
    /// pops at the old deadline and is requeued at this one).
    fn refresh(&mut self, k: &FKey, deadline: u32) -> Option<FFlow> {
        self.flows.get_mut(k).map(|f| {
            f.deadline = deadline;
            *f
        })
    }

    /// Keeps fragment `p` of datagram `k` until `deadline`, if there is room.
    fn wait(&mut self, k: FKey, deadline: u32, p: &[u8]) -> bool {
        let n = p.len();
        if self.wait_bytes + n > self.max_bytes {
            return false;
        }
        self.wait.entry(k).or_default().push((deadline, p.to_vec()));
        self.wait_n += 1;
        self.wait_bytes += n;
        self.queue_wait(deadline, k);
        true
    }

    /// Queues the expiry of a waiting fragment of datagram `k` (deadline `d`, the latest
    /// so far); rebuilds the queue from the waiting fragments when entries left behind by
    /// fragments that went out with their first fragment have piled up.
    fn queue_wait(&mut self, d: u32, k: FKey) {
        if self.wait_q.len() >= 2 * self.wait_n + QUEUE_SLACK {
            let mut q: Vec<(u32, FKey)> =
                self.wait.iter().flat_map(|(k, v)| v.iter().map(move |w| (w.0, *k))).collect();
            q.sort_unstable();
            self.wait_q = q.into();
            // The new fragment is in the map already: its entry is in the rebuilt queue.
            return;
        }
        self.wait_q.push_back((d, k));
    }

    /// The earliest deadline queued (ticks): a mapping's or a waiting fragment's.
    pub(super) fn deadline(&self) -> Option<u32> {
        [self.flow_q.peek().map(|Reverse((d, _))| *d), self.wait_q.front().map(|f| f.0)].into_iter().flatten().min()
    }

    /// Forgets the mappings whose time is up at `tick` and drops the waiting fragments
    /// whose time is up; returns how many fragments it dropped (`fragment-timeout`).
    pub(super) fn expire(&mut self, tick: u32) -> u64 {
        let mut lost = 0;
        while let Some(&Reverse((d, k))) = self.flow_q.peek() {
            if d > tick {
                break;
            }
            self.flow_q.pop();
            match self.flows.get(&k) {
                // Refreshed by a later fragment (or replaced by a newer first fragment).
                Some(f) if f.deadline > tick => self.flow_q.push(Reverse((f.deadline, k))),
                Some(_) => {
                    self.flows.remove(&k);
                }
                None => {}
            }
        }
        while let Some(&(d, k)) = self.wait_q.front() {
            if d > tick {
                break;
            }
            self.wait_q.pop_front();
            // The datagram's oldest waiting fragment, if its time is up. (An entry left by
            // fragments that went out with their first fragment finds a younger one, or
            // none; every waiting fragment has its own entry, so each times out in time.)
            let Some(v) = self.wait.get_mut(&k) else { continue };
            if v.first().is_some_and(|w| w.0 <= tick) {
                let (_, p) = v.remove(0);
                if v.is_empty() {
                    self.wait.remove(&k);
                }
                self.wait_n -= 1;
                self.wait_bytes -= p.len();
                lost += 1;
            }
        }
        lost
    }

    /// The fragment state's part of [`Nat64::check_invariants`].
    pub(super) fn check(&self) -> Result<(), String> {
        let waiting = self.wait.values().flatten();
        if waiting.clone().map(|w| w.1.len()).sum::<usize>() != self.wait_bytes
            || waiting.count() != self.wait_n
            || self.wait.iter().any(|(k, v)| {
                v.is_empty()
                    || !v.is_sorted_by_key(|w| w.0)
                    || self.wait_q.iter().filter(|q| q.1 == *k).count() < v.len()
            })
            || !self.wait_q.iter().is_sorted_by_key(|q| q.0)
            // At most twice the most fragments ever waiting (20 bytes or more each).
            || self.wait_q.len() > 2 * (self.max_bytes / 20) + QUEUE_SLACK
            || self.wait_bytes > self.max_bytes
            || self.flows.len() > self.max_flows
            || self.flow_q.len() != self.flows.len()
            || self.flow_q.iter().map(|Reverse((_, k))| k).collect::<std::collections::HashSet<_>>().len()
                != self.flows.len()
            || self.flow_q.iter().any(|Reverse((d, k))| self.flows.get(k).is_none_or(|f| f.deadline < *d))
        {
            return Err("fragment store out of bounds or out of step".into());
        }
        Ok(())
    }
}

impl Nat64 {
    /// RFC 6146 §3.4 / §3.5: the first fragment of datagram `k` was translated (now in
    /// the caller's buffer) with the mapping `client` ↔ pool address `a4`; the datagram's other
    /// fragments follow that mapping for `fragment_timeout`. Fragments that came before
    /// it are translated now and queued for `poll_transmit`, after the rest of `buf`'s
    /// own output.
    pub(super) fn first_fragment(&mut self, k: FKey, client: [u8; 16], a4: u16, now: Instant, ms: u64) {
        let deadline = Self::deadline(ms, self.frags.life);
        // Full: the other fragments wait and time out (counted).
        if !self.frags.start(k, FFlow { deadline, client, a4 }) {
            return;
        }
        let Some(ready) = self.frags.take_waiting(&k) else {
            return;
        };
        // What the translator still has to send of this packet goes first.
        let mut tmp = PacketBuf::new();
        while let Some(side) = self.siit.poll_transmit(&mut tmp) {
            self.outbox.push(side, Queued::Extra, tmp.as_slice().to_vec());
        }
        for (_, p) in ready {
            let _ = tmp.set(&p);
            let r = self.fragment(&mut tmp, now, k, false, ms);
            match r {
                Ok(Out::Fwd(side)) => {
                    self.outbox.push(side, Queued::Forward, tmp.as_slice().to_vec());
                    while let Some(side) = self.siit.poll_transmit(&mut tmp) {
                        self.outbox.push(side, Queued::Extra, tmp.as_slice().to_vec());
                    }
                }
                Ok(Out::Reply(side, r)) => {
                    self.outbox.push(side, Queued::Answer(r.map(Nat64Drop::Xlate)), tmp.as_slice().to_vec())
                }
                // The fragment was counted as waiting; now its fate is known.
                Ok(Out::Drop(r)) => self.counters.release_dropped(Nat64Drop::Xlate(r)),
                Err(r) => self.counters.release_dropped(r),
            }
        }
    }

    /// A non-first fragment of datagram `k`: translated with the mapping its first
    /// fragment chose, or kept until that comes (at most `max_fragment_bytes` in all, for
    /// `fragment_timeout`; counted when it leaves or times out), indexed by datagram.
    /// Every fragment that uses the mapping keeps it for another `fragment_timeout` (RFC
    /// 6146 §4: FRAGMENT_MIN is a minimum), so a datagram whose fragments keep coming is
    /// not cut off.
    pub(super) fn fragment(
        &mut self,
        buf: &mut PacketBuf,
        now: Instant,
        k: FKey,
        hairpin: bool,
        ms: u64,
    ) -> Result<Out, Nat64Drop> {
        let refreshed = Self::deadline(ms, self.frags.life);
        let Some(f) = self.frags.refresh(&k, refreshed) else {
            if hairpin || !self.frags.wait(k, refreshed, buf.as_slice()) {
                return Err(Nat64Drop::Fragment);
            }
            return Err(Nat64Drop::FragmentHeld);
        };
        let client = Ipv6Addr::from(f.client);
        let a = Ipv4Addr::from(self.pool.addr_of(f.a4));
        if k.v6 {
            match self.siit.xlate_v6_with(buf, now, Some((client, a))) {
                // RFC 6146 §3.8 hairpinning.
                Out::Fwd(Side::V4) if self.local_hairpin && self.pool.has_addr(k.dst as u32) => {
                    self.inbound(buf, now, true)
                }
                other => Ok(other),
            }
        } else {
            Ok(self.siit.xlate_v4_with(buf, now, hairpin, Some((client, a))))
        }
    }
}
