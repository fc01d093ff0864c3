//! Criterion benchmarks of the conversions and of batch mode on 1,000,000 addresses.
//!
//! `cargo bench -p sixgate-6to4 --bench conversions`

use std::hint::black_box;
use std::net::{Ipv4Addr, Ipv6Addr};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sixgate_6to4::explain::explain;
use sixgate_6to4::sixrd::SixRd;
use sixgate_6to4::teredo;
use sixgate_6to4::{batch, parse_ipv4, push_prefix48, six_to_four, Scope};
use sixgate_core::rfc6052::sixtofour_prefix;

/// A deterministic list of global IPv4 addresses (xorshift; first octets 1–223 minus the
/// special ones are all fine for batch mode's default scope).
fn addresses(n: usize) -> Vec<Ipv4Addr> {
    let mut x: u32 = 0x9e37_79b9;
    let mut v = Vec::with_capacity(n);
    while v.len() < n {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        let a = Ipv4Addr::from(x);
        if sixgate_core::class::is_global_v4(a) {
            v.push(a);
        }
    }
    v
}

fn conversions(c: &mut Criterion) {
    let v4 = Ipv4Addr::new(74, 207, 254, 16);
    let mut g = c.benchmark_group("convert");
    g.bench_function("sixtofour_prefix", |b| b.iter(|| sixtofour_prefix(black_box(v4))));
    g.bench_function("six_to_four (classify, prefix, reverse zone)", |b| {
        b.iter(|| six_to_four(black_box(v4), Scope::GlobalOnly))
    });
    g.bench_function("parse_ipv4", |b| b.iter(|| parse_ipv4(black_box(b"74.207.254.16"))));
    g.bench_function("std Ipv4Addr::from_str", |b| b.iter(|| black_box("74.207.254.16").parse::<Ipv4Addr>()));
    let mut out = Vec::with_capacity(64);
    g.bench_function("push_prefix48", |b| {
        b.iter(|| {
            out.clear();
            push_prefix48(&mut out, black_box(v4))
        })
    });
    g.bench_function("prefix to_string", |b| b.iter(|| sixtofour_prefix(black_box(v4)).to_string()));
    let dom = SixRd::new("2001:db8::/32".parse().unwrap(), 8).unwrap().with_relay(Ipv4Addr::new(10, 0, 0, 1));
    let ce = Ipv4Addr::new(10, 100, 100, 1);
    g.bench_function("6rd delegated_prefix", |b| b.iter(|| dom.delegated_prefix(black_box(ce))));
    let d: Ipv6Addr = "2001:db8:6464:100::1".parse().unwrap();
    g.bench_function("6rd ce_ipv4", |b| b.iter(|| dom.ce_ipv4(black_box(d))));
    let t: Ipv6Addr = "2001:0:4136:e378:8000:63bf:3fff:fdd2".parse().unwrap();
    g.bench_function("teredo decode", |b| b.iter(|| teredo::decode(black_box(t))));
    g.bench_function("explain (Teredo)", |b| b.iter(|| explain(black_box(t.into()))));
    g.finish();
}

fn batch_mode(c: &mut Criterion) {
    const N: usize = 1_000_000;
    let text: String = addresses(N).iter().map(|a| format!("{a}\n")).collect();
    let mut g = c.benchmark_group("batch");
    g.sample_size(20);
    g.throughput(Throughput::Elements(N as u64));
    g.bench_function("1M addresses, in memory", |b| {
        b.iter(|| batch(black_box(text.as_bytes()), std::io::sink(), Scope::GlobalOnly).map(|s| s.converted))
    });
    g.finish();
}

criterion_group!(benches, conversions, batch_mode);
criterion_main!(benches);
