//! Raw IPv4 sockets: one protocol (e.g. 41, IPv6-in-IPv4), the full IPv4 packet in both
//! directions (`IP_HDRINCL`: the engine builds the outer header itself).

use std::io::{self, Read};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};

use socket2::{Domain, Protocol, Socket, Type};

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
        // Room for bursts of full-size packets.
        let _ = sock.set_recv_buffer_size(4 << 20);
        let _ = sock.set_send_buffer_size(4 << 20);
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

    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.sock.as_fd()
    }
}

/// `IP_MTU_DISCOVER = IP_PMTUDISC_PROBE`: send with DF (our header says so) but without the
/// kernel's own path-MTU cache refusing packets with EMSGSIZE. The engine keeps its own path
/// MTU per destination (RFC 4213 §3.2) and learns it from the Fragmentation Needed messages
/// those packets draw; the kernel's cache would only turn them into send errors first.
#[allow(unsafe_code)] // the one socket option neither socket2 nor nix exposes
fn pmtudisc_probe(sock: &Socket) -> io::Result<()> {
    let v: libc::c_int = libc::IP_PMTUDISC_PROBE;
    // SAFETY: the descriptor belongs to `sock`, which outlives the call; the option value is
    // a `c_int` on the stack, passed with its exact size, and the kernel only reads it.
    let r = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_MTU_DISCOVER,
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
