//! Name templates over bounded address ranges, for zones whose PTR names follow a pattern.
//!
//! A template is a host name with placeholders in braces:
//!
//! | placeholder | value for `2001:db8::5` | value for `192.0.2.7` |
//! | --- | --- | --- |
//! | `{dashed}` | `2001-db8--5` | `192-0-2-7` |
//! | `{hex}` | `20010db8000000000000000000000005` | `c0000207` |
//! | `{v4}` | `0-0-0-5` (the last 32 bits as an IPv4 address) | `192-0-2-7` |
//! | `{index}` | the decimal offset from the first address of the range | same |
//!
//! `{dashed}` is the RFC 5952 text with `:` and `.` turned into `-`; where that text begins or
//! ends with `::` a `0` is added (`::1` → `0--1`, `2001:db8::` → `2001-db8--0`) so that no
//! label starts or ends with a hyphen (RFC 1035 §2.3.1). A template without a trailing dot is
//! qualified by a domain, or refused when there is none.
//!
//! ```
//! use sixgate_rdns::template::Template;
//! let t = Template::parse("host-{dashed}", Some("example.net")).unwrap();
//! let mut out = String::new();
//! t.render("2001:db8::5".parse().unwrap(), 0, &mut out);
//! assert_eq!(out, "host-2001-db8--5.example.net.");
//! ```

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

use crate::error::RdnsError;
use crate::hostname::MAX_NAME_LEN;
use crate::name::{push_octet, HEX};
use crate::plan::ORDER;

/// The largest range a template may cover unless the caller sets another limit.
pub const DEFAULT_LIMIT: u64 = 1 << 20;

/// One piece of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Lit(String),
    Dashed,
    Hex,
    V4,
    Index,
}

/// A parsed, qualified name template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
}

impl Template {
    /// Parses a template; a relative one (no trailing dot) is qualified by `domain` or refused.
    /// Literal text may hold only letters, digits, hyphens and dots; at least one placeholder
    /// is required (a template without one would give every address the same name).
    pub fn parse(text: &str, domain: Option<&str>) -> Result<Self, RdnsError> {
        let bad = |reason: &str| RdnsError::BadTemplate { template: text.to_owned(), reason: reason.to_owned() };
        if text.len() > MAX_NAME_LEN + 1 {
            return Err(bad("longer than 254 characters"));
        }
        let full = if text.ends_with('.') {
            text.to_owned()
        } else {
            let d = domain.ok_or_else(|| RdnsError::RelativeName(text.to_owned()))?;
            let d = d.strip_suffix('.').unwrap_or(d);
            if d.is_empty() || !d.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'.') {
                return Err(bad("the domain is not a host name"));
            }
            format!("{text}.{d}.")
        };
        // Checked again once qualified, so that the printed template always parses back.
        if full.len() > MAX_NAME_LEN + 1 {
            return Err(bad("longer than 254 characters once qualified"));
        }
        let mut parts = Vec::new();
        let mut rest = full.as_str();
        while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix('{') {
                let (name, tail) = after.split_once('}').ok_or_else(|| bad("an unclosed '{'"))?;
                parts.push(match name {
                    "dashed" => Part::Dashed,
                    "hex" | "nibbles" => Part::Hex,
                    "v4" => Part::V4,
                    "index" => Part::Index,
                    _ => {
                        return Err(bad(&format!(
                            "unknown placeholder {{{name}}} (known: {{dashed}}, {{hex}}, {{v4}}, {{index}})"
                        )))
                    }
                });
                rest = tail;
            } else {
                let end = rest.find('{').unwrap_or(rest.len());
                let lit = &rest[..end];
                if let Some(c) = lit.chars().find(|&c| !(c.is_ascii_alphanumeric() || c == '-' || c == '.')) {
                    return Err(bad(&format!("{c:?} is not allowed in a host name (RFC 1035 §2.3.1)")));
                }
                parts.push(Part::Lit(lit.to_owned()));
                rest = &rest[end..];
            }
        }
        if !parts.iter().any(|p| !matches!(p, Part::Lit(_))) {
            return Err(bad("no placeholder: every address would get the same name"));
        }
        Ok(Self { parts })
    }

    /// Writes the name for `a` (the `index`-th address of its range) into `out`, replacing
    /// its content. The result is not checked here; see [`crate::hostname::check_absolute`].
    pub fn render(&self, a: IpAddr, index: u128, out: &mut String) {
        out.clear();
        let mut buf = std::mem::take(out).into_bytes();
        self.render_bytes(a, index, &mut buf);
        // Only ASCII is ever written.
        *out = String::from_utf8(buf).unwrap_or_default();
    }

    pub(crate) fn render_bytes(&self, a: IpAddr, index: u128, out: &mut Vec<u8>) {
        out.clear();
        for p in &self.parts {
            match p {
                Part::Lit(s) => out.extend_from_slice(s.as_bytes()),
                Part::Dashed => match a {
                    IpAddr::V6(a) => push_dashed_v6(a, out),
                    IpAddr::V4(a) => push_dashed_v4(a, out),
                },
                Part::Hex => match a {
                    IpAddr::V6(a) => push_hex(u128::from(a), 32, out),
                    IpAddr::V4(a) => push_hex(u128::from(u32::from(a)), 8, out),
                },
                Part::V4 => match a {
                    IpAddr::V6(a) => push_dashed_v4(Ipv4Addr::from((u128::from(a) & 0xffff_ffff) as u32), out),
                    IpAddr::V4(a) => push_dashed_v4(a, out),
                },
                Part::Index => out.extend_from_slice(index.to_string().as_bytes()),
            }
        }
    }
}

/// Longest text a placeholder can render to: `{dashed}` of an IPv6 address (39 characters,
/// plus the `0` added at an end), `{index}` of a /0 (39 digits).
const MAX_PLACEHOLDER_LEN: usize = 40;

impl Template {
    /// The longest name the template can render (the literal text plus the longest text of
    /// each placeholder for this family).
    pub fn max_len(&self, v6: bool) -> usize {
        self.parts
            .iter()
            .map(|p| match p {
                Part::Lit(s) => s.len(),
                Part::Dashed if v6 => MAX_PLACEHOLDER_LEN,
                Part::Dashed | Part::V4 => 15,
                Part::Hex if v6 => 32,
                Part::Hex => 8,
                Part::Index => MAX_PLACEHOLDER_LEN,
            })
            .sum()
    }

    /// Whether two addresses of `net` always get two different names, so that a name can be
    /// read back to one address ([`Template::address_of`]): the template has `{dashed}`, `{hex}`
    /// or `{index}`, or `{v4}` where `net` has at most 32 host bits.
    pub fn is_injective(&self, net: IpNet) -> bool {
        let host_bits = net.max_prefix_len() - net.prefix_len();
        self.parts.iter().any(|p| match p {
            Part::Dashed | Part::Hex | Part::Index => true,
            Part::V4 => host_bits <= 32,
            Part::Lit(_) => false,
        })
    }

    /// The literal text after the last placeholder (`.example.net.` for
    /// `host-{dashed}.example.net.`).
    pub fn literal_suffix(&self) -> &str {
        match self.parts.last() {
            Some(Part::Lit(s)) => s,
            _ => "",
        }
    }

    /// The address of `net` whose name is `name` (an absolute name, any case), with
    /// `{index}` counted from `net`'s first address: the forward lookup of a synthesized name,
    /// so that forward and reverse agree (RFC 1912 §2.1). The candidate address is read from the
    /// first placeholder's text and accepted only when the template renders it back to `name`
    /// exactly (case aside), so a name that is not the canonical rendering of an address of
    /// `net` (another spelling, leading zeros, an address outside `net`) gives `None`.
    ///
    /// ```
    /// use sixgate_rdns::template::Template;
    /// let t = Template::parse("host-{dashed}.example.net.", None).unwrap();
    /// let net = "2001:db8::/64".parse().unwrap();
    /// assert_eq!(t.address_of("HOST-2001-db8--5.example.net.", net), Some("2001:db8::5".parse().unwrap()));
    /// assert_eq!(t.address_of("host-2001-db8-0-0-0-0-0-5.example.net.", net), None); // not canonical
    /// assert_eq!(t.address_of("host-2001-db9--5.example.net.", net), None); // outside the prefix
    /// ```
    pub fn address_of(&self, name: &str, net: IpNet) -> Option<IpAddr> {
        let first = self.parts.iter().position(|p| !matches!(p, Part::Lit(_)))?;
        let prefix: usize = self.parts[..first].iter().map(|p| if let Part::Lit(s) = p { s.len() } else { 0 }).sum();
        let head = name.get(..prefix)?;
        let want_head: String = self.parts[..first]
            .iter()
            .filter_map(|p| if let Part::Lit(s) = p { Some(s.as_str()) } else { None })
            .collect();
        if !head.eq_ignore_ascii_case(&want_head) {
            return None;
        }
        let rest = &name[prefix..];
        let only_literals_after = self.parts[first + 1..].iter().all(|p| matches!(p, Part::Lit(_)));
        let mut rendered = Vec::with_capacity(name.len());
        let mut try_text = |text: &str| -> Option<IpAddr> {
            let a = parse_placeholder(&self.parts[first], text, net)?;
            let index = offset(net, a);
            self.render_bytes(a, index, &mut rendered);
            rendered.eq_ignore_ascii_case(name.as_bytes()).then_some(a)
        };
        if only_literals_after {
            let suffix: usize =
                self.parts[first + 1..].iter().map(|p| if let Part::Lit(s) = p { s.len() } else { 0 }).sum();
            let text = rest.get(..rest.len().checked_sub(suffix)?)?;
            return try_text(text);
        }
        // Another placeholder follows: every end the first one's text can have.
        let run = rest.bytes().take(MAX_PLACEHOLDER_LEN).take_while(|b| b.is_ascii_hexdigit() || *b == b'-').count();
        (1..=run).find_map(|end| try_text(&rest[..end]))
    }
}

/// The offset of `a` from the first address of `net` (`a` inside `net`): the value of
/// `{index}` when the range is the whole of `net`.
pub(crate) fn offset(net: IpNet, a: IpAddr) -> u128 {
    match (net, a) {
        (IpNet::V6(n), IpAddr::V6(a)) => u128::from(a).wrapping_sub(u128::from(n.network())),
        (IpNet::V4(n), IpAddr::V4(a)) => u128::from(u32::from(a).wrapping_sub(u32::from(n.network()))),
        _ => 0,
    }
}

/// Reads the address a placeholder's text stands for, inside `net`.
fn parse_placeholder(p: &Part, text: &str, net: IpNet) -> Option<IpAddr> {
    if text.is_empty() || text.len() > MAX_PLACEHOLDER_LEN {
        return None;
    }
    let dashed_v4 = |t: &str| t.replace('-', ".").parse::<Ipv4Addr>().ok();
    let a = match (p, net) {
        (Part::Dashed, IpNet::V6(_)) => match text.get(..8) {
            Some(h) if h.eq_ignore_ascii_case("0--ffff-") && text[8..].contains('-') && !text[8..].contains("--") => {
                dashed_v4(&text[8..]).map(|v| IpAddr::V6(v.to_ipv6_mapped()))
            }
            _ => text.replace('-', ":").parse::<Ipv6Addr>().ok().map(IpAddr::V6),
        },
        (Part::Dashed | Part::V4, IpNet::V4(_)) => dashed_v4(text).map(IpAddr::V4),
        (Part::V4, IpNet::V6(n)) => {
            dashed_v4(text).map(|v| IpAddr::V6(Ipv6Addr::from(u128::from(n.network()) | u128::from(u32::from(v)))))
        }
        (Part::Hex, IpNet::V6(_)) if text.len() == 32 => {
            u128::from_str_radix(text, 16).ok().map(|v| IpAddr::V6(Ipv6Addr::from(v)))
        }
        (Part::Hex, IpNet::V4(_)) if text.len() == 8 => {
            u32::from_str_radix(text, 16).ok().map(|v| IpAddr::V4(Ipv4Addr::from(v)))
        }
        (Part::Index, IpNet::V6(n)) if text.bytes().all(|b| b.is_ascii_digit()) => {
            let i: u128 = text.parse().ok()?;
            (i <= u128::from(n.hostmask())).then(|| IpAddr::V6(Ipv6Addr::from(u128::from(n.network()) + i)))
        }
        (Part::Index, IpNet::V4(n)) if text.bytes().all(|b| b.is_ascii_digit()) => {
            let i: u32 = text.parse().ok()?;
            (i <= u32::from(n.hostmask())).then(|| IpAddr::V4(Ipv4Addr::from(u32::from(n.network()) + i)))
        }
        _ => None,
    }?;
    net.contains(&a).then_some(a)
}

impl fmt::Display for Template {
    /// The qualified template text, which [`Template::parse`] reads back to the same value.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for p in &self.parts {
            match p {
                Part::Lit(s) => f.write_str(s)?,
                Part::Dashed => f.write_str("{dashed}")?,
                Part::Hex => f.write_str("{hex}")?,
                Part::V4 => f.write_str("{v4}")?,
                Part::Index => f.write_str("{index}")?,
            }
        }
        Ok(())
    }
}

fn push_hex(v: u128, digits: u32, out: &mut Vec<u8>) {
    for k in (0..digits).rev() {
        out.push(HEX[((v >> (4 * k)) & 0xf) as usize]);
    }
}

fn push_dashed_v4(a: Ipv4Addr, out: &mut Vec<u8>) {
    for (i, o) in a.octets().into_iter().enumerate() {
        if i > 0 {
            out.push(b'-');
        }
        push_octet(o, out);
    }
}

/// RFC 5952 text of `a` with `-` for `:` and `.`, and a `0` where it would begin or end with a
/// hyphen. Written by hand (no formatter machinery): it runs once per record.
pub(crate) fn push_dashed_v6(a: Ipv6Addr, out: &mut Vec<u8>) {
    let g = a.segments();
    // RFC 5952 §5: IPv4-mapped addresses keep the dotted quad (as `Ipv6Addr`'s Display does).
    if g[..5] == [0; 5] && g[5] == 0xffff {
        out.extend_from_slice(b"0--ffff-");
        push_dashed_v4(Ipv4Addr::new((g[6] >> 8) as u8, g[6] as u8, (g[7] >> 8) as u8, g[7] as u8), out);
        return;
    }
    // RFC 5952 §4.2: compress the longest run of two or more zero groups, the first on a tie.
    let (mut best, mut best_len, mut i) = (8, 0, 0);
    while i < 8 {
        if g[i] == 0 {
            let start = i;
            while i < 8 && g[i] == 0 {
                i += 1;
            }
            if i - start > best_len && i - start >= 2 {
                best = start;
                best_len = i - start;
            }
        } else {
            i += 1;
        }
    }
    let push_group = |v: u16, out: &mut Vec<u8>| {
        let mut started = false;
        for k in (0..4).rev() {
            let n = (v >> (4 * k)) & 0xf;
            if n != 0 || started || k == 0 {
                out.push(HEX[n as usize]);
                started = true;
            }
        }
    };
    let mut i = 0;
    while i < 8 {
        if i == best {
            if i == 0 {
                out.push(b'0');
            }
            out.extend_from_slice(b"--");
            i += best_len;
            if i == 8 {
                out.push(b'0');
            }
            continue;
        }
        if i > 0 && i != best + best_len {
            out.push(b'-');
        }
        push_group(g[i], out);
        i += 1;
    }
}

/// A bounded, inclusive range of addresses of one family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddrRange {
    first: IpAddr,
    last: IpAddr,
}

impl AddrRange {
    /// A range from `first` to `last` inclusive; `None` if the families differ or `last < first`.
    pub fn new(first: IpAddr, last: IpAddr) -> Option<Self> {
        match (first, last) {
            (IpAddr::V6(a), IpAddr::V6(b)) if a <= b => Some(Self { first, last }),
            (IpAddr::V4(a), IpAddr::V4(b)) if a <= b => Some(Self { first, last }),
            _ => None,
        }
    }

    /// Every address of a prefix.
    pub fn from_net(n: IpNet) -> Self {
        Self { first: n.network(), last: n.broadcast() }
    }

    /// Parses `PREFIX` or `FIRST-LAST`.
    ///
    /// ```
    /// use sixgate_rdns::template::AddrRange;
    /// assert_eq!(AddrRange::parse("2001:db8::/120").unwrap().len(), 256);
    /// assert_eq!(AddrRange::parse("192.0.2.10-192.0.2.19").unwrap().len(), 10);
    /// assert!(AddrRange::parse("192.0.2.19-192.0.2.10").is_err());
    /// ```
    pub fn parse(s: &str) -> Result<Self, RdnsError> {
        let t = s.trim();
        let bad = || RdnsError::BadRange(s.to_owned());
        if t.contains('/') {
            return sixgate_core::text::parse_prefix(t).map(|n| Self::from_net(n.trunc())).map_err(|_| bad());
        }
        let (a, b) = t.split_once('-').ok_or_else(bad)?;
        let a: IpAddr = a.trim().parse().map_err(|_| bad())?;
        let b: IpAddr = b.trim().parse().map_err(|_| bad())?;
        if a.is_ipv4() == b.is_ipv4() && a > b {
            return Err(RdnsError::ReversedRange { range: s.to_owned(), first: a, last: b });
        }
        Self::new(a, b).ok_or_else(bad)
    }

    /// The first address.
    pub fn first(&self) -> IpAddr {
        self.first
    }

    /// The last address.
    pub fn last(&self) -> IpAddr {
        self.last
    }

    /// How many addresses (saturating at `u128::MAX` for all of IPv6).
    #[allow(clippy::len_without_is_empty)] // a range is never empty
    pub fn len(&self) -> u128 {
        match (self.first, self.last) {
            (IpAddr::V6(a), IpAddr::V6(b)) => (u128::from(b) - u128::from(a)).saturating_add(1),
            (IpAddr::V4(a), IpAddr::V4(b)) => u128::from(u32::from(b) - u32::from(a)) + 1,
            _ => 0,
        }
    }

    /// Refuses a range larger than `limit`.
    pub fn check_limit(&self, limit: u64) -> Result<(), RdnsError> {
        if self.len() > u128::from(limit) {
            return Err(RdnsError::RangeTooLarge { range: self.to_string(), count: self.len(), limit });
        }
        Ok(())
    }

    /// Whether the whole range lies in `net`.
    pub fn within(&self, net: IpNet) -> bool {
        net.contains(&self.first) && net.contains(&self.last)
    }

    /// Calls `f(address, index)` for every address, in RFC 4034 §6.1 canonical order of the
    /// addresses' reverse names (numeric for IPv6; for IPv4 octet by octet in the string
    /// order of the decimal labels). Streams: nothing is collected. Stops at the first error.
    pub fn for_each_canonical<E>(&self, mut f: impl FnMut(IpAddr, u128) -> Result<(), E>) -> Result<(), E> {
        match (self.first, self.last) {
            (IpAddr::V6(a), IpAddr::V6(b)) => {
                let (a, b) = (u128::from(a), u128::from(b));
                let mut v = a;
                loop {
                    f(IpAddr::V6(Ipv6Addr::from(v)), v - a)?;
                    if v == b {
                        return Ok(());
                    }
                    v += 1;
                }
            }
            (IpAddr::V4(a), IpAddr::V4(b)) => walk_v4(u32::from(a), u32::from(b), 0, 0, &mut f),
            _ => Ok(()),
        }
    }
}

/// Visits the addresses in `[lo, hi]` below the `level` most significant octets `prefix`,
/// each octet in canonical label order, pruning blocks outside the range.
fn walk_v4<E>(
    lo: u32,
    hi: u32,
    level: u32,
    prefix: u32,
    f: &mut impl FnMut(IpAddr, u128) -> Result<(), E>,
) -> Result<(), E> {
    let shift = 24 - 8 * level;
    for &o in &ORDER {
        let base = prefix | (u32::from(o) << shift);
        let top = base | ((1u64 << shift) - 1) as u32;
        if top < lo || base > hi {
            continue;
        }
        if level == 3 {
            f(IpAddr::V4(Ipv4Addr::from(base)), u128::from(base - lo))?;
        } else {
            walk_v4(lo, hi, level + 1, base, f)?;
        }
    }
    Ok(())
}

impl fmt::Display for AddrRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.first, self.last)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::canonical_key;
    use proptest::prelude::*;

    fn dashed(s: &str) -> String {
        let mut v = Vec::new();
        push_dashed_v6(s.parse().unwrap(), &mut v);
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn dashed_forms() {
        assert_eq!(dashed("2001:db8::5"), "2001-db8--5");
        assert_eq!(dashed("::1"), "0--1");
        assert_eq!(dashed("::"), "0--0");
        assert_eq!(dashed("2001:db8::"), "2001-db8--0");
        assert_eq!(dashed("2001:db8:0:1:1:1:1:1"), "2001-db8-0-1-1-1-1-1");
        assert_eq!(dashed("2001:0:0:1::1"), "2001-0-0-1--1");
        assert_eq!(dashed("::ffff:192.0.2.1"), "0--ffff-192-0-2-1");
    }

    #[test]
    fn template_parse_and_render() {
        let t = Template::parse("h-{hex}.{v4}.x-{index}.example.", None).unwrap();
        let mut s = String::new();
        t.render("64:ff9b::c000:207".parse().unwrap(), 7, &mut s);
        assert_eq!(s, "h-0064ff9b0000000000000000c0000207.192-0-2-7.x-7.example.");
        t.render("192.0.2.7".parse().unwrap(), 300, &mut s);
        assert_eq!(s, "h-c0000207.192-0-2-7.x-300.example.");
        assert_eq!(t.to_string(), "h-{hex}.{v4}.x-{index}.example.");
        assert!(matches!(Template::parse("h-{dashed}", None), Err(RdnsError::RelativeName(_))));
        // Found by the fuzzer: short enough alone, too long once qualified.
        let near = format!("{}{{hex}}.x", "a".repeat(240));
        assert!(matches!(Template::parse(&near, Some("example.net")), Err(RdnsError::BadTemplate { .. })));
        for bad in ["h-{oops}.x.", "h-{dashed.x.", "host.example.", "h_{dashed}.x.", "h {dashed}.x."] {
            assert!(matches!(Template::parse(bad, None), Err(RdnsError::BadTemplate { .. })), "{bad}");
        }
    }

    #[test]
    fn ranges() {
        let r = AddrRange::parse("2001:db8::/120").unwrap();
        assert_eq!(r.len(), 256);
        assert!(r.check_limit(256).is_ok());
        assert!(matches!(r.check_limit(255), Err(RdnsError::RangeTooLarge { count: 256, .. })));
        assert_eq!(AddrRange::parse("::/0").unwrap().len(), u128::MAX);
        assert!(AddrRange::parse("192.0.2.1-2001:db8::1").is_err());
        assert!(AddrRange::parse("nonsense").is_err());
        let mut seen = Vec::new();
        AddrRange::parse("192.0.2.8-192.0.2.12")
            .unwrap()
            .for_each_canonical(|a, i| {
                seen.push((a.to_string(), i));
                Ok::<_, ()>(())
            })
            .unwrap();
        let want = [("192.0.2.10", 2), ("192.0.2.11", 3), ("192.0.2.12", 4), ("192.0.2.8", 0), ("192.0.2.9", 1)];
        assert_eq!(seen, want.map(|(a, i)| (a.to_owned(), i)));
    }

    #[test]
    fn names_read_back() {
        let v6: IpNet = "2001:db8:0:1::/64".parse().unwrap();
        let v4: IpNet = "192.0.2.0/24".parse().unwrap();
        let t = Template::parse("h-{hex}.x-{index}.example.", None).unwrap();
        let a: IpAddr = "2001:db8:0:1::7".parse().unwrap();
        let mut name = String::new();
        t.render(a, 7, &mut name);
        assert_eq!(t.address_of(&name, v6), Some(a));
        assert_eq!(t.address_of(&name.replace("x-7", "x-8"), v6), None, "the index must agree");
        let t = Template::parse("{index}.pool.example.", None).unwrap();
        assert_eq!(t.address_of("255.pool.example.", v4), Some("192.0.2.255".parse().unwrap()));
        assert_eq!(t.address_of("256.pool.example.", v4), None);
        assert_eq!(t.address_of("01.pool.example.", v4), None);
        let t = Template::parse("{v4}.v4.example.", None).unwrap();
        assert!(t.is_injective("64:ff9b::/96".parse().unwrap()) && !t.is_injective(v6));
        assert_eq!(
            t.address_of("192-0-2-1.v4.example.", "64:ff9b::/96".parse().unwrap()),
            Some("64:ff9b::c000:201".parse().unwrap())
        );
        let t = Template::parse("m-{dashed}.example.", None).unwrap();
        let mapped: IpNet = "::ffff:0:0/96".parse().unwrap();
        assert_eq!(t.address_of("m-0--ffff-192-0-2-1.example.", mapped), Some("::ffff:192.0.2.1".parse().unwrap()));
        assert_eq!(t.address_of("m-0--1.example.", "::/120".parse().unwrap()), Some("::1".parse().unwrap()));
        assert_eq!(t.address_of("m-.example.", v6), None);
        assert_eq!(t.address_of("n-2001-db8-0-1--1.example.", v6), None);
        assert_eq!(t.address_of("m-2001-db8-0-1--1.example.org.", v6), None);
        assert_eq!(t.address_of("m", v6), None);
        assert_eq!(t.literal_suffix(), ".example.");
        assert!(t.max_len(true) >= "m-2001-db8-1111-2222-3333-4444-5555-6666.example.".len());
    }

    proptest! {
        /// Every address's name reads back to that address, whatever the placeholders.
        #[test]
        fn address_of_inverts_render(bytes in any::<[u8; 16]>(), len in 64u8..=128, v4 in any::<bool>(), which in 0usize..5) {
            let texts = ["a-{dashed}.example.", "{hex}.example.", "{dashed}-{index}.example.", "{index}.{hex}.example.", "x{v4}.example."];
            let net: IpNet = if v4 {
                IpNet::V4(ipnet::Ipv4Net::new(Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3]), len % 33).unwrap().trunc())
            } else {
                IpNet::V6(ipnet::Ipv6Net::new(Ipv6Addr::from(bytes), len).unwrap().trunc())
            };
            let t = Template::parse(texts[which], None).unwrap();
            prop_assume!(t.is_injective(net));
            let a = match net {
                IpNet::V6(n) => IpAddr::V6(Ipv6Addr::from(u128::from(n.network()) | (u128::from_be_bytes(bytes).rotate_left(7) & u128::from(n.hostmask())))),
                IpNet::V4(n) => IpAddr::V4(Ipv4Addr::from(u32::from(n.network()) | (u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]) & u32::from(n.hostmask())))),
            };
            let mut name = String::new();
            t.render(a, offset(net, a), &mut name);
            prop_assert_eq!(t.address_of(&name, net), Some(a), "{}", name);
            prop_assert_eq!(t.address_of(&name.to_ascii_uppercase(), net), Some(a));
        }
    }

    proptest! {
        /// The hand-written RFC 5952 text agrees with std's.
        #[test]
        fn dashed_matches_std(b in any::<[u8; 16]>(), zeros in any::<u8>()) {
            let mut g = Ipv6Addr::from(b).segments();
            for (i, s) in g.iter_mut().enumerate() {
                if zeros & (1 << i) != 0 { *s = 0; }
            }
            let a = Ipv6Addr::from(g);
            let mut want = a.to_string().replace([':', '.'], "-");
            if want.starts_with('-') { want.insert(0, '0'); }
            if want.ends_with('-') { want.push('0'); }
            prop_assert_eq!(dashed(&a.to_string()), want);
        }

        /// IPv4 ranges are visited once each, in canonical order.
        #[test]
        fn v4_walk_canonical(a in any::<u32>(), n in 0u32..3000) {
            let b = a.saturating_add(n);
            let r = AddrRange::new(IpAddr::V4(Ipv4Addr::from(a)), IpAddr::V4(Ipv4Addr::from(b))).unwrap();
            let mut keys = Vec::new();
            r.for_each_canonical(|x, i| {
                let IpAddr::V4(v) = x else { return Err(()) };
                if u128::from(u32::from(v) - a) != i { return Err(()); }
                keys.push(canonical_key(x));
                Ok(())
            }).unwrap();
            prop_assert_eq!(keys.len() as u64, u64::from(b - a) + 1);
            prop_assert!(keys.windows(2).all(|w| w[0] < w[1]));
        }
    }
}
