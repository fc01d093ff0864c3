//! The DNS64 server's answer cache on its hot path: the key of a client's query, the
//! lookup of a live answer (copied out with the query's ID and its TTLs counted down), and
//! the insert of an answer into a full cache (an eviction).
//!
//! `cargo bench -p sixgate-nat64 --features dns64 --bench dns64_cache`

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sixgate_nat64::dns64::cache::client_key;
use sixgate_nat64::dns64::{Cache, CacheConfig};

/// An AAAA query for `n{i}.bench.test.` with EDNS (DO clear).
fn query(i: u32) -> Vec<u8> {
    let mut q = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 1];
    let label = format!("n{i}");
    q.push(label.len() as u8);
    q.extend_from_slice(label.as_bytes());
    q.extend_from_slice(&[5, b'b', b'e', b'n', b'c', b'h', 4, b't', b'e', b's', b't', 0, 0, 28, 0, 1]);
    q.extend_from_slice(&[0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0]);
    q
}

/// The synthesized answer to `query(i)`: one AAAA, the OPT record.
fn answer(i: u32) -> Vec<u8> {
    let q = query(i);
    let qend = q.len() - 11;
    let mut a = q[..qend].to_vec();
    a[2] = 0x81;
    a[3] = 0x80;
    a[7] = 1;
    a.extend_from_slice(&[0xc0, 12, 0, 28, 0, 1, 0, 0, 0x0e, 0x10, 0, 16]);
    a.extend_from_slice(&[0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0, 198, 51, 100, 1]);
    a.extend_from_slice(&q[qend..]);
    a
}

fn cache(c: &mut Criterion) {
    let t0 = Instant::now();
    // Room to spare: the shards are not filled evenly, and a lookup must hit.
    let cache = Cache::new(CacheConfig::new(4096), 32);
    for i in 0..2000 {
        cache.insert(client_key(&query(i), false).unwrap(), &answer(i), 0, t0);
    }
    let queries: Vec<Vec<u8>> = (0..2000).map(query).collect();
    let mut g = c.benchmark_group("dns64_cache");
    g.throughput(Throughput::Elements(1));
    let mut i = 0;
    g.bench_function("key_and_hit", |b| {
        b.iter(|| {
            i = (i + 1) % queries.len();
            let q = &queries[i];
            let k = client_key(q, false).unwrap();
            cache.get(&k, 0x5151, t0 + Duration::from_secs(5)).unwrap()
        })
    });
    let answers: Vec<(Vec<u8>, Vec<u8>)> =
        (2000..4000).map(|i| (client_key(&query(i), false).unwrap(), answer(i))).collect();
    let full = Cache::new(CacheConfig::new(1000), 32);
    let mut j = 0;
    g.bench_function("insert_evicting", |b| {
        b.iter(|| {
            j = (j + 1) % answers.len();
            full.insert(answers[j].0.clone(), &answers[j].1, 0, t0)
        })
    });
    g.finish();
}

criterion_group!(benches, cache);
criterion_main!(benches);
