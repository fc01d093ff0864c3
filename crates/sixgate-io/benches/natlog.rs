//! The cost of the event log on the data path: a stateful engine wrapped in
//! `natlog::Logged`, its events going to a real logging thread writing JSON Lines to a
//! file, against the same engine with logging off.
//!
//! * `natlog/new_session_{off,bib,session}`: every packet from a new IPv6 transport
//!   address (a BIB entry and a session each: at `bib` one event, at `session` two).
//! * `natlog/established_6to4_{off,session}`: packets of 100,000 existing sessions
//!   (no event; what logging costs there is the check for events after each packet).
//! * Printed first: 100,000 new sessions a second sustained for two seconds (paced in
//!   batches of 100 per millisecond), the data path's busy time per new session with
//!   logging off and at `session`, and the events logged and dropped; then 150,000,
//!   200,000 and 250,000 a second at `session`.
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, Criterion, Throughput};
use sixgate_core::buf::PacketBuf;
use sixgate_core::engine::Engine;
use sixgate_core::rfc6052::Pool6;
use sixgate_io::natlog::{Logged, NatLog, Sink};
use sixgate_nat64::{EventLevel, Filtering, Nat64, Nat64Config, Pool4Range};
use sixgate_testkit::packets::udp6_ports;

fn config(level: EventLevel) -> Nat64Config {
    let pool6 = Pool6::new("64:ff9b:1::/96".parse().unwrap()).unwrap();
    let pool4 = vec![Pool4Range::new("198.51.100.0/24".parse().unwrap(), 1024, 65535)];
    let mut c = Nat64Config::new(pool6, pool4, "192.0.2.1".parse().unwrap(), "2001:db8:ffff::1".parse().unwrap());
    c.filtering = Filtering::EndpointIndependent;
    c.max_sessions = 4_000_000;
    c.max_sessions_per_source = 65535;
    c.max_new_sessions_per_second = 0;
    c.events = level;
    c
}

fn template6() -> Vec<u8> {
    udp6_ports("2001:db8:7::", "64:ff9b:1::cb00:7105", 1024, 53, &[0u8; 16])
}

fn patch6(p: &mut [u8], i: u32) {
    p[20..24].copy_from_slice(&i.to_be_bytes());
    p[40..42].copy_from_slice(&(1024 + (i % 60000) as u16).to_be_bytes());
}

/// An engine at `level`, logging (unless off) to a file in `dir` through a started log.
fn logged(level: EventLevel, dir: &std::path::Path) -> (Logged<Nat64>, Option<NatLog>) {
    let e = Nat64::new(config(level)).unwrap();
    if level == EventLevel::Off {
        return (Logged::new(e, None), None);
    }
    let mut log = NatLog::open(&Sink::File(dir.join("bench.jsonl")), 65_536).unwrap();
    log.start().unwrap();
    (Logged::new(e, log.sender()), Some(log))
}

/// CPU time of the calling thread (what the data path itself spent, without the time
/// other threads, the logging one included, had the CPU).
fn thread_cpu() -> Duration {
    let t = nix::time::clock_gettime(nix::time::ClockId::CLOCK_THREAD_CPUTIME_ID).unwrap();
    Duration::new(t.tv_sec() as u64, t.tv_nsec() as u32)
}

/// `per_ms` × 1,000 new sessions a second for two seconds: busy time per session (wall and
/// the thread's own CPU time), logged, dropped.
fn sustained(level: EventLevel, dir: &std::path::Path, per_ms: u32) -> (f64, f64, u64, u64) {
    let (mut e, log) = logged(level, dir);
    let t = template6();
    let mut buf = PacketBuf::new();
    let start = Instant::now();
    let mut busy = Duration::ZERO;
    let mut cpu = Duration::ZERO;
    let mut i = 0u32;
    for ms in 0..2000u32 {
        let t0 = Instant::now();
        let c0 = thread_cpu();
        for _ in 0..per_ms {
            let _ = buf.set(&t);
            patch6(&mut buf, i);
            let _ = black_box(e.process(&mut buf, t0));
            i += 1;
        }
        busy += t0.elapsed();
        cpu += thread_cpu() - c0;
        let next = start + Duration::from_millis(u64::from(ms) + 1);
        if let Some(d) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(d);
        }
    }
    drop(e);
    let (logged, dropped) = match log {
        Some(l) => {
            let s = l.stats();
            l.shutdown();
            let (a, b, _) = s.snapshot();
            (a, b)
        }
        None => (0, 0),
    };
    (busy.as_nanos() as f64 / f64::from(i), cpu.as_nanos() as f64 / f64::from(i), logged, dropped)
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    for level in [EventLevel::Off, EventLevel::Session] {
        let (ns, cpu, logged, dropped) = sustained(level, dir.path(), 100);
        println!(
            "natlog sustained 100,000 new sessions/s for 2 s, {level:?}: {ns:.0} ns wall, {cpu:.0} ns CPU \
             per new session; {logged} events logged, {dropped} dropped"
        );
    }
    // Higher rates, at `session` level (two events each), until the data path itself no
    // longer keeps the pace (its busy time per millisecond reaches the millisecond).
    for per_ms in [150, 200, 250] {
        let (ns, cpu, logged, dropped) = sustained(EventLevel::Session, dir.path(), per_ms);
        println!(
            "natlog sustained {per_ms},000 new sessions/s for 2 s, Session: {ns:.0} ns wall, {cpu:.0} ns CPU \
             per new session (busy {:.0} % of each ms); {logged} events logged, {dropped} dropped",
            ns * f64::from(per_ms) / 10_000.0
        );
    }
    let now = Instant::now();
    let mut g = c.benchmark_group("natlog");
    g.throughput(Throughput::Elements(1));
    let t6 = template6();
    for (name, level) in [("off", EventLevel::Off), ("bib", EventLevel::Bib), ("session", EventLevel::Session)] {
        g.bench_function(format!("new_session_{name}"), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                let mut done = 0u64;
                let mut buf = PacketBuf::new();
                while done < iters {
                    let (mut e, log) = logged(level, dir.path());
                    let n = (iters - done).min(200_000) as u32;
                    let t0 = Instant::now();
                    for i in 0..n {
                        let _ = buf.set(&t6);
                        patch6(&mut buf, i);
                        let _ = black_box(e.process(black_box(&mut buf), now));
                    }
                    total += t0.elapsed();
                    done += u64::from(n);
                    drop(e);
                    if let Some(l) = log {
                        l.shutdown();
                    }
                }
                total
            })
        });
    }
    for (name, level) in [("off", EventLevel::Off), ("session", EventLevel::Session)] {
        let (mut e, log) = logged(level, dir.path());
        let mut buf = PacketBuf::new();
        for i in 0..100_000 {
            let _ = buf.set(&t6);
            patch6(&mut buf, i);
            let _ = e.process(&mut buf, now);
        }
        let mut t = t6.clone();
        let mut i = 0u32;
        g.bench_function(format!("established_6to4_{name}"), |b| {
            b.iter(|| {
                i = (i + 1) % 100_000;
                patch6(&mut t, i);
                let _ = buf.set(&t);
                e.process(black_box(&mut buf), now)
            })
        });
        drop(e);
        if let Some(l) = log {
            l.shutdown();
        }
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(4)).warm_up_time(Duration::from_secs(1)).sample_size(20);
    targets = bench
}

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}
