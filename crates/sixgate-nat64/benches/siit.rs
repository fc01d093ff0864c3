//! SIIT per-packet cost, both directions, next to a plain memcpy of the same packet.
//!
//! * `pingpong/*`: one packet translated 4→6 and back 6→4 in the same buffer, with no
//!   copy at all (the hop limit is reset between rounds): two translations per iteration.
//! * `one_way/*`: copy the packet into the buffer, then translate once;
//!   `memcpy/*` is the copy alone, so the difference is the translation.
use std::hint::black_box;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use sixgate_core::buf::PacketBuf;
use sixgate_core::engine::{Engine, Verdict};
use sixgate_nat64::{Siit, SiitConfig};
use sixgate_testkit::packets::*;

fn siit() -> Siit {
    let mut c = SiitConfig::new("198.51.100.1".parse().unwrap(), "2001:db8::1".parse().unwrap());
    c.pool6 = Some("2001:db8:64::/96".parse().unwrap());
    c.icmp_rate.per_second = 0;
    Siit::new(c).unwrap()
}

fn cases() -> Vec<(&'static str, Vec<u8>, Vec<u8>)> {
    let (a4, b4) = ("192.0.2.10", "198.51.100.20");
    let (a6, b6) = ("2001:db8:64::c000:20a", "2001:db8:64::c633:6414");
    let inner4 = udp4(b4, a4, 53, &[0u8; 100]);
    let inner6 = udp6(b6, a6, 53, &[0u8; 100]);
    vec![
        ("udp_64B", udp4(a4, b4, 53, &[0u8; 64 - 28]), udp6(a6, b6, 53, &[0u8; 64 - 28])),
        ("tcp_1400B", tcp4(a4, b4, 80, &[0u8; 1400 - 40]), tcp6(a6, b6, 80, &[0u8; 1400 - 40])),
        ("icmp_echo_64B", echo4(a4, b4, 1, 1, &[0u8; 64 - 28]), echo6(a6, b6, 1, 1, &[0u8; 64 - 28])),
        ("icmp_error_inner", icmp4(b4, a4, 3, 3, [0; 4], &inner4), icmp6(b6, a6, 1, 4, [0; 4], &inner6)),
    ]
}

fn bench(c: &mut Criterion) {
    let now = Instant::now();
    let mut g = c.benchmark_group("siit");
    for (name, p4, p6) in cases() {
        if name != "icmp_error_inner" {
            // Zero-copy round trip: 4→6 then 6→4 in place.
            let mut s = siit();
            let mut buf = PacketBuf::from_slice(&p4);
            g.bench_function(BenchmarkId::new("pingpong_2x", name), |b| {
                b.iter(|| {
                    let v = s.process(black_box(&mut buf), now);
                    debug_assert!(matches!(v, Verdict::Forward(_)));
                    buf[7] = 64; // reset the hop limit so the packet never expires
                    let v = s.process(black_box(&mut buf), now);
                    debug_assert!(matches!(v, Verdict::Forward(_)));
                    v
                })
            });
        }
        for (dir, pkt) in [("4to6", &p4), ("6to4", &p6)] {
            let mut s = siit();
            let mut buf = PacketBuf::new();
            g.bench_function(BenchmarkId::new(format!("one_way_{dir}"), name), |b| {
                b.iter(|| {
                    let _ = buf.set(black_box(pkt));
                    let v = s.process(&mut buf, now);
                    debug_assert!(matches!(v, Verdict::Forward(_)), "{v:?}");
                    v
                })
            });
            g.bench_function(BenchmarkId::new(format!("memcpy_{dir}"), name), |b| {
                b.iter(|| {
                    let _ = buf.set(black_box(pkt));
                    black_box(buf.len())
                })
            });
        }
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
