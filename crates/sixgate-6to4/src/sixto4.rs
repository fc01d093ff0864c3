//! 6to4 (RFC 3056): the /48 of a global IPv4 address, its first host, its reverse zone.
//!
//! 6to4 is deprecated for new deployments (RFC 7526): the anycast relays are gone and
//! the return path is not under the site's control. It still matters for reading old
//! addresses and for running a tunnel between consenting sites.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::Ipv6Net;
#[cfg(feature = "serde")]
use serde::Serialize;
use sixgate_core::class::{classify_v4, is_global_v4, Classification};
use sixgate_core::rfc6052::sixtofour_prefix;
use sixgate_core::text::{excerpt, EXCERPT_CHARS};

use crate::error::Error;
#[cfg(feature = "serde")]
use crate::ser;

/// The one-line deprecation notice printed wherever 6to4 is recommended to someone.
pub const DEPRECATION_NOTE: &str =
    "6to4 is deprecated for new deployments (RFC 7526): prefer native IPv6, 6rd (RFC 5969) or a 6in4 tunnel broker";

/// Whether a non-global IPv4 address may be used anyway (for a lab).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Scope {
    /// Only globally reachable IPv4 addresses (RFC 3056 §2: "a globally unique IPv4 address").
    #[default]
    GlobalOnly,
    /// Any IPv4 address, for lab use.
    AllowNonGlobal,
}

/// The 6to4 facts about one IPv4 address.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize))]
pub struct SixToFour {
    /// The IPv4 address.
    pub ipv4: Ipv4Addr,
    /// Its classification in the IANA special-purpose registry.
    #[cfg_attr(feature = "serde", serde(serialize_with = "ser::class"))]
    pub class: Classification,
    /// The site's /48: `2002:V4ADDR::/48`.
    #[cfg_attr(feature = "serde", serde(serialize_with = "ser::display"))]
    pub prefix: Ipv6Net,
    /// The first host address of the /48, `2002:V4ADDR::1`, the conventional router address.
    pub first_host: Ipv6Addr,
    /// How many /64 subnets the /48 holds (2^16).
    pub subnets_64: u32,
    /// The reverse zone origin of the /48 (12 nibbles under `ip6.arpa.`).
    pub reverse_zone: String,
    /// The deprecation notice ([`DEPRECATION_NOTE`]).
    pub note: &'static str,
}

/// The 6to4 /48 of `v4`, its first host, /64 count and reverse zone origin.
///
/// A non-global address (RFC 1918, shared, documentation, …) is refused unless `scope` is
/// [`Scope::AllowNonGlobal`]: RFC 3056 §2 builds the prefix from a globally unique address.
///
/// ```
/// use sixgate_6to4::{six_to_four, Scope};
/// let s = six_to_four("74.207.254.16".parse().unwrap(), Scope::GlobalOnly).unwrap();
/// assert_eq!(s.prefix.to_string(), "2002:4acf:fe10::/48");
/// assert_eq!(s.first_host.to_string(), "2002:4acf:fe10::1");
/// assert_eq!(s.subnets_64, 65536);
/// assert_eq!(s.reverse_zone, "0.1.e.f.f.c.a.4.2.0.0.2.ip6.arpa.");
/// assert!(six_to_four("10.1.2.3".parse().unwrap(), Scope::GlobalOnly).is_err());
/// ```
pub fn six_to_four(v4: Ipv4Addr, scope: Scope) -> Result<SixToFour, Error> {
    let class = classify_v4(v4);
    if !class.global && scope == Scope::GlobalOnly {
        return Err(Error::not_global(v4));
    }
    let prefix = sixtofour_prefix(v4);
    Ok(SixToFour {
        ipv4: v4,
        class,
        prefix,
        first_host: Ipv6Addr::from(u128::from(prefix.addr()) | 1),
        subnets_64: 1 << (64 - 48),
        reverse_zone: reverse_zone_48(prefix.addr()),
        note: DEPRECATION_NOTE,
    })
}

impl fmt::Display for SixToFour {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "IPv4 address   {}, {}", self.ipv4, self.class)?;
        writeln!(f, "6to4 prefix    {}", self.prefix)?;
        writeln!(f, "first host     {}", self.first_host)?;
        writeln!(f, "/64 subnets    {}", self.subnets_64)?;
        writeln!(f, "reverse zone   {}", self.reverse_zone)?;
        write!(f, "note: {}", self.note)
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// The `ip6.arpa.` origin of the /48 that starts with `a`: its first 12 nibbles, reversed
/// (RFC 3596 §2.5).
///
/// ```
/// let a = "2002:4acf:fe10::".parse().unwrap();
/// assert_eq!(sixgate_6to4::reverse_zone_48(a), "0.1.e.f.f.c.a.4.2.0.0.2.ip6.arpa.");
/// ```
pub fn reverse_zone_48(a: Ipv6Addr) -> String {
    let o = a.octets();
    let mut s = String::with_capacity(12 * 2 + 9);
    for b in o[..6].iter().rev() {
        s.push(char::from(HEX[usize::from(b & 0xf)]));
        s.push('.');
        s.push(char::from(HEX[usize::from(b >> 4)]));
        s.push('.');
    }
    s.push_str("ip6.arpa.");
    s
}

/// Parses dotted-quad IPv4 text exactly as [`std::net::Ipv4Addr`]'s `FromStr` does (four
/// decimal octets, no leading zeros, nothing else), without allocating. The batch fast
/// path; the fuzz target `text_parse` checks it against std.
#[inline]
pub fn parse_ipv4(s: &[u8]) -> Option<Ipv4Addr> {
    if s.len() < 7 || s.len() > 15 {
        return None;
    }
    let mut out = [0u8; 4];
    let mut i = 0;
    for (k, slot) in out.iter_mut().enumerate() {
        if k > 0 {
            if s.get(i) != Some(&b'.') {
                return None;
            }
            i += 1;
        }
        let start = i;
        let mut v: u32 = 0;
        while let Some(&c) = s.get(i) {
            if !c.is_ascii_digit() || i - start == 3 {
                break;
            }
            v = v * 10 + u32::from(c - b'0');
            i += 1;
        }
        let n = i - start;
        // No digits, a leading zero (std refuses "01"), or above 255.
        if n == 0 || (n > 1 && s[start] == b'0') || v > 255 {
            return None;
        }
        *slot = v as u8;
    }
    (i == s.len()).then_some(Ipv4Addr::from(out))
}

/// Writes one 16-bit group in RFC 5952 form (no leading zeros) at `b[i..]`; returns the
/// new index.
#[inline(always)]
fn put_group(b: &mut [u8; 24], mut i: usize, g: u16) -> usize {
    let n = if g >= 0x1000 {
        4
    } else if g >= 0x100 {
        3
    } else if g >= 0x10 {
        2
    } else {
        1
    };
    for k in (0..n).rev() {
        b[i] = HEX[usize::from((g >> (4 * k)) & 0xf)];
        i += 1;
    }
    i
}

/// Writes `2002:…::/48` for `v4` into `b` and returns its length (at most 19).
#[inline(always)]
fn write_prefix48(b: &mut [u8; 24], v4: Ipv4Addr) -> usize {
    let o = v4.octets();
    let hi = u16::from_be_bytes([o[0], o[1]]);
    let lo = u16::from_be_bytes([o[2], o[3]]);
    b[..4].copy_from_slice(b"2002");
    let mut i = 4;
    // RFC 5952 §4.2: the longest run of zero groups is compressed; groups 3 to 8 are zero,
    // and so are groups 2 and 3 when the IPv4 halves are.
    if hi != 0 || lo != 0 {
        b[i] = b':';
        i = put_group(b, i + 1, hi);
        if lo != 0 {
            b[i] = b':';
            i = put_group(b, i + 1, lo);
        }
    }
    b[i..i + 5].copy_from_slice(b"::/48");
    i + 5
}

/// Appends the 6to4 prefix of `v4` as RFC 5952 text with `/48`, e.g.
/// `2002:4acf:fe10::/48`, to `out`, byte for byte what `sixtofour_prefix(v4).to_string()`
/// gives, without allocating (when `out` has room). Returns the number of bytes added.
///
/// ```
/// let mut out = Vec::new();
/// sixgate_6to4::push_prefix48(&mut out, "10.0.0.1".parse().unwrap());
/// assert_eq!(out, b"2002:a00:1::/48");
/// ```
#[inline]
pub fn push_prefix48(out: &mut Vec<u8>, v4: Ipv4Addr) -> usize {
    let mut b = [0u8; 24];
    let n = write_prefix48(&mut b, v4);
    out.extend_from_slice(&b[..n]);
    n
}

/// The batch fast path: `rest` starts with a plain dotted quad (no leading zeros) and a
/// `\n`. Returns the address and the bytes used, or `None` to leave the line to the
/// general path (which also produces every error).
#[inline(always)]
fn fast_line(rest: &[u8]) -> Option<(Ipv4Addr, usize)> {
    let mut i = 0;
    let mut q = [0u8; 4];
    for (k, slot) in q.iter_mut().enumerate() {
        if k > 0 {
            if *rest.get(i)? != b'.' {
                return None;
            }
            i += 1;
        }
        let d0 = rest.get(i)?.wrapping_sub(b'0');
        if d0 > 9 {
            return None;
        }
        i += 1;
        let mut v = u32::from(d0);
        if d0 != 0 {
            for _ in 0..2 {
                match rest.get(i).map(|c| c.wrapping_sub(b'0')) {
                    Some(d) if d <= 9 => {
                        v = v * 10 + u32::from(d);
                        i += 1;
                    }
                    _ => break,
                }
            }
        }
        if v > 255 {
            return None;
        }
        *slot = v as u8;
    }
    (*rest.get(i)? == b'\n').then_some((Ipv4Addr::from(q), i + 1))
}

/// What a batch run did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BatchStats {
    /// Prefixes written.
    pub converted: u64,
    /// Blank lines (and, for [`batch_report`], comment lines) skipped.
    pub blank: u64,
    /// Lines refused (only [`batch_report`] goes on past one).
    pub failed: u64,
}

/// Where converted addresses go: the text writer of [`batch`] and [`batch_report`], or a
/// caller's function ([`batch_for_each`]).
trait Sink {
    fn addr(&mut self, line: u64, v4: Ipv4Addr) -> std::io::Result<()>;
    fn flush(&mut self) -> std::io::Result<()>;
}

/// The text sink: prefixes are written in place at `out[olen..]`, one bounds check per line
/// and no per-line copy or allocation; 24 bytes of slack hold the longest line (20 bytes).
struct TextSink<W> {
    output: W,
    out: Vec<u8>,
    olen: usize,
}

const CHUNK: usize = 256 * 1024;

impl<W: std::io::Write> Sink for TextSink<W> {
    #[inline(always)]
    fn addr(&mut self, _line: u64, v4: Ipv4Addr) -> std::io::Result<()> {
        if self.olen >= CHUNK {
            self.output.write_all(&self.out[..self.olen])?;
            self.olen = 0;
        }
        let Some(slot) = self.out.get_mut(self.olen..self.olen + 24).and_then(|s| <&mut [u8; 24]>::try_from(s).ok())
        else {
            unreachable!("out always has 24 bytes of room past olen < CHUNK")
        };
        let n = write_prefix48(slot, v4);
        slot[n] = b'\n';
        self.olen += n + 1;
        Ok(())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.output.write_all(&self.out[..self.olen])?;
        self.olen = 0;
        self.output.flush()
    }
}

impl<W> TextSink<W> {
    fn new(output: W) -> Self {
        Self { output, out: vec![0u8; CHUNK + 24], olen: 0 }
    }
}

struct FnSink<F>(F);

impl<F: FnMut(u64, Ipv4Addr) -> std::io::Result<()>> Sink for FnSink<F> {
    fn addr(&mut self, line: u64, v4: Ipv4Addr) -> std::io::Result<()> {
        (self.0)(line, v4)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Batch mode: reads one IPv4 address per line from `input` and writes its 6to4 prefix,
/// one per line, to `output`. Blank lines are skipped; surrounding whitespace (and a
/// `\r`) is ignored. The first bad or (with [`Scope::GlobalOnly`]) non-global address
/// stops the run with [`Error::Line`]; what came before it has been written.
///
/// ```
/// use sixgate_6to4::{batch, Scope};
/// let mut out = Vec::new();
/// batch(&b"74.207.254.16\n8.8.8.8\n"[..], &mut out, Scope::GlobalOnly).unwrap();
/// assert_eq!(out, b"2002:4acf:fe10::/48\n2002:808:808::/48\n");
/// ```
pub fn batch<R: std::io::Read, W: std::io::Write>(input: R, output: W, scope: Scope) -> Result<BatchStats, Error> {
    run_batch(input, &mut TextSink::new(output), scope, false, Err)
}

/// Batch mode for people's lists: like [`batch`], but a `#` starts a comment (whole-line or
/// after the address), and a bad line does not stop the run: it is handed to `on_error` as
/// [`Error::Line`] (its value cut to [`EXCERPT_CHARS`] characters, see
/// [`sixgate_core::text::excerpt`]) and counted in [`BatchStats::failed`]. `on_error`
/// returns `Err` to stop after all.
///
/// ```
/// use sixgate_6to4::{batch_report, Scope};
/// let mut out = Vec::new();
/// let mut bad = Vec::new();
/// let input = b"# resolvers\n8.8.8.8\n10.1.1.1\n\n1.1.1.1  # cloudflare\n";
/// let s = batch_report(&input[..], &mut out, Scope::GlobalOnly, |e| {
///     bad.push(e.to_string());
///     Ok(())
/// })
/// .unwrap();
/// assert_eq!(out, b"2002:808:808::/48\n2002:101:101::/48\n");
/// assert_eq!((s.converted, s.blank, s.failed), (2, 2, 1));
/// assert!(bad[0].starts_with("line 3: 10.1.1.1 is private-use"), "{}", bad[0]);
/// ```
pub fn batch_report<R: std::io::Read, W: std::io::Write>(
    input: R,
    output: W,
    scope: Scope,
    on_error: impl FnMut(Error) -> Result<(), Error>,
) -> Result<BatchStats, Error> {
    run_batch(input, &mut TextSink::new(output), scope, true, on_error)
}

/// [`batch_report`] handing each address (with its line number) to `on_addr` instead of
/// writing its prefix, for other output forms (JSON Lines). An error from `on_addr` stops
/// the run as [`Error::Io`].
pub fn batch_for_each<R: std::io::Read>(
    input: R,
    scope: Scope,
    on_addr: impl FnMut(u64, Ipv4Addr) -> std::io::Result<()>,
    on_error: impl FnMut(Error) -> Result<(), Error>,
) -> Result<BatchStats, Error> {
    run_batch(input, &mut FnSink(on_addr), scope, true, on_error)
}

/// The one batch loop. `comments`: `#` starts a comment. Each bad line goes to `on_error`
/// (which stops the run by returning `Err`).
#[inline(always)]
fn run_batch<R: std::io::Read, S: Sink>(
    mut input: R,
    sink: &mut S,
    scope: Scope,
    comments: bool,
    mut on_error: impl FnMut(Error) -> Result<(), Error>,
) -> Result<BatchStats, Error> {
    let mut stats = BatchStats::default();
    let mut buf = vec![0u8; CHUNK];
    let mut have = 0usize; // bytes of buf holding unread input
    let mut line_no = 0u64;
    let mut eof = false;
    // Inside an overlong line that has been reported: drop input up to its end.
    let mut skipping = false;
    let mut fail = |e: Error, stats: &mut BatchStats, sink: &mut S| -> Result<(), Error> {
        stats.failed += 1;
        on_error(e).inspect_err(|_| {
            let _ = sink.flush();
        })
    };
    while !eof || have > 0 {
        if !eof && have < buf.len() {
            let n = loop {
                match input.read(&mut buf[have..]) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e.into()),
                }
            };
            eof = n == 0;
            have += n;
        }
        // Process the complete lines in buf[..have]; at EOF the remainder is a line too.
        let mut pos = 0;
        if skipping {
            match buf[..have].iter().position(|&b| b == b'\n') {
                Some(k) => {
                    pos = k + 1;
                    skipping = false;
                }
                None => pos = have,
            }
        }
        loop {
            if skipping {
                break;
            }
            let rest = &buf[pos..have];
            // The fast path: a plain dotted quad and '\n'. Anything else (and every
            // refusal) goes through the general path below.
            if let Some((v4, used)) = fast_line(rest) {
                if scope == Scope::AllowNonGlobal || is_global_v4(v4) {
                    line_no += 1;
                    sink.addr(line_no, v4)?;
                    stats.converted += 1;
                    pos += used;
                    continue;
                }
            }
            let (line, next) = match rest.iter().position(|&b| b == b'\n') {
                Some(k) => (&rest[..k], pos + k + 1),
                None if eof && !rest.is_empty() => (rest, have),
                None => break,
            };
            line_no += 1;
            pos = next;
            match convert_line(line, line_no, scope, comments) {
                Ok(Some(v4)) => {
                    sink.addr(line_no, v4)?;
                    stats.converted += 1;
                }
                Ok(None) => stats.blank += 1,
                Err(e) => fail(e, &mut stats, sink)?,
            }
        }
        if pos == 0 && !eof && have == buf.len() {
            // A "line" longer than the whole buffer: no IPv4 address is that long.
            line_no += 1;
            let shown = excerpt(&buf[..have], EXCERPT_CHARS);
            fail(Error::Line { line: line_no, source: Box::new(Error::NotIpv4(shown)) }, &mut stats, sink)?;
            skipping = true;
            pos = have;
        }
        buf.copy_within(pos..have, 0);
        have -= pos;
        if eof {
            break;
        }
    }
    sink.flush()?;
    Ok(stats)
}

/// The general path of one line: `None` for a blank (or, with `comments`, comment-only)
/// line, the address, or the error (naming the value cut by [`excerpt`]).
fn convert_line(raw: &[u8], line: u64, scope: Scope, comments: bool) -> Result<Option<Ipv4Addr>, Error> {
    let raw = match raw.iter().position(|&b| b == b'#') {
        Some(k) if comments => &raw[..k],
        _ => raw,
    };
    let t = raw.trim_ascii();
    if t.is_empty() {
        return Ok(None);
    }
    let Some(v4) = parse_ipv4(t) else {
        return Err(Error::Line { line, source: Box::new(Error::NotIpv4(excerpt(t, EXCERPT_CHARS))) });
    };
    if scope == Scope::GlobalOnly && !is_global_v4(v4) {
        return Err(Error::Line { line, source: Box::new(Error::not_global(v4)) });
    }
    Ok(Some(v4))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn issue_example() {
        let s = six_to_four(Ipv4Addr::new(74, 207, 254, 16), Scope::GlobalOnly).unwrap();
        assert_eq!(s.prefix.to_string(), "2002:4acf:fe10::/48");
        assert_eq!(s.reverse_zone, "0.1.e.f.f.c.a.4.2.0.0.2.ip6.arpa.");
        let text = s.to_string();
        assert!(text.contains("2002:4acf:fe10::/48") && text.contains("RFC 7526"), "{text}");
    }

    #[test]
    fn non_global_refused_naming_class_and_rfc() {
        for (a, class, rfc) in [
            ("10.1.2.3", "private-use", "RFC 1918"),
            ("100.64.0.1", "shared address space", "RFC 6598"),
            ("192.0.2.1", "documentation", "RFC 5737"),
            ("192.88.99.1", "6to4 relay anycast", "RFC 7526"),
        ] {
            let e = six_to_four(a.parse().unwrap(), Scope::GlobalOnly).unwrap_err();
            let m = e.to_string();
            assert!(m.contains(a) && m.contains(class) && m.contains(rfc), "{m}");
            assert!(six_to_four(a.parse().unwrap(), Scope::AllowNonGlobal).is_ok());
        }
    }

    #[test]
    fn parse_ipv4_edge_cases() {
        for ok in ["0.0.0.0", "255.255.255.255", "1.2.3.4", "10.0.100.200"] {
            assert_eq!(parse_ipv4(ok.as_bytes()), ok.parse().ok(), "{ok}");
        }
        for bad in ["", "1.2.3", "1.2.3.4.", "01.2.3.4", "1.2.3.256", "1.2.3.4 ", "1..2.3", "1.2.3.0004", "a.b.c.d"] {
            assert_eq!(parse_ipv4(bad.as_bytes()), None, "{bad}");
        }
    }

    #[test]
    fn batch_stops_at_first_bad_line() {
        let mut out = Vec::new();
        let e = batch(&b"8.8.8.8\r\n\n  1.1.1.1 \n10.0.0.1\n9.9.9.9\n"[..], &mut out, Scope::GlobalOnly).unwrap_err();
        assert_eq!(out, b"2002:808:808::/48\n2002:101:101::/48\n");
        let m = e.to_string();
        assert!(m.starts_with("line 4: 10.0.0.1 is private-use"), "{m}");
        let mut out = Vec::new();
        let s = batch(&b"10.0.0.1\n\n0.0.0.0"[..], &mut out, Scope::AllowNonGlobal).unwrap();
        assert_eq!(out, b"2002:a00:1::/48\n2002::/48\n");
        assert_eq!(s, BatchStats { converted: 2, blank: 1, failed: 0 });
        let e = batch(&b"8.8.8.8\nexample.net\n"[..], Vec::new(), Scope::GlobalOnly).unwrap_err();
        assert_eq!(e.to_string(), "line 2: \"example.net\" is not an IPv4 address");
    }

    /// A reader that hands out one byte at a time, to cross every buffer boundary.
    struct Trickle<'a>(&'a [u8]);
    impl std::io::Read for Trickle<'_> {
        fn read(&mut self, b: &mut [u8]) -> std::io::Result<usize> {
            match (self.0.split_first(), b.first_mut()) {
                (Some((&x, rest)), Some(slot)) => {
                    *slot = x;
                    self.0 = rest;
                    Ok(1)
                }
                _ => Ok(0),
            }
        }
    }

    #[test]
    fn batch_long_line_refused() {
        let long = vec![b'1'; 300 * 1024];
        let e = batch(&long[..], Vec::new(), Scope::GlobalOnly).unwrap_err();
        assert!(e.to_string().starts_with("line 1: "), "{e}");
    }

    #[test]
    fn batch_report_goes_on_past_bad_lines() {
        let mut long = b"8.8.8.8\n".to_vec();
        long.extend(std::iter::repeat_n(0x1bu8, 300 * 1024));
        long.extend_from_slice(b"\n# comment\n\n\xff\xfe garbage\n  9.9.9.9 # quad9\n10.0.0.1\n1.1.1.1");
        let mut out = Vec::new();
        let mut errs = Vec::new();
        let s = batch_report(&long[..], &mut out, Scope::GlobalOnly, |e| {
            errs.push(e.to_string());
            Ok(())
        })
        .unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "2002:808:808::/48\n2002:909:909::/48\n2002:101:101::/48\n");
        assert_eq!(s, BatchStats { converted: 3, blank: 2, failed: 3 });
        assert_eq!(errs.len(), 3, "{errs:?}");
        // The overlong line is line 2, cut to a short, escaped excerpt.
        assert!(errs[0].starts_with("line 2: \"\\u{1b}\\u{1b}"), "{}", errs[0]);
        assert!(errs[0].len() < 600 && errs[0].contains('…'), "{}", errs[0]);
        assert!(errs[1].starts_with("line 5: \"\u{fffd}\u{fffd} garbage\" is not an IPv4 address"), "{}", errs[1]);
        assert!(errs[2].starts_with("line 7: 10.0.0.1 is private-use"), "{}", errs[2]);
        // Stopping from the callback returns that error, with the output so far written.
        let mut out = Vec::new();
        let e = batch_report(&b"1.1.1.1\nx\n8.8.8.8\n"[..], &mut out, Scope::GlobalOnly, Err).unwrap_err();
        assert_eq!(e.to_string(), "line 2: \"x\" is not an IPv4 address");
        assert_eq!(out, b"2002:101:101::/48\n");
        // batch() keeps `#` as an error (no comments) and stops.
        assert!(batch(&b"# x\n"[..], Vec::new(), Scope::GlobalOnly).is_err());
    }

    #[test]
    fn batch_for_each_numbers_lines() {
        let mut got = Vec::new();
        let s = batch_for_each(
            &b"8.8.8.8\n\nbad\n1.1.1.1\n"[..],
            Scope::GlobalOnly,
            |l, a| {
                got.push((l, a.to_string()));
                Ok(())
            },
            |_| Ok(()),
        )
        .unwrap();
        assert_eq!(got, [(1, "8.8.8.8".to_owned()), (4, "1.1.1.1".to_owned())]);
        assert_eq!(s.failed, 1);
    }

    proptest! {
        #[test]
        fn parse_ipv4_agrees_with_std(s in "[0-9.]{0,17}") {
            prop_assert_eq!(parse_ipv4(s.as_bytes()), s.parse::<Ipv4Addr>().ok());
        }

        #[test]
        fn parse_ipv4_roundtrip(a in any::<u32>()) {
            let a = Ipv4Addr::from(a);
            prop_assert_eq!(parse_ipv4(a.to_string().as_bytes()), Some(a));
        }

        #[test]
        fn push_prefix48_matches_display(a in any::<u32>(), zero_hi in any::<bool>(), zero_lo in any::<bool>()) {
            let mut a = a;
            if zero_hi { a &= 0xffff; }
            if zero_lo { a &= 0xffff_0000; }
            let v4 = Ipv4Addr::from(a);
            let mut out = Vec::new();
            push_prefix48(&mut out, v4);
            prop_assert_eq!(String::from_utf8(out).unwrap(), sixtofour_prefix(v4).to_string());
        }

        #[test]
        fn batch_agrees_with_library(addrs in proptest::collection::vec(any::<u32>(), 0..50), crlf in any::<bool>()) {
            let eol = if crlf { "\r\n" } else { "\n" };
            let text: String = addrs.iter().map(|&a| format!("{}{eol}", Ipv4Addr::from(a))).collect();
            let mut out = Vec::new();
            batch(Trickle(text.as_bytes()), &mut out, Scope::AllowNonGlobal).unwrap();
            let want: String = addrs.iter().map(|&a| format!("{}\n", sixtofour_prefix(Ipv4Addr::from(a)))).collect();
            prop_assert_eq!(String::from_utf8(out).unwrap(), want);
        }
    }
}
