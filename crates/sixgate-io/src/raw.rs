//! Raw IPv4 sockets: one protocol (e.g. 41, IPv6-in-IPv4), the full IPv4 packet in both
//! directions (`IP_HDRINCL`: the engine builds the outer header itself).

use std::borrow::BorrowMut;
use std::io::{self, Read};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};

use sixgate_core::buf::PacketBuf;
use socket2::{Domain, Protocol, Socket, Type};

/// Packets per `recvmmsg`/`sendmmsg` call.
pub const MMSG_BATCH: usize = 64;

/// A raw IPv4 socket for one IP protocol. Receiving gives whole IPv4 datagrams, header
/// included (the kernel reassembles fragments first); sending takes whole IPv4 packets.
#[derive(Debug)]
pub struct RawIpv4 {
    sock: Socket,
    proto: u8,
}

impl RawIpv4 {
    /// Opens a non-blocking raw socket for protocol `proto` with `IP_HDRINCL` set.
    pub fn open(proto: u8) -> io::Result<Self> {
        let sock = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::from(i32::from(proto))))
            .map_err(|e| io::Error::new(e.kind(), format!("raw IPv4 socket for protocol {proto}: {e}")))?;
        sock.set_header_included_v4(true)?;
        pmtudisc_probe(&sock)?;
        sock.set_nonblocking(true)?;
        // Room for bursts of full-size packets, and for the reader being scheduled out for a
        // few milliseconds: beyond `net.core.[rw]mem_max` when allowed (CAP_NET_ADMIN).
        for opt in [libc::SO_RCVBUFFORCE, libc::SO_SNDBUFFORCE] {
            if set_int_opt(&sock, libc::SOL_SOCKET, opt, 4 << 20).is_err() {
                let _ = match opt {
                    libc::SO_RCVBUFFORCE => sock.set_recv_buffer_size(4 << 20),
                    _ => sock.set_send_buffer_size(4 << 20),
                };
            }
        }
        Ok(Self { sock, proto })
    }

    /// The protocol number.
    pub fn protocol(&self) -> u8 {
        self.proto
    }

    /// Reads one IPv4 datagram (header included); `WouldBlock` when none is waiting.
    #[inline]
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        (&self.sock).read(buf)
    }

    /// Sends one IPv4 packet whose header the caller built, to its destination `dst`.
    #[inline]
    pub fn send(&self, pkt: &[u8], dst: Ipv4Addr) -> io::Result<usize> {
        self.sock.send_to(pkt, &SocketAddr::V4(SocketAddrV4::new(dst, 0)).into())
    }

    /// Reads up to `bufs.len()` datagrams (at most [`MMSG_BATCH`]) with one `recvmmsg`
    /// call, each into a buffer's read area, and returns how many arrived; `WouldBlock`
    /// when none is waiting. Never waits.
    pub fn recv_many<B: BorrowMut<PacketBuf>>(&self, bufs: &mut [B]) -> io::Result<usize> {
        let n = bufs.len().min(MMSG_BATCH);
        if n == 0 {
            return Ok(0);
        }
        let mut iov = [libc::iovec { iov_base: std::ptr::null_mut(), iov_len: 0 }; MMSG_BATCH];
        for (v, b) in iov.iter_mut().zip(bufs.iter_mut()) {
            let area = b.borrow_mut().read_area();
            *v = libc::iovec { iov_base: area.as_mut_ptr().cast(), iov_len: area.len() };
        }
        let mut hdr = mmsg_headers();
        let iov_base = iov.as_mut_ptr();
        for (i, h) in hdr.iter_mut().enumerate().take(n) {
            // In bounds: i < n <= MMSG_BATCH.
            h.msg_hdr.msg_iov = iov_base.wrapping_add(i);
            h.msg_hdr.msg_iovlen = 1;
        }
        #[allow(unsafe_code)]
        // SAFETY: `hdr[..n]` are initialised headers without names or control data, each
        // pointing at one `iov` entry, which points at the read area of a distinct buffer in
        // `bufs`; `bufs`, `iov` and `hdr` are all borrowed or owned here and outlive the call,
        // and nothing else touches them during it. The kernel writes at most `iov_len` bytes
        // into each area and the received lengths into `msg_len`.
        let r = unsafe {
            libc::recvmmsg(
                self.sock.as_raw_fd(),
                hdr.as_mut_ptr(),
                n as libc::c_uint,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        let r = (r as usize).min(n);
        for (b, h) in bufs.iter_mut().zip(hdr.iter()).take(r) {
            b.borrow_mut().set_len(h.msg_len as usize);
        }
        Ok(r)
    }

    /// Sends every packet to its own IPv4 destination (bytes 16..20 of the header the
    /// caller built), [`MMSG_BATCH`] per `sendmmsg` call. A packet the kernel refuses (or
    /// one too short to have a destination) is skipped and the rest still go. Returns how
    /// many were sent.
    pub fn send_many<'a, I: IntoIterator<Item = &'a [u8]>>(&self, pkts: I) -> usize {
        let mut pkts = pkts.into_iter();
        let mut sent = 0;
        loop {
            let mut iov = [libc::iovec { iov_base: std::ptr::null_mut(), iov_len: 0 }; MMSG_BATCH];
            let mut dst = [libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: 0,
                sin_addr: libc::in_addr { s_addr: 0 },
                sin_zero: [0; 8],
            }; MMSG_BATCH];
            let mut n = 0;
            let mut more = true;
            while n < MMSG_BATCH {
                let Some(p) = pkts.next() else {
                    more = false;
                    break;
                };
                let Some(d) = p.get(16..20) else { continue };
                dst[n].sin_addr.s_addr = u32::from_ne_bytes([d[0], d[1], d[2], d[3]]);
                // The kernel only reads through this pointer (a send).
                iov[n] = libc::iovec { iov_base: p.as_ptr().cast_mut().cast(), iov_len: p.len() };
                n += 1;
            }
            let mut hdr = mmsg_headers();
            let (iov_base, dst_base) = (iov.as_mut_ptr(), dst.as_mut_ptr());
            for (i, h) in hdr.iter_mut().enumerate().take(n) {
                // In bounds: i < n <= MMSG_BATCH.
                h.msg_hdr.msg_iov = iov_base.wrapping_add(i);
                h.msg_hdr.msg_iovlen = 1;
                h.msg_hdr.msg_name = dst_base.wrapping_add(i).cast();
                h.msg_hdr.msg_namelen = size_of::<libc::sockaddr_in>() as libc::socklen_t;
            }
            let mut i = 0;
            while i < n {
                #[allow(unsafe_code)]
                // SAFETY: `hdr[i..n]` are initialised headers, each pointing at one `iov`
                // entry (a packet borrowed from `pkts` for 'a, which outlives this call) and
                // one `dst` address of the size given; `hdr`, `iov` and `dst` are locals that
                // outlive the call. The kernel reads the packets and addresses and writes
                // only `msg_len` of the headers.
                let r = unsafe {
                    libc::sendmmsg(
                        self.sock.as_raw_fd(),
                        hdr.as_mut_ptr().wrapping_add(i),
                        (n - i) as libc::c_uint,
                        libc::MSG_DONTWAIT,
                    )
                };
                if r > 0 {
                    i += r as usize;
                    sent += r as usize;
                } else if io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
                    // The kernel refused packet `i` (e.g. ENOBUFS): skip it.
                    i += 1;
                }
            }
            if !more {
                return sent;
            }
        }
    }

    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.sock.as_fd()
    }
}

/// A zeroed `mmsghdr` array: no name, no iovecs, no control data.
#[allow(unsafe_code)]
pub(crate) fn mmsg_headers() -> [libc::mmsghdr; MMSG_BATCH] {
    // SAFETY: `mmsghdr` is a plain C struct of integers and raw pointers (plus padding on
    // some targets), for all of which all-zero bytes are a valid value.
    unsafe { std::mem::zeroed() }
}

/// `IP_MTU_DISCOVER = IP_PMTUDISC_PROBE`: send with DF (our header says so) but without the
/// kernel's own path-MTU cache refusing packets with EMSGSIZE. The engine keeps its own path
/// MTU per destination (RFC 4213 §3.2) and learns it from the Fragmentation Needed messages
/// those packets draw; the kernel's cache would only turn them into send errors first.
fn pmtudisc_probe(sock: &Socket) -> io::Result<()> {
    set_int_opt(sock, libc::IPPROTO_IP, libc::IP_MTU_DISCOVER, libc::IP_PMTUDISC_PROBE)
}

/// An integer socket option neither socket2 nor nix exposes (`IP_MTU_DISCOVER =
/// IP_PMTUDISC_PROBE`, `SO_RCVBUFFORCE`, `SO_SNDBUFFORCE`).
#[allow(unsafe_code)]
fn set_int_opt(sock: &Socket, level: libc::c_int, name: libc::c_int, v: libc::c_int) -> io::Result<()> {
    // SAFETY: the descriptor belongs to `sock`, which outlives the call; the option value is
    // a `c_int` on the stack, passed with its exact size, and the kernel only reads it.
    let r = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            level,
            name,
            (&v as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
