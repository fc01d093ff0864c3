//! The worker loop: TUN read → engine → TUN write, one worker per queue.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use sixgate_core::buf::PacketBuf;
use sixgate_core::engine::{Counters, Engine, Reason, Verdict};

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
    /// GSO super-packets translated whole (each also counted once in `received`).
    pub whole: u64,
}

impl<R: Reason> WorkerStats<Counters<R>> {
    /// Takes the engine's counters and hands a snapshot to the reporting thread's slot.
    pub(crate) fn publish<E: Engine<Reason = R>>(&mut self, engine: &mut E, slot: &Mutex<Self>) {
        engine.sync_counters();
        self.counters.clone_from(engine.counters());
        if let Ok(mut s) = slot.lock() {
            *s = self.clone();
        }
    }
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

/// The offload loop. Each read returns one packet or one TCP/UDP super-packet (GSO) with
/// its virtio-net header. A super-packet is translated whole when the engine allows it
/// ([`sixgate_core::gso::process_super`]: headers rewritten once, payload untouched, the
/// checksum left partial for the kernel to finish per segment) and written back as one
/// super-packet; otherwise it is cut into segments and each goes through the engine.
/// Single packets are batched and written with `send_multiple`, which coalesces TCP and
/// UDP segments of one flow (GRO).
fn worker_offload<E: Engine>(
    dev: TunDevice,
    mut engine: E,
    stop: &AtomicBool,
    slot: &Mutex<WorkerStats<Counters<E::Reason>>>,
) -> io::Result<()> {
    use crate::batch::{IoBuf, RX_OFFSET};
    use sixgate_core::gso::{self, SuperOutcome};
    use tun_rs::{
        GROTable, VirtioNetHdr, IDEAL_BATCH_SIZE, VIRTIO_NET_HDR_GSO_TCPV4, VIRTIO_NET_HDR_GSO_TCPV6,
        VIRTIO_NET_HDR_GSO_UDP_L4, VIRTIO_NET_HDR_LEN as VH,
    };
    const NEEDS_CSUM: u8 = 1;
    const GSO_ECN: u8 = 0x80;

    dev.dev().set_nonblocking(true)?;
    let mut rx = IoBuf::new();
    let mut probe = IoBuf::new();
    let mut tx: Vec<IoBuf> = Vec::with_capacity(IDEAL_BATCH_SIZE * 2);
    let mut free: Vec<IoBuf> = (0..IDEAL_BATCH_SIZE).map(|_| IoBuf::new()).collect();
    let mut split: Vec<IoBuf> = Vec::new();
    let mut sizes = vec![0usize; IDEAL_BATCH_SIZE];
    let mut gro = GROTable::default();
    let mut stats = WorkerStats::default();
    let mut last_publish = Instant::now();
    // When the last wake-up came.
    let mut last_wake = Instant::now();

    // Queues the engine's result for `b` (and whatever it has to transmit after it).
    fn take<E: Engine>(
        engine: &mut E,
        verdict: &Verdict<E::Reason>,
        b: &mut IoBuf,
        tx: &mut Vec<IoBuf>,
        free: &mut Vec<IoBuf>,
    ) {
        if matches!(verdict, Verdict::Drop(_)) {
            // The engine may still have queued packets (e.g. a shard's output before the
            // hairpin leg of the same packet was dropped).
            drain(engine, tx, free);
            return;
        }
        let spare = free.pop().unwrap_or_else(IoBuf::new);
        tx.push(std::mem::replace(b, spare));
        drain(engine, tx, free);
    }

    // Queues whatever the engine has left to send.
    fn drain<E: Engine>(engine: &mut E, tx: &mut Vec<IoBuf>, free: &mut Vec<IoBuf>) {
        loop {
            let mut extra = free.pop().unwrap_or_else(IoBuf::new);
            if engine.poll_transmit(&mut extra.buf).is_none() {
                free.push(extra);
                break;
            }
            tx.push(extra);
        }
    }

    while !stop.load(Ordering::Relaxed) {
        let mut fds = [PollFd::new(dev.fd(), PollFlags::POLLIN)];
        // At most 100 ms, so stop requests are seen; at once when the engine has timer work
        // due (a mass expiry runs in slices, one per wake-up).
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
            // Timers can have packets to send (e.g. RFC 6146 §3.5.2.2: the ICMP error for an
            // unsolicited SYN held 6 s).
            drain(&mut engine, &mut tx, &mut free);
        }
        // Drain the device without blocking (it is non-blocking), then write the single
        // packets in one batch: one poll per burst, not per packet.
        let mut reads = 0;
        // Idle for a while before this wake-up: a low rate.
        let lone = now.duration_since(last_wake) >= Duration::from_micros(200);
        last_wake = now;
        while ready > 0 && reads < 64 {
            reads += 1;
            rx.for_rx();
            let n = match dev.recv(&mut rx.buf.backing_mut()[RX_OFFSET - VH..]) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock || e.kind() == io::ErrorKind::Interrupted => break,
                Err(e) => return Err(e),
            };
            stats.received += 1;
            let Some(hdr) =
                (n > VH).then(|| VirtioNetHdr::decode(&rx.buf.backing()[RX_OFFSET - VH..RX_OFFSET]).ok()).flatten()
            else {
                continue;
            };
            rx.received(n - VH);
            let kind = hdr.gso_type & !GSO_ECN;
            if kind == 0 {
                // One packet. A partial checksum (CHECKSUM_PARTIAL: the kernel left it to
                // the "hardware") is finished here, so the engine sees a complete packet.
                if hdr.flags & NEEDS_CSUM != 0
                    && !finish_checksum(rx.buf.as_mut_slice(), hdr.csum_start, hdr.csum_offset)
                {
                    continue;
                }
                let v = engine.process(&mut rx.buf, now);
                take(&mut engine, &v, &mut rx, &mut tx, &mut free);
            } else if kind == VIRTIO_NET_HDR_GSO_TCPV4
                || kind == VIRTIO_NET_HDR_GSO_TCPV6
                || kind == VIRTIO_NET_HDR_GSO_UDP_L4
            {
                // Whole translation needs the checksum partial at the transport header, as
                // Linux hands GSO packets over; anything else is cut up by tun-rs below.
                let partial = hdr.flags & NEEDS_CSUM != 0
                    && gso::layout(rx.buf.as_slice()).is_some_and(|l| {
                        usize::from(hdr.csum_start) == l.l3 && usize::from(hdr.csum_offset) == l.csum_offset()
                    });
                let outcome = if partial {
                    gso::process_super(&mut engine, &mut rx.buf, hdr.gso_size, &mut probe.buf, now)
                } else {
                    Err(gso::GsoError::Layout)
                };
                match outcome {
                    Ok(SuperOutcome::Whole { layout, tail, .. }) => {
                        // Keep the order of a flow: what is queued goes first.
                        if !tx.is_empty() {
                            flush(&dev, &mut gro, &mut tx, &mut free, &mut stats.write_errors);
                        }
                        let out = VirtioNetHdr {
                            flags: NEEDS_CSUM,
                            gso_type: match (layout.proto, layout.v6) {
                                (6, false) => VIRTIO_NET_HDR_GSO_TCPV4,
                                (6, true) => VIRTIO_NET_HDR_GSO_TCPV6,
                                _ => VIRTIO_NET_HDR_GSO_UDP_L4,
                            } | (hdr.gso_type & GSO_ECN),
                            hdr_len: layout.headers() as u16,
                            gso_size: hdr.gso_size,
                            csum_start: layout.l3 as u16,
                            csum_offset: layout.csum_offset() as u16,
                        };
                        let (start, end) = rx.buf.bounds();
                        let sent = start >= VH
                            && out.encode(&mut rx.buf.backing_mut()[start - VH..start]).is_ok()
                            && dev.send(&rx.buf.backing()[start - VH..end]).is_ok();
                        if sent {
                            stats.whole += 1;
                        } else {
                            stats.write_errors += 1;
                        }
                        // Anything the engine queued while forwarding it.
                        drain(&mut engine, &mut tx, &mut free);
                        if tail {
                            let v = engine.process(&mut probe.buf, now);
                            take(&mut engine, &v, &mut probe, &mut tx, &mut free);
                        }
                    }
                    Ok(SuperOutcome::Segmented { verdict, layout, count }) => {
                        take(&mut engine, &verdict, &mut probe, &mut tx, &mut free);
                        for i in 1..count {
                            let mut b = free.pop().unwrap_or_else(IoBuf::new);
                            if gso::segment(rx.buf.as_slice(), &layout, hdr.gso_size, i, &mut b.buf).is_err() {
                                free.push(b);
                                break;
                            }
                            let v = engine.process(&mut b.buf, now);
                            take(&mut engine, &v, &mut b, &mut tx, &mut free);
                            free.push(b);
                            if tx.len() >= IDEAL_BATCH_SIZE {
                                flush(&dev, &mut gro, &mut tx, &mut free, &mut stats.write_errors);
                            }
                        }
                    }
                    Err(_) => {
                        // Not a plain TCP/UDP super-packet (IPv6 extension headers, say):
                        // tun-rs cuts it into packets, each goes through the engine.
                        // One buffer per segment (a small MSS makes more than a batch).
                        let len = rx.buf.len();
                        let hl = usize::from(hdr.hdr_len).min(len);
                        let need = (len - hl).div_ceil(usize::from(hdr.gso_size.max(1))).max(1);
                        while split.len() < need {
                            split.push(IoBuf::new());
                        }
                        if sizes.len() < split.len() {
                            sizes.resize(split.len(), 0);
                        }
                        for b in split.iter_mut() {
                            b.for_rx();
                        }
                        let v6 = rx.buf.as_slice().first().is_some_and(|b| b >> 4 == 6);
                        let Ok(k) =
                            tun_rs::gso_split(rx.buf.as_mut_slice(), hdr, &mut split, &mut sizes, RX_OFFSET, v6)
                        else {
                            continue;
                        };
                        for (b, &size) in split.iter_mut().zip(sizes.iter()).take(k) {
                            b.received(size);
                            let v = engine.process(&mut b.buf, now);
                            take(&mut engine, &v, b, &mut tx, &mut free);
                        }
                    }
                }
            }
            // After an idle spell (≥ 200 µs since the last wake-up) the first packet of a
            // wake-up goes out at once, before the read that finds the device empty: a
            // lone packet (a ping, a request) waits for one syscall fewer. Under load
            // packets stay batched, so that the write coalesces them (UDP GRO) and the
            // kernel forwards one super-packet: writing the first alone whenever a
            // wake-up found one packet cost ~20 % of the 64-byte UDP rate at overload.
            if tx.len() >= IDEAL_BATCH_SIZE || (lone && reads == 1 && !tx.is_empty()) {
                flush(&dev, &mut gro, &mut tx, &mut free, &mut stats.write_errors);
            }
        }
        if !tx.is_empty() {
            flush(&dev, &mut gro, &mut tx, &mut free, &mut stats.write_errors);
        }
        // Publish at least every 100 ms while busy, and whenever the device goes idle.
        if ready == 0 || now.duration_since(last_publish) >= Duration::from_millis(100) {
            stats.publish(&mut engine, slot);
            last_publish = now;
        }
    }
    stats.publish(&mut engine, slot);
    Ok(())
}

/// Finishes a partial transport checksum in place: the field holds the pseudo-header sum;
/// the checksum covers everything from `start` (RFC 1071). False if the offsets do not fit.
fn finish_checksum(pkt: &mut [u8], start: u16, offset: u16) -> bool {
    use sixgate_core::checksum::{add, finish, sum};
    let (start, at) = (usize::from(start), usize::from(start) + usize::from(offset));
    if at + 2 > pkt.len() || start > at {
        return false;
    }
    let initial = u32::from(u16::from_be_bytes([pkt[at], pkt[at + 1]]));
    pkt[at..at + 2].copy_from_slice(&[0, 0]);
    // 0 and 0xffff verify alike; 0xffff is also right for UDP, where 0 means "none".
    let c = match finish(add(sum(&pkt[start..]), initial)) {
        0 => 0xffff,
        c => c,
    };
    pkt[at..at + 2].copy_from_slice(&c.to_be_bytes());
    true
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
    const VH: usize = tun_rs::VIRTIO_NET_HDR_LEN;
    tx.retain_mut(|b| b.for_tx(VH));
    if let [b] = tx.as_mut_slice() {
        // One packet (the common case at low rates): nothing to coalesce, so no GRO pass
        // (which copies the packet and sums it again); a zeroed virtio header (no GSO,
        // checksum complete) and one write.
        b.as_mut()[..VH].fill(0);
        if dev.send(b.as_ref()).is_err() {
            *errors += 1;
        }
    } else if dev.dev().send_multiple(gro, tx, VH).is_err() {
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
    let mut stats = WorkerStats::default();
    let mut last_publish = Instant::now();
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
                let v = engine.process(&mut buf, now);
                if !matches!(v, Verdict::Drop(_)) && dev.send(&buf).is_err() {
                    stats.write_errors += 1;
                }
                // After every packet, dropped or not (the engine may have queued others).
                while engine.poll_transmit(&mut buf).is_some() {
                    if dev.send(&buf).is_err() {
                        stats.write_errors += 1;
                    }
                }
                if !poll_readable(&dev) {
                    break;
                }
            }
        }
        // Publish at least every 100 ms while busy, and whenever the device goes idle.
        if ready == 0 || now.duration_since(last_publish) >= Duration::from_millis(100) {
            stats.publish(&mut engine, slot);
            last_publish = now;
        }
    }
    stats.publish(&mut engine, slot);
    Ok(())
}

fn poll_readable(dev: &TunDevice) -> bool {
    let mut fds = [PollFd::new(dev.fd(), PollFlags::POLLIN)];
    matches!(poll(&mut fds, PollTimeout::ZERO), Ok(n) if n > 0)
}
