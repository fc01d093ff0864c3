//! The tunnel loop: a TUN device on the inner side, a raw IPv4 socket on the outer side,
//! and an engine between them (a 6in4 endpoint: [`Side::V6`] is the TUN, [`Side::V4`] the
//! raw socket).
//!
//! A second, receive-only raw socket for ICMP may be given: the ICMPv4 errors the kernel
//! receives (Fragmentation Needed about the outer packets) are copied to it and handed to
//! the engine, which picks out the ones about its own packets.
//!
//! It is the one worker loop of [`crate::driver`] with one of two pumps: with a TUN device
//! opened with offload, a batched one (GSO super-packets from the TUN split by `tun-rs`,
//! inner packets to the TUN coalesced again (GRO); `recvmmsg` and `sendmmsg` on the raw
//! sockets; everything drained without blocking, one write batch per side and burst);
//! without offload, one packet per syscall (the driver's pump for any
//! [`PacketIo`] devices).

use std::io;
use std::os::fd::BorrowedFd;
use std::sync::atomic::AtomicBool;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sixgate_core::engine::{drive_into, Counters, Engine, Origin, Outbox, Side};

use crate::batch::{IoBuf, RX_OFFSET};
use crate::driver::{is_drained, run_loop, wait_readable, Mailbox, Plain, Pump, Ready, WorkerStats, BURST};
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

/// Runs `engine` between the devices until `stop` is set, publishing statistics into
/// `slot` at least every 100 ms (and when idle). `received` counts packets from all
/// sources (a GSO super-packet from the TUN counts as the packets it is split into).
///
/// The batched pump runs when the TUN device was opened with offload
/// ([`TunDevice::offload`]), one packet per syscall otherwise. The TUN device is switched
/// to non-blocking mode (the loop waits in `poll(2)` and drains it).
pub fn run_tunnel<E: Engine>(
    io: &TunnelIo,
    engine: E,
    stop: &AtomicBool,
    slot: &Mutex<WorkerStats<Counters<E::Reason>>>,
) -> io::Result<()> {
    run_controlled_tunnel(io, engine, stop, slot, None)
}

/// [`run_tunnel`], also running the jobs of `mailbox` between bursts (see
/// [`crate::driver::Control`]).
pub fn run_controlled_tunnel<E: Engine>(
    io: &TunnelIo,
    engine: E,
    stop: &AtomicBool,
    slot: &Mutex<WorkerStats<Counters<E::Reason>>>,
    mailbox: Option<&Mailbox<E>>,
) -> io::Result<()> {
    io.tun.dev().set_nonblocking(true)?;
    if io.tun.offload() {
        run_loop(&mut Batched::new(io), engine, stop, slot, mailbox)
    } else {
        let mut sources: Vec<&dyn PacketIo> = vec![&io.tun, &io.outer];
        if let Some(icmp) = &io.icmp {
            sources.push(icmp);
        }
        run_loop(&mut Plain::new(sources, &io.outer, &io.tun), engine, stop, slot, mailbox)
    }
}

/// The descriptors to wait on: TUN, outer, ICMP (when there is one), in that order.
fn tunnel_fds(io: &TunnelIo) -> impl Iterator<Item = BorrowedFd<'_>> {
    [io.tun.fd(), io.outer.fd()].into_iter().chain(io.icmp.as_ref().map(RawIpv4::fd))
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
const ROUNDS: usize = BURST;

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

/// The batched pump (TUN with virtio-net offload): receive vectors for the TUN device
/// (GSO super-packets split by `tun-rs`) and for the raw sockets (`recvmmsg`).
struct Batched<'a> {
    io: &'a TunnelIo,
    original: Vec<u8>,
    tun_rx: Vec<IoBuf>,
    sizes: Vec<usize>,
    net_rx: Vec<IoBuf>,
    out: Batches,
}

impl<'a> Batched<'a> {
    fn new(io: &'a TunnelIo) -> Self {
        use tun_rs::{IDEAL_BATCH_SIZE, VIRTIO_NET_HDR_LEN};
        Self {
            io,
            original: vec![0u8; VIRTIO_NET_HDR_LEN + 65536],
            tun_rx: (0..IDEAL_BATCH_SIZE).map(|_| IoBuf::new()).collect(),
            sizes: vec![0usize; IDEAL_BATCH_SIZE],
            net_rx: (0..MMSG_BATCH).map(|_| IoBuf::new()).collect(),
            out: Batches::new(),
        }
    }
}

impl Pump for Batched<'_> {
    type Out = Batches;

    fn wait(&mut self, timeout: Duration) -> io::Result<Ready> {
        wait_readable(tunnel_fds(self.io), timeout)
    }

    fn outbox(&mut self) -> &mut Batches {
        &mut self.out
    }

    /// Drains every ready device without blocking, one read from each per round so no
    /// side starves the other; flushes a side's batch when it is full.
    fn burst<E: Engine, C>(
        &mut self,
        engine: &mut E,
        ready: Ready,
        now: Instant,
        stats: &mut WorkerStats<C>,
    ) -> io::Result<()> {
        let Self { io, original, tun_rx, sizes, net_rx, out } = self;
        let io = *io;
        let (mut tun_ready, mut net_ready, mut icmp_ready) = (ready.has(0), ready.has(1), ready.has(2));
        for _ in 0..ROUNDS {
            if !(tun_ready || net_ready || icmp_ready) {
                break;
            }
            if tun_ready {
                for b in tun_rx.iter_mut() {
                    b.for_rx();
                }
                match io.tun.dev().recv_multiple(original, tun_rx, sizes, RX_OFFSET) {
                    Ok(n) => {
                        for (b, &len) in tun_rx.iter_mut().zip(sizes.iter()).take(n) {
                            stats.received += 1;
                            b.received(len);
                            let _ = drive_into(engine, b, now, out);
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
                match sock.recv_many(net_rx) {
                    Ok(n) => {
                        // A short batch: the socket is drained.
                        *ready = n == net_rx.len();
                        for b in net_rx.iter_mut().take(n) {
                            stats.received += 1;
                            let _ = drive_into(engine, b, now, out);
                        }
                    }
                    Err(e) if is_drained(&e) => *ready = false,
                    Err(e) => return Err(e),
                }
            }
            if out.to_net.len() >= NET_FLUSH {
                out.flush_net(&io.outer, &mut stats.write_errors);
            }
            if out.to_tun.len() >= tun_rs::IDEAL_BATCH_SIZE {
                out.flush_tun(&io.tun, &mut stats.write_errors);
            }
        }
        Ok(())
    }

    fn flush<C>(&mut self, stats: &mut WorkerStats<C>) {
        self.out.flush_net(&self.io.outer, &mut stats.write_errors);
        self.out.flush_tun(&self.io.tun, &mut stats.write_errors);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sixgate_core::buf::PacketBuf;
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
