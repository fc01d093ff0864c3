//! Stateful NAT64 for carriers: the three ways of handing out pool4 ports side by side —
//! dynamic (per BIB entry), port blocks per subscriber, deterministic (RFC 7422).
//!
//! The workload is the same in each mode: subscribers are /56 prefixes, 16 hosts each
//! (distinct /128 source addresses), every host one UDP session with its own BIB entry
//! (the worst case for the per-session cost: nothing is shared between sessions); the
//! pool is a /22 (1,024 addresses, ports 1024–65535); endpoint-independent filtering, as
//! in the `stateful` bench's memory figures. Port blocks: 64 ports, one block per
//! subscriber; deterministic: 2^20 subscribers (a /36) of 63 ports each.
//!
//! * Before criterion runs, for each size in `SIXGATE_BENCH_SESSIONS` (comma-separated,
//!   default `1000000`) and each mode, the bench creates that many sessions and prints
//!   (or those named in `SIXGATE_BENCH_MODES`, e.g. `blocks,deterministic`) the table
//!   bytes per session ([`Nat64::table_bytes`], which in port-block mode
//!   includes the blocks' own tables) and the new-session rate of the fill.
//! * `carrier/new_session_{dynamic,blocks,deterministic}`: criterion, one new session per
//!   packet (engines replaced every 200,000 packets, outside the timed part).
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, Criterion, Throughput};
use sixgate_core::buf::PacketBuf;
use sixgate_core::engine::{Engine, Side, Verdict};
use sixgate_core::rfc6052::Pool6;
use sixgate_nat64::{Allocation, Deterministic, Filtering, Nat64, Nat64Config, Pool4Range, PortBlocks};
use sixgate_testkit::packets::*;

#[derive(Clone, Copy, Debug)]
enum Mode {
    Dynamic,
    Blocks,
    Deterministic,
}

const MODES: [Mode; 3] = [Mode::Dynamic, Mode::Blocks, Mode::Deterministic];

fn config(mode: Mode, max: usize) -> Nat64Config {
    let pool6 = Pool6::new("64:ff9b:1::/96".parse().unwrap()).unwrap();
    let pool4 = vec![Pool4Range::new("10.64.0.0/22".parse().unwrap(), 1024, 65535)];
    let mut c = Nat64Config::new(pool6, pool4, "192.0.2.1".parse().unwrap(), "2001:db8:ffff::1".parse().unwrap());
    c.filtering = Filtering::EndpointIndependent;
    c.max_sessions = max;
    c.max_sessions_per_source = 65535;
    c.max_new_sessions_per_second = 0;
    c.allocation = match mode {
        Mode::Dynamic => Allocation::Dynamic,
        Mode::Blocks => Allocation::Blocks(PortBlocks::new(64)),
        Mode::Deterministic => Allocation::Deterministic(Deterministic::new("2001:db8::/36".parse().unwrap(), 56, 63)),
    };
    c
}

/// Session `i`: subscriber `i / 16` (a /56 under 2001:db8::/36), host `i % 16 + 1`,
/// source port 1024 + i mod 60,000.
fn patch6(p: &mut [u8], i: u32) {
    let a = (u128::from(0x2001_0db8u32) << 96) | (u128::from(i / 16) << 72) | u128::from(i % 16 + 1);
    p[8..24].copy_from_slice(&a.to_be_bytes());
    p[40..42].copy_from_slice(&(1024 + (i % 60000) as u16).to_be_bytes());
    // The UDP checksum is left as the template had it: the engine updates it
    // incrementally and does not verify it.
}

fn template6() -> Vec<u8> {
    udp6_ports("2001:db8::1", "64:ff9b:1::808:808", 1024, 53, &[0u8; 64 - 48])
}

fn fill(e: &mut Nat64, n: u32, now: Instant) -> u32 {
    let t = template6();
    let mut buf = PacketBuf::new();
    let mut ok = 0;
    for i in 0..n {
        let _ = buf.set(&t);
        patch6(&mut buf, i);
        if e.process(&mut buf, now) == Verdict::Forward(Side::V4) {
            ok += 1;
        }
    }
    ok
}

fn memory() {
    let sizes = std::env::var("SIXGATE_BENCH_SESSIONS").unwrap_or_else(|_| "1000000".into());
    let now = Instant::now();
    for n in sizes.split(',').filter_map(|s| s.trim().parse::<u32>().ok()) {
        let only = std::env::var("SIXGATE_BENCH_MODES").unwrap_or_default();
        for mode in MODES.into_iter().filter(|m| only.is_empty() || only.contains(&format!("{m:?}").to_lowercase())) {
            let mut e = Nat64::new(config(mode, n as usize + 1)).unwrap();
            let t0 = Instant::now();
            let ok = fill(&mut e, n, now);
            let dt = t0.elapsed();
            assert_eq!(ok, n, "{mode:?}: every session created");
            let bytes = e.table_bytes();
            let (blocks, subs) = e.block_stats();
            println!(
                "carrier memory: {mode:?}, {n} sessions: tables {bytes} bytes = {:.1} bytes/session; \
                 {blocks} blocks of {subs} subscribers; {n} new sessions in {dt:.2?} ({:.2} M sessions/s)",
                bytes as f64 / f64::from(n),
                f64::from(n) / dt.as_secs_f64() / 1e6
            );
        }
    }
}

fn bench(c: &mut Criterion) {
    let now = Instant::now();
    let mut g = c.benchmark_group("carrier");
    g.throughput(Throughput::Elements(1));
    let t6 = template6();
    for mode in MODES {
        let name = format!("new_session_{}", format!("{mode:?}").to_lowercase());
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                let mut done = 0u64;
                let mut buf = PacketBuf::new();
                while done < iters {
                    let mut e = Nat64::new(config(mode, 4_000_000)).unwrap();
                    let n = (iters - done).min(200_000) as u32;
                    let t0 = Instant::now();
                    for i in 0..n {
                        let _ = buf.set(&t6);
                        patch6(&mut buf, i);
                        let _ = black_box(e.process(black_box(&mut buf), now));
                    }
                    total += t0.elapsed();
                    done += u64::from(n);
                }
                total
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);

fn main() {
    memory();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
