//! A fixed amount of stateful NAT64 work, for instruction counts (`valgrind
//! --tool=callgrind`), which stay meaningful on a loaded machine where wall times do not.
//!
//! `stateful_count MODE N`:
//! * `new N`: N UDP packets, each from a new IPv6 transport address (N new sessions);
//! * `est6 N` / `est4 N`: 100,000 sessions, then N packets of them from IPv6 / from IPv4;
//! * `sh6 N` / `sh4 N`: the same through one worker's handle on two shards (`queues = 2`).
//!
//! The cost per packet is (count for N − count for 0) / N; the setup (100,000 sessions,
//! the IPv4 reply templates) is the same in both runs and cancels out.
use std::time::Instant;

use sixgate_core::buf::PacketBuf;
use sixgate_core::engine::{Engine, Side, Verdict};
use sixgate_core::rfc6052::Pool6;
use sixgate_nat64::{Filtering, Nat64Config, Nat64Drop, Nat64Shards, Pool4Range};
use sixgate_testkit::packets::*;

fn config() -> Nat64Config {
    let pool6 = Pool6::new("64:ff9b:1::/96".parse().unwrap()).unwrap();
    let pool4 = vec![Pool4Range::new("198.51.100.0/24".parse().unwrap(), 1024, 65535)];
    let mut c = Nat64Config::new(pool6, pool4, "192.0.2.1".parse().unwrap(), "2001:db8:ffff::1".parse().unwrap());
    c.filtering = Filtering::EndpointIndependent;
    c.max_sessions = 4_000_000;
    c.max_sessions_per_source = 65535;
    c.max_new_sessions_per_second = 0;
    c
}

fn patch6(p: &mut [u8], i: u32) {
    p[20..24].copy_from_slice(&i.to_be_bytes());
    p[40..42].copy_from_slice(&(1024 + (i % 60000) as u16).to_be_bytes());
}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let (Some(mode), Some(n)) = (a.get(1), a.get(2).and_then(|n| n.parse::<u32>().ok())) else {
        eprintln!("usage: stateful_count new|est6|est4|sh6|sh4 N");
        std::process::exit(2);
    };
    match mode.as_str() {
        "sh6" | "sh4" => {
            let shards = Nat64Shards::new(config(), 2).unwrap();
            let mut h = shards.into_handles().swap_remove(0);
            work(&mut h, &mode[2..], n);
        }
        _ => work(&mut sixgate_nat64::Nat64::new(config()).unwrap(), mode, n),
    }
}

/// `mode` (`new`, `6`/`est6`, `4`/`est4`) on `e`.
fn work<E: Engine<Reason = Nat64Drop>>(e: &mut E, mode: &str, n: u32) {
    let now = Instant::now();
    let t6 = udp6_ports("2001:db8:7::", "64:ff9b:1::cb00:7105", 1024, 53, &[0u8; 64 - 48]);
    let mut buf = PacketBuf::new();
    let fill = if mode == "new" { n } else { 100_000 };
    let mut bound = Vec::new();
    for i in 0..fill {
        let _ = buf.set(&t6);
        patch6(&mut buf, i);
        assert_eq!(e.process(&mut buf, now), Verdict::Forward(Side::V4));
        bound.push((u32::from_be_bytes([buf[12], buf[13], buf[14], buf[15]]), u16::from_be_bytes([buf[20], buf[21]])));
    }
    if mode.ends_with('6') {
        let mut t = t6.clone();
        for k in 0..n {
            patch6(&mut t, k % 100_000);
            let _ = buf.set(&t);
            assert_eq!(e.process(&mut buf, now), Verdict::Forward(Side::V4));
        }
    }
    if mode.ends_with('4') {
        let replies: Vec<Vec<u8>> = bound
            .iter()
            .map(|&(a, p)| udp4_ports("203.0.113.5", &std::net::Ipv4Addr::from(a).to_string(), 53, p, &[0u8; 64 - 28]))
            .collect();
        for k in 0..n {
            let _ = buf.set(&replies[(k % 100_000) as usize]);
            assert_eq!(e.process(&mut buf, now), Verdict::Forward(Side::V6));
        }
    }
    std::hint::black_box(e);
}
