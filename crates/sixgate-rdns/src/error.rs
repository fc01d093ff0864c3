//! The crate's one error type.

use std::net::IpAddr;

/// Why a reverse name, host name, template, range or zone was refused. Every message names
/// the offending value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RdnsError {
    /// A malformed `ip6.arpa.` / `in-addr.arpa.` name.
    #[error("{name:?} is not a valid reverse name: {reason}")]
    BadArpaName {
        /// The input.
        name: String,
        /// What is wrong with it.
        reason: ArpaReason,
    },
    /// A host name that breaks RFC 1035 §2.3.1 / RFC 1123 §2.1.
    #[error("{name:?} is not a valid host name: {reason}")]
    BadHostname {
        /// The input.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A relative host name with no domain to qualify it.
    #[error("{0:?} is a relative name (no trailing dot) and no domain was given to qualify it")]
    RelativeName(String),
    /// A prefix that is not exactly one reverse zone.
    #[error(
        "{prefix} is not exactly one reverse zone: it is covered by {count} zones ({first} …); list them with `zones`"
    )]
    NotOneZone {
        /// The prefix.
        prefix: String,
        /// How many zones cover it.
        count: usize,
        /// The first of them.
        first: String,
    },
    /// An address handed to a zone writer that does not belong to the zone.
    #[error("{addr} is outside zone {zone}")]
    OutsideZone {
        /// The address.
        addr: IpAddr,
        /// The zone origin.
        zone: String,
    },
    /// Records handed to a zone writer out of RFC 4034 §6.1 canonical order (or repeated).
    #[error("{addr} is not after {prev} in canonical order (RFC 4034 §6.1); records must be sorted and unique")]
    OutOfOrder {
        /// The address that came too late.
        addr: IpAddr,
        /// The address written before it.
        prev: IpAddr,
    },
    /// A malformed name template.
    #[error("template {template:?}: {reason}")]
    BadTemplate {
        /// The template.
        template: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A template that renders an invalid host name for some address.
    #[error("template {template:?} gives an invalid host name for {addr}: {source}")]
    TemplateOutput {
        /// The template.
        template: String,
        /// The address.
        addr: IpAddr,
        /// The host-name error.
        source: Box<Self>,
    },
    /// A malformed address range.
    #[error("{0:?} is not a valid address range (expected PREFIX or FIRST-LAST of one family)")]
    BadRange(String),
    /// A range `FIRST-LAST` whose first address is after its last.
    #[error("range {range:?} is reversed: the first address {first} is after the last {last} (first > last); write {last}-{first}")]
    ReversedRange {
        /// The input.
        range: String,
        /// Its first address.
        first: IpAddr,
        /// Its last address.
        last: IpAddr,
    },
    /// A range larger than the caller's limit.
    #[error("range {range} holds {count} addresses, more than the limit of {limit}")]
    RangeTooLarge {
        /// The range.
        range: String,
        /// Its size.
        count: u128,
        /// The limit.
        limit: u64,
    },
    /// A forward zone file hickory-proto could not parse, or that uses a refused feature.
    #[error("forward zone: {0}")]
    ForwardZone(String),
    /// A bad SOA/NS setting.
    #[error("{0}")]
    BadSetting(String),
    /// Writing the zone failed.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

/// What is wrong with a reverse name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ArpaReason {
    /// Neither `ip6.arpa` nor `in-addr.arpa` at the end.
    #[error("it does not end in ip6.arpa. or in-addr.arpa.")]
    WrongSuffix,
    /// An empty label (`..`, or a leading dot).
    #[error("it has an empty label")]
    EmptyLabel,
    /// More than 32 nibble labels or 4 octet labels.
    #[error("it has {count} labels before the suffix, at most {max} are allowed")]
    TooManyLabels {
        /// Labels found.
        count: usize,
        /// Labels allowed.
        max: usize,
    },
    /// An ip6.arpa label that is not one hex digit (RFC 3596 §2.5).
    #[error("label {label:?} is not a single hex digit (RFC 3596 §2.5)")]
    BadNibble {
        /// The label.
        label: String,
    },
    /// An in-addr.arpa label that is not a decimal 0–255 without leading zeros (RFC 1035 §3.5).
    #[error("label {label:?} is not a decimal octet 0-255 without leading zeros (RFC 1035 §3.5)")]
    BadOctet {
        /// The label.
        label: String,
    },
    /// A host label inside an RFC 2317 child zone that is not an address of its block.
    #[error("label {label:?} is not an address of the RFC 2317 block {net}")]
    OutsideClassless {
        /// The label.
        label: String,
        /// The child zone's block.
        net: ipnet::Ipv4Net,
    },
    /// A malformed RFC 2317 `FIRST/LEN` label.
    #[error("label {label:?} is not an RFC 2317 FIRST/LEN label (LEN 25-32, FIRST aligned to it, after 3 octets)")]
    BadClassless {
        /// The label.
        label: String,
    },
}

impl RdnsError {
    pub(crate) fn arpa(name: &str, reason: ArpaReason) -> Self {
        Self::BadArpaName { name: name.to_owned(), reason }
    }
}
