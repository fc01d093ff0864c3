//! Batched TUN I/O with virtio-net offload: the kernel hands over TCP/UDP super-packets (GSO);
//! the NAT64 driver translates them whole (`sixgate_core::gso`), the tunnel driver has `tun-rs`
//! split them into MTU-sized packets; on write `tun-rs` coalesces packets of a flow
//! (GRO), so one syscall moves many packets.

use sixgate_core::buf::PacketBuf;
use tun_rs::ExpandBuffer;

/// Bytes in front of a received packet: room for the translator to grow headers, and for
/// the virtio-net header on write.
pub(crate) const RX_OFFSET: usize = sixgate_core::buf::DEFAULT_HEADROOM;

/// A [`PacketBuf`] seen by `tun-rs` through a window of its backing storage: on read the
/// whole storage (the packet lands at [`RX_OFFSET`]); on write the packet with the
/// virtio-net header space in front of it.
pub(crate) struct IoBuf {
    pub(crate) buf: PacketBuf,
    view: (usize, usize),
}

impl IoBuf {
    pub(crate) fn new() -> Self {
        let buf = PacketBuf::new();
        let len = buf.backing().len();
        Self { buf, view: (0, len) }
    }

    /// Window for a read: all of it.
    pub(crate) fn for_rx(&mut self) {
        self.view = (0, self.buf.backing().len());
    }

    /// After a read of `n` bytes at [`RX_OFFSET`]: the packet.
    pub(crate) fn received(&mut self, n: usize) {
        let _ = self.buf.set_bounds(RX_OFFSET, RX_OFFSET + n);
    }

    /// Window for a write: `hdr` bytes before the packet, then the packet. Returns false
    /// if the packet has less headroom than that.
    pub(crate) fn for_tx(&mut self, hdr: usize) -> bool {
        let (start, end) = self.buf.bounds();
        if start < hdr {
            return false;
        }
        self.view = (start - hdr, end);
        true
    }
}

impl std::borrow::Borrow<PacketBuf> for IoBuf {
    fn borrow(&self) -> &PacketBuf {
        &self.buf
    }
}

impl std::borrow::BorrowMut<PacketBuf> for IoBuf {
    fn borrow_mut(&mut self) -> &mut PacketBuf {
        &mut self.buf
    }
}

impl AsRef<[u8]> for IoBuf {
    fn as_ref(&self) -> &[u8] {
        &self.buf.backing()[self.view.0..self.view.1]
    }
}

impl AsMut<[u8]> for IoBuf {
    fn as_mut(&mut self) -> &mut [u8] {
        let (a, b) = self.view;
        &mut self.buf.backing_mut()[a..b]
    }
}

impl ExpandBuffer for IoBuf {
    fn buf_capacity(&self) -> usize {
        self.buf.backing().len() - self.view.0
    }

    fn buf_resize(&mut self, new_len: usize, value: u8) {
        let cap = self.buf.backing().len();
        let end = (self.view.0 + new_len).min(cap);
        if end > self.view.1 {
            let old = self.view.1;
            self.buf.backing_mut()[old..end].fill(value);
        }
        self.view.1 = end;
    }

    fn buf_extend_from_slice(&mut self, src: &[u8]) {
        let cap = self.buf.backing().len();
        let start = self.view.1;
        let end = (start + src.len()).min(cap);
        let n = end - start;
        self.buf.backing_mut()[start..end].copy_from_slice(&src[..n]);
        self.view.1 = end;
    }
}
