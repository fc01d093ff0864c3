//! A stateless NAT64 gateway in one page: a TUN device, one translator per queue, and
//! Ctrl-C to stop. Run as root, then route to the device the prefixes it translates:
//!
//! ```text
//! cargo run --example nat64_gateway            # TUN "nat64", pool6 2001:db8:64::/96
//! ip -6 route add 2001:db8:64::/96 dev nat64
//! ip route add 203.0.113.0/24 dev nat64        # the EAM's IPv4 side
//! ```

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use sixgate::io::signals::Signals;
use sixgate::io::{run_workers, TunDevice, TunOptions, WorkerStats};
use sixgate::nat64::{Siit, SiitConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut cfg = SiitConfig::new("192.0.2.1".parse()?, "2001:db8:ff::1".parse()?);
    cfg.pool6 = Some("2001:db8:64::/96".parse()?);
    cfg.add_eam("2001:db8:6::/120", "203.0.113.0/24")?;
    cfg.validate()?;

    // Signals are blocked before any thread starts, then received synchronously.
    let signals = Signals::block()?;
    let queues = TunDevice::open(&TunOptions::new("nat64").queues(2).offload(true))?;
    let stop = Arc::new(AtomicBool::new(false));
    let stats = Arc::new((0..queues.len()).map(|_| Mutex::new(WorkerStats::default())).collect::<Vec<_>>());
    let workers = {
        let (stop, stats) = (Arc::clone(&stop), Arc::clone(&stats));
        std::thread::spawn(move || run_workers(queues, |_| Siit::new(cfg.clone()).expect("valid"), &stop, &stats))
    };
    println!("translating on nat64; Ctrl-C to stop");
    let _ = signals.wait(); // SIGINT, SIGTERM (or SIGUSR1)
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for r in workers.join().unwrap_or_default() {
        r?;
    }
    for (i, s) in stats.iter().enumerate() {
        if let Ok(s) = s.lock() {
            println!("queue {i}: received {} {}", s.received, s.counters);
        }
    }
    Ok(())
}
