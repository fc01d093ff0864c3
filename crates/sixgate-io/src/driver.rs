//! The worker loop: TUN read → engine → TUN write, one worker per queue.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use sixgate_core::buf::PacketBuf;
use sixgate_core::engine::{Counters, Engine, Verdict};

use crate::tun::TunDevice;

/// Counters a worker publishes for reporting (updated at least every 100 ms).
#[derive(Debug, Clone, Default)]
pub struct WorkerStats<C> {
    /// The engine's counters.
    pub counters: C,
    /// Packets read from the device.
    pub received: u64,
    /// Write errors (e.g. a full device queue).
    pub write_errors: u64,
}

/// Per-worker statistics slots shared with the reporting thread.
pub type Published<R> = Arc<Vec<Mutex<WorkerStats<Counters<R>>>>>;

/// Runs one engine per queue, each in its own thread, until `stop` is set. Each worker
/// publishes its statistics into its slot of the returned vector. Returns when every
/// worker has ended, with each worker's final statistics or error.
pub fn run_workers<E, F>(
    queues: Vec<TunDevice>,
    mut make_engine: F,
    stop: &Arc<AtomicBool>,
    published: &Published<E::Reason>,
) -> Vec<io::Result<()>>
where
    E: Engine + Send + 'static,
    F: FnMut(usize) -> E,
{
    let handles: Vec<_> = queues
        .into_iter()
        .enumerate()
        .map(|(i, dev)| {
            let engine = make_engine(i);
            let stop = Arc::clone(stop);
            let published = Arc::clone(published);
            std::thread::Builder::new()
                .name(format!("sixgate-q{i}"))
                .spawn(move || worker(dev, engine, &stop, &published[i]))
        })
        .collect();
    handles
        .into_iter()
        .map(|h| match h {
            Ok(h) => h.join().unwrap_or_else(|_| Err(io::Error::other("worker panicked"))),
            Err(e) => Err(e),
        })
        .collect()
}

fn worker<E: Engine>(
    dev: TunDevice,
    engine: E,
    stop: &AtomicBool,
    slot: &Mutex<WorkerStats<Counters<E::Reason>>>,
) -> io::Result<()> {
    if dev.offload() {
        worker_offload(dev, engine, stop, slot)
    } else {
        worker_plain(dev, engine, stop, slot)
    }
}

/// The batched loop: `recv_multiple` (GSO split) → engine → `send_multiple` (GRO).
fn worker_offload<E: Engine>(
    dev: TunDevice,
    mut engine: E,
    stop: &AtomicBool,
    slot: &Mutex<WorkerStats<Counters<E::Reason>>>,
) -> io::Result<()> {
    use crate::batch::{IoBuf, RX_OFFSET};
    use tun_rs::{GROTable, IDEAL_BATCH_SIZE, VIRTIO_NET_HDR_LEN};

    dev.dev().set_nonblocking(true)?;
    let mut original = vec![0u8; VIRTIO_NET_HDR_LEN + 65536];
    let mut rx: Vec<IoBuf> = (0..IDEAL_BATCH_SIZE).map(|_| IoBuf::new()).collect();
    let mut tx: Vec<IoBuf> = Vec::with_capacity(IDEAL_BATCH_SIZE * 2);
    let mut free: Vec<IoBuf> = (0..IDEAL_BATCH_SIZE).map(|_| IoBuf::new()).collect();
    let mut sizes = vec![0usize; IDEAL_BATCH_SIZE];
    let mut gro = GROTable::default();
    let mut stats = WorkerStats { counters: Counters::new(), received: 0, write_errors: 0 };
    let mut last_publish = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        let mut fds = [PollFd::new(dev.fd(), PollFlags::POLLIN)];
        let ready = match poll(&mut fds, PollTimeout::from(100u16)) {
            Ok(n) => n,
            Err(nix::errno::Errno::EINTR) => 0,
            Err(e) => return Err(e.into()),
        };
        let now = Instant::now();
        if engine.poll_timeout().is_some_and(|t| t <= now) {
            engine.handle_timeout(now);
            // Packets the timers made (the stateful NAT64's ICMP errors for held SYNs).
            loop {
                let mut extra = free.pop().unwrap_or_else(IoBuf::new);
                if engine.poll_transmit(&mut extra.buf).is_none() {
                    free.push(extra);
                    break;
                }
                tx.push(extra);
            }
        }
        // Drain the device without blocking (it is non-blocking), then write everything
        // translated in one batch: one poll per burst, not per packet.
        let mut reads = 0;
        while ready > 0 && reads < 64 {
            reads += 1;
            for b in rx.iter_mut() {
                b.for_rx();
            }
            let n = match dev.dev().recv_multiple(&mut original, &mut rx, &mut sizes, RX_OFFSET) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock || e.kind() == io::ErrorKind::Interrupted => break,
                // A malformed virtio header or GSO packet: count it and go on.
                Err(e) if e.kind() == io::ErrorKind::InvalidData || e.kind() == io::ErrorKind::InvalidInput => {
                    stats.received += 1;
                    continue;
                }
                Err(e) => return Err(e),
            };
            for i in 0..n {
                stats.received += 1;
                rx[i].received(sizes[i]);
                match engine.process(&mut rx[i].buf, now) {
                    Verdict::Forward(_) | Verdict::Reply(_) => {
                        let spare = free.pop().unwrap_or_else(IoBuf::new);
                        tx.push(std::mem::replace(&mut rx[i], spare));
                        loop {
                            let mut extra = free.pop().unwrap_or_else(IoBuf::new);
                            if engine.poll_transmit(&mut extra.buf).is_none() {
                                free.push(extra);
                                break;
                            }
                            tx.push(extra);
                        }
                    }
                    Verdict::Drop(_) => {}
                }
            }
            if tx.len() >= IDEAL_BATCH_SIZE {
                flush(&dev, &mut gro, &mut tx, &mut free, &mut stats.write_errors);
            }
        }
        if !tx.is_empty() {
            flush(&dev, &mut gro, &mut tx, &mut free, &mut stats.write_errors);
        }
        // Publish at least every 100 ms while busy, and whenever the device goes idle.
        if ready == 0 || now.duration_since(last_publish) >= Duration::from_millis(100) {
            stats.counters = engine.counters().clone();
            if let Ok(mut s) = slot.lock() {
                *s = stats.clone();
            }
            last_publish = now;
        }
    }
    stats.counters = engine.counters().clone();
    if let Ok(mut s) = slot.lock() {
        *s = stats;
    }
    Ok(())
}

/// Writes the batch (coalescing TCP/UDP segments where the device allows) and recycles
/// the buffers.
fn flush(
    dev: &TunDevice,
    gro: &mut tun_rs::GROTable,
    tx: &mut Vec<crate::batch::IoBuf>,
    free: &mut Vec<crate::batch::IoBuf>,
    errors: &mut u64,
) {
    tx.retain_mut(|b| b.for_tx(tun_rs::VIRTIO_NET_HDR_LEN));
    if dev.dev().send_multiple(gro, tx, tun_rs::VIRTIO_NET_HDR_LEN).is_err() {
        *errors += 1;
    }
    free.append(tx);
}

/// One packet per syscall.
fn worker_plain<E: Engine>(
    dev: TunDevice,
    mut engine: E,
    stop: &AtomicBool,
    slot: &Mutex<WorkerStats<Counters<E::Reason>>>,
) -> io::Result<()> {
    let mut buf = PacketBuf::new();
    let mut stats = WorkerStats { counters: Counters::new(), received: 0, write_errors: 0 };
    let mut last_publish = Instant::now();
    let publish = |stats: &mut WorkerStats<Counters<E::Reason>>, engine: &E| {
        stats.counters = engine.counters().clone();
        if let Ok(mut s) = slot.lock() {
            *s = stats.clone();
        }
    };
    while !stop.load(Ordering::Relaxed) {
        // Wait for a packet, at most 100 ms, so stop requests and timers are seen.
        let mut fds = [PollFd::new(dev.fd(), PollFlags::POLLIN)];
        let timeout = match engine.poll_timeout() {
            Some(t) => t.saturating_duration_since(Instant::now()).min(Duration::from_millis(100)),
            None => Duration::from_millis(100),
        };
        let ready = match poll(&mut fds, PollTimeout::try_from(timeout).unwrap_or(PollTimeout::MAX)) {
            Ok(n) => n,
            Err(nix::errno::Errno::EINTR) => 0,
            Err(e) => return Err(e.into()),
        };
        let now = Instant::now();
        if engine.poll_timeout().is_some_and(|t| t <= now) {
            engine.handle_timeout(now);
            // Packets the timers made (the stateful NAT64's ICMP errors for held SYNs).
            while engine.poll_transmit(&mut buf).is_some() {
                if dev.send(&buf).is_err() {
                    stats.write_errors += 1;
                }
            }
        }
        if ready > 0 {
            // Drain what is there without blocking again.
            for _ in 0..64 {
                let n = match dev.recv(buf.read_area()) {
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock || e.kind() == io::ErrorKind::Interrupted => break,
                    Err(e) => return Err(e),
                };
                buf.set_len(n);
                stats.received += 1;
                match engine.process(&mut buf, now) {
                    Verdict::Forward(_) | Verdict::Reply(_) => {
                        if dev.send(&buf).is_err() {
                            stats.write_errors += 1;
                        }
                        while engine.poll_transmit(&mut buf).is_some() {
                            if dev.send(&buf).is_err() {
                                stats.write_errors += 1;
                            }
                        }
                    }
                    Verdict::Drop(_) => {}
                }
                if !poll_readable(&dev) {
                    break;
                }
            }
        }
        // Publish at least every 100 ms while busy, and whenever the device goes idle.
        if ready == 0 || now.duration_since(last_publish) >= Duration::from_millis(100) {
            publish(&mut stats, &engine);
            last_publish = now;
        }
    }
    publish(&mut stats, &engine);
    Ok(())
}

fn poll_readable(dev: &TunDevice) -> bool {
    let mut fds = [PollFd::new(dev.fd(), PollFlags::POLLIN)];
    matches!(poll(&mut fds, PollTimeout::ZERO), Ok(n) if n > 0)
}
