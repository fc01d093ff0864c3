//! Teredo (RFC 4380 §4): `2001:0000:SERVER:FLAGS:PORT:CLIENT`, where the client's
//! external port and IPv4 address are obfuscated (every bit inverted).
//!
//! ```
//! use sixgate_6to4::teredo;
//! let t = teredo::decode("2001:0:4136:e378:8000:63bf:3fff:fdd2".parse().unwrap()).unwrap();
//! assert_eq!(t.server.to_string(), "65.54.227.120");
//! assert_eq!(t.client.to_string(), "192.0.2.45");
//! assert_eq!(t.port, 40000);
//! assert!(t.cone);
//! assert_eq!(teredo::encode(&t).to_string(), "2001:0:4136:e378:8000:63bf:3fff:fdd2");
//! ```

use std::net::{Ipv4Addr, Ipv6Addr};

#[cfg(feature = "serde")]
use serde::Serialize;

/// The Teredo prefix 2001::/32 (RFC 4380 §2.6).
pub const PREFIX: u32 = 0x2001_0000;

/// The fields of a Teredo address, de-obfuscated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize))]
pub struct Teredo {
    /// The Teredo server's IPv4 address (bits 32–63).
    pub server: Ipv4Addr,
    /// The 16 flag bits (bits 64–79).
    pub flags: u16,
    /// The cone bit, the flags' most significant bit: the client is behind a cone NAT
    /// (RFC 4380 §4; RFC 5991 deprecates setting it).
    pub cone: bool,
    /// The client's external (mapped) UDP port, de-obfuscated.
    pub port: u16,
    /// The client's external (mapped) IPv4 address, de-obfuscated.
    pub client: Ipv4Addr,
}

/// Decodes a Teredo address, or `None` outside 2001::/32 (RFC 4380 §4).
#[inline]
pub fn decode(a: Ipv6Addr) -> Option<Teredo> {
    let x = u128::from(a);
    if (x >> 96) as u32 != PREFIX {
        return None;
    }
    let flags = (x >> 48) as u16;
    Some(Teredo {
        server: Ipv4Addr::from((x >> 64) as u32),
        flags,
        cone: flags & 0x8000 != 0,
        // RFC 4380 §4: "the UDP port ... obfuscated", "the IPv4 address ... obfuscated",
        // each by inverting all its bits.
        port: !((x >> 32) as u16),
        client: Ipv4Addr::from(!(x as u32)),
    })
}

/// Builds the Teredo address of `t` (the inverse of [`decode`]); the `cone` field is
/// ignored in favour of `flags`.
#[inline]
pub fn encode(t: &Teredo) -> Ipv6Addr {
    let x = (u128::from(PREFIX) << 96)
        | (u128::from(u32::from(t.server)) << 64)
        | (u128::from(t.flags) << 48)
        | (u128::from(!t.port) << 32)
        | u128::from(!u32::from(t.client));
    Ipv6Addr::from(x)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// RFC 4380 has no worked example; this is the commonly used one (ipv6calc --showinfo
    /// reports the same server, client and port for it).
    #[test]
    fn known_example() {
        let t = decode("2001:0:4136:e378:8000:63bf:3fff:fdd2".parse().unwrap()).unwrap();
        assert_eq!(
            t,
            Teredo {
                server: Ipv4Addr::new(65, 54, 227, 120),
                flags: 0x8000,
                cone: true,
                port: 40000,
                client: Ipv4Addr::new(192, 0, 2, 45)
            }
        );
        assert_eq!(decode("2001:1::1".parse().unwrap()), None);
        assert_eq!(decode("2002::1".parse().unwrap()), None);
    }

    proptest! {
        #[test]
        fn roundtrip(low in any::<u128>()) {
            let a = Ipv6Addr::from((u128::from(PREFIX) << 96) | (low & ((1u128 << 96) - 1)));
            let t = decode(a).unwrap();
            prop_assert_eq!(encode(&t), a);
            prop_assert_eq!(t.cone, t.flags >> 15 == 1);
        }
    }
}
