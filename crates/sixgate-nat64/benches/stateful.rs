//! Stateful NAT64 per-packet cost and memory.
//!
//! * `stateful/new_session_6to4`: every packet comes from a new IPv6 transport address, so
//!   each one allocates a port, creates a BIB entry and a session and arms a timer (engines
//!   are replaced every 200,000 packets, outside the timed part, so the tables stay in a
//!   realistic size range).
//! * `stateful/established_{6to4,4to6}`: packets of existing UDP sessions, cycling through
//!   100,000 sessions (so lookups miss the CPU caches the way a busy gateway's do).
//! * Before criterion runs, the bench creates 1,000,000 UDP sessions (each with its own
//!   BIB entry) and prints the table bytes per session ([`Nat64::table_bytes`], computed
//!   from the tables' capacities) next to the growth of the resident set, for tables grown
//!   on demand, reserved up front, 16 sessions per client, and address-dependent
//!   filtering (which keeps one more table).
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, Criterion, Throughput};
use sixgate_core::buf::PacketBuf;
use sixgate_core::engine::{Engine, Side, Verdict};
use sixgate_core::rfc6052::Pool6;
use sixgate_nat64::{Filtering, Nat64, Nat64Config, Nat64Drop, Nat64Shards, Pool4Range};
use sixgate_testkit::packets::*;

/// Resident set size in bytes (Linux), to cross-check the computed table size.
fn rss() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = s.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

fn engine() -> Nat64 {
    engine_with(Filtering::EndpointIndependent)
}

fn engine_with(filtering: Filtering) -> Nat64 {
    Nat64::new(config(filtering)).unwrap()
}

fn config(filtering: Filtering) -> Nat64Config {
    let pool6 = Pool6::new("64:ff9b:1::/96".parse().unwrap()).unwrap();
    // 256 addresses × 64,512 ports: room for 16 million UDP bindings.
    let pool4 = vec![Pool4Range::new("198.51.100.0/24".parse().unwrap(), 1024, 65535)];
    let mut c = Nat64Config::new(pool6, pool4, "192.0.2.1".parse().unwrap(), "2001:db8:ffff::1".parse().unwrap());
    c.filtering = filtering;
    c.max_sessions = 4_000_000;
    c.max_sessions_per_source = 65535;
    c.max_new_sessions_per_second = 0;
    c
}

/// Sets the client address's last 32 bits and the source port of an IPv6 UDP template.
fn patch6(p: &mut [u8], i: u32) {
    p[20..24].copy_from_slice(&i.to_be_bytes());
    p[40..42].copy_from_slice(&(1024 + (i % 60000) as u16).to_be_bytes());
}

fn template6() -> Vec<u8> {
    udp6_ports("2001:db8:7::", "64:ff9b:1::cb00:7105", 1024, 53, &[0u8; 64 - 48])
}

/// Creates `n` UDP sessions, each from its own client; returns their pool transport
/// addresses.
fn fill<E: Engine<Reason = Nat64Drop>>(e: &mut E, n: u32, now: Instant) -> Vec<(u32, u16)> {
    fill_grouped(e, n, 1, now)
}

/// Creates `n` UDP sessions, `per` from each client (from ports 1024, 1025, …).
fn fill_grouped<E: Engine<Reason = Nat64Drop>>(e: &mut E, n: u32, per: u32, now: Instant) -> Vec<(u32, u16)> {
    let t = template6();
    let mut buf = PacketBuf::new();
    let mut out = Vec::with_capacity(n as usize);
    for i in 0..n {
        let _ = buf.set(&t);
        if per == 1 {
            patch6(&mut buf, i);
        } else {
            buf[20..24].copy_from_slice(&(i / per).to_be_bytes());
            buf[40..42].copy_from_slice(&(1024 + (i % per) as u16).to_be_bytes());
        }
        let v = e.process(&mut buf, now);
        assert_eq!(v, Verdict::Forward(Side::V4));
        out.push((u32::from_be_bytes([buf[12], buf[13], buf[14], buf[15]]), u16::from_be_bytes([buf[20], buf[21]])));
    }
    out
}

fn memory() {
    let now = Instant::now();
    let r0 = rss();
    let mut e = engine();
    let t0 = Instant::now();
    let _ = fill(&mut e, 1_000_000, now);
    let dt = t0.elapsed();
    let r1 = rss();
    let s = e.stats();
    let bytes = e.table_bytes();
    let rss_per = match (r0, r1) {
        (Some(a), Some(b)) => format!("{:.0}", (b.saturating_sub(a)) as f64 / s.sessions as f64),
        _ => "n/a".into(),
    };
    drop(e);
    let mut e = engine();
    e.reserve(1_000_000);
    let reserved = e.table_bytes();
    drop(e);
    let mut e = engine();
    let _ = fill_grouped(&mut e, 1_000_000, 16, now);
    let grouped = e.table_bytes();
    drop(e);
    let mut e = engine_with(Filtering::AddressDependent);
    let _ = fill(&mut e, 1_000_000, now);
    let adf = e.table_bytes();
    drop(e);
    println!(
        "stateful memory: {} sessions, {} BIB entries; tables {} bytes = {:.0} bytes/session (RSS growth {} bytes/session); \
         reserve(1,000,000) allocates {:.0} bytes/session; 62,500 clients × 16 sessions: {:.0} bytes/session; \
         address-dependent filtering, 1,000,000 clients: {:.0} bytes/session; 1,000,000 new sessions in {:.2?} ({:.2} M sessions/s)",
        s.sessions,
        s.bib,
        bytes,
        bytes as f64 / s.sessions as f64,
        rss_per,
        reserved as f64 / 1e6,
        grouped as f64 / 1e6,
        adf as f64 / 1e6,
        dt,
        1.0 / dt.as_secs_f64()
    );
}

fn bench(c: &mut Criterion) {
    let now = Instant::now();
    let mut g = c.benchmark_group("stateful");
    g.throughput(Throughput::Elements(1));
    let t6 = template6();
    g.bench_function("new_session_6to4", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut done = 0u64;
            let mut buf = PacketBuf::new();
            while done < iters {
                let mut e = engine();
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

    established(&mut g, "", &mut engine(), now);
    // The same through a worker's handle on two shards (`queues = 2`): the steering and
    // an uncontended lock per packet.
    let shards = Nat64Shards::new(config(Filtering::EndpointIndependent), 2).unwrap();
    established(&mut g, "_shards2", &mut shards.into_handles().swap_remove(0), now);
    g.finish();
}

/// `established_6to4{suffix}` and `established_4to6{suffix}`: packets of 100,000 existing
/// UDP sessions of `e`, each direction.
fn established<E: Engine<Reason = Nat64Drop>>(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    suffix: &str,
    e: &mut E,
    now: Instant,
) {
    let bound = fill(e, 100_000, now);
    let mut buf = PacketBuf::new();
    let mut t = template6();
    let mut i = 0u32;
    g.bench_function(format!("established_6to4{suffix}"), |b| {
        b.iter(|| {
            i = (i + 1) % 100_000;
            patch6(&mut t, i);
            let _ = buf.set(&t);
            let v = e.process(black_box(&mut buf), now);
            debug_assert_eq!(v, Verdict::Forward(Side::V4));
            v
        })
    });
    let replies: Vec<Vec<u8>> = bound
        .iter()
        .map(|&(a, p)| udp4_ports("203.0.113.5", &std::net::Ipv4Addr::from(a).to_string(), 53, p, &[0u8; 64 - 28]))
        .collect();
    let mut j = 0usize;
    g.bench_function(format!("established_4to6{suffix}"), |b| {
        b.iter(|| {
            j = (j + 1) % replies.len();
            let _ = buf.set(&replies[j]);
            let v = e.process(black_box(&mut buf), now);
            debug_assert_eq!(v, Verdict::Forward(Side::V6));
            v
        })
    });
}

criterion_group!(benches, bench);

fn main() {
    memory();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
