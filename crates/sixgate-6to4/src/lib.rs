//! 6to4, 6rd, ISATAP and Teredo address arithmetic, address explanation and tunnel
//! configuration: the library behind `sixgate 6to4`, `6rd`, `addr` and `tunnel-config`.
//!
//! * [`sixto4`]: the 6to4 /48 of an IPv4 address (RFC 3056), its first host, its reverse
//!   zone, and a fast batch converter;
//! * [`sixrd`]: 6rd delegated prefixes and their inverse (RFC 5969);
//! * [`isatap`], [`teredo`]: the IPv4 addresses these carry (RFC 5214, RFC 4380);
//! * [`explain`]: everything about one address, as `ipv6calc --showinfo` and more;
//! * [`tunnel`]: ifupdown, iproute2, systemd-networkd, netplan and OpenWrt UCI configuration,
//!   its nftables or iptables firewall, and the LAN side of a routed prefix (radvd).
//!
//! 6to4 is deprecated for new deployments (RFC 7526); see [`sixto4::DEPRECATION_NOTE`].
//!
//! ```
//! use sixgate_6to4::sixto4::{six_to_four, Scope};
//! let s = six_to_four("74.207.254.16".parse().unwrap(), Scope::GlobalOnly).unwrap();
//! assert_eq!(s.prefix.to_string(), "2002:4acf:fe10::/48");
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod error;
pub mod explain;
#[doc(hidden)]
pub mod fuzzing;
pub mod isatap;
mod ser;
pub mod sixrd;
pub mod sixto4;
pub mod teredo;
pub mod tunnel;

pub use error::Error;
