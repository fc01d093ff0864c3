//! `addr`: explain an address the way `ipv6calc --showinfo` does, and more: its class in
//! the IANA special-purpose registries, its parts, its reverse name, and every IPv4
//! address it carries (6to4, RFC 6052 well-known prefix, IPv4-mapped, IPv4-compatible,
//! ISATAP, Teredo server and de-obfuscated client).
//!
//! ```
//! use sixgate_6to4::explain::{explain_str, Carrier};
//! let e = explain_str("2001:0:4136:e378:8000:63bf:3fff:fdd2").unwrap();
//! assert_eq!(e.embedded[0].carrier, Carrier::TeredoServer);
//! assert_eq!(e.embedded[1].ipv4.to_string(), "192.0.2.45");
//! assert_eq!(e.teredo.unwrap().port, 40000);
//! ```

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv6Net};
#[cfg(feature = "serde")]
use serde::Serialize;
use sixgate_core::class::{classify, classify_v4, AddrClass, Classification};
use sixgate_core::rfc6052::{embed, extract, sixtofour_extract, sixtofour_prefix, Pool6};
use sixgate_core::text::{excerpt, parse_addr, parse_host_port, parse_literal, Literal, TextError, EXCERPT_CHARS};

use crate::error::Error;
use crate::isatap::{self, Isatap};
#[cfg(feature = "serde")]
use crate::ser;
use crate::sixto4::DEPRECATION_NOTE;
use crate::teredo::{self, Teredo};

/// How an IPv4 address is carried in an IPv6 address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "kebab-case"))]
#[non_exhaustive]
pub enum Carrier {
    /// 6to4 `2002:V4ADDR::/48` (RFC 3056 §2).
    SixToFour,
    /// The RFC 6052 well-known prefix `64:ff9b::/96` (RFC 6052 §2.1).
    Nat64WellKnown,
    /// IPv4-mapped `::ffff:V4ADDR` (RFC 4291 §2.5.5.2).
    Ipv4Mapped,
    /// IPv4-compatible `::V4ADDR`, deprecated (RFC 4291 §2.5.5.1).
    Ipv4Compatible,
    /// An ISATAP interface identifier (RFC 5214 §6.1).
    Isatap,
    /// The Teredo server (RFC 4380 §4).
    TeredoServer,
    /// The Teredo client's external address, de-obfuscated (RFC 4380 §4).
    TeredoClient,
}

impl Carrier {
    /// A short name, e.g. "6to4".
    pub const fn name(self) -> &'static str {
        match self {
            Self::SixToFour => "6to4",
            Self::Nat64WellKnown => "NAT64 well-known prefix",
            Self::Ipv4Mapped => "IPv4-mapped",
            Self::Ipv4Compatible => "IPv4-compatible",
            Self::Isatap => "ISATAP",
            Self::TeredoServer => "Teredo server",
            Self::TeredoClient => "Teredo client",
        }
    }

    /// Where the embedding is defined.
    pub const fn rfc(self) -> &'static str {
        match self {
            Self::SixToFour => "RFC 3056 §2",
            Self::Nat64WellKnown => "RFC 6052 §2.2",
            Self::Ipv4Mapped => "RFC 4291 §2.5.5.2",
            Self::Ipv4Compatible => "RFC 4291 §2.5.5.1",
            Self::Isatap => "RFC 5214 §6.1",
            Self::TeredoServer | Self::TeredoClient => "RFC 4380 §4",
        }
    }
}

/// An IPv4 address found inside an IPv6 address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize))]
pub struct Embedded {
    /// How it is carried.
    pub carrier: Carrier,
    /// The IPv4 address.
    pub ipv4: Ipv4Addr,
    /// Its class.
    #[cfg_attr(feature = "serde", serde(serialize_with = "ser::class"))]
    pub class: Classification,
}

/// Everything `sixgate addr` says about an address.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize))]
pub struct Explanation {
    /// The address.
    pub address: IpAddr,
    /// The zone identifier given with it, if any.
    pub zone: Option<String>,
    /// The port given with it (`[v6]:port`, `v4:port`, a URL), if any.
    pub port: Option<u16>,
    /// The prefix given (`ADDRESS/LENGTH`), if any; the address explained is its address part.
    #[cfg_attr(feature = "serde", serde(serialize_with = "opt_display_net"))]
    pub prefix: Option<IpNet>,
    /// Canonical text (RFC 5952 for IPv6).
    pub canonical: String,
    /// The fully expanded IPv6 text (eight four-digit groups); `None` for IPv4.
    pub expanded: Option<String>,
    /// "unicast", "multicast", "unspecified", "loopback" or "broadcast".
    pub kind: &'static str,
    /// The IPv6 multicast scope (RFC 4291 §2.7), for multicast addresses.
    pub multicast_scope: Option<&'static str>,
    /// Its class in the IANA special-purpose registries.
    #[cfg_attr(feature = "serde", serde(serialize_with = "ser::class"))]
    pub class: Classification,
    /// For IPv6 unicast: the /64 the address is in.
    #[cfg_attr(feature = "serde", serde(serialize_with = "opt_display"))]
    pub prefix64: Option<Ipv6Net>,
    /// For IPv6 unicast: the interface identifier, as four groups.
    pub interface_id: Option<String>,
    /// What the interface identifier looks like (EUI-64 from a MAC, ISATAP, …).
    pub interface_id_kind: Option<String>,
    /// The reverse DNS name (`ip6.arpa.` or `in-addr.arpa.`).
    pub reverse_name: String,
    /// Every IPv4 address carried inside (IPv6 input only).
    pub embedded: Vec<Embedded>,
    /// The Teredo fields, for a Teredo address.
    pub teredo: Option<Teredo>,
    /// The ISATAP fields, for an ISATAP interface identifier.
    pub isatap: Option<Isatap>,
    /// For IPv4 input: the 6to4 /48 (for a global address).
    #[cfg_attr(feature = "serde", serde(serialize_with = "opt_display"))]
    pub sixtofour_prefix: Option<Ipv6Net>,
    /// For IPv4 input: the IPv4-mapped IPv6 address.
    pub ipv4_mapped: Option<Ipv6Addr>,
    /// For IPv4 input: the address under the NAT64 well-known prefix (global addresses only,
    /// RFC 6052 §3.1).
    pub nat64_well_known: Option<Ipv6Addr>,
    /// Remarks: deprecations, and embeddings that break their RFC's rules.
    pub notes: Vec<String>,
}

#[cfg(feature = "serde")]
fn opt_display_net<S: serde::Serializer>(v: &Option<IpNet>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(n) => s.collect_str(n),
        None => s.serialize_none(),
    }
}

#[cfg(feature = "serde")]
fn opt_display<S: serde::Serializer>(v: &Option<Ipv6Net>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(n) => s.collect_str(n),
        None => s.serialize_none(),
    }
}

fn groups(words: &[u16]) -> String {
    words.iter().map(|w| format!("{w:04x}")).collect::<Vec<_>>().join(":")
}

/// The reverse DNS name of an address: 32 nibbles under `ip6.arpa.` (RFC 3596 §2.5) or
/// four octets under `in-addr.arpa.`.
pub fn reverse_name(a: IpAddr) -> String {
    match a {
        IpAddr::V4(a) => {
            let o = a.octets();
            format!("{}.{}.{}.{}.in-addr.arpa.", o[3], o[2], o[1], o[0])
        }
        IpAddr::V6(a) => {
            let mut s = String::with_capacity(72);
            for b in a.octets().iter().rev() {
                s.push_str(&format!("{:x}.{:x}.", b & 0xf, b >> 4));
            }
            s.push_str("ip6.arpa.");
            s
        }
    }
}

fn multicast_scope(a: Ipv6Addr) -> &'static str {
    // RFC 4291 §2.7 (scop), RFC 7346 (admin-local, realm-local).
    match a.octets()[1] & 0x0f {
        0x1 => "interface-local",
        0x2 => "link-local",
        0x3 => "realm-local",
        0x4 => "admin-local",
        0x5 => "site-local",
        0x8 => "organization-local",
        0xe => "global",
        0x0 | 0xf => "reserved",
        _ => "unassigned",
    }
}

fn iid_kind(a: Ipv6Addr) -> String {
    let o = a.octets();
    if let Some(i) = isatap::extract(a) {
        return format!("ISATAP, IPv4 {} ({})", i.ipv4, if i.universal { "u bit set: global" } else { "u bit clear" });
    }
    if o[11] == 0xff && o[12] == 0xfe {
        // RFC 4291 Appendix A: modified EUI-64 from a 48-bit MAC, u bit inverted.
        return format!(
            "modified EUI-64 from MAC {:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x} (RFC 4291 Appendix A)",
            o[8] ^ 0x02,
            o[9],
            o[10],
            o[13],
            o[14],
            o[15]
        );
    }
    if o[8..14].iter().all(|&b| b == 0) {
        return "low-numbered, probably assigned by hand".to_owned();
    }
    "opaque (random, temporary or stable-privacy, RFC 8981 / RFC 7217)".to_owned()
}

/// Parses address text in any form [`parse_literal`] accepts (brackets, a zone, a port, a
/// prefix, a URL) and explains the address. A prefix with host bits set gets a note naming
/// the prefix without them.
pub fn explain_str(s: &str) -> Result<Explanation, Error> {
    // A bare address first: `2001:db8::1:80` is an address (and only a note says it could
    // be meant as one with a port).
    let l = match parse_addr(s) {
        Ok(hp) => Literal { addr: hp.addr, zone: hp.zone, port: None, prefix_len: None, scheme: None },
        Err(_) => parse_literal(s).map_err(|e| match e {
            TextError::NotAnAddress(_) => Error::NotAnAddress(excerpt(s.trim().as_bytes(), EXCERPT_CHARS)),
            e => Error::Text(e),
        })?,
    };
    let mut e = explain(l.addr);
    if let Err(TextError::AmbiguousPort { suggestion, .. }) = parse_host_port(s) {
        e.notes.push(format!(
            "read as one address; as an address with a port it would be written {suggestion} (RFC 3986 §3.2.2)"
        ));
    }
    e.zone = l.zone.clone();
    e.port = l.port;
    e.prefix = l.prefix();
    if let Some(n) = e.prefix.filter(|n| n.trunc() != *n) {
        e.notes.push(format!(
            "{n} has host bits set: the prefix is {}; the address {} is explained",
            n.trunc(),
            n.addr()
        ));
    }
    Ok(e)
}

/// Explains an address.
pub fn explain(a: IpAddr) -> Explanation {
    let class = classify(a);
    let mut e = Explanation {
        address: a,
        zone: None,
        port: None,
        prefix: None,
        canonical: a.to_string(),
        expanded: None,
        kind: "unicast",
        multicast_scope: None,
        class,
        prefix64: None,
        interface_id: None,
        interface_id_kind: None,
        reverse_name: reverse_name(a),
        embedded: Vec::new(),
        teredo: None,
        isatap: None,
        sixtofour_prefix: None,
        ipv4_mapped: None,
        nat64_well_known: None,
        notes: Vec::new(),
    };
    match a {
        IpAddr::V4(v4) => explain_v4(&mut e, v4),
        IpAddr::V6(v6) => explain_v6(&mut e, v6),
    }
    e
}

fn explain_v4(e: &mut Explanation, v4: Ipv4Addr) {
    e.kind = match e.class.class {
        AddrClass::Multicast => "multicast",
        AddrClass::LimitedBroadcast => "broadcast",
        AddrClass::Loopback => "loopback",
        _ if v4.is_unspecified() => "unspecified",
        _ => "unicast",
    };
    e.ipv4_mapped = Some(v4.to_ipv6_mapped());
    if e.class.global {
        e.sixtofour_prefix = Some(sixtofour_prefix(v4));
        e.nat64_well_known = Some(embed(&Pool6::well_known(), v4));
    } else {
        e.notes.push(
            "not globally reachable: no 6to4 prefix (RFC 3056 §2) and no NAT64 well-known-prefix form (RFC 6052 §3.1)"
                .to_owned(),
        );
    }
}

fn explain_v6(e: &mut Explanation, v6: Ipv6Addr) {
    e.expanded = Some(groups(&v6.segments()));
    let c = e.class.class;
    e.kind = match c {
        AddrClass::Multicast => "multicast",
        AddrClass::Unspecified => "unspecified",
        AddrClass::Loopback => "loopback",
        _ => "unicast",
    };
    if c == AddrClass::Multicast {
        e.multicast_scope = Some(multicast_scope(v6));
    }
    let push = |e: &mut Explanation, carrier, ipv4| {
        e.embedded.push(Embedded { carrier, ipv4, class: classify_v4(ipv4) });
    };
    match c {
        AddrClass::Ipv4Mapped => {
            // RFC 4291 §2.5.5.2.
            if let Some(v4) = v6.to_ipv4_mapped() {
                push(e, Carrier::Ipv4Mapped, v4);
            }
        }
        AddrClass::Ipv4Compatible => {
            // RFC 4291 §2.5.5.1: deprecated.
            let o = v6.octets();
            push(e, Carrier::Ipv4Compatible, Ipv4Addr::new(o[12], o[13], o[14], o[15]));
            e.notes.push("IPv4-compatible IPv6 addresses are deprecated (RFC 4291 §2.5.5.1)".to_owned());
        }
        AddrClass::Nat64WellKnown => {
            if let Ok(v4) = extract(&Pool6::well_known(), v6) {
                push(e, Carrier::Nat64WellKnown, v4);
                if !classify_v4(v4).global {
                    e.notes.push(format!(
                        "the well-known prefix must not carry the non-global IPv4 address {v4} (RFC 6052 §3.1)"
                    ));
                }
            }
        }
        AddrClass::Teredo => {
            if let Some(t) = teredo::decode(v6) {
                push(e, Carrier::TeredoServer, t.server);
                push(e, Carrier::TeredoClient, t.client);
                e.teredo = Some(t);
            }
        }
        AddrClass::SixToFour => {
            if let Some(v4) = sixtofour_extract(v6) {
                push(e, Carrier::SixToFour, v4);
                if !classify_v4(v4).global {
                    e.notes.push(format!(
                        "embeds the non-global IPv4 address {v4}: not a valid 6to4 address (RFC 3056 §2)"
                    ));
                }
                e.notes.push(DEPRECATION_NOTE.to_owned());
            }
        }
        _ => {}
    }
    let iid_applies = e.kind == "unicast"
        && !matches!(
            c,
            AddrClass::Ipv4Mapped | AddrClass::Ipv4Compatible | AddrClass::Nat64WellKnown | AddrClass::Teredo
        );
    if iid_applies {
        let x = u128::from(v6);
        e.prefix64 = Ipv6Net::new(Ipv6Addr::from(x & !(u128::from(u64::MAX))), 64).ok();
        e.interface_id = Some(groups(&v6.segments()[4..]));
        e.interface_id_kind = Some(iid_kind(v6));
        if let Some(i) = isatap::extract(v6) {
            push(e, Carrier::Isatap, i.ipv4);
            e.isatap = Some(i);
        }
    }
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.zone {
            Some(z) => writeln!(f, "address          {}%{z}", self.canonical)?,
            None => writeln!(f, "address          {}", self.canonical)?,
        }
        if let Some(p) = self.prefix {
            writeln!(f, "prefix           {p}")?;
        }
        if let Some(p) = self.port {
            writeln!(f, "port             {p}")?;
        }
        if let Some(x) = &self.expanded {
            writeln!(f, "expanded         {x}")?;
        }
        match self.multicast_scope {
            Some(s) => writeln!(f, "type             {}, {s} scope", self.kind)?,
            None => writeln!(f, "type             {}", self.kind)?,
        }
        writeln!(f, "class            {}", self.class)?;
        writeln!(f, "global           {}", if self.class.global { "yes" } else { "no" })?;
        if let Some(p) = self.prefix64 {
            writeln!(f, "prefix /64       {p}")?;
        }
        if let (Some(i), Some(k)) = (&self.interface_id, &self.interface_id_kind) {
            writeln!(f, "interface id     {i} ({k})")?;
        }
        for m in &self.embedded {
            writeln!(f, "IPv4 address     {} ({}, {}): {}", m.ipv4, m.carrier.name(), m.carrier.rfc(), m.class)?;
        }
        if let Some(t) = self.teredo {
            writeln!(
                f,
                "Teredo           server {}, client {} port {}, flags {:#06x}{}",
                t.server,
                t.client,
                t.port,
                t.flags,
                if t.cone { " (cone NAT)" } else { "" }
            )?;
        }
        if let Some(p) = self.sixtofour_prefix {
            writeln!(f, "6to4 prefix      {p}")?;
        }
        if let Some(m) = self.ipv4_mapped {
            writeln!(f, "IPv4-mapped      {m}")?;
        }
        if let Some(n) = self.nat64_well_known {
            writeln!(f, "NAT64 (64:ff9b::/96) {n}")?;
        }
        write!(f, "reverse name     {}", self.reverse_name)?;
        for n in &self.notes {
            write!(f, "\nnote: {n}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex(s: &str) -> Explanation {
        explain_str(s).unwrap()
    }

    fn carried(e: &Explanation) -> Vec<(Carrier, String)> {
        e.embedded.iter().map(|m| (m.carrier, m.ipv4.to_string())).collect()
    }

    #[test]
    fn teredo() {
        let e = ex("2001:0:4136:e378:8000:63bf:3fff:fdd2");
        assert_eq!(
            carried(&e),
            [(Carrier::TeredoServer, "65.54.227.120".into()), (Carrier::TeredoClient, "192.0.2.45".into())]
        );
        let text = e.to_string();
        assert!(text.contains("port 40000") && text.contains("cone NAT"), "{text}");
        assert_eq!(e.prefix64, None);
    }

    #[test]
    fn each_carrier() {
        assert_eq!(carried(&ex("2002:4acf:fe10::1")), [(Carrier::SixToFour, "74.207.254.16".into())]);
        assert!(ex("2002:4acf:fe10::1").notes.iter().any(|n| n.contains("RFC 7526")));
        assert!(ex("2002:a00:1::1").notes.iter().any(|n| n.contains("non-global IPv4 address 10.0.0.1")));
        assert_eq!(carried(&ex("64:ff9b::c000:221")), [(Carrier::Nat64WellKnown, "192.0.2.33".into())]);
        assert!(ex("64:ff9b::c000:221").notes.iter().any(|n| n.contains("RFC 6052 §3.1")));
        assert_eq!(carried(&ex("::ffff:192.0.2.1")), [(Carrier::Ipv4Mapped, "192.0.2.1".into())]);
        assert_eq!(carried(&ex("::192.0.2.1")), [(Carrier::Ipv4Compatible, "192.0.2.1".into())]);
        let e = ex("fe80::200:5efe:c000:201%eth0");
        assert_eq!(carried(&e), [(Carrier::Isatap, "192.0.2.1".into())]);
        assert_eq!(e.zone.as_deref(), Some("eth0"));
        // 6to4 with an ISATAP interface identifier carries two addresses.
        assert_eq!(
            carried(&ex("2002:4acf:fe10:1:200:5efe:4acf:fe10")),
            [(Carrier::SixToFour, "74.207.254.16".into()), (Carrier::Isatap, "74.207.254.16".into())]
        );
        assert!(carried(&ex("2600::1")).is_empty());
        assert!(carried(&ex("::1")).is_empty());
        assert!(carried(&ex("::")).is_empty());
    }

    #[test]
    fn parts_and_names() {
        let e = ex("2001:db8::a:bff:fe01:203");
        assert_eq!(e.expanded.as_deref(), Some("2001:0db8:0000:0000:000a:0bff:fe01:0203"));
        assert_eq!(e.prefix64.unwrap().to_string(), "2001:db8::/64");
        assert!(e.interface_id_kind.unwrap().contains("MAC 02:0a:0b:01:02:03"));
        assert_eq!(e.reverse_name, "3.0.2.0.1.0.e.f.f.f.b.0.a.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.");
        assert_eq!(ex("ff02::1").multicast_scope, Some("link-local"));
        let v4 = ex("74.207.254.16");
        assert_eq!(v4.sixtofour_prefix.unwrap().to_string(), "2002:4acf:fe10::/48");
        assert_eq!(v4.nat64_well_known.unwrap().to_string(), "64:ff9b::4acf:fe10");
        assert_eq!(v4.reverse_name, "16.254.207.74.in-addr.arpa.");
        assert_eq!(ex("10.0.0.1").sixtofour_prefix, None);
        assert!(matches!(explain_str("nonsense"), Err(Error::NotAnAddress(_))));
    }

    #[test]
    fn literal_forms_explained() {
        let e = ex("[2001:db8::1]:443");
        assert_eq!((e.canonical.as_str(), e.port), ("2001:db8::1", Some(443)));
        let e = ex("http://[2001:db8::1]:8080/path");
        assert_eq!((e.canonical.as_str(), e.port), ("2001:db8::1", Some(8080)));
        let e = ex("2001:db8::/64");
        assert_eq!(
            (e.canonical.as_str(), e.prefix.map(|p| p.to_string())),
            ("2001:db8::", Some("2001:db8::/64".into()))
        );
        assert!(e.to_string().contains("prefix           2001:db8::/64"), "{e}");
        let e = ex("2001:db8::1/32");
        assert!(e.notes.iter().any(|n| n.contains("the prefix is 2001:db8::/32")), "{:?}", e.notes);
        let e = ex("2001:db8::1:80");
        assert_eq!((e.canonical.as_str(), e.port), ("2001:db8::1:80", None));
        assert!(e.notes.iter().any(|n| n.contains("[2001:db8::1]:80")), "{:?}", e.notes);
        assert!(matches!(explain_str("[2001:db8::1"), Err(Error::Text(TextError::Brackets(_)))));
    }
}
