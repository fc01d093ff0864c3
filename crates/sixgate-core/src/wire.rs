//! Big-endian field access at byte offsets, as every packet engine reads and writes headers.
//! Each panics on an offset past the end, like slice indexing: callers check lengths first.
//!
//! ```
//! use sixgate_core::wire::{be16, put16, v4at};
//! let mut h = [0x45, 0, 0, 20, 0, 0, 0, 0, 64, 17, 0, 0, 192, 0, 2, 1, 198, 51, 100, 2];
//! assert_eq!(be16(&h, 2), 20);
//! put16(&mut h, 2, 28);
//! assert_eq!(be16(&h, 2), 28);
//! assert_eq!(v4at(&h, 12), std::net::Ipv4Addr::new(192, 0, 2, 1));
//! ```

use std::net::{Ipv4Addr, Ipv6Addr};

/// The 16-bit big-endian word at `o`.
#[inline]
pub fn be16(p: &[u8], o: usize) -> u16 {
    u16::from_be_bytes([p[o], p[o + 1]])
}

/// The 32-bit big-endian word at `o`.
#[inline]
pub fn be32(p: &[u8], o: usize) -> u32 {
    u32::from_be_bytes([p[o], p[o + 1], p[o + 2], p[o + 3]])
}

/// Writes `v` big-endian at `o`.
#[inline]
pub fn put16(p: &mut [u8], o: usize, v: u16) {
    p[o..o + 2].copy_from_slice(&v.to_be_bytes());
}

/// The IPv4 address at `o`.
#[inline]
pub fn v4at(p: &[u8], o: usize) -> Ipv4Addr {
    Ipv4Addr::new(p[o], p[o + 1], p[o + 2], p[o + 3])
}

/// The IPv6 address at `o`.
#[inline]
pub fn v6at(p: &[u8], o: usize) -> Ipv6Addr {
    let mut a = [0u8; 16];
    a.copy_from_slice(&p[o..o + 16]);
    Ipv6Addr::from(a)
}
