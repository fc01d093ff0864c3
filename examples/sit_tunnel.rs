//! A 6in4 (sit) tunnel endpoint in one page: a TUN device for IPv6, a raw protocol-41
//! socket for the encapsulated packets, an ICMP socket for path MTU discovery, and Ctrl-C
//! to stop. Run as root on both ends (swap the addresses on the other one):
//!
//! ```text
//! cargo run --example sit_tunnel -- 192.0.2.1 198.51.100.1 2001:db8:ffff::1
//! ip -6 route add 2001:db8:b::/48 dev sit6in4      # the far site, through the tunnel
//! ```

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use sixgate::io::signals::Signals;
use sixgate::io::{run_tunnel, RawIpv4, TunDevice, TunOptions, TunnelIo, WorkerStats};
use sixgate::sixin4::{SitConfig, SitTunnel, PROTO_IPV6};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let local = args.next().unwrap_or_else(|| "192.0.2.1".into()).parse()?;
    let remote = args.next().unwrap_or_else(|| "198.51.100.1".into()).parse()?;
    let address = args.next().unwrap_or_else(|| "2001:db8:ffff::1".into()).parse()?;
    let cfg = SitConfig::new_static(local, remote, address);
    let engine = SitTunnel::new(cfg.clone())?;

    // Signals are blocked before any thread starts, then received synchronously.
    let signals = Signals::block()?;
    let mut tun = TunDevice::open(&TunOptions::new("sit6in4").mtu(cfg.tunnel_mtu()).ipv6(address, 64))?;
    let io = TunnelIo { tun: tun.remove(0), outer: RawIpv4::open(PROTO_IPV6)?, icmp: Some(RawIpv4::open(1)?) };
    let stop = Arc::new(AtomicBool::new(false));
    let stats = Arc::new(Mutex::new(WorkerStats::default()));
    let worker = {
        let (stop, stats) = (Arc::clone(&stop), Arc::clone(&stats));
        std::thread::spawn(move || run_tunnel(&io, engine, &stop, &stats))
    };
    println!("tunnel {local} -> {remote} on sit6in4 (MTU {}); Ctrl-C to stop", cfg.tunnel_mtu());
    let _ = signals.wait(); // SIGINT, SIGTERM (or SIGUSR1)
    stop.store(true, Ordering::Relaxed);
    worker.join().map_err(|_| "worker panicked")??;
    if let Ok(s) = stats.lock() {
        println!("received {} {} write errors {}", s.received, s.counters, s.write_errors);
    }
    Ok(())
}
