//! The device interface the drivers use: read and write whole IP packets, one or a batch
//! at a time. TUN devices and raw sockets implement it; engines never see either — they
//! get a [`PacketBuf`] and return a verdict.

use std::io;
use std::net::Ipv4Addr;
use std::os::fd::BorrowedFd;

use sixgate_core::buf::PacketBuf;

use crate::raw::RawIpv4;
use crate::tun::TunDevice;

/// A packet device.
pub trait PacketIo {
    /// Reads one packet into `buf` (after its headroom). `WouldBlock` when none is waiting
    /// on a non-blocking device.
    fn recv_packet(&self, buf: &mut PacketBuf) -> io::Result<()>;

    /// Writes one packet.
    fn send_packet(&self, pkt: &[u8]) -> io::Result<()>;

    /// Reads up to `bufs.len()` packets without waiting once the first has arrived;
    /// returns how many. The default reads one at a time.
    fn recv_batch(&self, bufs: &mut [PacketBuf]) -> io::Result<usize> {
        let mut n = 0;
        for b in bufs.iter_mut() {
            match self.recv_packet(b) {
                Ok(()) => n += 1,
                Err(e) if n > 0 && e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            }
        }
        Ok(n)
    }

    /// Writes every packet; returns how many were written. The default writes one at a time
    /// and goes on after a failed packet.
    fn send_batch(&self, pkts: &[&[u8]]) -> usize {
        pkts.iter().filter(|p| self.send_packet(p).is_ok()).count()
    }

    /// The descriptor to wait on.
    fn poll_fd(&self) -> BorrowedFd<'_>;
}

impl PacketIo for TunDevice {
    fn recv_packet(&self, buf: &mut PacketBuf) -> io::Result<()> {
        let n = self.recv(buf.read_area())?;
        buf.set_len(n);
        Ok(())
    }

    fn send_packet(&self, pkt: &[u8]) -> io::Result<()> {
        self.send(pkt).map(|_| ())
    }

    fn poll_fd(&self) -> BorrowedFd<'_> {
        self.fd()
    }
}

impl PacketIo for RawIpv4 {
    fn recv_packet(&self, buf: &mut PacketBuf) -> io::Result<()> {
        let n = self.recv(buf.read_area())?;
        buf.set_len(n);
        Ok(())
    }

    /// The destination is the packet's own IPv4 destination (the header is ours).
    fn send_packet(&self, pkt: &[u8]) -> io::Result<()> {
        let d = pkt.get(16..20).ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "short IPv4 packet"))?;
        self.send(pkt, Ipv4Addr::new(d[0], d[1], d[2], d[3])).map(|_| ())
    }

    /// `recvmmsg`, [`MMSG_BATCH`](crate::raw::MMSG_BATCH) datagrams per call.
    fn recv_batch(&self, bufs: &mut [PacketBuf]) -> io::Result<usize> {
        let mut n = 0;
        while n < bufs.len() {
            match self.recv_many(&mut bufs[n..]) {
                Ok(0) => break,
                Ok(k) => {
                    n += k;
                    if k < crate::raw::MMSG_BATCH {
                        break;
                    }
                }
                Err(e) if n > 0 && e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            }
        }
        Ok(n)
    }

    /// `sendmmsg`, [`MMSG_BATCH`](crate::raw::MMSG_BATCH) packets per call.
    fn send_batch(&self, pkts: &[&[u8]]) -> usize {
        self.send_many(pkts.iter().copied())
    }

    fn poll_fd(&self) -> BorrowedFd<'_> {
        self.fd()
    }
}
