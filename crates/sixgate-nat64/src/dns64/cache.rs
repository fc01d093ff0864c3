//! A bounded, sharded cache of DNS answers (sans-IO: the time is passed in).
//!
//! The DNS64 server keeps two: the upstream's answers keyed by [`upstream_key`] (name
//! lower-cased, type, class, and the RD, DO and CD bits, so that answers for DNSSEC-aware
//! or checking-disabled queries are never given to plain ones and back), and its own whole
//! answers keyed by [`client_key`] (the client's query but its ID, so any two queries with
//! the same key get the same answer). What the upstream said is cached as it said it, and
//! [`Dns64`](super::Dns64) decides what to make of it, cached or not.
//!
//! - How long (RFC 2308): a positive answer for the lowest TTL of its records (RFC 2181
//!   §5.2, an RRset's TTLs agree, and the answer is as old as its youngest), at most
//!   [`CacheConfig::max_ttl`]; a negative one (NXDOMAIN, or NOERROR without an answer, §2)
//!   for the lower of the SOA's TTL and its MINIMUM field (§5), at most
//!   [`CacheConfig::max_negative_ttl`], and not at all without an SOA (§5: it SHOULD NOT be
//!   cached). A synthesized AAAA answer carries the TTL RFC 6147 §5.1.7 gives it (the A
//!   record's, capped by the SOA of the negative AAAA answer): the same rule caches it no
//!   longer. Other RCODEs (SERVFAIL, REFUSED, FORMERR, …) and truncated answers are not
//!   cached.
//! - TTLs count down: an answer served from the cache has every TTL lowered by the whole
//!   seconds since it was stored (RFC 1035 §4.1.3's TTL is the time left), and the ID of the
//!   query it answers. OPT pseudo-records are left as they are (their TTL field holds the
//!   extended RCODE and flags, RFC 6891 §6.1.3).
//! - Bounded: at most [`CacheConfig::max_entries`] answers (of at most 65535 bytes) in
//!   `shards` shards picked by a keyed hash, each behind its own lock and evicting by CLOCK
//!   (a second chance for entries read since the hand last passed, expired entries first).
//!   A cache of size 0 stores nothing.
//! - Memory: about [`ENTRY_OVERHEAD`] bytes per entry plus its key (about the query's
//!   length) and answer (the message's length); a 60-byte key and a 100-byte answer make
//!   about 290 bytes.

use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hashbrown::HashTable;

/// The bytes an entry costs besides its key and answer: the slot, the hash table's index,
/// the TTL offsets of a typical answer, allocator rounding.
pub const ENTRY_OVERHEAD: usize = size_of::<Slot>() + 8 + 16 + 32;

/// Cache settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheConfig {
    /// Answers kept at most (rounded up to a whole number per shard); 0 disables the
    /// cache.
    pub max_entries: usize,
    /// Positive answers are kept at most this long, whatever their TTL (seconds).
    pub max_ttl: u32,
    /// Negative answers are kept at most this long (seconds; RFC 2308 §5 suggests 1 to 3
    /// hours as an upper bound).
    pub max_negative_ttl: u32,
}

impl CacheConfig {
    /// `max_entries` answers, positive ones at most a day, negative ones at most an hour.
    pub fn new(max_entries: usize) -> Self {
        Self { max_entries, max_ttl: 86_400, max_negative_ttl: 3_600 }
    }
}

impl Default for CacheConfig {
    /// 100,000 answers, see [`CacheConfig::new`].
    fn default() -> Self {
        Self::new(100_000)
    }
}

/// What [`Cache::insert`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Insert {
    /// Not stored: the cache is off, or the answer must not be cached.
    Skipped,
    /// Stored, in free room, over an expired answer or the one under the same key.
    Stored,
    /// Stored in the place of a live answer (evicted).
    Evicted,
}

/// Counters of a cache.
#[derive(Debug, Default)]
pub struct CacheStats {
    /// Lookups that found a live answer.
    pub hits: AtomicU64,
    /// Lookups that found none (or an expired one).
    pub misses: AtomicU64,
    /// Live answers removed to make room.
    pub evictions: AtomicU64,
    /// Answers stored.
    pub inserts: AtomicU64,
}

struct Slot {
    hash: u64,
    key: Box<[u8]>,
    answer: Box<[u8]>,
    /// Offsets of the TTL fields to count down.
    ttls: Box<[u16]>,
    stored: Instant,
    expires: Instant,
    /// The caller's byte kept with the answer.
    meta: u8,
    referenced: bool,
}

#[derive(Default)]
struct Shard {
    index: HashTable<usize>,
    slots: Vec<Slot>,
    hand: usize,
}

/// The bounded, sharded answer cache.
pub struct Cache {
    shards: Box<[Mutex<Shard>]>,
    per_shard: usize,
    hasher: std::collections::hash_map::RandomState,
    config: CacheConfig,
    stats: CacheStats,
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache").field("config", &self.config).field("len", &self.len()).finish()
    }
}

const TYPE_OPT: u16 = 41;
const TYPE_SOA: u16 = 6;

fn u16_at(m: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*m.get(at)?, *m.get(at + 1)?]))
}

fn u32_at(m: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(m.get(at..at + 4)?.try_into().ok()?))
}

/// The offset after the (possibly compressed) name at `at`.
fn skip_name(m: &[u8], mut at: usize) -> Option<usize> {
    for _ in 0..128 {
        let len = *m.get(at)?;
        match len {
            0 => return Some(at + 1),
            l if l & 0xc0 == 0xc0 => return Some(at + 2),
            l if l & 0xc0 != 0 => return None,
            l => at += 1 + usize::from(l),
        }
    }
    None
}

/// The end of the single question of `m` (offset after QTYPE and QCLASS).
fn question_end(m: &[u8]) -> Option<usize> {
    if u16_at(m, 4)? != 1 {
        return None;
    }
    let at = skip_name(m, 12)? + 4;
    (at <= m.len()).then_some(at)
}

/// The DO bit of the OPT record in the additional section, if any (RFC 6891 §6.1.4).
fn dnssec_ok(m: &[u8], mut at: usize) -> Option<bool> {
    let (an, ns, ar) = (u16_at(m, 6)?, u16_at(m, 8)?, u16_at(m, 10)?);
    for i in 0..(u32::from(an) + u32::from(ns) + u32::from(ar)) {
        at = skip_name(m, at)?;
        let ty = u16_at(m, at)?;
        if ty == TYPE_OPT && i >= u32::from(an) + u32::from(ns) {
            return Some(m.get(at + 6)? & 0x80 != 0);
        }
        at += 10 + usize::from(u16_at(m, at + 8)?);
    }
    Some(false)
}

/// The query to send upstream for `query` (a client's, or one the DNS64 built): the same,
/// with the options of its OPT record removed. RFC 6891 §6.1.1: the OPT record is
/// hop-by-hop, never forwarded; its options (a cookie, RFC 7873; a client subnet; padding)
/// belong to the client's hop, and the upstream's answer to them would be served to other
/// clients from the cache. The OPT's UDP size, extended RCODE, version and flags (DO) stay.
/// `None` when the query is not one question followed by additional records only, or the
/// OPT record is not the last one (e.g. before a TSIG): then it must go as it is, and its
/// answer is neither cached nor shared.
pub fn upstream_query(query: &[u8]) -> Option<Vec<u8>> {
    let end = question_end(query)?;
    if u16_at(query, 6)? != 0 || u16_at(query, 8)? != 0 {
        return None;
    }
    let ar = u16_at(query, 10)?;
    let mut at = end;
    for i in 0..ar {
        let owner_end = skip_name(query, at)?;
        let ty = u16_at(query, owner_end)?;
        let next = owner_end + 10 + usize::from(u16_at(query, owner_end + 8)?);
        if next > query.len() {
            return None;
        }
        if ty == TYPE_OPT {
            if i + 1 != ar || next != query.len() {
                return None;
            }
            let mut q = query[..owner_end + 8].to_vec();
            q.extend_from_slice(&[0, 0]);
            return Some(q);
        }
        at = next;
    }
    (at == query.len()).then(|| query.to_vec())
}

/// The key of a query sent upstream: the question (name lower-cased, type, class) and the
/// RD, CD and DO bits. `None` for a message that is not one well-formed question.
pub fn upstream_key(query: &[u8]) -> Option<Vec<u8>> {
    let end = question_end(query)?;
    let mut k = query[12..end].to_ascii_lowercase();
    let flags = (query[2] & 0x01) | (query[3] & 0x10) | if dnssec_ok(query, end)? { 0x80 } else { 0 };
    k.push(flags);
    Some(k)
}

/// The key of a client's whole query, for its whole answer: every byte but the ID and the
/// EDNS options, the question's name lower-cased, and the transport (it bounds the
/// answer's size). The options are left out because the answer never depends on them: they
/// are not passed upstream ([`upstream_query`]) nor echoed. `None` for a message that is
/// not one well-formed question with additional records only, the OPT record last.
pub fn client_key(query: &[u8], tcp: bool) -> Option<Vec<u8>> {
    let query = &upstream_query(query)?;
    let end = question_end(query)?;
    let mut k = Vec::with_capacity(query.len() - 1);
    k.push(u8::from(tcp));
    k.extend_from_slice(&query[2..12]);
    k.extend(query[12..end].iter().map(u8::to_ascii_lowercase));
    k.extend_from_slice(&query[end..]);
    Some(k)
}

/// How long an answer may be cached (RFC 2308), and the offsets of its TTLs; `None` if it
/// must not be cached.
fn lifetime(m: &[u8], cfg: &CacheConfig) -> Option<(u32, Vec<u16>)> {
    if m.len() > usize::from(u16::MAX) || m[2] & 0x02 != 0 || m[2] & 0x80 == 0 {
        return None; // truncated, or not a response
    }
    let rcode = m[3] & 0x0f;
    if rcode != 0 && rcode != 3 {
        return None;
    }
    let (an, ns, ar) = (u16_at(m, 6)?, u16_at(m, 8)?, u16_at(m, 10)?);
    let mut at = question_end(m)?;
    let (mut min_ttl, mut soa) = (u32::MAX, None::<u32>);
    let mut ttls = Vec::new();
    for i in 0..(u32::from(an) + u32::from(ns) + u32::from(ar)) {
        at = skip_name(m, at)?;
        let ty = u16_at(m, at)?;
        let ttl = u32_at(m, at + 4)?;
        let rdlen = usize::from(u16_at(m, at + 8)?);
        let rdata = at + 10;
        m.get(rdata..rdata + rdlen)?;
        if ty != TYPE_OPT {
            ttls.push(u16::try_from(at + 4).ok()?);
            if i < u32::from(an) {
                min_ttl = min_ttl.min(ttl);
            } else if i < u32::from(an) + u32::from(ns) && ty == TYPE_SOA {
                // RFC 2308 §5: the SOA's MINIMUM is the last 32 bits of its RDATA.
                let minimum = u32_at(m, rdata + rdlen.checked_sub(4)?)?;
                soa = Some(soa.unwrap_or(u32::MAX).min(ttl.min(minimum)));
            }
        }
        at = rdata + rdlen;
    }
    let secs = if rcode == 3 || an == 0 {
        // RFC 2308 §5: negative answers without SOA are not cached.
        soa?.min(cfg.max_negative_ttl)
    } else {
        min_ttl.min(cfg.max_ttl)
    };
    // TTLs with the top bit set are read as 0 (RFC 2181 §8).
    let secs = if secs > i32::MAX as u32 { 0 } else { secs };
    (secs > 0).then_some((secs, ttls))
}

impl Cache {
    /// A cache with these settings, in `shards` shards (at least one; fewer when the
    /// cache is smaller than that).
    pub fn new(config: CacheConfig, shards: usize) -> Self {
        let n = shards.clamp(1, config.max_entries.max(1));
        let per_shard = config.max_entries.div_ceil(n);
        Self {
            shards: (0..n).map(|_| Mutex::default()).collect(),
            per_shard,
            hasher: std::collections::hash_map::RandomState::new(),
            config,
            stats: CacheStats::default(),
        }
    }

    /// The settings.
    pub fn config(&self) -> &CacheConfig {
        &self.config
    }

    /// The counters.
    pub fn stats(&self) -> &CacheStats {
        &self.stats
    }

    /// Whether the cache stores anything at all (size above 0).
    pub fn enabled(&self) -> bool {
        self.per_shard > 0
    }

    fn shard(&self, hash: u64) -> &Mutex<Shard> {
        &self.shards[(hash >> 32) as usize % self.shards.len()]
    }

    fn lock(&self, hash: u64) -> std::sync::MutexGuard<'_, Shard> {
        self.shard(hash).lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The answer stored under `key` if still live at `now`: with the ID `id`, every TTL
    /// lowered by the seconds it spent in the cache, and the byte stored with it.
    pub fn get(&self, key: &[u8], id: u16, now: Instant) -> Option<(Vec<u8>, u8)> {
        if !self.enabled() {
            return None;
        }
        let hash = self.hasher.hash_one(key);
        let found = {
            let mut s = self.lock(hash);
            let Shard { index, slots, .. } = &mut *s;
            match index.find(hash, |&i| &*slots[i].key == key) {
                Some(&i) if slots[i].expires > now => {
                    let slot = &mut slots[i];
                    slot.referenced = true;
                    let age = u32::try_from(now.duration_since(slot.stored).as_secs()).unwrap_or(u32::MAX);
                    let mut out = slot.answer.to_vec();
                    for &at in slot.ttls.iter() {
                        let at = usize::from(at);
                        let ttl = u32::from_be_bytes(out[at..at + 4].try_into().expect("4 bytes"));
                        out[at..at + 4].copy_from_slice(&ttl.saturating_sub(age).to_be_bytes());
                    }
                    Some((out, slot.meta))
                }
                _ => None,
            }
        };
        let Some((mut out, meta)) = found else {
            self.stats.misses.fetch_add(1, Ordering::Relaxed);
            return None;
        };
        out[..2].copy_from_slice(&id.to_be_bytes());
        self.stats.hits.fetch_add(1, Ordering::Relaxed);
        Some((out, meta))
    }

    /// Stores `answer` under `key` at `now` for as long as RFC 2308 allows (see the module
    /// documentation), with a byte of the caller's.
    pub fn insert(&self, key: Vec<u8>, answer: &[u8], meta: u8, now: Instant) -> Insert {
        if !self.enabled() || answer.len() < 12 {
            return Insert::Skipped;
        }
        let Some((secs, ttls)) = lifetime(answer, &self.config) else { return Insert::Skipped };
        let hash = self.hasher.hash_one(&key[..]);
        let slot = Slot {
            hash,
            key: key.into_boxed_slice(),
            answer: answer.into(),
            ttls: ttls.into_boxed_slice(),
            stored: now,
            expires: now + Duration::from_secs(u64::from(secs)),
            meta,
            referenced: false,
        };
        let mut s = self.lock(hash);
        let Shard { index, slots, hand } = &mut *s;
        let mut done = Insert::Stored;
        if let Some(&i) = index.find(hash, |&i| slots[i].key == slot.key) {
            slots[i] = slot;
        } else if slots.len() < self.per_shard {
            index.insert_unique(hash, slots.len(), |&i| slots[i].hash);
            slots.push(slot);
        } else {
            // CLOCK: the first entry from the hand that is expired or was not read since
            // the hand last passed it (bounded: after one turn every bit is clear).
            let n = slots.len();
            let victim = loop {
                let v = &mut slots[*hand % n];
                if v.expires <= now || !v.referenced {
                    break *hand % n;
                }
                v.referenced = false;
                *hand = (*hand + 1) % n;
            };
            *hand = (victim + 1) % n;
            if slots[victim].expires > now {
                self.stats.evictions.fetch_add(1, Ordering::Relaxed);
                done = Insert::Evicted;
            }
            if let Ok(e) = index.find_entry(slots[victim].hash, |&i| i == victim) {
                e.remove();
            }
            index.insert_unique(hash, victim, |&i| slots[i].hash);
            slots[victim] = slot;
        }
        self.stats.inserts.fetch_add(1, Ordering::Relaxed);
        done
    }

    /// Answers stored (live or expired, not yet replaced).
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().unwrap_or_else(|e| e.into_inner()).slots.len()).sum()
    }

    /// Whether nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets everything.
    pub fn clear(&self) {
        for s in self.shards.iter() {
            *s.lock().unwrap_or_else(|e| e.into_inner()) = Shard::default();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
    use hickory_proto::rr::rdata::{A, SOA};
    use hickory_proto::rr::{Name, RData, Record, RecordType};

    fn name(s: &str) -> Name {
        Name::from_ascii(s).unwrap()
    }

    fn query(n: &str, t: RecordType, dnssec: bool) -> Vec<u8> {
        let mut m = Message::new(7, MessageType::Query, OpCode::Query);
        m.metadata.recursion_desired = true;
        m.add_query(Query::query(name(n), t));
        if dnssec {
            let mut e = Edns::new();
            e.set_dnssec_ok(true);
            m.edns = Some(e);
        }
        m.to_vec().unwrap()
    }

    fn soa(ttl: u32, minimum: u32) -> Record {
        let rd = SOA::new(name("ns.test."), name("h.test."), 1, 2, 3, 4, minimum);
        Record::from_rdata(name("test."), ttl, RData::SOA(rd))
    }

    fn answer(n: &str, rcode: ResponseCode, ttls: &[u32], auth: Vec<Record>) -> Vec<u8> {
        let mut m = Message::new(7, MessageType::Response, OpCode::Query);
        m.metadata.response_code = rcode;
        m.add_query(Query::query(name(n), RecordType::A));
        for (i, &t) in ttls.iter().enumerate() {
            m.add_answer(Record::from_rdata(name(n), t, RData::A(A([192, 0, 2, i as u8].into()))));
        }
        for r in auth {
            m.add_authority(r);
        }
        let mut e = Edns::new();
        e.set_dnssec_ok(true);
        m.edns = Some(e);
        m.to_vec().unwrap()
    }

    fn ttls(bytes: &[u8]) -> Vec<u32> {
        let m = Message::from_vec(bytes).unwrap();
        m.answers.iter().chain(&m.authorities).map(|r| r.ttl).collect()
    }

    #[test]
    fn keys_fold_case_and_split_on_do_cd_and_transport() {
        let a = upstream_key(&query("WWW.Example.", RecordType::A, false)).unwrap();
        assert_eq!(a, upstream_key(&query("www.example.", RecordType::A, false)).unwrap());
        assert_ne!(a, upstream_key(&query("www.example.", RecordType::A, true)).unwrap());
        assert_ne!(a, upstream_key(&query("www.example.", RecordType::AAAA, false)).unwrap());
        let mut cd = query("www.example.", RecordType::A, false);
        cd[3] |= 0x10;
        assert_ne!(a, upstream_key(&cd).unwrap());
        let q = query("www.example.", RecordType::AAAA, true);
        assert_ne!(client_key(&q, false), client_key(&q, true));
        let mut other_id = q.clone();
        other_id[0] = 99;
        assert_eq!(client_key(&q, false), client_key(&other_id, false));
        assert_ne!(client_key(&q, false), client_key(&query("www.example.", RecordType::AAAA, false), false));
        assert!(upstream_key(&[0; 12]).is_none());
        assert!(client_key(&[0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0x40], false).is_none());
    }

    #[test]
    fn upstream_queries_lose_the_edns_options_only() {
        let plain = query("a.test.", RecordType::AAAA, false);
        assert_eq!(upstream_query(&plain).unwrap(), plain);
        let mut m = Message::from_vec(&query("a.test.", RecordType::AAAA, true)).unwrap();
        let mut e = m.edns.clone().unwrap();
        e.set_max_payload(1400);
        e.options_mut().insert(hickory_proto::rr::rdata::opt::EdnsOption::Unknown(10, vec![1, 2, 3, 4, 5, 6, 7, 8]));
        m.edns = Some(e);
        let cookie = m.to_vec().unwrap();
        let q = upstream_query(&cookie).unwrap();
        assert_eq!(q.len(), cookie.len() - 12);
        let back = Message::from_vec(&q).unwrap();
        let e = back.edns.unwrap();
        assert!(e.flags().dnssec_ok && e.max_payload() == 1400 && e.options().as_ref().is_empty());
        assert_eq!(back.queries, m.queries);
        // Two clients with their own cookies ask the same upstream question, and get the
        // same whole answer.
        let mut other = cookie.clone();
        let n = other.len();
        other[n - 1] ^= 0xff;
        assert_eq!(client_key(&other, false), client_key(&cookie, false));
        assert_ne!(client_key(&other, false), client_key(&plain, false));
        assert_eq!(upstream_query(&other), Some(q));
        // Trailing bytes, a record after the OPT, truncation: not rewritten.
        let mut trailing = cookie.clone();
        trailing.push(0);
        assert!(upstream_query(&trailing).is_none());
        assert!(upstream_query(&cookie[..cookie.len() - 1]).is_none());
    }

    #[test]
    fn positive_answers_live_for_their_lowest_ttl_and_count_down() {
        let c = Cache::new(CacheConfig::new(10), 4);
        let t0 = Instant::now();
        assert_ne!(
            c.insert(b"k".to_vec(), &answer("a.test.", ResponseCode::NoError, &[300, 100], vec![]), 5, t0),
            Insert::Skipped
        );
        let (got, meta) = c.get(b"k", 0xabcd, t0 + Duration::from_secs(30)).unwrap();
        assert_eq!((got[0], got[1], meta), (0xab, 0xcd, 5));
        assert_eq!(ttls(&got), [270, 70]);
        // The EDNS flags (DO) are untouched.
        assert!(Message::from_vec(&got).unwrap().edns.unwrap().flags().dnssec_ok);
        assert!(c.get(b"k", 1, t0 + Duration::from_secs(100)).is_none());
        assert_eq!(c.stats().hits.load(Ordering::Relaxed), 1);
        assert_eq!(c.stats().misses.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn negative_answers_follow_rfc_2308() {
        let mut cfg = CacheConfig::new(10);
        cfg.max_negative_ttl = 50;
        cfg.max_ttl = 200;
        let c = Cache::new(cfg, 1);
        let t0 = Instant::now();
        // NXDOMAIN: min(SOA TTL, MINIMUM), capped.
        assert_ne!(
            c.insert(b"nx".to_vec(), &answer("n.test.", ResponseCode::NXDomain, &[], vec![soa(40, 30)]), 0, t0),
            Insert::Skipped
        );
        assert!(c.get(b"nx", 1, t0 + Duration::from_secs(29)).is_some());
        assert!(c.get(b"nx", 1, t0 + Duration::from_secs(30)).is_none());
        assert_ne!(
            c.insert(b"nd".to_vec(), &answer("n.test.", ResponseCode::NoError, &[], vec![soa(900, 900)]), 0, t0),
            Insert::Skipped
        );
        assert!(c.get(b"nd", 1, t0 + Duration::from_secs(49)).is_some());
        assert!(c.get(b"nd", 1, t0 + Duration::from_secs(50)).is_none());
        // Without an SOA: not cached. SERVFAIL: not cached. Positive: capped by max_ttl.
        assert_eq!(
            c.insert(b"x".to_vec(), &answer("n.test.", ResponseCode::NXDomain, &[], vec![]), 0, t0),
            Insert::Skipped
        );
        assert_eq!(
            c.insert(b"x".to_vec(), &answer("n.test.", ResponseCode::ServFail, &[60], vec![]), 0, t0),
            Insert::Skipped
        );
        assert_ne!(
            c.insert(b"p".to_vec(), &answer("n.test.", ResponseCode::NoError, &[9000], vec![]), 0, t0),
            Insert::Skipped
        );
        assert!(c.get(b"p", 1, t0 + Duration::from_secs(200)).is_none());
        let mut tc = answer("n.test.", ResponseCode::NoError, &[60], vec![]);
        tc[2] |= 0x02;
        assert_eq!(c.insert(b"t".to_vec(), &tc, 0, t0), Insert::Skipped);
        assert_eq!(
            c.insert(b"z".to_vec(), &answer("n.test.", ResponseCode::NoError, &[0], vec![]), 0, t0),
            Insert::Skipped
        );
    }

    #[test]
    fn bounded_with_clock_eviction_and_size_zero_disables() {
        let c = Cache::new(CacheConfig::new(3), 1);
        let t0 = Instant::now();
        let a = answer("a.test.", ResponseCode::NoError, &[60], vec![]);
        for k in [b"1", b"2", b"3"] {
            assert_ne!(c.insert(k.to_vec(), &a, 0, t0), Insert::Skipped);
        }
        // "1" and "3" were read: "2" goes first.
        assert!(c.get(b"1", 0, t0).is_some() && c.get(b"3", 0, t0).is_some());
        assert_eq!(c.insert(b"4".to_vec(), &a, 0, t0), Insert::Evicted);
        assert_eq!(c.len(), 3);
        assert!(c.get(b"2", 0, t0).is_none());
        assert!(c.get(b"1", 0, t0).is_some() && c.get(b"4", 0, t0).is_some());
        assert_eq!(c.stats().evictions.load(Ordering::Relaxed), 1);
        for i in 0..100u8 {
            c.insert(vec![b'x', i], &a, 0, t0);
        }
        assert_eq!(c.len(), 3);
        c.clear();
        assert!(c.is_empty());
        let off = Cache::new(CacheConfig::new(0), 8);
        assert!(!off.enabled());
        assert_eq!(off.insert(b"1".to_vec(), &a, 0, t0), Insert::Skipped);
        assert!(off.get(b"1", 0, t0).is_none());
    }

    #[test]
    fn garbage_is_never_cached_nor_a_panic() {
        let c = Cache::new(CacheConfig::new(10), 2);
        let t0 = Instant::now();
        let a = answer("a.test.", ResponseCode::NoError, &[60], vec![]);
        for cut in 0..a.len() {
            let _ = c.insert(b"g".to_vec(), &a[..cut], 0, t0);
            let _ = upstream_key(&a[..cut]);
            let _ = client_key(&a[..cut], false);
        }
        let mut loop_ = a.clone();
        loop_[12] = 0xc0;
        loop_[13] = 12;
        let _ = c.insert(b"l".to_vec(), &loop_, 0, t0);
    }

    proptest::proptest! {
        /// Whatever the sequence of inserts and lookups: the cache never holds more than
        /// its size, and a lookup finds either nothing or the answer last stored under
        /// that key (the ID set, the TTLs counted down, nothing else changed).
        #[test]
        fn bounded_and_faithful(ops in proptest::collection::vec((0u8..12, 0u32..100, 0u64..200, proptest::bool::ANY), 1..200)) {
            let c = Cache::new(CacheConfig::new(5), 2);
            let t0 = Instant::now();
            let mut last: std::collections::HashMap<u8, (u32, u64)> = Default::default();
            let mut clock = 0u64;
            for (key, ttl, step, insert) in ops {
                clock += step % 3;
                let now = t0 + Duration::from_secs(clock);
                if insert {
                    let a = answer("a.test.", ResponseCode::NoError, &[ttl], vec![]);
                    if c.insert(vec![key], &a, key, now) != Insert::Skipped {
                        last.insert(key, (ttl, clock));
                    } else {
                        proptest::prop_assert_eq!(ttl, 0);
                    }
                } else if let Some((got, meta)) = c.get(&[key], 0x4242, now) {
                    let (ttl, at) = last[&key];
                    proptest::prop_assert_eq!(meta, key);
                    proptest::prop_assert!(clock < at + u64::from(ttl), "served after it expired");
                    proptest::prop_assert_eq!(ttls(&got), vec![ttl - (clock - at) as u32]);
                    proptest::prop_assert_eq!(&got[..2], &[0x42, 0x42]);
                }
                proptest::prop_assert!(c.len() <= 6, "at most its size (5, rounded up per shard)");
            }
        }
    }
}
