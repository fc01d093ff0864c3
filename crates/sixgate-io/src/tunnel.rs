//! The tunnel loop: a TUN device on the inner side, a raw IPv4 socket on the outer side,
//! and an engine between them (a 6in4 endpoint: [`Side::V6`] is the TUN, [`Side::V4`] the
//! raw socket).
//!
//! A second, receive-only raw socket for ICMP may be given: the ICMPv4 errors the kernel
//! receives (Fragmentation Needed about the outer packets) are copied to it and handed to
//! the engine, which picks out the ones about its own packets.
//!
//! Two loops: with a TUN device opened with offload, a batched one (GSO super-packets from
//! the TUN split by `tun-rs`, inner packets to the TUN coalesced again (GRO); `recvmmsg`
//! and `sendmmsg` on the raw sockets; everything drained without blocking, one write batch
//! per side and burst); without offload, one packet per syscall.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use sixgate_core::buf::PacketBuf;
use sixgate_core::engine::{
    drive, drive_into, drive_timeout, drive_timeout_into, Counters, Engine, Origin, Outbox, Side,
};

use crate::batch::{IoBuf, RX_OFFSET};
use crate::driver::WorkerStats;
use crate::packet_io::PacketIo;
use crate::raw::{RawIpv4, MMSG_BATCH};
use crate::tun::TunDevice;

/// The devices of one tunnel endpoint.
#[derive(Debug)]
pub struct TunnelIo {
    /// The inner side (IPv6).
    pub tun: TunDevice,
    /// The outer side: protocol-41 packets in and out.
    pub outer: RawIpv4,
    /// Receive-only ICMPv4 socket for path MTU discovery (optional).
    pub icmp: Option<RawIpv4>,
}

/// Sends a packet out of `side`; a refused write is counted, not returned (the loop goes
/// on with the next packet).
fn emit(io: &TunnelIo, side: Side, buf: &PacketBuf, errors: &mut u64) -> Result<(), std::convert::Infallible> {
    let r = match side {
        Side::V6 => io.tun.send_packet(buf),
        Side::V4 => io.outer.send_packet(buf),
    };
    if r.is_err() {
        *errors += 1;
    }
    Ok(())
}

/// Runs `engine` between the devices until `stop` is set, publishing statistics into
/// `slot` at least every 100 ms (and when idle). `received` counts packets from all
/// sources (a GSO super-packet from the TUN counts as the packets it is split into).
///
/// The batched loop runs when the TUN device was opened with offload
/// ([`TunDevice::offload`]), the one-packet-per-syscall loop otherwise.
pub fn run_tunnel<E: Engine>(
    io: &TunnelIo,
    engine: E,
    stop: &AtomicBool,
    slot: &Mutex<WorkerStats<Counters<E::Reason>>>,
) -> io::Result<()> {
    if io.tun.offload() {
        run_batched(io, engine, stop, slot)
    } else {
        run_plain(io, engine, stop, slot)
    }
}

/// Waits (at most 100 ms, less if the engine has a timer due) for any device to become
/// readable; returns which ones are (TUN, outer, ICMP), or `None` on a timeout or signal.
fn wait_readable<E: Engine>(io: &TunnelIo, engine: &E) -> io::Result<Option<[bool; 3]>> {
    let mut fds = [
        PollFd::new(io.tun.fd(), PollFlags::POLLIN),
        PollFd::new(io.outer.fd(), PollFlags::POLLIN),
        PollFd::new(io.icmp.as_ref().unwrap_or(&io.outer).fd(), PollFlags::POLLIN),
    ];
    let nfds = if io.icmp.is_some() { 3 } else { 2 };
    let timeout = match engine.poll_timeout() {
        Some(t) => t.saturating_duration_since(Instant::now()).min(Duration::from_millis(100)),
        None => Duration::from_millis(100),
    };
    match poll(&mut fds[..nfds], PollTimeout::try_from(timeout).unwrap_or(PollTimeout::MAX)) {
        Ok(0) | Err(nix::errno::Errno::EINTR) => Ok(None),
        Ok(_) => {
            let mut r = [false; 3];
            for (r, f) in r.iter_mut().zip(&fds[..nfds]) {
                *r = f.revents().is_some_and(|r| r.intersects(PollFlags::POLLIN));
            }
            Ok(Some(r))
        }
        Err(e) => Err(e.into()),
    }
}

/// Output batches of the batched loop, one per side, and spare buffers to refill the
/// receive vectors with when a received buffer moves to an output batch.
struct Batches {
    /// Inner packets for the TUN (coalesced on flush).
    to_tun: Vec<IoBuf>,
    /// Outer packets for the raw socket.
    to_net: Vec<IoBuf>,
    free: Vec<IoBuf>,
    gro: tun_rs::GROTable,
}

/// Packets collected for the raw socket before a `sendmmsg` flush mid-burst.
const NET_FLUSH: usize = 2 * MMSG_BATCH;

/// Read rounds (each one read per ready device) per wake-up before the batches are flushed
/// and the devices polled again.
const ROUNDS: usize = 64;

impl Batches {
    fn new() -> Self {
        let n = tun_rs::IDEAL_BATCH_SIZE;
        Self {
            to_tun: Vec::with_capacity(2 * n),
            to_net: Vec::with_capacity(2 * NET_FLUSH),
            free: (0..n).map(|_| IoBuf::new()).collect(),
            gro: tun_rs::GROTable::default(),
        }
    }

    /// Writes the TUN batch, coalescing TCP and UDP segments of a flow (GRO).
    fn flush_tun(&mut self, tun: &TunDevice, errors: &mut u64) {
        if self.to_tun.is_empty() {
            return;
        }
        let before = self.to_tun.len();
        self.to_tun.retain_mut(|b| b.for_tx(tun_rs::VIRTIO_NET_HDR_LEN));
        *errors += (before - self.to_tun.len()) as u64;
        if tun.dev().send_multiple(&mut self.gro, &mut self.to_tun, tun_rs::VIRTIO_NET_HDR_LEN).is_err() {
            *errors += 1;
        }
        self.free.append(&mut self.to_tun);
    }

    /// Writes the raw-socket batch with `sendmmsg`.
    fn flush_net(&mut self, outer: &RawIpv4, errors: &mut u64) {
        if self.to_net.is_empty() {
            return;
        }
        let sent = outer.send_many(self.to_net.iter().map(|b| b.buf.as_slice()));
        *errors += (self.to_net.len() - sent) as u64;
        self.free.append(&mut self.to_net);
    }
}

/// What the engine emits moves to the batch of its side (a received buffer is swapped for
/// a spare, never copied).
impl Outbox for Batches {
    type Buf = IoBuf;

    fn spare(&mut self) -> IoBuf {
        self.free.pop().unwrap_or_else(IoBuf::new)
    }

    fn recycle(&mut self, buf: IoBuf) {
        self.free.push(buf);
    }

    fn push(&mut self, side: Side, _origin: Origin, buf: IoBuf) {
        match side {
            Side::V6 => self.to_tun.push(buf),
            Side::V4 => self.to_net.push(buf),
        }
    }
}

/// The batched loop (TUN with virtio-net offload).
fn run_batched<E: Engine>(
    io: &TunnelIo,
    mut engine: E,
    stop: &AtomicBool,
    slot: &Mutex<WorkerStats<Counters<E::Reason>>>,
) -> io::Result<()> {
    use tun_rs::{IDEAL_BATCH_SIZE, VIRTIO_NET_HDR_LEN};

    io.tun.dev().set_nonblocking(true)?;
    let mut original = vec![0u8; VIRTIO_NET_HDR_LEN + 65536];
    let mut tun_rx: Vec<IoBuf> = (0..IDEAL_BATCH_SIZE).map(|_| IoBuf::new()).collect();
    let mut sizes = vec![0usize; IDEAL_BATCH_SIZE];
    let mut net_rx: Vec<IoBuf> = (0..MMSG_BATCH).map(|_| IoBuf::new()).collect();
    let mut out = Batches::new();
    let mut stats = WorkerStats::default();
    let mut last_publish = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        let readable = wait_readable(io, &engine)?;
        let now = Instant::now();
        drive_timeout_into(&mut engine, now, &mut out);
        // Drain every ready device without blocking, one read from each per round so no
        // side starves the other; flush a side's batch when it is full and at the end of
        // the burst, then poll again.
        let [mut tun_ready, mut net_ready, mut icmp_ready] = readable.unwrap_or_default();
        for _ in 0..ROUNDS {
            if !(tun_ready || net_ready || icmp_ready) {
                break;
            }
            if tun_ready {
                for b in tun_rx.iter_mut() {
                    b.for_rx();
                }
                match io.tun.dev().recv_multiple(&mut original, &mut tun_rx, &mut sizes, RX_OFFSET) {
                    Ok(n) => {
                        for (b, &len) in tun_rx.iter_mut().zip(&sizes).take(n) {
                            stats.received += 1;
                            b.received(len);
                            let _ = drive_into(&mut engine, b, now, &mut out);
                        }
                    }
                    Err(e) if is_drained(&e) => tun_ready = false,
                    // A malformed virtio-net header or GSO packet (tun-rs's own error, no
                    // errno): count the read and go on.
                    Err(e) if e.raw_os_error().is_none() => stats.received += 1,
                    Err(e) => return Err(e),
                }
            }
            for (ready, sock) in [(&mut net_ready, Some(&io.outer)), (&mut icmp_ready, io.icmp.as_ref())] {
                let Some(sock) = sock.filter(|_| *ready) else { continue };
                match sock.recv_many(&mut net_rx) {
                    Ok(n) => {
                        // A short batch: the socket is drained.
                        *ready = n == net_rx.len();
                        for b in net_rx.iter_mut().take(n) {
                            stats.received += 1;
                            let _ = drive_into(&mut engine, b, now, &mut out);
                        }
                    }
                    Err(e) if is_drained(&e) => *ready = false,
                    Err(e) => return Err(e),
                }
            }
            if out.to_net.len() >= NET_FLUSH {
                out.flush_net(&io.outer, &mut stats.write_errors);
            }
            if out.to_tun.len() >= IDEAL_BATCH_SIZE {
                out.flush_tun(&io.tun, &mut stats.write_errors);
            }
        }
        out.flush_net(&io.outer, &mut stats.write_errors);
        out.flush_tun(&io.tun, &mut stats.write_errors);
        if readable.is_none() || now.duration_since(last_publish) >= Duration::from_millis(100) {
            stats.publish(&mut engine, slot);
            last_publish = now;
        }
    }
    stats.publish(&mut engine, slot);
    Ok(())
}

fn is_drained(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted)
}

/// One packet per syscall (TUN without offload).
fn run_plain<E: Engine>(
    io: &TunnelIo,
    mut engine: E,
    stop: &AtomicBool,
    slot: &Mutex<WorkerStats<Counters<E::Reason>>>,
) -> io::Result<()> {
    let mut buf = PacketBuf::new();
    let mut stats = WorkerStats::default();
    let mut last_publish = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        let readable = wait_readable(io, &engine)?;
        let now = Instant::now();
        let _ = drive_timeout(&mut engine, &mut buf, now, |side, _, b| emit(io, side, b, &mut stats.write_errors));
        if let Some(readable) = readable {
            // Up to 64 packets from each source per round, so no side starves the other.
            for (src, _) in readable.iter().enumerate().filter(|(_, r)| **r) {
                for _ in 0..64 {
                    let r = match src {
                        0 => io.tun.recv_packet(&mut buf),
                        1 => io.outer.recv_packet(&mut buf),
                        _ => match &io.icmp {
                            Some(i) => i.recv_packet(&mut buf),
                            None => break,
                        },
                    };
                    match r {
                        Ok(()) => {}
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock || e.kind() == io::ErrorKind::Interrupted => {
                            break
                        }
                        Err(e) => return Err(e),
                    }
                    stats.received += 1;
                    // The packet, then whatever the engine queued (after a drop too).
                    let _ = drive(&mut engine, &mut buf, now, |side, _, b| emit(io, side, b, &mut stats.write_errors));
                    // The TUN device blocks; check before reading it again.
                    if src == 0 && !tun_readable(&io.tun) {
                        break;
                    }
                }
            }
        }
        if readable.is_none() || now.duration_since(last_publish) >= Duration::from_millis(100) {
            stats.publish(&mut engine, slot);
            last_publish = now;
        }
    }
    stats.publish(&mut engine, slot);
    Ok(())
}

fn tun_readable(dev: &TunDevice) -> bool {
    let mut fds = [PollFd::new(dev.fd(), PollFlags::POLLIN)];
    matches!(poll(&mut fds, PollTimeout::ZERO), Ok(n) if n > 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sixgate_core::engine::{drive_into, Verdict};

    sixgate_core::drop_reasons! {
        /// Never used.
        enum Why {
            /// Never used.
            Never = "never",
        }
    }

    /// Sends each packet back out of its own side and queues one packet for the TUN.
    struct Bounce(Counters<Why>, bool);

    impl Engine for Bounce {
        type Reason = Why;
        fn process(&mut self, _buf: &mut PacketBuf, _now: Instant) -> Verdict<Why> {
            self.1 = true;
            Verdict::Forward(Side::V4)
        }
        fn poll_transmit(&mut self, buf: &mut PacketBuf) -> Option<Side> {
            std::mem::take(&mut self.1).then(|| buf.set(&[0x60]).ok()).flatten().map(|()| Side::V6)
        }
        fn counters(&self) -> &Counters<Why> {
            &self.0
        }
    }

    #[test]
    fn the_batched_loop_collects_a_packet_and_its_queue_into_the_batch_of_each_side() {
        let mut out = Batches::new();
        let spares = out.free.len();
        let mut e = Bounce(Counters::new(), false);
        let mut slot = IoBuf::new();
        slot.buf.set(&[0x45, 0, 0, 20]).unwrap();
        assert_eq!(drive_into(&mut e, &mut slot, Instant::now(), &mut out), Verdict::Forward(Side::V4));
        assert_eq!(out.to_net.len(), 1);
        assert_eq!(out.to_net[0].buf.as_slice(), &[0x45, 0, 0, 20]);
        assert_eq!(out.to_tun.len(), 1, "the queued packet goes out too");
        assert_eq!(out.to_tun[0].buf.as_slice(), &[0x60]);
        // Two spares used (the slot's replacement, the queued packet); the empty one back.
        assert_eq!(out.free.len(), spares - 2);
    }
}
