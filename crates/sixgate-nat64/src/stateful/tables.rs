//! The tables: slabs of sessions, BIB entries, per-source and filtering counts, and the
//! hash indices over them.

use std::hash::{BuildHasher, RandomState};

use hashbrown::HashTable;
use sixgate_core::Protocol;

use super::TcpState;

/// Protocols as stored: 6 TCP, 17 UDP, 1 ICMP (queries; ICMPv6 ones too). 0 marks a free
/// slot. [`Protocol`]'s numbers, so that `u8::from(Protocol)` is the stored form.
pub(super) const TCP: u8 = Protocol::Tcp.number();
pub(super) const UDP: u8 = Protocol::Udp.number();
pub(super) const ICMP: u8 = Protocol::Icmp.number();

/// Slab chunks hold 2^12 entries.
pub(super) const CHUNK_BITS: u32 = 12;
pub(super) const CHUNK: usize = 1 << CHUNK_BITS;

/// Entries addressed by a `u32`, kept in fixed chunks of 4,096 (growth never copies
/// and leaves at most one chunk unused), with a free list of released slots and a count
/// of live entries per chunk, so that trailing chunks left empty (after a mass expiry)
/// can be given back ([`Slab::shrink`]).
#[derive(Debug)]
pub(super) struct Slab<T> {
    pub(super) chunks: Vec<Box<[T]>>,
    /// Live entries of each chunk.
    pub(super) live: Vec<u16>,
    /// Live entries in all.
    pub(super) n_live: usize,
    /// Slots handed out so far (live or on the free list).
    pub(super) len: u32,
    /// Released slots. Slots of chunks given back stay on it until popped, and are
    /// skipped then: the slab grows again only once the list is empty, so such a slot is
    /// never handed out twice.
    pub(super) free: Vec<u32>,
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Self { chunks: Vec::new(), live: Vec::new(), n_live: 0, len: 0, free: Vec::new() }
    }
}

impl<T: Copy + Default> Slab<T> {
    #[inline]
    pub(super) fn get(&self, i: u32) -> &T {
        &self.chunks[(i >> CHUNK_BITS) as usize][i as usize & (CHUNK - 1)]
    }
    #[inline]
    pub(super) fn get_mut(&mut self, i: u32) -> &mut T {
        &mut self.chunks[(i >> CHUNK_BITS) as usize][i as usize & (CHUNK - 1)]
    }
    /// The slot `i`, if the slab still has it (a timer entry may outlive a chunk given
    /// back by [`Slab::shrink`]).
    #[inline]
    pub(super) fn try_get_mut(&mut self, i: u32) -> Option<&mut T> {
        self.chunks.get_mut((i >> CHUNK_BITS) as usize)?.get_mut(i as usize & (CHUNK - 1))
    }
    pub(super) fn grow(&mut self) {
        self.chunks.push(vec![T::default(); CHUNK].into_boxed_slice());
        self.live.push(0);
    }
    /// Stores `v`. The engine holds fewer than `u32::MAX` live entries of any kind (the
    /// session limit is capped below it), so a slot index always exists.
    pub(super) fn alloc(&mut self, v: T) -> u32 {
        let mut slot = None;
        while let Some(i) = self.free.pop() {
            if i < self.len {
                slot = Some(i);
                break;
            }
        }
        let i = match slot {
            Some(i) => i,
            None => {
                let i = self.len;
                if i as usize == self.chunks.len() * CHUNK {
                    self.grow();
                }
                self.len += 1;
                i
            }
        };
        *self.get_mut(i) = v;
        self.live[(i >> CHUNK_BITS) as usize] += 1;
        self.n_live += 1;
        i
    }
    pub(super) fn release(&mut self, i: u32) {
        *self.get_mut(i) = T::default();
        self.live[(i >> CHUNK_BITS) as usize] -= 1;
        self.n_live -= 1;
        self.free.push(i);
    }
    pub(super) fn reserve(&mut self, n: usize) {
        let n = n.min(u32::MAX as usize);
        while self.chunks.len() * CHUNK < n {
            self.grow();
        }
    }
    /// Gives back up to `max` trailing chunks that hold no live entry, when those are at
    /// least an eighth of the slab (or all of it), so that a slab is not cut and regrown
    /// a chunk at a time, or else the room of a free list much longer than the slab
    /// needs. Returns whether it did something (so there may be more to do).
    pub(super) fn shrink(&mut self, max: usize) -> bool {
        let empty = self.live.iter().rev().take_while(|&&n| n == 0).count();
        if empty == 0 || (empty * 8 < self.chunks.len() && self.n_live > 0) {
            // Few entries left, on a free list grown by a mass expiry: rebuilt without
            // the slots of chunks given back (one pass over it, about a millisecond at a
            // million).
            let stale = self.free.len() > self.len as usize - self.n_live;
            if stale && self.n_live <= SHRINK_MAX_LIVE && self.free.capacity() > 4 * (self.n_live + CHUNK) {
                let len = self.len;
                self.free.retain(|&i| i < len);
                self.free.shrink_to_fit();
                return true;
            }
            return false;
        }
        let keep = self.chunks.len() - empty.min(max);
        self.chunks.truncate(keep);
        self.live.truncate(keep);
        self.len = self.len.min((keep * CHUNK) as u32);
        if keep == 0 {
            *self = Self::default();
        }
        true
    }
    /// Checks the bookkeeping: the live counts (per chunk and in all) agree with the
    /// entries `is_live` says are live, and every slot below `len` is live or on the free
    /// list exactly once (entries of chunks given back may remain above it).
    pub(super) fn check(&self, is_live: impl Fn(&T) -> bool) -> Result<(), String> {
        let mut per_chunk = vec![0u16; self.chunks.len()];
        let mut n = 0;
        for (i, e) in self.slots() {
            if is_live(e) {
                per_chunk[(i >> CHUNK_BITS) as usize] += 1;
                n += 1;
            }
        }
        if per_chunk != self.live || n != self.n_live || self.live.len() != self.chunks.len() {
            return Err(format!("slab live counts: {n} live, counted {}", self.n_live));
        }
        let mut seen = vec![false; self.len as usize];
        for &i in self.free.iter().filter(|&&i| i < self.len) {
            if is_live(self.get(i)) || std::mem::replace(&mut seen[i as usize], true) {
                return Err(format!("slab slot {i} free twice or free and live"));
            }
        }
        if seen.iter().filter(|&&f| f).count() + n != self.len as usize {
            return Err("slab slots neither live nor free".into());
        }
        Ok(())
    }
    /// Live and free slots (for iteration in checks).
    pub(super) fn slots(&self) -> impl Iterator<Item = (u32, &T)> {
        (0..self.len).map(move |i| (i, self.get(i)))
    }
    pub(super) fn bytes(&self) -> usize {
        self.chunks.len() * CHUNK * size_of::<T>()
            + self.chunks.capacity() * size_of::<Box<[T]>>()
            + self.live.capacity() * size_of::<u16>()
            + self.free.capacity() * size_of::<u32>()
    }
}

/// Slab chunks given back at most per [`Engine::handle_timeout`] (each is one `munmap`).
pub(super) const SHRINK_CHUNKS: usize = 16;

/// Hash indices are rebuilt smaller after a mass expiry when they hold at most this
/// many entries (a rehash of this many is well under a millisecond) and use at most an
/// eighth of their room.
pub(super) const SHRINK_MAX_LIVE: usize = 4096;

/// Shrinks a hash index of slab slots (see [`SHRINK_MAX_LIVE`]); `hash` rehashes a slot.
/// Shrinks one: giving back a large index's memory takes about a millisecond (a
/// million-session index is 10 MiB), so at most `budget` indices are shrunk per call.
/// Returns whether `t` still wants shrinking.
pub(super) fn shrink_index(t: &mut HashTable<u32>, budget: &mut u32, hash: impl Fn(&u32) -> u64) -> bool {
    if t.capacity() <= 64 || t.len() > SHRINK_MAX_LIVE || t.len() * 8 > t.capacity() {
        return false;
    }
    if *budget == 0 {
        return true;
    }
    *budget -= 1;
    t.shrink_to(t.len() * 2, hash);
    false
}

/// Bytes of a hash table of `u32` slab indices: `buckets` × (4 + 1 control byte) plus a
/// group of trailing control bytes (hashbrown keeps 1/8 of the buckets free).
pub(super) fn index_bytes(t: &HashTable<u32>) -> usize {
    let c = t.capacity();
    if c == 0 {
        return 0;
    }
    let buckets = if c < 8 { (c + 1).next_power_of_two() } else { (c * 8 / 7).next_power_of_two() };
    buckets * (size_of::<u32>() + 1) + 16
}

/// A session key: the IPv6 transport address, the remote IPv4 transport address (the
/// remote IPv6 address is pool6 + that IPv4 address; for ICMP the remote port is 0) and
/// the protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct SKey {
    pub(super) client: [u8; 16],
    pub(super) remote: u32,
    pub(super) port: u16,
    pub(super) rport: u16,
    pub(super) proto: u8,
}

/// A session (40 bytes): its key, its BIB entry's IPv4 side (pool address index and
/// port), expiry and timer-queue deadline in ticks, TCP state.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Sess {
    pub(super) client: [u8; 16],
    pub(super) remote: u32,
    pub(super) port: u16,
    pub(super) rport: u16,
    pub(super) a4: u16,
    pub(super) p4: u16,
    /// Expiry (ticks).
    pub(super) expires: u32,
    /// The deadline of this session's entry in the timer queue (ticks).
    pub(super) queued: u32,
    /// 0: free slot.
    pub(super) proto: u8,
    pub(super) state: TcpState,
}

impl Sess {
    #[inline]
    pub(super) fn key(&self) -> SKey {
        SKey { client: self.client, remote: self.remote, port: self.port, rport: self.rport, proto: self.proto }
    }
}

/// A BIB entry (26 bytes): IPv6 transport address ↔ (pool address index, port).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Bib {
    pub(super) client: [u8; 16],
    pub(super) port: u16,
    pub(super) a4: u16,
    pub(super) p4: u16,
    /// Sessions using it (at most the per-source limit, itself at most 65,535).
    pub(super) sessions: u16,
    /// 0: free slot.
    pub(super) proto: u8,
}

/// Sessions of one IPv6 source address (18 bytes; `n` 0: free slot).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Client {
    pub(super) addr: [u8; 16],
    pub(super) n: u16,
}

/// Address-dependent filtering: sessions of one BIB entry with one remote IPv4 address
/// (12 bytes).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Adf {
    pub(super) remote: u32,
    pub(super) a4: u16,
    pub(super) p4: u16,
    pub(super) n: u16,
    /// 0: free slot.
    pub(super) proto: u8,
}

/// The tables: entries in slabs, and hash indices of `u32` slab slots whose keys are read
/// from the slabs. Hashing is SipHash keyed per engine ([`RandomState`]), so colliding
/// keys cannot be chosen from outside.
#[derive(Debug, Default)]
pub(super) struct Tables {
    pub(super) hs: RandomState,
    pub(super) sess: Slab<Sess>,
    /// Sessions by key.
    pub(super) sidx: HashTable<u32>,
    /// Sessions by their IPv4 side (pool address index and port, remote address and
    /// port, protocol), so that an IPv4 packet of an established session costs one lookup.
    pub(super) s4idx: HashTable<u32>,
    pub(super) bib: Slab<Bib>,
    /// BIB entries by IPv6 transport address.
    pub(super) b6: HashTable<u32>,
    /// BIB entries by IPv4 transport address.
    pub(super) b4: HashTable<u32>,
    pub(super) clients: Slab<Client>,
    pub(super) cidx: HashTable<u32>,
    /// Kept only under address-dependent filtering.
    pub(super) adf: Slab<Adf>,
    pub(super) aidx: HashTable<u32>,
}

#[inline]
pub(super) fn hash_s(hs: &RandomState, k: &SKey) -> u64 {
    let x = (u64::from(k.remote) << 32) | (u64::from(k.port) << 16) | u64::from(k.rport);
    hs.hash_one((u128::from_ne_bytes(k.client), x, k.proto))
}
#[inline]
pub(super) fn hash_s4(hs: &RandomState, proto: u8, a4: u16, p4: u16, remote: u32, rport: u16) -> u64 {
    let x = (u64::from(a4) << 32) | (u64::from(p4) << 16) | u64::from(rport);
    hs.hash_one((x, remote, proto))
}
#[inline]
pub(super) fn hash_s4_of(hs: &RandomState, s: &Sess) -> u64 {
    hash_s4(hs, s.proto, s.a4, s.p4, s.remote, s.rport)
}
#[inline]
pub(super) fn hash_b6(hs: &RandomState, proto: u8, client: &[u8; 16], port: u16) -> u64 {
    hs.hash_one((u128::from_ne_bytes(*client), (u32::from(port) << 8) | u32::from(proto)))
}
#[inline]
pub(super) fn hash_b4(hs: &RandomState, proto: u8, a4: u16, p4: u16) -> u64 {
    hs.hash_one((u64::from(a4) << 24) | (u64::from(p4) << 8) | u64::from(proto))
}
#[inline]
pub(super) fn hash_c(hs: &RandomState, addr: &[u8; 16]) -> u64 {
    hs.hash_one(u128::from_ne_bytes(*addr))
}
#[inline]
pub(super) fn hash_a(hs: &RandomState, proto: u8, a4: u16, p4: u16, remote: u32) -> u64 {
    hs.hash_one(((u64::from(a4) << 24) | (u64::from(p4) << 8) | u64::from(proto), remote))
}

impl Tables {
    #[inline]
    pub(super) fn find_sess(&self, k: &SKey) -> Option<u32> {
        self.sidx.find(hash_s(&self.hs, k), |&i| self.sess.get(i).key() == *k).copied()
    }
    #[inline]
    pub(super) fn find_sess4(&self, proto: u8, a4: u16, p4: u16, remote: u32, rport: u16) -> Option<u32> {
        let h = hash_s4(&self.hs, proto, a4, p4, remote, rport);
        self.s4idx
            .find(h, |&i| {
                let s = self.sess.get(i);
                s.p4 == p4 && s.rport == rport && s.remote == remote && s.a4 == a4 && s.proto == proto
            })
            .copied()
    }
    #[inline]
    pub(super) fn find_b6(&self, proto: u8, client: &[u8; 16], port: u16) -> Option<u32> {
        let h = hash_b6(&self.hs, proto, client, port);
        self.b6
            .find(h, |&i| {
                let b = self.bib.get(i);
                b.port == port && b.proto == proto && b.client == *client
            })
            .copied()
    }
    #[inline]
    pub(super) fn find_b4(&self, proto: u8, a4: u16, p4: u16) -> Option<u32> {
        let h = hash_b4(&self.hs, proto, a4, p4);
        self.b4
            .find(h, |&i| {
                let b = self.bib.get(i);
                b.p4 == p4 && b.a4 == a4 && b.proto == proto
            })
            .copied()
    }
    pub(super) fn find_client(&self, addr: &[u8; 16]) -> Option<u32> {
        self.cidx.find(hash_c(&self.hs, addr), |&i| self.clients.get(i).addr == *addr).copied()
    }
    pub(super) fn find_adf(&self, proto: u8, a4: u16, p4: u16, remote: u32) -> Option<u32> {
        let h = hash_a(&self.hs, proto, a4, p4, remote);
        self.aidx
            .find(h, |&i| {
                let a = self.adf.get(i);
                a.remote == remote && a.p4 == p4 && a.a4 == a4 && a.proto == proto
            })
            .copied()
    }

    pub(super) fn insert_sess(&mut self, s: Sess) -> u32 {
        let i = self.sess.alloc(s);
        let (hs, sess) = (&self.hs, &self.sess);
        self.sidx.insert_unique(hash_s(hs, &s.key()), i, |&j| hash_s(hs, &sess.get(j).key()));
        self.s4idx.insert_unique(hash_s4_of(hs, &s), i, |&j| hash_s4_of(hs, sess.get(j)));
        i
    }
    pub(super) fn insert_bib(&mut self, b: Bib) -> u32 {
        let i = self.bib.alloc(b);
        let (hs, bib) = (&self.hs, &self.bib);
        self.b6.insert_unique(hash_b6(hs, b.proto, &b.client, b.port), i, |&j| {
            let b = bib.get(j);
            hash_b6(hs, b.proto, &b.client, b.port)
        });
        self.b4.insert_unique(hash_b4(hs, b.proto, b.a4, b.p4), i, |&j| {
            let b = bib.get(j);
            hash_b4(hs, b.proto, b.a4, b.p4)
        });
        i
    }
    pub(super) fn insert_client(&mut self, c: Client) -> u32 {
        let i = self.clients.alloc(c);
        let (hs, cl) = (&self.hs, &self.clients);
        self.cidx.insert_unique(hash_c(hs, &c.addr), i, |&j| hash_c(hs, &cl.get(j).addr));
        i
    }
    pub(super) fn insert_adf(&mut self, a: Adf) -> u32 {
        let i = self.adf.alloc(a);
        let (hs, adf) = (&self.hs, &self.adf);
        self.aidx.insert_unique(hash_a(hs, a.proto, a.a4, a.p4, a.remote), i, |&j| {
            let a = adf.get(j);
            hash_a(hs, a.proto, a.a4, a.p4, a.remote)
        });
        i
    }

    pub(super) fn remove_sess(&mut self, i: u32) {
        let h = hash_s(&self.hs, &self.sess.get(i).key());
        if let Ok(e) = self.sidx.find_entry(h, |&j| j == i) {
            e.remove();
        }
        let h = hash_s4_of(&self.hs, self.sess.get(i));
        if let Ok(e) = self.s4idx.find_entry(h, |&j| j == i) {
            e.remove();
        }
        self.sess.release(i);
    }
    pub(super) fn remove_bib(&mut self, i: u32) {
        let b = *self.bib.get(i);
        if let Ok(e) = self.b6.find_entry(hash_b6(&self.hs, b.proto, &b.client, b.port), |&j| j == i) {
            e.remove();
        }
        if let Ok(e) = self.b4.find_entry(hash_b4(&self.hs, b.proto, b.a4, b.p4), |&j| j == i) {
            e.remove();
        }
        self.bib.release(i);
    }
    pub(super) fn remove_client(&mut self, i: u32) {
        let h = hash_c(&self.hs, &self.clients.get(i).addr);
        if let Ok(e) = self.cidx.find_entry(h, |&j| j == i) {
            e.remove();
        }
        self.clients.release(i);
    }
    pub(super) fn remove_adf(&mut self, i: u32) {
        let a = *self.adf.get(i);
        if let Ok(e) = self.aidx.find_entry(hash_a(&self.hs, a.proto, a.a4, a.p4, a.remote), |&j| j == i) {
            e.remove();
        }
        self.adf.release(i);
    }

    /// Gives back memory after a mass expiry where that is cheap: empty trailing slab
    /// chunks (a few per call), and hash indices that hold few entries for their size
    /// (see [`SHRINK_MAX_LIVE`]). Slots of live entries do not move. Returns whether
    /// there is more to give back.
    pub(super) fn shrink(&mut self) -> bool {
        let Self { hs, sess, sidx, s4idx, bib, b6, b4, clients, cidx, adf, aidx } = self;
        let n = SHRINK_CHUNKS;
        // One slab at a time: the last chunks of each go with its free list, a few MiB.
        let mut more = sess.shrink(n) || bib.shrink(n) || clients.shrink(n) || adf.shrink(n);
        let b = &mut 1;
        more |= shrink_index(sidx, b, |&j| hash_s(hs, &sess.get(j).key()));
        more |= shrink_index(s4idx, b, |&j| hash_s4_of(hs, sess.get(j)));
        more |= shrink_index(b6, b, |&j| {
            let b = bib.get(j);
            hash_b6(hs, b.proto, &b.client, b.port)
        });
        more |= shrink_index(b4, b, |&j| {
            let b = bib.get(j);
            hash_b4(hs, b.proto, b.a4, b.p4)
        });
        more |= shrink_index(cidx, b, |&j| hash_c(hs, &clients.get(j).addr));
        more |= shrink_index(aidx, b, |&j| {
            let a = adf.get(j);
            hash_a(hs, a.proto, a.a4, a.p4, a.remote)
        });
        more
    }

    /// Room for `n` sessions and as many BIB entries (and filtering counts, with `adf`).
    pub(super) fn reserve(&mut self, n: usize, adf: bool) {
        let t = self;
        let hs = &t.hs;
        t.sess.reserve(n);
        let sess = &t.sess;
        t.sidx.reserve(n.saturating_sub(t.sidx.len()), |&j| hash_s(hs, &sess.get(j).key()));
        t.s4idx.reserve(n.saturating_sub(t.s4idx.len()), |&j| hash_s4_of(hs, sess.get(j)));
        t.bib.reserve(n);
        let bib = &t.bib;
        t.b6.reserve(n.saturating_sub(t.b6.len()), |&j| {
            let b = bib.get(j);
            hash_b6(hs, b.proto, &b.client, b.port)
        });
        t.b4.reserve(n.saturating_sub(t.b4.len()), |&j| {
            let b = bib.get(j);
            hash_b4(hs, b.proto, b.a4, b.p4)
        });
        if adf {
            t.adf.reserve(n);
            let adf = &t.adf;
            t.aidx.reserve(n.saturating_sub(t.aidx.len()), |&j| {
                let a = adf.get(j);
                hash_a(hs, a.proto, a.a4, a.p4, a.remote)
            });
        }
    }

    pub(super) fn bytes(&self) -> usize {
        self.sess.bytes()
            + self.bib.bytes()
            + self.clients.bytes()
            + self.adf.bytes()
            + [&self.sidx, &self.s4idx, &self.b6, &self.b4, &self.cidx, &self.aidx]
                .iter()
                .map(|t| index_bytes(t))
                .sum::<usize>()
    }
}

/// Counts of what the tables hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TableStats {
    /// BIB entries.
    pub bib: usize,
    /// Sessions.
    pub sessions: usize,
    /// Entries in the timer queue (sessions plus stale entries not yet popped).
    pub timers: usize,
    /// Unsolicited IPv4 SYNs held (RFC 6146 §3.5.2.2).
    pub held_syns: usize,
}
