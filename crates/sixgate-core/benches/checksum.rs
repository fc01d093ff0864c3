//! Checksum and address-arithmetic micro-benchmarks.
use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sixgate_core::{checksum, rfc6052};

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("checksum");
    for len in [64usize, 1500] {
        let data = vec![0xa5u8; len];
        g.throughput(Throughput::Bytes(len as u64));
        g.bench_function(format!("sum_{len}"), |b| b.iter(|| checksum::checksum(black_box(&data))));
    }
    g.bench_function("incremental_update", |b| {
        b.iter(|| checksum::update(black_box(0x1234), black_box(0x2_5678), black_box(0x1_9abc)))
    });
    g.finish();
    let pool = rfc6052::Pool6::well_known();
    c.bench_function("rfc6052_embed", |b| b.iter(|| rfc6052::embed(&pool, black_box("192.0.2.1".parse().unwrap()))));
    c.bench_function("sixtofour_prefix", |b| {
        b.iter(|| rfc6052::sixtofour_prefix(black_box(std::net::Ipv4Addr::new(74, 207, 254, 16))))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
