//! Reverse DNS for the IPv4→IPv6 transition: `ip6.arpa.` and `in-addr.arpa.` names, zone
//! planning (including RFC 2317 classless delegation) and complete, checked zone files.
//!
//! * [`name`]: the reverse name of an address or prefix, and parsing one back;
//! * [`plan`](mod@plan): the zones that cover a prefix exactly, the records a parent needs to
//!   delegate them, and RFC 4034 §6.1 canonical order;
//! * [`hostname`]: host-name rules for PTR targets (RFC 1035 §2.3.1, RFC 1123 §2.1);
//! * [`hosts`], [`template`]: PTR sources (hosts files, name templates over ranges; forward
//!   zones are read with hickory-proto in [`zone::PtrSet::add_forward_zone`]);
//! * [`zone`]: the zone header and a streaming writer;
//! * [`serve`]: a sans-IO authoritative server that synthesizes PTR and matching A/AAAA
//!   records for whole prefixes (no zone file).
//!
//! **Streaming.** A template source is generated in canonical order and written as it goes:
//! memory is flat in the record count. Hosts files and forward zones have to be read whole and
//! sorted, so memory grows with the size of that input file.
//!
//! **RFC 2317 child zones.** A zone for an IPv4 prefix longer than /24 is the classless child
//! `FIRST/LEN.C.B.A.in-addr.arpa.`; its PTR owners are `N.FIRST/LEN.C.B.A.in-addr.arpa.`, the
//! names the parent's CNAMEs ([`plan::delegations`]) point to.
//!
//! ```
//! use sixgate_rdns::plan::{plan, Zone};
//! use sixgate_rdns::template::{AddrRange, Template};
//! use sixgate_rdns::zone::{write_template, ZoneHeader, ZoneWriter};
//!
//! let zone = Zone::single("2001:db8::/120".parse().unwrap()).unwrap();
//! let header = ZoneHeader::new(vec!["ns1.example.net.".into()], "hostmaster.example.net.".into());
//! let mut w = ZoneWriter::new(zone, &header, Vec::new()).unwrap();
//! let t = Template::parse("host-{dashed}.example.net.", None).unwrap();
//! let n = write_template(&mut w, &t, &AddrRange::from_net(zone.net()), 1 << 20).unwrap();
//! assert_eq!(n, 256);
//! let (text, _) = w.finish().unwrap();
//! assert!(String::from_utf8(text).unwrap().contains("5.0\tIN\tPTR\thost-2001-db8--5.example.net.\n"));
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod error;
pub mod hostname;
pub mod hosts;
pub mod name;
pub mod plan;
pub mod serve;
pub mod template;
pub mod zone;

pub use error::{ArpaReason, RdnsError};
pub use name::{parse_arpa, prefix_name, reverse_name, ReverseName};
pub use plan::{plan, Zone};
