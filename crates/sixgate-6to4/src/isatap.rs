//! ISATAP (RFC 5214) interface identifiers: `0000:5efe:V4ADDR`, or `0200:5efe:V4ADDR`
//! when the IPv4 address is globally unique (the modified EUI-64 "u" bit, §6.1).
//!
//! ```
//! use sixgate_6to4::isatap;
//! let a = isatap::address("fe80::/64".parse().unwrap(), "192.0.2.1".parse().unwrap()).unwrap();
//! assert_eq!(a.to_string(), "fe80::5efe:c000:201");
//! assert_eq!(isatap::extract(a).unwrap().ipv4.to_string(), "192.0.2.1");
//! ```

use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::Ipv6Net;
#[cfg(feature = "serde")]
use serde::Serialize;
use sixgate_core::class::is_global_v4;

use crate::error::Error;

/// The IPv4 address an ISATAP interface identifier carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize))]
pub struct Isatap {
    /// The IPv4 address (the low 32 bits of the interface identifier).
    pub ipv4: Ipv4Addr,
    /// Whether the "u" bit is set (`0200:5efe`): the IPv4 address is claimed to be
    /// globally unique (RFC 5214 §6.1).
    pub universal: bool,
}

/// The IPv4 address in an ISATAP interface identifier (RFC 5214 §6.1): the address's bits
/// 64–95 are `0000:5efe` or `0200:5efe`. Any prefix may precede it (link-local or global).
#[inline]
pub fn extract(a: Ipv6Addr) -> Option<Isatap> {
    let o = a.octets();
    // RFC 5214 §6.1: IANA OUI 00-00-5E, type 0xFE; the first octet is 0x00 or 0x02 (u bit).
    if (o[8] == 0x00 || o[8] == 0x02) && o[9] == 0 && o[10] == 0x5e && o[11] == 0xfe {
        Some(Isatap { ipv4: Ipv4Addr::new(o[12], o[13], o[14], o[15]), universal: o[8] == 0x02 })
    } else {
        None
    }
}

/// The ISATAP address for `v4` on the /64 `prefix`, setting the "u" bit when `v4` is a
/// global address (RFC 5214 §6.1).
pub fn address(prefix: Ipv6Net, v4: Ipv4Addr) -> Result<Ipv6Addr, Error> {
    if prefix.prefix_len() != 64 {
        return Err(Error::IsatapPrefix(prefix));
    }
    let u: u128 = if is_global_v4(v4) { 0x0200_5efe } else { 0x0000_5efe };
    Ok(Ipv6Addr::from((u128::from(prefix.network()) | (u << 32)) | u128::from(u32::from(v4))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn both_forms() {
        let a: Ipv6Addr = "fe80::200:5efe:4acf:fe10".parse().unwrap();
        assert_eq!(extract(a), Some(Isatap { ipv4: Ipv4Addr::new(74, 207, 254, 16), universal: true }));
        let a: Ipv6Addr = "2001:db8::5efe:a00:1".parse().unwrap();
        assert_eq!(extract(a), Some(Isatap { ipv4: Ipv4Addr::new(10, 0, 0, 1), universal: false }));
        assert_eq!(extract("2001:db8::100:5efe:a00:1".parse().unwrap()), None); // g bit: not ISATAP
        assert_eq!(extract("2001:db8::5eff:a00:1".parse().unwrap()), None);
        let g = address("2001:db8:1:2::/64".parse().unwrap(), Ipv4Addr::new(74, 207, 254, 16)).unwrap();
        assert_eq!(g.to_string(), "2001:db8:1:2:200:5efe:4acf:fe10");
        assert!(address("2001:db8::/48".parse().unwrap(), Ipv4Addr::new(10, 0, 0, 1)).is_err());
    }

    proptest! {
        #[test]
        fn roundtrip(p in any::<u64>(), v4 in any::<u32>()) {
            let prefix = Ipv6Net::new(Ipv6Addr::from(u128::from(p) << 64), 64).unwrap();
            let v4 = Ipv4Addr::from(v4);
            let a = address(prefix, v4).unwrap();
            let i = extract(a).unwrap();
            prop_assert_eq!(i.ipv4, v4);
            prop_assert_eq!(i.universal, is_global_v4(v4));
            prop_assert!(prefix.contains(&a));
        }
    }
}
