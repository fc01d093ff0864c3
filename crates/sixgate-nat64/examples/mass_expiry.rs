//! A mass expiry, timed: N UDP sessions (each from its own IPv6 source) created over 10 s
//! of simulated time, then one `handle_timeout` after all of them are due, the way a
//! worker's timer wake-up runs it, repeated while `poll_timeout` says more is due.
//! Prints the longest single `handle_timeout` (wall clock: on a shared machine that
//! includes time the scheduler gave to other processes, so the five longest are listed
//! with how many sessions were left, to tell a pattern from preemption), the median and
//! 99th percentile, how many calls the expiry took and how long in all, and the resident
//! set size (from `/proc/self/statm`) before, full and after.
//!
//! `cargo run --release -p sixgate-nat64 --example mass_expiry [N]` (default 1,000,000).
//! Only the engine's public API is used, so the same program measures older versions.
use std::time::{Duration, Instant};

use sixgate_core::buf::PacketBuf;
use sixgate_core::engine::{Engine, Side, Verdict};
use sixgate_core::rfc6052::Pool6;
use sixgate_nat64::{Filtering, Nat64, Nat64Config, Pool4Range};
use sixgate_testkit::packets::udp6_ports;

/// Resident set size in MiB (Linux; 0 elsewhere).
fn rss_mib() -> f64 {
    let pages = std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1).and_then(|v| v.parse::<u64>().ok()))
        .unwrap_or(0);
    (pages * 4096) as f64 / (1024.0 * 1024.0)
}

fn main() {
    let n: u32 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(1_000_000);
    let pool6 = Pool6::new("64:ff9b:1::/96".parse().unwrap()).unwrap();
    let pool4 = vec![Pool4Range::new("198.51.100.0/24".parse().unwrap(), 1024, 65535)];
    let mut c = Nat64Config::new(pool6, pool4, "192.0.2.1".parse().unwrap(), "2001:db8:ffff::1".parse().unwrap());
    c.filtering = Filtering::EndpointIndependent;
    c.max_sessions = 4_000_000;
    let mut e = Nat64::new(c).unwrap();
    let rss0 = rss_mib();
    let t0 = Instant::now();
    // Spread over 10 s, so that a creation budget of 100,000 a second (the default) lets
    // every one through.
    let step = Duration::from_secs(10) / n.max(1);
    let tmpl = udp6_ports("2001:db8:7::", "64:ff9b:1::cb00:7105", 1024, 53, &[0u8; 16]);
    let mut b = PacketBuf::new();
    for i in 0..n {
        let _ = b.set(&tmpl);
        b.as_mut_slice()[20..24].copy_from_slice(&i.to_be_bytes());
        assert_eq!(e.process(&mut b, t0 + step * i), Verdict::Forward(Side::V4));
    }
    let rss_full = rss_mib();
    // Every session is due (UDP_DEFAULT 300 s after the last).
    let now = t0 + Duration::from_secs(311);
    let mut times = Vec::new();
    let mut left = Vec::new();
    while e.poll_timeout().is_some_and(|d| d <= now) {
        let t = Instant::now();
        e.handle_timeout(now);
        times.push(t.elapsed());
        left.push(e.stats().sessions);
    }

    let (calls, total) = (times.len(), times.iter().sum::<Duration>());
    let (at, longest) = times.iter().copied().enumerate().max_by_key(|&(_, d)| d).unwrap_or_default();
    let mut sorted = times.clone();
    sorted.sort_unstable();
    let median = sorted.get(sorted.len() / 2).copied().unwrap_or_default();
    let p99 = sorted.get(sorted.len() * 99 / 100).copied().unwrap_or_default();
    let mut top: Vec<(usize, Duration)> = times.iter().copied().enumerate().collect();
    top.sort_unstable_by_key(|&(_, d)| std::cmp::Reverse(d));
    let top: Vec<String> = top
        .iter()
        .take(5)
        .map(|(i, d)| format!("{:.2} ms (call {}, {} sessions left)", d.as_secs_f64() * 1e3, i + 1, left[*i]))
        .collect();
    assert_eq!(e.stats().sessions, 0);
    let rss_after = rss_mib();
    println!(
        "{n} sessions expiring together: {calls} handle_timeout calls, longest {:.3} ms (call {}), median {:.3} ms, \
         99th percentile {:.3} ms, all {:.1} ms; RSS {rss0:.1} MiB empty, {rss_full:.1} MiB full, {rss_after:.1} MiB after; tables {} bytes after",
        longest.as_secs_f64() * 1e3,
        at + 1,
        median.as_secs_f64() * 1e3,
        p99.as_secs_f64() * 1e3,
        total.as_secs_f64() * 1e3,
        e.table_bytes()
    );
    println!("longest calls (wall clock): {}", top.join(", "));
}
