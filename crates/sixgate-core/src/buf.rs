//! An owned packet buffer with headroom, so that prepending a 20-byte IPv4 header, or
//! growing a 20-byte IPv4 header into a 40-byte IPv6 header, moves only the start of the
//! packet and never copies the payload.
//!
//! ```
//! use sixgate_core::buf::PacketBuf;
//! let mut b = PacketBuf::from_slice(&[1, 2, 3]);
//! b.prepend(2).unwrap().copy_from_slice(&[9, 9]);
//! assert_eq!(b.as_slice(), &[9, 9, 1, 2, 3]);
//! b.strip_front(3).unwrap();
//! assert_eq!(b.as_slice(), &[2, 3]);
//! ```

use std::ops::{Deref, DerefMut};

/// The headroom a new buffer reserves: enough for an IPv6 header, a fragment header and an
/// outer IPv4 header in front of an IPv4 packet.
pub const DEFAULT_HEADROOM: usize = 128;

/// Largest packet a buffer holds by default: the largest IPv6 packet without jumbograms
/// (65,535-byte payload plus the 40-byte header).
pub const DEFAULT_MAX_PACKET: usize = 65_535 + 40;

/// The buffer has no room for what was asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("packet buffer has no room: needed {needed} bytes, {available} available")]
pub struct NoRoom {
    /// Bytes asked for.
    pub needed: usize,
    /// Bytes available.
    pub available: usize,
}

/// A packet in an owned buffer: `[headroom][packet][tailroom]`.
#[derive(Clone)]
pub struct PacketBuf {
    data: Box<[u8]>,
    start: usize,
    end: usize,
    headroom: usize,
}

impl std::fmt::Debug for PacketBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PacketBuf").field("start", &self.start).field("len", &self.len()).finish()
    }
}

impl Default for PacketBuf {
    fn default() -> Self {
        Self::new()
    }
}

impl PacketBuf {
    /// An empty buffer with [`DEFAULT_HEADROOM`] and room for [`DEFAULT_MAX_PACKET`] bytes.
    pub fn new() -> Self {
        Self::with_capacity(DEFAULT_HEADROOM, DEFAULT_MAX_PACKET)
    }

    /// An empty buffer with `headroom` bytes in front and room for `max_packet` bytes.
    pub fn with_capacity(headroom: usize, max_packet: usize) -> Self {
        Self { data: vec![0; headroom + max_packet].into_boxed_slice(), start: headroom, end: headroom, headroom }
    }

    /// A buffer holding a copy of `packet`, with the default headroom.
    pub fn from_slice(packet: &[u8]) -> Self {
        let mut b = Self::with_capacity(DEFAULT_HEADROOM, packet.len().max(DEFAULT_MAX_PACKET));
        b.end = b.start + packet.len();
        b.data[b.start..b.end].copy_from_slice(packet);
        b
    }

    /// Empties the buffer and restores the full headroom.
    #[inline]
    pub fn clear(&mut self) {
        self.start = self.headroom;
        self.end = self.headroom;
    }

    /// Replaces the contents with a copy of `packet` (used for generated packets).
    pub fn set(&mut self, packet: &[u8]) -> Result<(), NoRoom> {
        let room = self.data.len() - self.headroom;
        if packet.len() > room {
            return Err(NoRoom { needed: packet.len(), available: room });
        }
        self.clear();
        self.end = self.start + packet.len();
        self.data[self.start..self.end].copy_from_slice(packet);
        Ok(())
    }

    /// Clears the buffer and returns the whole area after the headroom, for a device read.
    /// Follow it with [`PacketBuf::set_len`].
    #[inline]
    pub fn read_area(&mut self) -> &mut [u8] {
        self.clear();
        &mut self.data[self.start..]
    }

    /// Sets the packet length after a read into [`PacketBuf::read_area`] (clamped to the
    /// capacity).
    #[inline]
    pub fn set_len(&mut self, len: usize) {
        self.end = (self.start + len).min(self.data.len());
    }

    /// Packet length.
    #[inline]
    pub fn len(&self) -> usize {
        self.end - self.start
    }

    /// Whether the packet is empty.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.end == self.start
    }

    /// Bytes free in front of the packet.
    #[inline]
    pub fn front_room(&self) -> usize {
        self.start
    }

    /// Bytes free after the packet.
    #[inline]
    pub fn tailroom(&self) -> usize {
        self.data.len() - self.end
    }

    /// The packet.
    #[inline]
    pub fn as_slice(&self) -> &[u8] {
        &self.data[self.start..self.end]
    }

    /// The packet, mutable.
    #[inline]
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        &mut self.data[self.start..self.end]
    }

    /// Grows the packet by `n` bytes at the front and returns them.
    #[inline]
    pub fn prepend(&mut self, n: usize) -> Result<&mut [u8], NoRoom> {
        if n > self.start {
            return Err(NoRoom { needed: n, available: self.start });
        }
        self.start -= n;
        Ok(&mut self.data[self.start..self.start + n])
    }

    /// Removes `n` bytes from the front.
    #[inline]
    pub fn strip_front(&mut self, n: usize) -> Result<(), NoRoom> {
        if n > self.len() {
            return Err(NoRoom { needed: n, available: self.len() });
        }
        self.start += n;
        Ok(())
    }

    /// Replaces the first `old` bytes of the packet by `new` bytes (returned, contents
    /// unspecified), moving only the start: the rest of the packet is not copied.
    #[inline]
    pub fn replace_front(&mut self, old: usize, new: usize) -> Result<&mut [u8], NoRoom> {
        if old > self.len() {
            return Err(NoRoom { needed: old, available: self.len() });
        }
        let base = self.start + old;
        if new > base {
            return Err(NoRoom { needed: new - old, available: self.start });
        }
        self.start = base - new;
        Ok(&mut self.data[self.start..base])
    }

    /// Shortens the packet to `len` bytes (no-op if already shorter).
    #[inline]
    pub fn truncate(&mut self, len: usize) {
        if len < self.len() {
            self.end = self.start + len;
        }
    }

    /// Grows the packet by `n` bytes at the back and returns them.
    #[inline]
    pub fn extend_back(&mut self, n: usize) -> Result<&mut [u8], NoRoom> {
        if n > self.tailroom() {
            return Err(NoRoom { needed: n, available: self.tailroom() });
        }
        let e = self.end;
        self.end += n;
        Ok(&mut self.data[e..self.end])
    }
}

impl PacketBuf {
    /// The whole backing storage (headroom, packet and tailroom), for drivers that hand
    /// buffers to the kernel. The packet is at [`PacketBuf::bounds`].
    #[inline]
    pub fn backing(&self) -> &[u8] {
        &self.data
    }

    /// The whole backing storage, mutable.
    #[inline]
    pub fn backing_mut(&mut self) -> &mut [u8] {
        &mut self.data
    }

    /// `(start, end)` of the packet in the backing storage.
    #[inline]
    pub fn bounds(&self) -> (usize, usize) {
        (self.start, self.end)
    }

    /// Sets the packet to `backing[start..end]` (after a driver wrote it there).
    #[inline]
    pub fn set_bounds(&mut self, start: usize, end: usize) -> Result<(), NoRoom> {
        if start > end || end > self.data.len() {
            return Err(NoRoom { needed: end, available: self.data.len() });
        }
        self.start = start;
        self.end = end;
        Ok(())
    }
}

impl Deref for PacketBuf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl DerefMut for PacketBuf {
    fn deref_mut(&mut self) -> &mut [u8] {
        self.as_mut_slice()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replace_front_keeps_payload_in_place() {
        let mut b = PacketBuf::from_slice(&[0u8; 20].iter().chain(&[7u8; 100]).copied().collect::<Vec<_>>());
        let payload_ptr = b.as_slice()[20..].as_ptr();
        b.replace_front(20, 40).unwrap().fill(6);
        assert_eq!(b.len(), 140);
        assert_eq!(b.as_slice()[40..].as_ptr(), payload_ptr, "payload must not move");
        assert!(b.as_slice()[..40].iter().all(|&x| x == 6));
        assert!(b.as_slice()[40..].iter().all(|&x| x == 7));
    }

    #[test]
    fn limits_are_errors() {
        let mut b = PacketBuf::with_capacity(4, 8);
        assert!(b.prepend(5).is_err());
        assert!(b.prepend(4).is_ok());
        assert!(b.prepend(1).is_err());
        b.clear();
        assert!(b.extend_back(9).is_err());
        assert!(b.extend_back(8).is_ok());
        assert!(b.strip_front(9).is_err());
        assert!(b.replace_front(9, 1).is_err());
        assert!(b.set(&[0; 9]).is_err());
        assert_eq!(b.len(), 8, "a failed set leaves the packet alone");
        b.truncate(3);
        assert_eq!(b.len(), 3);
        let area = b.read_area().len();
        assert_eq!(area, 8);
        b.set_len(100);
        assert_eq!(b.len(), 8);
    }
}
