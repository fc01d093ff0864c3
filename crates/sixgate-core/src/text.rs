//! Address text forms as people write them in configurations and logs.
//!
//! * RFC 5952 canonical IPv6 text (what [`std::net::Ipv6Addr`]'s `Display` prints, checked
//!   against RFC 5952's own examples in the tests);
//! * `[v6]` and `[v6]:port` (RFC 3986 §3.2.2), `v4:port`;
//! * zone identifiers: `fe80::1%eth0`, and inside brackets also the URI form
//!   `[fe80::1%25eth0]` (RFC 6874 §2);
//! * prefixes `2001:db8::/32`, `192.0.2.0/24`.
//!
//! An IPv6 address followed by `:port` without brackets is ambiguous (`2001:db8::1:80` is
//! also a valid address) and is refused with a message that shows the bracketed form.
//!
//! ```
//! use sixgate_core::text::parse_host_port;
//! let hp = parse_host_port("[2001:db8::1]:53").unwrap();
//! assert_eq!(hp.port, Some(53));
//! assert_eq!(hp.to_string(), "[2001:db8::1]:53");
//! let err = parse_host_port("2001:db8::1:53").unwrap_err();
//! assert!(err.to_string().contains("[2001:db8::1]:53"));
//! ```

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

/// Why a piece of address text was refused. The message names the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TextError {
    /// Not an IPv4 or IPv6 address.
    #[error("{:?} is not an IPv4 or IPv6 address", shown(.0))]
    NotAnAddress(String),
    /// An IPv6 address with a port but no brackets.
    #[error(
        "{:?} is ambiguous: an IPv6 address with a port must be bracketed, as in {suggestion} (RFC 3986 §3.2.2)",
        shown(.input)
    )]
    AmbiguousPort {
        /// The input.
        input: String,
        /// The bracketed form.
        suggestion: String,
    },
    /// A port that is not a number from 0 to 65535.
    #[error("{:?} has a bad port (expected a number from 0 to 65535)", shown(.0))]
    BadPort(String),
    /// A zone identifier that is empty, on an IPv4 address, or holds forbidden characters.
    #[error("{:?} has a bad zone identifier (RFC 6874)", shown(.0))]
    BadZone(String),
    /// Unbalanced or misplaced brackets.
    #[error("{:?} has unbalanced brackets", shown(.0))]
    Brackets(String),
    /// Not a prefix, or host bits set where the caller forbids them.
    #[error("{:?} is not a valid IP prefix (expected ADDRESS/LENGTH)", shown(.0))]
    BadPrefix(String),
}

/// A refused value as messages show it ([`excerpt`]).
fn shown(v: &str) -> String {
    excerpt(v.as_bytes(), EXCERPT_CHARS)
}

/// An address with an optional zone identifier and an optional port.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HostPort {
    /// The address.
    pub addr: IpAddr,
    /// The IPv6 zone identifier, without the `%`.
    pub zone: Option<String>,
    /// The port.
    pub port: Option<u16>,
}

impl fmt::Display for HostPort {
    /// Prints the canonical form: RFC 5952 text, `%zone`, and brackets when a port follows.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let zone = self.zone.as_deref().map(|z| format!("%{z}")).unwrap_or_default();
        match (self.addr, self.port) {
            (IpAddr::V6(a), Some(p)) => write!(f, "[{a}{zone}]:{p}"),
            (IpAddr::V4(a), Some(p)) => write!(f, "{a}:{p}"),
            (a, None) => write!(f, "{a}{zone}"),
        }
    }
}

fn valid_zone(z: &str) -> bool {
    !z.is_empty() && z.len() <= 64 && z.bytes().all(|b| b.is_ascii_graphic() && !b"[]/%".contains(&b))
}

/// Splits `addr%zone` and parses the address. `uri` accepts the `%25` escape of RFC 6874.
fn parse_addr_zone(s: &str, whole: &str, uri: bool) -> Result<(IpAddr, Option<String>), TextError> {
    if let Some((a, z)) = s.split_once('%') {
        let z = if uri { z.strip_prefix("25").unwrap_or(z) } else { z };
        let a: Ipv6Addr = a.parse().map_err(|_| {
            if a.parse::<Ipv4Addr>().is_ok() {
                TextError::BadZone(whole.to_owned())
            } else {
                TextError::NotAnAddress(whole.to_owned())
            }
        })?;
        if !valid_zone(z) {
            return Err(TextError::BadZone(whole.to_owned()));
        }
        return Ok((IpAddr::V6(a), Some(z.to_owned())));
    }
    s.parse::<IpAddr>().map(|a| (a, None)).map_err(|_| TextError::NotAnAddress(whole.to_owned()))
}

/// Parses a bare address, a bracketed IPv6 address, or either with a zone identifier.
///
/// ```
/// use sixgate_core::text::parse_addr;
/// assert_eq!(parse_addr("[2001:DB8::1]").unwrap().addr.to_string(), "2001:db8::1");
/// assert_eq!(parse_addr("fe80::1%eth0").unwrap().zone.as_deref(), Some("eth0"));
/// ```
pub fn parse_addr(s: &str) -> Result<HostPort, TextError> {
    let t = s.trim();
    if let Some(inner) = t.strip_prefix('[') {
        let inner = inner.strip_suffix(']').ok_or_else(|| TextError::Brackets(s.to_owned()))?;
        let (addr, zone) = parse_addr_zone(inner, s, true)?;
        if addr.is_ipv4() {
            return Err(TextError::Brackets(s.to_owned()));
        }
        return Ok(HostPort { addr, zone, port: None });
    }
    if t.contains(']') {
        return Err(TextError::Brackets(s.to_owned()));
    }
    let (addr, zone) = parse_addr_zone(t, s, false)?;
    Ok(HostPort { addr, zone, port: None })
}

fn parse_port(p: &str, whole: &str) -> Result<u16, TextError> {
    if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
        return Err(TextError::BadPort(whole.to_owned()));
    }
    p.parse().map_err(|_| TextError::BadPort(whole.to_owned()))
}

/// Parses an address with an optional port: `192.0.2.1`, `192.0.2.1:53`, `2001:db8::1`,
/// `[2001:db8::1]`, `[2001:db8::1]:53`, `[fe80::1%25eth0]:53`, `fe80::1%eth0`.
///
/// An unbracketed IPv6 address whose last group could be a port (`2001:db8::1:53`) is
/// refused as ambiguous, with the bracketed form in the message.
pub fn parse_host_port(s: &str) -> Result<HostPort, TextError> {
    let t = s.trim();
    if let Some(rest) = t.strip_prefix('[') {
        let (inner, after) = rest.split_once(']').ok_or_else(|| TextError::Brackets(s.to_owned()))?;
        let (addr, zone) = parse_addr_zone(inner, s, true)?;
        if addr.is_ipv4() {
            return Err(TextError::Brackets(s.to_owned()));
        }
        let port = match after {
            "" => None,
            _ => Some(parse_port(after.strip_prefix(':').ok_or_else(|| TextError::Brackets(s.to_owned()))?, s)?),
        };
        return Ok(HostPort { addr, zone, port });
    }
    if t.contains(']') {
        return Err(TextError::Brackets(s.to_owned()));
    }
    let colons = t.bytes().filter(|&b| b == b':').count();
    if colons == 1 {
        // IPv4 with a port.
        let (a, p) = t.split_once(':').unwrap_or((t, ""));
        let a: Ipv4Addr = a.parse().map_err(|_| TextError::NotAnAddress(s.to_owned()))?;
        return Ok(HostPort { addr: IpAddr::V4(a), zone: None, port: Some(parse_port(p, s)?) });
    }
    if colons >= 2 {
        // Could the last `:N` be a port?
        if let Some((head, tail)) = t.rsplit_once(':') {
            let tail_is_port = !tail.is_empty() && tail.len() <= 5 && tail.bytes().all(|b| b.is_ascii_digit());
            if tail_is_port {
                if let Ok((a, z)) = parse_addr_zone(head, s, false) {
                    if a.is_ipv6() && !head.ends_with(':') {
                        let hp = HostPort { addr: a, zone: z, port: tail.parse().ok() };
                        return Err(TextError::AmbiguousPort { input: s.to_owned(), suggestion: hp.to_string() });
                    }
                }
            }
        }
    }
    parse_addr(t)
}

/// Parses a prefix `ADDRESS/LENGTH` of either family. Host bits are allowed (the address
/// part is kept); use [`IpNet::trunc`] to drop them, or [`parse_prefix_strict`].
pub fn parse_prefix(s: &str) -> Result<IpNet, TextError> {
    let t = s.trim();
    // Accept the bracketed form "[2001:db8::]/32" too.
    let joined;
    let t = match t.strip_prefix('[') {
        Some(r) => {
            let (a, l) = r.split_once(']').ok_or_else(|| TextError::Brackets(s.to_owned()))?;
            joined = format!("{a}{l}");
            joined.as_str()
        }
        None => t,
    };
    t.parse::<IpNet>().map_err(|_| TextError::BadPrefix(s.to_owned()))
}

/// Like [`parse_prefix`] but refuses a prefix with bits set after its length.
pub fn parse_prefix_strict(s: &str) -> Result<IpNet, TextError> {
    let n = parse_prefix(s)?;
    if n.trunc() != n {
        return Err(TextError::BadPrefix(s.to_owned()));
    }
    Ok(n)
}

/// RFC 5952 canonical text of an IPv6 address (§4: lowercase, leading zeros dropped, the
/// longest run of two or more zero groups compressed, the first on a tie; §5: IPv4-mapped
/// addresses in dotted-quad form).
pub fn canonical_v6(a: Ipv6Addr) -> String {
    let mut out = Vec::with_capacity(39);
    push_v6(&mut out, a);
    out.into_iter().map(char::from).collect()
}

/// Appends the RFC 5952 canonical text of `a` ([`canonical_v6`]) to `out`, without
/// allocating beyond `out`'s growth: for writers of many addresses (event logs). The text
/// is that of [`std::net::Ipv6Addr`]'s `Display`.
pub fn push_v6(out: &mut Vec<u8>, a: Ipv6Addr) {
    // RFC 5952 §5: IPv4-mapped addresses end in dotted-quad form.
    if let Some(v4) = a.to_ipv4_mapped() {
        out.extend_from_slice(b"::ffff:");
        push_v4(out, v4);
        return;
    }
    // §4.2.1–§4.2.3: the longest run of zero groups, the first on a tie, and only a run of
    // two or more, becomes `::`.
    let g = a.segments();
    let (mut best, mut best_len, mut cur, mut cur_len) = (0, 0, 0, 0);
    for (i, &x) in g.iter().enumerate() {
        if x == 0 {
            if cur_len == 0 {
                cur = i;
            }
            cur_len += 1;
            if cur_len > best_len {
                (best, best_len) = (cur, cur_len);
            }
        } else {
            cur_len = 0;
        }
    }
    if best_len > 1 {
        push_groups(out, &g[..best]);
        out.extend_from_slice(b"::");
        push_groups(out, &g[best + best_len..]);
    } else {
        push_groups(out, &g);
    }
}

/// Groups separated by `:`, each in lowercase hex without leading zeros (RFC 5952 §4.1,
/// §4.3).
fn push_groups(out: &mut Vec<u8>, groups: &[u16]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for (i, &x) in groups.iter().enumerate() {
        if i > 0 {
            out.push(b':');
        }
        let digits = (16 - x.leading_zeros()).div_ceil(4).max(1);
        for k in (0..digits).rev() {
            out.push(HEX[usize::from((x >> (4 * k)) as u8 & 0xf)]);
        }
    }
}

/// Appends the dotted-decimal text of `a` (what [`std::net::Ipv4Addr`]'s `Display` prints).
pub fn push_v4(out: &mut Vec<u8>, a: Ipv4Addr) {
    for (i, o) in a.octets().into_iter().enumerate() {
        if i > 0 {
            out.push(b'.');
        }
        push_decimal(out, u64::from(o));
    }
}

/// Appends `n` in decimal without leading zeros (what `Display` prints for an integer).
pub fn push_decimal(out: &mut Vec<u8>, n: u64) {
    let mut digits = [0u8; 20];
    let (mut n, mut at) = (n, digits.len());
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

/// The proleptic Gregorian date `(year, month 1–12, day 1–31)` of `days` since 1970-01-01,
/// the calendar of UTC timestamps (RFC 3339 §5.6) and of date serials (RFC 1912 §2.2); by
/// H. Hinnant's `civil_from_days`, exact for every `i64` day a timestamp can name.
///
/// ```
/// use sixgate_core::text::civil_from_days;
/// assert_eq!(civil_from_days(0), (1970, 1, 1));
/// assert_eq!(civil_from_days(19_675), (2023, 11, 14));
/// assert_eq!(civil_from_days(-1), (1969, 12, 31));
/// ```
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

/// An address as people paste it: bare, with a zone, with a port, as a prefix, or inside a
/// URL. What [`parse_literal`] returns.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Literal {
    /// The address (for a prefix, the address part as written, host bits kept).
    pub addr: IpAddr,
    /// The IPv6 zone identifier, without the `%` (or `%25`).
    pub zone: Option<String>,
    /// The port, from `[v6]:port`, `v4:port` or a URL.
    pub port: Option<u16>,
    /// The prefix length, from `ADDRESS/LENGTH`.
    pub prefix_len: Option<u8>,
    /// The URL scheme, for a URL (`http`, `https`, …), lowercased.
    pub scheme: Option<String>,
}

impl Literal {
    /// The prefix, for `ADDRESS/LENGTH` input (host bits kept: see [`IpNet::trunc`]).
    pub fn prefix(&self) -> Option<IpNet> {
        self.prefix_len.and_then(|l| IpNet::new(self.addr, l).ok())
    }
}

/// Parses every form [`parse_host_port`] and [`parse_prefix`] accept, and URLs:
///
/// * `2001:db8::1`, `fe80::1%eth0`, `[2001:db8::1]`, `192.0.2.1`;
/// * `[2001:db8::1]:443`, `192.0.2.1:53` (RFC 3986 §3.2.2);
/// * `2001:db8::/64`, `[2001:db8::]/64`, `192.0.2.0/24`;
/// * `http://[2001:db8::1]:8080/path`, `https://user@192.0.2.1/`, `http://[fe80::1%25eth0]/`
///   (RFC 3986 §3.2; in a URL an IPv6 address must be bracketed and a zone is written `%25`,
///   RFC 6874 §2). A URL whose host is a name is refused: only literals are.
///
/// ```
/// use sixgate_core::text::parse_literal;
/// let l = parse_literal("http://[2001:db8::1]:8080/path").unwrap();
/// assert_eq!((l.addr.to_string(), l.port, l.scheme.as_deref()), ("2001:db8::1".into(), Some(8080), Some("http")));
/// assert_eq!(parse_literal("2001:db8::/64").unwrap().prefix_len, Some(64));
/// assert_eq!(parse_literal("[2001:db8::1]:443").unwrap().port, Some(443));
/// ```
pub fn parse_literal(s: &str) -> Result<Literal, TextError> {
    let t = s.trim();
    if let Some((scheme, rest)) = t.split_once("://") {
        let scheme_ok = scheme.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
            && scheme.bytes().all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b));
        if !scheme_ok {
            return Err(TextError::NotAnAddress(s.to_owned()));
        }
        // RFC 3986 §3.2: the authority ends at the first '/', '?' or '#'.
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        let bracketed = host_port.starts_with('[');
        let hp = parse_host_port(host_port).map_err(|e| match e {
            TextError::AmbiguousPort { .. } => TextError::Brackets(s.to_owned()),
            TextError::NotAnAddress(_) => TextError::NotAnAddress(s.to_owned()),
            e => e,
        })?;
        if hp.addr.is_ipv6() && !bracketed {
            // RFC 3986 §3.2.2: an IPv6 literal in a URI is always bracketed.
            return Err(TextError::Brackets(s.to_owned()));
        }
        return Ok(Literal {
            addr: hp.addr,
            zone: hp.zone,
            port: hp.port,
            prefix_len: None,
            scheme: Some(scheme.to_ascii_lowercase()),
        });
    }
    if t.contains('/') {
        let n = parse_prefix(t)?;
        return Ok(Literal { addr: n.addr(), zone: None, port: None, prefix_len: Some(n.prefix_len()), scheme: None });
    }
    let hp = parse_host_port(t)?;
    Ok(Literal { addr: hp.addr, zone: hp.zone, port: hp.port, prefix_len: None, scheme: None })
}

/// The address with its zone, bracketed if it is IPv6: `[2001:db8::1]`, `[fe80::1%eth0]`,
/// `192.0.2.1` (the form before `:port`, RFC 3986 §3.2.2, and what Postfix's `mynetworks`
/// wants).
pub fn bracketed(addr: IpAddr, zone: Option<&str>) -> String {
    match addr {
        IpAddr::V6(a) => match zone {
            Some(z) => format!("[{a}%{z}]"),
            None => format!("[{a}]"),
        },
        IpAddr::V4(a) => a.to_string(),
    }
}

/// The host part of a URI: `[2001:db8::1]`, `192.0.2.1`, and a zone as `%25` followed by
/// the zone with every character outside RFC 3986's "unreserved" set percent-encoded
/// (RFC 6874 §2: `[fe80::1%25eth0]`).
pub fn uri_host(addr: IpAddr, zone: Option<&str>) -> String {
    match (addr, zone) {
        (IpAddr::V6(a), Some(z)) => {
            let mut enc = String::with_capacity(z.len());
            for b in z.bytes() {
                if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                    enc.push(char::from(b));
                } else {
                    enc.push_str(&format!("%{b:02X}"));
                }
            }
            format!("[{a}%25{enc}]")
        }
        (a, _) => bracketed(a, None),
    }
}

/// The fully expanded text of an IPv6 address: eight groups of four lowercase hex digits
/// (`2001:0db8:0000:0000:0000:0000:0000:0001`), the form some tools and `ip6.arpa.` readers
/// want; RFC 5952 text ([`canonical_v6`]) is for everything else.
pub fn expanded_v6(a: Ipv6Addr) -> String {
    let g = a.segments();
    format!("{:04x}:{:04x}:{:04x}:{:04x}:{:04x}:{:04x}:{:04x}:{:04x}", g[0], g[1], g[2], g[3], g[4], g[5], g[6], g[7])
}

/// How many characters of a refused value a message shows (see [`excerpt`]).
pub const EXCERPT_CHARS: usize = 60;

/// A value as a message shows it: at most `max` characters of it, cut at a character
/// boundary and ended with `…` when longer, bytes that are not UTF-8 as U+FFFD. The caller
/// prints it with `{:?}`, which escapes control characters, so a message stays one line of
/// printable text whatever the input (a long line of binary data, a terminal escape).
///
/// Only the value is cut, never the message around it.
///
/// ```
/// use sixgate_core::text::excerpt;
/// assert_eq!(excerpt(b"8.8.8.8", 60), "8.8.8.8");
/// assert_eq!(excerpt(b"abcdef", 3), "abc…");
/// assert_eq!(format!("{:?}", excerpt(b"\x1b[2J\xff", 60)), "\"\\u{1b}[2J\u{fffd}\"");
/// ```
pub fn excerpt(value: &[u8], max: usize) -> String {
    let text = String::from_utf8_lossy(value);
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rfc5952_examples() {
        let cases = [
            ("2001:db8:0:0:0:0:2:1", "2001:db8::2:1"),
            ("2001:0db8::0001", "2001:db8::1"),
            ("2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"),
            ("2001:0:0:1:0:0:0:1", "2001:0:0:1::1"),
            ("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"),
            ("2001:DB8::AAAA", "2001:db8::aaaa"),
            ("0:0:0:0:0:ffff:c000:0201", "::ffff:192.0.2.1"),
            ("2001:db8:aaaa:bbbb:cccc:dddd:eeee:0001", "2001:db8:aaaa:bbbb:cccc:dddd:eeee:1"),
        ];
        for (i, o) in cases {
            assert_eq!(canonical_v6(i.parse().unwrap()), o, "{i}");
        }
    }

    #[test]
    fn host_port_forms() {
        let hp = parse_host_port("192.0.2.1:53").unwrap();
        assert_eq!((hp.addr.to_string(), hp.port), ("192.0.2.1".into(), Some(53)));
        assert_eq!(parse_host_port("192.0.2.1").unwrap().port, None);
        assert_eq!(parse_host_port("[2001:db8::1]").unwrap().port, None);
        let hp = parse_host_port("[fe80::1%25eth0]:8080").unwrap();
        assert_eq!(hp.zone.as_deref(), Some("eth0"));
        assert_eq!(hp.to_string(), "[fe80::1%eth0]:8080");
        assert_eq!(parse_host_port("fe80::1%eth0").unwrap().zone.as_deref(), Some("eth0"));
        // A bare IPv6 with no digit-only last group is not ambiguous.
        assert_eq!(parse_host_port("2001:db8::abcd").unwrap().port, None);
        assert_eq!(parse_host_port("2001:db8::").unwrap().port, None);
    }

    #[test]
    fn ambiguous_refused_with_suggestion() {
        let e = parse_host_port("2001:db8::1:80").unwrap_err();
        assert_eq!(
            e,
            TextError::AmbiguousPort { input: "2001:db8::1:80".into(), suggestion: "[2001:db8::1]:80".into() }
        );
        // Nine groups: only valid as address + port.
        let e = parse_host_port("2001:db8:1:2:3:4:5:6:443").unwrap_err();
        assert!(e.to_string().contains("[2001:db8:1:2:3:4:5:6]:443"), "{e}");
    }

    #[test]
    fn bad_inputs() {
        assert!(matches!(parse_host_port("[2001:db8::1"), Err(TextError::Brackets(_))));
        assert!(matches!(parse_host_port("[192.0.2.1]:53"), Err(TextError::Brackets(_))));
        assert!(matches!(parse_host_port("192.0.2.1:99999"), Err(TextError::BadPort(_))));
        assert!(matches!(parse_host_port("[::1]:x"), Err(TextError::BadPort(_))));
        assert!(matches!(parse_host_port("fe80::1%"), Err(TextError::BadZone(_))));
        assert!(matches!(parse_host_port("192.0.2.1%eth0"), Err(TextError::BadZone(_))));
        assert!(matches!(parse_host_port("example.net"), Err(TextError::NotAnAddress(_))));
        assert!(matches!(parse_prefix("2001:db8::/129"), Err(TextError::BadPrefix(_))));
        assert!(matches!(parse_prefix_strict("2001:db8::1/32"), Err(TextError::BadPrefix(_))));
        assert_eq!(parse_prefix("[2001:db8::]/32").unwrap().to_string(), "2001:db8::/32");
        // A long value is cut in the message (never the message), control characters escaped.
        let long = format!("{}\u{1b}", "x".repeat(5000));
        let m = parse_literal(&long).unwrap_err().to_string();
        assert!(m.len() < 200 && m.ends_with("…\" is not an IPv4 or IPv6 address"), "{m}");
    }

    #[test]
    fn literal_forms() {
        let l = |s: &str| parse_literal(s).unwrap_or_else(|e| panic!("{s}: {e}"));
        assert_eq!(l("[2001:db8::1]:443").port, Some(443));
        assert_eq!(l("2001:db8::/64").prefix().unwrap().to_string(), "2001:db8::/64");
        assert_eq!(l("[2001:db8::]/48").prefix_len, Some(48));
        assert_eq!(l("192.0.2.0/24").prefix_len, Some(24));
        assert_eq!(l("fe80::1%eth0").zone.as_deref(), Some("eth0"));
        let u = l("http://[2001:db8::1]:8080/path?q#f");
        assert_eq!((u.addr.to_string(), u.port, u.scheme.as_deref()), ("2001:db8::1".into(), Some(8080), Some("http")));
        let u = l("HTTPS://user:pw@192.0.2.1/");
        assert_eq!((u.addr.to_string(), u.port, u.scheme.as_deref()), ("192.0.2.1".into(), None, Some("https")));
        assert_eq!(l("http://[fe80::1%25eth0]/").zone.as_deref(), Some("eth0"));
        // RFC 3986 §3.2.2: no unbracketed IPv6 in a URL; names are not literals.
        assert!(matches!(parse_literal("http://2001:db8::1/"), Err(TextError::Brackets(_))));
        assert!(matches!(parse_literal("http://example.net/"), Err(TextError::NotAnAddress(_))));
        assert!(matches!(parse_literal("1ttp://[::1]/"), Err(TextError::NotAnAddress(_))));
        assert!(matches!(parse_literal("2001:db8::1:80"), Err(TextError::AmbiguousPort { .. })));
    }

    #[test]
    fn output_forms() {
        let a: IpAddr = "2001:db8::1".parse().unwrap();
        assert_eq!(bracketed(a, None), "[2001:db8::1]");
        assert_eq!(bracketed("192.0.2.1".parse().unwrap(), None), "192.0.2.1");
        // RFC 6874 §2: "%25" and percent-encoded zone characters outside "unreserved".
        let ll: IpAddr = "fe80::1".parse().unwrap();
        assert_eq!(uri_host(ll, Some("eth0")), "[fe80::1%25eth0]");
        assert_eq!(uri_host(ll, Some("en1:2")), "[fe80::1%25en1%3A2]");
        assert_eq!(expanded_v6("2001:db8::1".parse().unwrap()), "2001:0db8:0000:0000:0000:0000:0000:0001");
    }

    #[test]
    fn writers_agree_with_display_at_the_edges() {
        for a in [
            "::",
            "::1",
            "1::",
            "1:0:0:1::",
            "0:1::1:0",
            "::ffff:0.0.0.0",
            "::ffff:0:0:0",
            "::fffe:1.2.3.4",
            "1:2:3:4:5:6:7:8",
        ] {
            let a: Ipv6Addr = a.parse().unwrap();
            let mut out = Vec::new();
            push_v6(&mut out, a);
            assert_eq!(String::from_utf8(out).unwrap(), a.to_string());
        }
        let mut out = Vec::new();
        push_decimal(&mut out, 0);
        push_decimal(&mut out, u64::MAX);
        assert_eq!(out, format!("0{}", u64::MAX).as_bytes());
    }

    /// The day after any day is the next day of the calendar: month lengths and the leap
    /// rule (every 4th year, not every 100th, every 400th) hold across four 400-year eras.
    #[test]
    fn civil_days_follow_the_calendar() {
        let leap = |y: i64| (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
        let len = |y: i64, m: u32| match m {
            2 if leap(y) => 29,
            2 => 28,
            4 | 6 | 9 | 11 => 30,
            _ => 31,
        };
        let mut at = civil_from_days(-719_468 - 146_097); // 0000-03-01 minus one era
        assert_eq!(at, (-400, 3, 1));
        for days in (-719_468 - 146_097 + 1)..(-719_468 + 3 * 146_097) {
            let (y, m, d) = at;
            let next = if d < len(y, m) {
                (y, m, d + 1)
            } else if m < 12 {
                (y, m + 1, 1)
            } else {
                (y + 1, 1, 1)
            };
            at = civil_from_days(days);
            assert_eq!(at, next, "day {days}");
        }
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(-25_508), (1900, 3, 1)); // 1900 is no leap year
    }

    proptest! {
        /// Printing then parsing any address, zone and port gives back the same value.
        #[test]
        fn display_parse_roundtrip(a in any::<[u8;16]>(), v4 in any::<bool>(), port in proptest::option::of(any::<u16>()),
                                   zone in proptest::option::of("[a-z][a-z0-9]{0,8}")) {
            let addr = if v4 { IpAddr::V4(Ipv4Addr::new(a[0],a[1],a[2],a[3])) } else { IpAddr::V6(Ipv6Addr::from(a)) };
            let zone = if v4 { None } else { zone };
            let hp = HostPort { addr, zone, port };
            let text = hp.to_string();
            if hp.port.is_none() {
                prop_assert_eq!(parse_addr(&text).map_err(|e| e.to_string()), Ok(hp.clone()));
                // Without a port, an IPv6 address is unambiguous in host:port context only
                // when bracketed.
                let text = if v4 { text } else { format!("[{text}]") };
                prop_assert_eq!(parse_host_port(&text).map_err(|e| e.to_string()), Ok(hp));
            } else {
                prop_assert_eq!(parse_host_port(&text).map_err(|e| e.to_string()), Ok(hp));
            }
        }

        /// The allocation-free writers print exactly what `Display` prints, for any address
        /// (zero runs of every length and place, IPv4-mapped ones) and any integer.
        #[test]
        fn writers_print_what_display_prints(g in proptest::array::uniform8(prop_oneof![Just(0u16), Just(0xffff), any::<u16>()]),
                                             v4 in any::<[u8; 4]>(), n in any::<u64>()) {
            for a in [Ipv6Addr::from(g), Ipv4Addr::from(v4).to_ipv6_mapped()] {
                let mut out = Vec::new();
                push_v6(&mut out, a);
                prop_assert_eq!(String::from_utf8(out).unwrap(), a.to_string());
                prop_assert_eq!(canonical_v6(a), a.to_string());
            }
            let mut out = Vec::new();
            push_v4(&mut out, Ipv4Addr::from(v4));
            out.push(b' ');
            push_decimal(&mut out, n);
            prop_assert_eq!(String::from_utf8(out).unwrap(), format!("{} {n}", Ipv4Addr::from(v4)));
        }

        #[test]
        fn never_panics(s in "\\PC{0,60}") {
            let _ = parse_host_port(&s);
            let _ = parse_addr(&s);
            let _ = parse_prefix(&s);
            let _ = parse_literal(&s);
        }

        /// Every URL host form printed by [`uri_host`] parses back to the same address and zone.
        #[test]
        fn uri_host_roundtrip(a in any::<[u8;16]>(), zone in proptest::option::of("[a-z][a-z0-9]{0,8}"), port in any::<u16>()) {
            let addr = IpAddr::V6(Ipv6Addr::from(a));
            let url = format!("http://{}:{port}/", uri_host(addr, zone.as_deref()));
            let l = parse_literal(&url).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!((l.addr, l.zone, l.port), (addr, zone, Some(port)));
        }
    }
}
