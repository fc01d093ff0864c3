//! Batched UDP for the DNS workers: one `recvmmsg` reads every query waiting on a socket (up
//! to [`BATCH`]) and one `sendmmsg` writes the answers ready at once, each back to its own
//! client. Under load a worker pays two system calls per batch instead of two per query;
//! with one query waiting it behaves as `recv_from`/`send_to` do.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::AsRawFd;

use crate::raw::{mmsg_headers, MMSG_BATCH};

/// Datagrams per call.
pub(crate) const BATCH: usize = 32;
const _: () = assert!(BATCH <= MMSG_BATCH);

/// The largest UDP payload: a query never arrives truncated.
const DATAGRAM: usize = 65535;

/// A client's address as the kernel gave it, ready to be handed back for the answer.
#[derive(Clone, Copy)]
pub(crate) struct Peer {
    addr: libc::sockaddr_storage,
    len: libc::socklen_t,
}

impl Peer {
    /// The address as a [`SocketAddr`] (for an answer sent later, by `send_to`).
    pub(crate) fn socket_addr(&self) -> Option<SocketAddr> {
        match i32::from(self.addr.ss_family) {
            libc::AF_INET if self.len as usize >= size_of::<libc::sockaddr_in>() => {
                #[allow(unsafe_code)]
                // SAFETY: the kernel wrote a `sockaddr_in` (family AF_INET, length checked)
                // at the start of the storage, which is larger and at least as aligned.
                let a = unsafe { &*(&self.addr as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
                let ip = Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr));
                Some(SocketAddr::V4(SocketAddrV4::new(ip, u16::from_be(a.sin_port))))
            }
            libc::AF_INET6 if self.len as usize >= size_of::<libc::sockaddr_in6>() => {
                #[allow(unsafe_code)]
                // SAFETY: as above, for a `sockaddr_in6` (family AF_INET6, length checked).
                let a = unsafe { &*(&self.addr as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
                let ip = Ipv6Addr::from(a.sin6_addr.s6_addr);
                Some(SocketAddr::V6(SocketAddrV6::new(ip, u16::from_be(a.sin6_port), a.sin6_flowinfo, a.sin6_scope_id)))
            }
            _ => None,
        }
    }
}

/// The receive side: [`BATCH`] buffers of a whole datagram each, and their senders.
pub(crate) struct Batch {
    bufs: Vec<u8>,
    lens: [usize; BATCH],
    peers: [Peer; BATCH],
    n: usize,
}

impl Batch {
    pub(crate) fn new() -> Self {
        #[allow(unsafe_code)]
        // SAFETY: `sockaddr_storage` is a plain C struct of integers, for which all-zero
        // bytes are a valid value.
        let zero: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
        Self { bufs: vec![0; BATCH * DATAGRAM], lens: [0; BATCH], peers: [Peer { addr: zero, len: 0 }; BATCH], n: 0 }
    }

    /// Waits (up to the socket's read timeout) for one datagram, then takes every other one
    /// already waiting, up to [`BATCH`]; returns how many. Errors as `recv_from`'s.
    pub(crate) fn recv(&mut self, sock: &std::net::UdpSocket) -> io::Result<usize> {
        self.n = 0;
        let mut iov = [libc::iovec { iov_base: std::ptr::null_mut(), iov_len: 0 }; BATCH];
        for (v, area) in iov.iter_mut().zip(self.bufs.chunks_exact_mut(DATAGRAM)) {
            *v = libc::iovec { iov_base: area.as_mut_ptr().cast(), iov_len: area.len() };
        }
        let mut hdr = mmsg_headers();
        for ((h, v), p) in hdr.iter_mut().zip(iov.iter_mut()).zip(self.peers.iter_mut()) {
            h.msg_hdr.msg_iov = v;
            h.msg_hdr.msg_iovlen = 1;
            h.msg_hdr.msg_name = (&mut p.addr as *mut libc::sockaddr_storage).cast();
            h.msg_hdr.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        }
        #[allow(unsafe_code)]
        // SAFETY: `hdr[..BATCH]` are initialised headers without control data, each pointing
        // at one `iov` entry (a distinct `DATAGRAM`-byte area of `self.bufs`) and at the
        // address storage of a distinct `self.peers` entry with its size; `iov` and `hdr`
        // are locals and `self` is borrowed mutably, so all outlive the call and nothing else
        // touches them during it. The kernel writes at most `iov_len` bytes into each area,
        // at most `msg_namelen` into each name, and the lengths into the headers.
        let r = unsafe {
            libc::recvmmsg(
                sock.as_raw_fd(),
                hdr.as_mut_ptr(),
                BATCH as libc::c_uint,
                libc::MSG_WAITFORONE,
                std::ptr::null_mut(),
            )
        };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        let r = (r as usize).min(BATCH);
        for ((h, len), peer) in hdr.iter().zip(self.lens.iter_mut()).zip(self.peers.iter_mut()).take(r) {
            *len = h.msg_len as usize;
            peer.len = h.msg_hdr.msg_namelen;
        }
        self.n = r;
        Ok(r)
    }

    /// Datagram `i` of the last [`Batch::recv`] and its sender.
    pub(crate) fn get(&self, i: usize) -> (&[u8], Peer) {
        debug_assert!(i < self.n);
        let start = i * DATAGRAM;
        (&self.bufs[start..start + self.lens[i]], self.peers[i])
    }
}

/// Sends every answer to its peer, [`BATCH`] per `sendmmsg` call (the socket's write timeout
/// bounds a full send buffer). An answer the kernel refuses is skipped and the rest still
/// go. Returns how many were sent.
pub(crate) fn send_all(sock: &std::net::UdpSocket, answers: &mut [(Vec<u8>, Peer)]) -> usize {
    let mut sent = 0;
    for chunk in answers.chunks_mut(BATCH) {
        let n = chunk.len();
        let mut iov = [libc::iovec { iov_base: std::ptr::null_mut(), iov_len: 0 }; BATCH];
        for (v, (a, _)) in iov.iter_mut().zip(chunk.iter()) {
            // The kernel only reads through this pointer (a send).
            *v = libc::iovec { iov_base: a.as_ptr().cast_mut().cast(), iov_len: a.len() };
        }
        let mut hdr = mmsg_headers();
        for ((h, v), (_, peer)) in hdr.iter_mut().zip(iov.iter_mut()).zip(chunk.iter_mut()) {
            h.msg_hdr.msg_iov = v;
            h.msg_hdr.msg_iovlen = 1;
            h.msg_hdr.msg_name = (&mut peer.addr as *mut libc::sockaddr_storage).cast();
            h.msg_hdr.msg_namelen = peer.len;
        }
        let mut i = 0;
        while i < n {
            #[allow(unsafe_code)]
            // SAFETY: `hdr[i..n]` are initialised headers, each pointing at one `iov` entry
            // (an answer borrowed from `chunk`) and at its peer's address with the length the
            // kernel gave; `hdr`, `iov` and `chunk` outlive the call. The kernel reads the
            // answers and addresses and writes only the headers' `msg_len`.
            let r = unsafe {
                libc::sendmmsg(sock.as_raw_fd(), hdr.as_mut_ptr().wrapping_add(i), (n - i) as libc::c_uint, 0)
            };
            if r > 0 {
                i += r as usize;
                sent += r as usize;
            } else if io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
                // Refused (a full buffer past the timeout, an unreachable peer): skip it.
                i += 1;
            }
        }
    }
    sent
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_reads_every_waiting_query_and_answers_each_sender() {
        let server = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        server.set_read_timeout(Some(std::time::Duration::from_secs(2))).unwrap();
        let addr = server.local_addr().unwrap();
        let clients: Vec<_> = (0..5).map(|_| std::net::UdpSocket::bind("127.0.0.1:0").unwrap()).collect();
        for (i, c) in clients.iter().enumerate() {
            c.send_to(&[i as u8; 3], addr).unwrap();
        }
        // The five are all waiting: one call takes them (loopback delivers at once).
        let mut batch = Batch::new();
        let mut got = Vec::new();
        while got.len() < 5 {
            let n = batch.recv(&server).unwrap();
            assert!(n >= 1);
            for i in 0..n {
                let (q, peer) = batch.get(i);
                got.push((q.to_vec(), peer));
            }
        }
        let mut answers: Vec<_> = got.iter().map(|(q, p)| ([&q[..], b"!"].concat(), *p)).collect();
        // Each query came with its own sender's address.
        for (q, p) in &got {
            assert_eq!(q, &vec![q[0]; 3]);
            assert_eq!(clients[q[0] as usize].local_addr().unwrap(), p.socket_addr().unwrap());
        }
        assert_eq!(send_all(&server, &mut answers), 5);
        for (i, c) in clients.iter().enumerate() {
            c.set_read_timeout(Some(std::time::Duration::from_secs(2))).unwrap();
            let mut buf = [0u8; 16];
            let (n, from) = c.recv_from(&mut buf).unwrap();
            assert_eq!(from, addr);
            assert_eq!(&buf[..n], &[i as u8, i as u8, i as u8, b'!']);
        }
    }

    #[test]
    fn an_ipv6_sender_is_answered_at_its_address() {
        let Ok(server) = std::net::UdpSocket::bind("[::1]:0") else {
            eprintln!("skipped: no IPv6 loopback here");
            return;
        };
        server.set_read_timeout(Some(std::time::Duration::from_secs(2))).unwrap();
        let client = std::net::UdpSocket::bind("[::1]:0").unwrap();
        client.send_to(b"q", server.local_addr().unwrap()).unwrap();
        let mut batch = Batch::new();
        assert_eq!(batch.recv(&server).unwrap(), 1);
        let (q, peer) = batch.get(0);
        assert_eq!(q, b"q");
        assert_eq!(peer.socket_addr(), Some(client.local_addr().unwrap()));
        assert_eq!(send_all(&server, &mut [(b"a".to_vec(), peer)]), 1);
        let mut buf = [0u8; 4];
        client.set_read_timeout(Some(std::time::Duration::from_secs(2))).unwrap();
        assert_eq!(client.recv(&mut buf).unwrap(), 1);
    }

    #[test]
    fn no_query_waiting_times_out_as_recv_from_does() {
        let server = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        server.set_read_timeout(Some(std::time::Duration::from_millis(20))).unwrap();
        let e = Batch::new().recv(&server).unwrap_err();
        assert!(matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut), "{e}");
    }
}
