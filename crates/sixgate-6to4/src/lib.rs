//! 6to4, 6rd, ISATAP and Teredo address arithmetic, address explanation and tunnel
//! configuration: the library behind `sixgate 6to4`, `6rd`, `addr` and `tunnel-config`.
//!
//! * at the crate root, 6to4 itself ([`six_to_four`], [`batch`], [`reverse_zone_48`]): the
//!   6to4 /48 of an IPv4 address (RFC 3056), its first host, its reverse
//!   zone, and a fast batch converter;
//! * [`sixrd`]: 6rd delegated prefixes and their inverse (RFC 5969);
//! * [`isatap`], [`teredo`]: the IPv4 addresses these carry (RFC 5214, RFC 4380);
//! * [`explain`]: everything about one address, as `ipv6calc --showinfo` and more;
//! * [`tunnel`]: ifupdown, iproute2, systemd-networkd, netplan and OpenWrt UCI configuration,
//!   its nftables or iptables firewall, and the LAN side of a routed prefix (radvd).
//!
//! 6to4 is deprecated for new deployments (RFC 7526); see [`DEPRECATION_NOTE`]: the anycast relays
//! are gone and the return path is not under the site's control. It still matters for
//! reading old addresses and for running a tunnel between consenting sites.
//!
//! ```
//! use sixgate_6to4::{six_to_four, Scope};
//! let s = six_to_four("74.207.254.16".parse().unwrap(), Scope::GlobalOnly).unwrap();
//! assert_eq!(s.prefix.to_string(), "2002:4acf:fe10::/48");
//! ```
//!
//! Feature `serde` (off by default): `serde::Serialize` for the results ([`SixToFour`],
//! the [`sixrd`], [`isatap`], [`teredo`] and [`explain`] reports, [`tunnel::TunnelSpec`]), as
//! `sixgate … --json` prints them. [`Error`] is `#[non_exhaustive]`: `match` it with a `_` arm.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod error;
pub mod explain;
pub mod isatap;
#[cfg(feature = "serde")]
mod ser;
pub mod sixrd;
mod sixto4;
pub mod teredo;
pub mod tunnel;

pub use error::Error;
pub use sixto4::{
    batch, batch_for_each, batch_report, parse_ipv4, push_prefix48, reverse_zone_48, six_to_four, BatchStats, Scope,
    SixToFour, DEPRECATION_NOTE,
};
