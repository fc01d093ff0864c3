//! A fixed number of decapsulations (or encapsulations) for instruction counting:
//!
//! ```sh
//! cargo build --release -p sixgate-6in4 --example sit_loop
//! valgrind --tool=callgrind --toggle-collect=sit_loop::one target/release/examples/sit_loop decap 64 100000
//! ```
//!
//! Instructions per packet = the collected total / the count. The packet is the benchmark's
//! (`benches/sit.rs`): a UDP packet in a static-mode tunnel.
use std::hint::black_box;
use std::time::Instant;

use sixgate_6in4::{SitConfig, SitTunnel};
use sixgate_core::buf::PacketBuf;
use sixgate_core::engine::{Engine, Verdict};
use sixgate_testkit::packets::sit::{encap, udp6};

#[inline(never)]
fn one(e: &mut SitTunnel, buf: &mut PacketBuf, now: Instant) -> Verdict<sixgate_6in4::SitDrop> {
    e.process(buf, now)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let what = args.get(1).map_or("decap", String::as_str);
    let size: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(64);
    let n: u64 = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(100_000);
    let (a, b) = ("192.0.2.1".parse().unwrap(), "198.51.100.1".parse().unwrap());
    let mut enc = SitTunnel::new(SitConfig::new_static(a, b, "2001:db8:ffff::1".parse().unwrap())).unwrap();
    let mut dec = SitTunnel::new(SitConfig::new_static(b, a, "2001:db8:ffff::2".parse().unwrap())).unwrap();
    let inner = udp6("2001:db8:a::2", "2001:db8:b::2", &vec![0u8; size.max(48) - 48]);
    let now = Instant::now();
    let (e, pkt) = match what {
        "encap" => (&mut enc, inner),
        _ => (&mut dec, encap("192.0.2.1", "198.51.100.1", 0, &inner)),
    };
    let mut buf = PacketBuf::from_slice(&pkt);
    let (s0, e0) = buf.bounds();
    let mut fwd = 0u64;
    for _ in 0..n {
        if matches!(one(e, black_box(&mut buf), now), Verdict::Forward(_)) {
            fwd += 1;
        }
        let _ = buf.set_bounds(s0, e0);
    }
    assert_eq!(fwd, n, "every packet forwarded");
    println!("{what} {size} B x {n}: ok");
}
