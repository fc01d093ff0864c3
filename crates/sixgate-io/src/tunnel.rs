//! The tunnel loop: a TUN device on the inner side, a raw IPv4 socket on the outer side,
//! and an engine between them (a 6in4 endpoint: [`Side::V6`] is the TUN, [`Side::V4`] the
//! raw socket).
//!
//! A second, receive-only raw socket for ICMP may be given: the ICMPv4 errors the kernel
//! receives (Fragmentation Needed about the outer packets) are copied to it and handed to
//! the engine, which picks out the ones about its own packets.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use sixgate_core::buf::PacketBuf;
use sixgate_core::engine::{Counters, Engine, Side, Verdict};

use crate::driver::WorkerStats;
use crate::packet_io::PacketIo;
use crate::raw::RawIpv4;
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

/// Sends what a verdict asks for; counts write errors.
fn emit(io: &TunnelIo, side: Side, buf: &PacketBuf, errors: &mut u64) {
    let r = match side {
        Side::V6 => io.tun.send_packet(buf),
        Side::V4 => io.outer.send_packet(buf),
    };
    if r.is_err() {
        *errors += 1;
    }
}

/// Runs `engine` between the devices until `stop` is set, publishing statistics into
/// `slot` at least every 100 ms (and when idle). `received` counts packets from all
/// sources.
pub fn run_tunnel<E: Engine>(
    io: &TunnelIo,
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
        let mut fds = vec![PollFd::new(io.tun.fd(), PollFlags::POLLIN), PollFd::new(io.outer.fd(), PollFlags::POLLIN)];
        if let Some(i) = &io.icmp {
            fds.push(PollFd::new(i.fd(), PollFlags::POLLIN));
        }
        let timeout = match engine.poll_timeout() {
            Some(t) => t.saturating_duration_since(Instant::now()).min(Duration::from_millis(100)),
            None => Duration::from_millis(100),
        };
        let ready = match poll(&mut fds, PollTimeout::try_from(timeout).unwrap_or(PollTimeout::MAX)) {
            Ok(n) => n,
            Err(nix::errno::Errno::EINTR) => 0,
            Err(e) => return Err(e.into()),
        };
        let readable: Vec<bool> =
            fds.iter().map(|f| f.revents().is_some_and(|r| r.intersects(PollFlags::POLLIN))).collect();
        drop(fds);
        let now = Instant::now();
        if engine.poll_timeout().is_some_and(|t| t <= now) {
            engine.handle_timeout(now);
        }
        if ready > 0 {
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
                    match engine.process(&mut buf, now) {
                        Verdict::Forward(side) | Verdict::Reply(side) => {
                            emit(io, side, &buf, &mut stats.write_errors);
                            while let Some(side) = engine.poll_transmit(&mut buf) {
                                emit(io, side, &buf, &mut stats.write_errors);
                            }
                        }
                        Verdict::Drop(_) => {}
                    }
                    // The TUN device blocks; check before reading it again.
                    if src == 0 && !tun_readable(&io.tun) {
                        break;
                    }
                }
            }
        }
        if ready == 0 || now.duration_since(last_publish) >= Duration::from_millis(100) {
            publish(&mut stats, &engine);
            last_publish = now;
        }
    }
    publish(&mut stats, &engine);
    Ok(())
}

fn tun_readable(dev: &TunDevice) -> bool {
    let mut fds = [PollFd::new(dev.fd(), PollFlags::POLLIN)];
    matches!(poll(&mut fds, PollTimeout::ZERO), Ok(n) if n > 0)
}
