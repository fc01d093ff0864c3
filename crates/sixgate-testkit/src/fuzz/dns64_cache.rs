//! The DNS answer cache of the DNS64 server (`sixgate_nat64::dns64::cache`): its inputs
//! are a client's query (the keys) and an upstream's answer (stored, then served).

use std::time::{Duration, Instant};

use sixgate_nat64::dns64::cache::{client_key, upstream_key};
use sixgate_nat64::dns64::{Cache, CacheConfig, Insert};

/// `data` as a client's query (both keys) and as an upstream's answer: stored, and if it
/// was, served back now and later. Panics if a served answer is not the stored one with
/// the new ID and TTLs never raised, or if the cache grows past its size.
pub fn dns64_cache(data: &[u8]) {
    let _ = client_key(data, false);
    let _ = client_key(data, true);
    let _ = upstream_key(data);
    let cache = Cache::new(CacheConfig::new(2), 2);
    let t0 = Instant::now();
    let stored = cache.insert(b"k".to_vec(), data, 3, t0);
    for (i, later) in [0u64, 1, 90_000].into_iter().enumerate() {
        let id = 0x1234 + i as u16;
        match cache.get(b"k", id, t0 + Duration::from_secs(later)) {
            Some((a, meta)) => {
                assert_ne!(stored, Insert::Skipped, "served without being stored");
                assert_eq!(meta, 3);
                assert_eq!(a.len(), data.len(), "the answer keeps its length");
                assert_eq!(a[..2], id.to_be_bytes(), "the query's ID");
                assert_eq!(a[2..12], data[2..12], "the header but the ID is kept");
                // Whatever changed is a TTL counted down (bytes are only ever lowered as
                // whole big-endian words; a lowered word compares below the original).
                assert!(a[2..] <= data[2..], "TTLs are never raised");
            }
            None => assert!(later > 0 || stored == Insert::Skipped, "a stored answer is served at once"),
        }
    }
    for i in 0..4u8 {
        let _ = cache.insert(vec![i], data, 0, t0);
    }
    assert!(cache.len() <= 2, "bounded");
}

/// Seeds: a positive answer, a negative one with an SOA, a truncated one.
pub fn seeds_dns64_cache() -> Vec<Vec<u8>> {
    let header = |an: u8, ns: u8, flags: u8, rcode: u8| vec![0, 1, 0x80 | flags, rcode, 0, 1, 0, an, 0, ns, 0, 0];
    let question = [1, b'a', 4, b't', b'e', b's', b't', 0, 0, 1, 0, 1];
    let mut positive = header(1, 0, 0, 0);
    positive.extend_from_slice(&question);
    positive.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 8, 8, 4, 4]);
    let mut negative = header(0, 1, 0, 3);
    negative.extend_from_slice(&question);
    negative.extend_from_slice(&[0xc0, 14, 0, 6, 0, 1, 0, 0, 0x0e, 0x10, 0, 22]);
    negative.extend_from_slice(&[1, b'n', 0xc0, 14, 1, b'h', 0xc0, 14]);
    negative.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 30]);
    let mut truncated = positive.clone();
    truncated[2] |= 0x02;
    vec![positive, negative, truncated]
}
