//! 6in4 per-packet cost: encapsulation (prepend a 20-byte header into the headroom) and
//! decapsulation (checks, strip), in the same buffer with no copy.
//!
//! * `encap_decap/*`: one packet encapsulated by one endpoint and decapsulated by its
//!   peer, alternately, in place: two operations per iteration.
//! * `decap/*`: decapsulate, then restore the outer header start (a pointer move: the
//!   bytes are still in the headroom) for the next iteration.
use std::hint::black_box;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use sixgate_6in4::{SitConfig, SitTunnel};
use sixgate_core::buf::PacketBuf;
use sixgate_core::engine::{Engine, Verdict};
use sixgate_testkit::packets::sit::{encap, udp6};

fn pair() -> (SitTunnel, SitTunnel) {
    let (a, b) = ("192.0.2.1".parse().unwrap(), "198.51.100.1".parse().unwrap());
    (
        SitTunnel::new(SitConfig::new_static(a, b, "2001:db8:ffff::1".parse().unwrap())).unwrap(),
        SitTunnel::new(SitConfig::new_static(b, a, "2001:db8:ffff::2".parse().unwrap())).unwrap(),
    )
}

fn bench(c: &mut Criterion) {
    let now = Instant::now();
    let mut g = c.benchmark_group("sit");
    for (name, size) in [("64B", 64usize), ("1480B", 1480)] {
        let inner = udp6("2001:db8:a::2", "2001:db8:b::2", &vec![0u8; size - 48]);
        let (mut a, mut b) = pair();
        let mut buf = PacketBuf::from_slice(&inner);
        g.bench_function(BenchmarkId::new("encap_decap", name), |bn| {
            bn.iter(|| {
                let v1 = a.process(black_box(&mut buf), now);
                let v2 = b.process(black_box(&mut buf), now);
                debug_assert!(matches!((v1, v2), (Verdict::Forward(_), Verdict::Forward(_))));
                black_box((v1, v2))
            })
        });
        let outer = encap("192.0.2.1", "198.51.100.1", 0, &inner);
        let mut buf = PacketBuf::from_slice(&outer);
        let (s0, e0) = buf.bounds();
        g.bench_function(BenchmarkId::new("decap", name), |bn| {
            bn.iter(|| {
                let v = b.process(black_box(&mut buf), now);
                let _ = buf.set_bounds(s0, e0);
                black_box(v)
            })
        });
        let mut buf = PacketBuf::from_slice(&inner);
        let (s0, e0) = buf.bounds();
        g.bench_function(BenchmarkId::new("encap", name), |bn| {
            bn.iter(|| {
                let v = a.process(black_box(&mut buf), now);
                let _ = buf.set_bounds(s0, e0);
                black_box(v)
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
