//! Zone files: header (`$ORIGIN`, `$TTL`, SOA, NS), PTR records from several sources, and a
//! streaming writer that checks every record (in the zone, valid target, canonical order).
//!
//! Which sources stream:
//!
//! * a [`Template`] over an [`AddrRange`] is generated in canonical order and written as it is
//!   generated ([`write_template`]): memory stays flat whatever the count;
//! * a hosts file and a forward zone must be read whole and sorted ([`PtrSet`]): memory grows
//!   with the size of that input (never with anything larger), and the writer itself still
//!   streams.
//!
//! ```
//! use sixgate_rdns::plan::Zone;
//! use sixgate_rdns::zone::{PtrSet, ZoneHeader, ZoneWriter};
//! let zone = Zone::single("2001:db8::/120".parse().unwrap()).unwrap();
//! let mut set = PtrSet::new(zone, Some("example.net".into()));
//! set.add_hosts("2001:db8::2 two\n2001:db8::1 one # first\n2001:db8:1::1 away\n");
//! let (ptrs, problems) = set.finish();
//! assert_eq!(problems.len(), 1); // 2001:db8:1::1 is outside the zone, line 3
//! assert_eq!(problems[0].line, Some(3));
//! let mut header = ZoneHeader::new(vec!["ns1.example.net.".into()], "hostmaster.example.net.".into());
//! header.serial = 2026010100;
//! let mut w = ZoneWriter::new(zone, &header, Vec::new()).unwrap();
//! for p in &ptrs {
//!     w.ptr(p.addr, &p.name).unwrap();
//! }
//! let (text, count) = w.finish().unwrap();
//! let text = String::from_utf8(text).unwrap();
//! assert_eq!(count, 2);
//! assert!(text.contains("$ORIGIN 0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.\n"));
//! assert!(text.ends_with("1.0\tIN\tPTR\tone.example.net.\n2.0\tIN\tPTR\ttwo.example.net.\n"));
//! ```

use std::fmt;
use std::io::Write;
use std::net::IpAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use hickory_proto::rr::{Name, RData, RecordType};
use hickory_proto::serialize::txt::Parser;

use crate::error::RdnsError;
use crate::hostname::{check_absolute, qualify};
use crate::hosts::{hosts_name, parse_hosts, shorten};
use crate::plan::{canonical_key, Zone};
use crate::template::{AddrRange, Template};

/// What kind of problem an input line has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DiagKind {
    /// Not `ADDRESS NAME…`.
    Malformed,
    /// The address is not in the zone.
    OutsideZone,
    /// The address already has another name.
    Duplicate,
    /// The name is not a valid host name, or relative with no domain.
    BadName,
}

/// A problem found in the input, with its line when the source has lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The input file, when the source was given a name ([`PtrSet::add_hosts_from`],
    /// [`PtrSet::add_forward_zone_from`]).
    pub file: Option<String>,
    /// 1-based line number (`None` for a forward zone, whose parser does not keep lines: the
    /// message names the record instead).
    pub line: Option<usize>,
    /// The kind of problem.
    pub kind: DiagKind,
    /// One line naming the bad value.
    pub message: String,
}

impl Diagnostic {
    pub(crate) fn new(line: Option<usize>, kind: DiagKind, message: String) -> Self {
        Self { file: None, line, kind, message }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.file, self.line) {
            (Some(file), Some(l)) => write!(f, "{file}:{l}: {}", self.message),
            (Some(file), None) => write!(f, "{file}: {}", self.message),
            (None, Some(l)) => write!(f, "line {l}: {}", self.message),
            (None, None) => f.write_str(&self.message),
        }
    }
}

/// One PTR record: address and absolute target name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ptr {
    /// The address.
    pub addr: IpAddr,
    /// The absolute host name.
    pub name: String,
}

/// SOA and NS settings of a reverse zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneHeader {
    /// Name servers, absolute; the first is the SOA MNAME.
    pub ns: Vec<String>,
    /// The SOA RNAME (see [`crate::hostname::rname`]).
    pub hostmaster: String,
    /// `$TTL`, the default TTL of the records.
    pub ttl: u32,
    /// SOA serial (default YYYYMMDDnn, RFC 1912 §2.2).
    pub serial: u32,
    /// SOA refresh.
    pub refresh: u32,
    /// SOA retry.
    pub retry: u32,
    /// SOA expire.
    pub expire: u32,
    /// SOA minimum: the negative-caching TTL (RFC 2308 §4).
    pub minimum: u32,
}

impl ZoneHeader {
    /// Settings with today's YYYYMMDD00 serial and the RIPE-203 timers (refresh 86400,
    /// retry 7200, expire 3600000, minimum 3600) and `$TTL 3600`.
    pub fn new(ns: Vec<String>, hostmaster: String) -> Self {
        Self {
            ns,
            hostmaster,
            ttl: 3600,
            serial: default_serial(SystemTime::now()),
            refresh: 86400,
            retry: 7200,
            expire: 3_600_000,
            minimum: 3600,
        }
    }

    /// Checks the settings: at least one NS, absolute valid names, TTLs within RFC 2181 §8's
    /// 2^31-1, and the RFC 1912 §2.2 sanity rules (retry < refresh < expire).
    pub fn validate(&self) -> Result<(), RdnsError> {
        if self.ns.is_empty() {
            return Err(RdnsError::BadSetting("a zone needs at least one name server (NS)".into()));
        }
        for n in &self.ns {
            check_absolute(n)?;
        }
        // The RNAME may hold an escaped dot in its first label.
        let unescaped = self.hostmaster.replacen("\\.", "-", usize::MAX);
        check_absolute(&unescaped).map_err(|_| RdnsError::BadHostname {
            name: self.hostmaster.clone(),
            reason: "not a valid SOA RNAME (RFC 1035 §8)",
        })?;
        for (what, v) in [
            ("ttl", self.ttl),
            ("refresh", self.refresh),
            ("retry", self.retry),
            ("expire", self.expire),
            ("minimum", self.minimum),
        ] {
            if v > i32::MAX as u32 {
                return Err(RdnsError::BadSetting(format!("{what} {v} is above 2147483647 (RFC 2181 §8)")));
            }
        }
        if !(self.retry < self.refresh && self.refresh < self.expire) {
            return Err(RdnsError::BadSetting(format!(
                "SOA timers must satisfy retry < refresh < expire (RFC 1912 §2.2), got retry {} refresh {} expire {}",
                self.retry, self.refresh, self.expire
            )));
        }
        Ok(())
    }
}

/// The YYYYMMDD00 serial (RFC 1912 §2.2) for the UTC date of `now`.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use sixgate_rdns::zone::default_serial;
/// assert_eq!(default_serial(UNIX_EPOCH + Duration::from_secs(1_700_000_000)), 2023111400);
/// ```
pub fn default_serial(now: SystemTime) -> u32 {
    let days = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() / 86400) as i64;
    let (y, m, d) = sixgate_core::text::civil_from_days(days);
    u32::try_from(y * 1_000_000 + i64::from(m) * 10_000 + i64::from(d) * 100).unwrap_or(u32::MAX)
}

/// RFC 1982 §3.2 serial number comparison (SERIAL_BITS 32): whether `a` is after `b`. Two
/// serials exactly 2^31 apart are not comparable (neither is after the other).
///
/// ```
/// use sixgate_rdns::zone::serial_gt;
/// assert!(serial_gt(2, 1));
/// assert!(serial_gt(0, u32::MAX)); // wraps around
/// assert!(!serial_gt(1, 1));
/// assert!(!serial_gt(1 << 31, 0) && !serial_gt(0, 1 << 31));
/// ```
pub fn serial_gt(a: u32, b: u32) -> bool {
    // i1 > i2 and i1 - i2 < 2^31, or i1 < i2 and i2 - i1 > 2^31: both are "a - b (mod 2^32)
    // is in 1..2^31".
    matches!(a.wrapping_sub(b), 1..=0x7fff_ffff)
}

/// Whether `serial` reads as a YYYYMMDDnn date serial (RFC 1912 §2.2) of a plausible date.
pub fn is_date_serial(serial: u32) -> bool {
    let (y, m, d) = (serial / 1_000_000, serial / 10_000 % 100, serial / 100 % 100);
    (1970..=4294).contains(&y) && (1..=12).contains(&m) && (1..=31).contains(&d)
}

/// The serial to write in place of `previous`, the serial of the zone being replaced, so that
/// secondaries see a newer zone (RFC 1982 §3.2; RFC 1996 and RFC 5936 transfer only when the
/// serial grows):
///
/// * a date serial (YYYYMMDDnn) stays one: today's `YYYYMMDD00` if that is later, else
///   `previous + 1` (the next change of the same day; after `nn` = 99 it runs into the
///   next day's numbers, which is still later);
/// * any other serial is a counter: `previous + 1` in RFC 1982 §3.1 arithmetic (wrapping).
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use sixgate_rdns::zone::next_serial;
/// let day = UNIX_EPOCH + Duration::from_secs(1_700_000_000); // 2023-11-14
/// assert_eq!(next_serial(2023111400, day), 2023111401);
/// assert_eq!(next_serial(2023111307, day), 2023111400);
/// assert_eq!(next_serial(2023111505, day), 2023111506); // a serial from the future still grows
/// assert_eq!(next_serial(41, day), 42);
/// assert_eq!(next_serial(u32::MAX, day), 0);
/// ```
pub fn next_serial(previous: u32, now: SystemTime) -> u32 {
    let today = default_serial(now);
    if is_date_serial(previous) && serial_gt(today, previous) {
        return today;
    }
    previous.wrapping_add(1)
}

/// The SOA serial of zone text (an existing zone file about to be replaced), parsed with
/// hickory-proto; `origin` is used for relative names before any `$ORIGIN`. `Ok(None)` when
/// the text has no SOA record.
pub fn read_serial(text: &str, origin: &str) -> Result<Option<u32>, RdnsError> {
    if text.lines().any(|l| l.trim_start().get(..8).is_some_and(|d| d.eq_ignore_ascii_case("$INCLUDE"))) {
        return Err(RdnsError::ForwardZone("$INCLUDE is not supported".into()));
    }
    // RFC 2317 child zones have a '/' in their labels (`128/25.2.0.192.in-addr.arpa.`), which
    // master files allow and hickory-proto's names do not; no other master-file syntax uses
    // '/', and the serial does not depend on names, so it is read with '-' in its place.
    let text = text.replace('/', "-");
    let origin = origin.replace('/', "-");
    let origin = Name::from_ascii(&origin).map_err(|e| RdnsError::ForwardZone(format!("origin {origin:?}: {e}")))?;
    let (_, records) =
        Parser::new(&text, None, Some(origin)).parse().map_err(|e| RdnsError::ForwardZone(e.to_string()))?;
    Ok(records
        .values()
        .filter(|r| r.record_type() == RecordType::SOA)
        .flat_map(|r| r.records_without_rrsigs())
        .find_map(|r| match &r.data {
            RData::SOA(soa) => Some(soa.serial),
            _ => None,
        }))
}

const FLUSH_AT: usize = 1 << 16;

/// A streaming zone writer: the header on creation, then one PTR per call, each checked to
/// be in the zone, with a valid absolute target, and strictly after the previous one in RFC
/// 4034 §6.1 canonical order (so output is sorted and free of duplicates by construction).
/// Memory is a fixed 64 KiB buffer.
pub struct ZoneWriter<W: Write> {
    zone: Zone,
    out: W,
    buf: Vec<u8>,
    prev: Option<(u128, IpAddr)>,
    count: u64,
}

impl<W: Write> ZoneWriter<W> {
    /// Validates `header` and writes it: `$ORIGIN`, `$TTL`, SOA, NS.
    pub fn new(zone: Zone, header: &ZoneHeader, mut out: W) -> Result<Self, RdnsError> {
        header.validate()?;
        let origin = zone.origin();
        let mname = header.ns.first().map(String::as_str).unwrap_or_default();
        let mut h = String::new();
        use std::fmt::Write as _;
        let _ = write!(
            h,
            "; reverse zone for {net}, written by sixgate\n\
             $ORIGIN {origin}\n\
             $TTL {ttl}\n\
             @\tIN\tSOA\t{mname} {rname} (\n\
             \t\t{serial}\t; serial\n\
             \t\t{refresh}\t; refresh\n\
             \t\t{retry}\t; retry\n\
             \t\t{expire}\t; expire\n\
             \t\t{minimum} )\t; minimum (negative-caching TTL, RFC 2308 section 4)\n",
            net = zone.net(),
            ttl = header.ttl,
            rname = header.hostmaster,
            serial = header.serial,
            refresh = header.refresh,
            retry = header.retry,
            expire = header.expire,
            minimum = header.minimum,
        );
        for n in &header.ns {
            let _ = writeln!(h, "@\tIN\tNS\t{n}");
        }
        out.write_all(h.as_bytes())?;
        Ok(Self { zone, out, buf: Vec::with_capacity(FLUSH_AT + 512), prev: None, count: 0 })
    }

    /// The zone being written.
    pub fn zone(&self) -> &Zone {
        &self.zone
    }

    /// Writes one PTR record.
    pub fn ptr(&mut self, addr: IpAddr, target: &str) -> Result<(), RdnsError> {
        check_absolute(target)?;
        self.ptr_checked(addr, target)
    }

    /// `ptr` for a target already checked by the caller.
    fn ptr_checked(&mut self, addr: IpAddr, target: &str) -> Result<(), RdnsError> {
        if !self.zone.contains(addr) {
            return Err(RdnsError::OutsideZone { addr, zone: self.zone.origin() });
        }
        let key = canonical_key(addr);
        if let Some((pk, prev)) = self.prev {
            // RFC 4034 §6.1: each owner must sort strictly after the one before.
            if key <= pk {
                return Err(RdnsError::OutOfOrder { addr, prev });
            }
        }
        self.prev = Some((key, addr));
        self.zone.push_relative_owner(addr, &mut self.buf);
        self.buf.extend_from_slice(b"\tIN\tPTR\t");
        self.buf.extend_from_slice(target.as_bytes());
        self.buf.push(b'\n');
        self.count += 1;
        if self.buf.len() >= FLUSH_AT {
            self.out.write_all(&self.buf)?;
            self.buf.clear();
        }
        Ok(())
    }

    /// Flushes and returns the output and the number of PTR records written.
    pub fn finish(mut self) -> Result<(W, u64), RdnsError> {
        self.out.write_all(&self.buf)?;
        self.out.flush()?;
        Ok((self.out, self.count))
    }
}

/// Writes one PTR per address of `range` named by `template`, streaming in canonical order.
/// Refuses a range larger than `limit` or not inside the zone, and stops at the first address
/// the template gives an invalid name for. Returns how many records were written.
pub fn write_template<W: Write>(
    w: &mut ZoneWriter<W>,
    template: &Template,
    range: &AddrRange,
    limit: u64,
) -> Result<u64, RdnsError> {
    range.check_limit(limit)?;
    for a in [range.first(), range.last()] {
        if !w.zone.contains(a) {
            return Err(RdnsError::OutsideZone { addr: a, zone: w.zone.origin() });
        }
    }
    let mut name = Vec::with_capacity(256);
    let mut n = 0;
    range.for_each_canonical(|a, i| {
        template.render_bytes(a, i, &mut name);
        let s = std::str::from_utf8(&name).unwrap_or_default();
        check_absolute(s).map_err(|e| RdnsError::TemplateOutput {
            template: template.to_string(),
            addr: a,
            source: Box::new(e),
        })?;
        n += 1;
        w.ptr_checked(a, s)
    })?;
    Ok(n)
}

/// IPv4 after IPv6, then canonical order within the family.
type Key = (bool, u128);

struct Entry {
    key: Key,
    addr: IpAddr,
    name: String,
    /// Index into `PtrSet::files`.
    file: Option<usize>,
    line: Option<usize>,
    what: String,
}

/// PTR records gathered from hosts files and forward zones, checked against one zone (or
/// several, [`PtrSet::for_zones`]), then sorted in canonical order and de-duplicated by
/// [`PtrSet::finish`]. Holds every record.
pub struct PtrSet {
    zones: Vec<Zone>,
    domain: Option<String>,
    entries: Vec<Entry>,
    problems: Vec<Diagnostic>,
    /// Names of the sources added with a name, in order.
    files: Vec<String>,
    /// The source being added.
    current: Option<usize>,
}

impl PtrSet {
    /// An empty set for `zone`; `domain` qualifies relative names.
    pub fn new(zone: Zone, domain: Option<String>) -> Self {
        Self::for_zones(vec![zone], domain)
    }

    /// An empty set whose records may be in any of `zones` (both families allowed; IPv6
    /// records come first from [`PtrSet::finish`]).
    pub fn for_zones(zones: Vec<Zone>, domain: Option<String>) -> Self {
        Self { zones, domain, entries: Vec::new(), problems: Vec::new(), files: Vec::new(), current: None }
    }

    /// Records a problem of the source being added.
    fn problem(&mut self, mut d: Diagnostic) {
        d.file = self.current.map(|i| self.files[i].clone());
        self.problems.push(d);
    }

    /// `file:line` (or `line N`) of an entry, for the duplicate message.
    fn place(&self, file: Option<usize>, line: Option<usize>) -> Option<String> {
        match (file.map(|i| &self.files[i]), line) {
            (Some(f), Some(l)) => Some(format!("{f}:{l}")),
            (None, Some(l)) => Some(format!("line {l}")),
            (Some(f), None) => Some(f.clone()),
            (None, None) => None,
        }
    }

    /// Runs `f` with problems and records attributed to `file`.
    fn with_file<T>(&mut self, file: &str, f: impl FnOnce(&mut Self) -> T) -> T {
        self.files.push(file.to_owned());
        self.current = Some(self.files.len() - 1);
        let r = f(self);
        self.current = None;
        r
    }

    /// Adds one record; `line` locates it for messages, `what` describes it when there is no
    /// line. A name without a trailing dot is qualified with the domain (master-file rules,
    /// RFC 1034 §3.1).
    pub fn add(&mut self, addr: IpAddr, name: &str, line: Option<usize>, what: &str) {
        self.add_named(addr, qualify(name, self.domain.as_deref()), line, what);
    }

    fn add_named(&mut self, addr: IpAddr, name: Result<String, RdnsError>, line: Option<usize>, what: &str) {
        let at = |m: String| if line.is_some() { m } else { format!("{what}: {m}") };
        if !self.zones.iter().any(|z| z.contains(addr)) {
            let m = match self.zones.as_slice() {
                [z] => format!("{addr} is outside zone {} ({})", z.origin(), z.net()),
                _ => format!("{addr} is outside the served zones"),
            };
            let m = at(m);
            self.problem(Diagnostic::new(line, DiagKind::OutsideZone, m));
            return;
        }
        match name {
            Ok(name) => {
                let e = Entry {
                    key: (addr.is_ipv4(), canonical_key(addr)),
                    addr,
                    name,
                    file: self.current,
                    line,
                    what: what.to_owned(),
                };
                self.entries.push(e);
            }
            Err(e) => {
                // Cut the value, never the message.
                let e = match e {
                    RdnsError::BadHostname { name, reason } => RdnsError::BadHostname { name: shorten(&name), reason },
                    RdnsError::RelativeName(name) => RdnsError::RelativeName(shorten(&name)),
                    e => e,
                };
                self.problem(Diagnostic::new(line, DiagKind::BadName, at(e.to_string())));
            }
        }
    }

    /// Adds the records of a hosts file (see [`crate::hosts`]: a name with a dot is taken as
    /// fully qualified, a single label is qualified with the domain).
    pub fn add_hosts(&mut self, text: &str) {
        let (entries, problems) = parse_hosts(text);
        for p in problems {
            self.problem(p);
        }
        for e in entries {
            let name = hosts_name(&e.name, self.domain.as_deref());
            self.add_named(e.addr, name, Some(e.line), "");
        }
    }

    /// [`PtrSet::add_hosts`] for the file named `file`: its problems say `file:line`.
    pub fn add_hosts_from(&mut self, file: &str, text: &str) {
        self.with_file(file, |s| s.add_hosts(text));
    }

    /// [`PtrSet::add_forward_zone`] for the file named `file`: its problems name it.
    pub fn add_forward_zone_from(&mut self, file: &str, text: &str, origin: Option<&str>) -> Result<(), RdnsError> {
        self.with_file(file, |s| s.add_forward_zone(text, origin))
    }

    /// Adds a PTR for every A and AAAA record of a forward zone file, parsed by hickory-proto
    /// (`$ORIGIN`, `$TTL`, relative names, parentheses…). `origin` is used for relative names
    /// before any `$ORIGIN`. `$INCLUDE` is refused: zone text must not make us read other files.
    pub fn add_forward_zone(&mut self, text: &str, origin: Option<&str>) -> Result<(), RdnsError> {
        if let Some((i, _)) = text
            .lines()
            .enumerate()
            .find(|(_, l)| l.trim_start().get(..8).is_some_and(|d| d.eq_ignore_ascii_case("$INCLUDE")))
        {
            return Err(RdnsError::ForwardZone(format!("line {}: $INCLUDE is not supported", i + 1)));
        }
        let origin = match origin {
            Some(o) => Some(Name::from_ascii(o).map_err(|e| RdnsError::ForwardZone(format!("origin {o:?}: {e}")))?),
            None => None,
        };
        let (_, records) =
            Parser::new(text, None, origin).parse().map_err(|e| RdnsError::ForwardZone(e.to_string()))?;
        for rrset in records.values() {
            if !matches!(rrset.record_type(), RecordType::A | RecordType::AAAA) {
                continue;
            }
            for r in rrset.records_without_rrsigs() {
                let (addr, t) = match &r.data {
                    RData::A(a) => (IpAddr::V4(a.0), "A"),
                    RData::AAAA(a) => (IpAddr::V6(a.0), "AAAA"),
                    _ => continue,
                };
                let owner = r.name.to_ascii();
                let what = format!("record {owner} {t} {addr}");
                if !owner.ends_with('.') {
                    self.problem(Diagnostic::new(None, DiagKind::BadName, format!("{what}: name is not absolute")));
                    continue;
                }
                self.add(addr, &owner, None, &what);
            }
        }
        Ok(())
    }

    /// The problems found so far.
    pub fn problems(&self) -> &[Diagnostic] {
        &self.problems
    }

    /// Sorts the records in canonical order and drops repeats: the same address with the
    /// same name (case-insensitively, RFC 4343) silently, with another name as a
    /// [`DiagKind::Duplicate`] problem (the first one in the input is kept). Problems come
    /// back ordered by line.
    pub fn finish(mut self) -> (Vec<Ptr>, Vec<Diagnostic>) {
        // Stable: among equal addresses the input order is kept.
        let mut entries = std::mem::take(&mut self.entries);
        entries.sort_by_key(|e| e.key);
        let mut out: Vec<Ptr> = Vec::with_capacity(entries.len());
        let mut first: Option<(Key, Option<usize>, Option<usize>)> = None;
        for e in entries {
            if let (Some(last), Some((key, first_file, first_line))) = (out.last(), first) {
                if key == e.key {
                    if !last.name.eq_ignore_ascii_case(&e.name) {
                        let at = self.place(first_file, first_line).map(|p| format!(" ({p})")).unwrap_or_default();
                        let m = format!("{} already has name {}{at}; {} ignored", e.addr, last.name, e.name);
                        let m = if e.line.is_some() { m } else { format!("{}: {m}", e.what) };
                        let mut d = Diagnostic::new(e.line, DiagKind::Duplicate, m);
                        d.file = e.file.map(|i| self.files[i].clone());
                        self.problems.push(d);
                    }
                    continue;
                }
            }
            first = Some((e.key, e.file, e.line));
            out.push(Ptr { addr: e.addr, name: e.name });
        }
        // By source (in the order added), then by line.
        let files = &self.files;
        self.problems.sort_by_key(|d| (d.file.as_ref().and_then(|f| files.iter().position(|x| x == f)), d.line));
        (out, self.problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> ZoneHeader {
        let mut h = ZoneHeader::new(vec!["ns1.example.net.".into()], "hostmaster.example.net.".into());
        h.serial = 2026010101;
        h
    }

    fn zone(p: &str) -> Zone {
        Zone::single(p.parse().unwrap()).unwrap()
    }

    #[test]
    fn serial_dates() {
        let at = |s: u64| default_serial(UNIX_EPOCH + std::time::Duration::from_secs(s));
        assert_eq!(at(0), 1970010100);
        assert_eq!(at(951_782_400), 2000022900); // 2000-02-29, a leap day
        assert_eq!(at(4_102_444_799), 2099123100);
    }

    /// RFC 1982 §3.2 and the worked cases of §5.
    #[test]
    fn serial_arithmetic() {
        assert!(serial_gt(1, 0) && serial_gt(0x7fff_ffff, 0) && !serial_gt(0x8000_0000, 0));
        assert!(serial_gt(0, 0xffff_ffff) && serial_gt(44, 0xffff_ff00));
        assert!(!serial_gt(0, 1) && !serial_gt(5, 5));
        let day = UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000); // 2023-11-14
        assert_eq!(next_serial(2023111499, day), 2023111500);
        assert_eq!(next_serial(1, day), 2);
        assert!(is_date_serial(2023111400) && !is_date_serial(42) && !is_date_serial(2023131400));
        for prev in [0, 1, 2023111400, 2023111499, 2099123199, 0x7fff_ffff, u32::MAX, 3_000_000_000] {
            assert!(serial_gt(next_serial(prev, day), prev), "{prev}");
        }
    }

    #[test]
    fn serial_of_written_zone() {
        let mut w = ZoneWriter::new(zone("192.0.2.0/24"), &header(), Vec::new()).unwrap();
        w.ptr("192.0.2.1".parse().unwrap(), "one.example.").unwrap();
        let text = String::from_utf8(w.finish().unwrap().0).unwrap();
        assert_eq!(read_serial(&text, "2.0.192.in-addr.arpa.").unwrap(), Some(2026010101));
        // An RFC 2317 child zone: '/' in the origin and the owners' parent.
        let child = zone("192.0.2.128/25");
        let mut w = ZoneWriter::new(child, &header(), Vec::new()).unwrap();
        w.ptr("192.0.2.129".parse().unwrap(), "one.example.").unwrap();
        let text = String::from_utf8(w.finish().unwrap().0).unwrap();
        assert!(text.contains("$ORIGIN 128/25.2.0.192.in-addr.arpa."), "{text}");
        assert_eq!(read_serial(&text, &child.origin()).unwrap(), Some(2026010101));
        let hand = "$TTL 1h\n@ IN SOA ns1.example. h.example. ( 7 1h 15m 1w 1h )\n@ IN NS ns1.example.\n";
        assert_eq!(read_serial(hand, "2.0.192.in-addr.arpa.").unwrap(), Some(7));
        assert_eq!(read_serial("", "2.0.192.in-addr.arpa.").unwrap(), None);
        assert!(read_serial("@ IN SOA (((\n", "2.0.192.in-addr.arpa.").is_err());
    }

    #[test]
    fn hosts_files_named_and_dotted_names_kept() {
        let mut set = PtrSet::new(zone("2001:db8::/64"), Some("example.net".into()));
        set.add_hosts_from("a.hosts", "2001:db8::1 hyosine.example.net\n2001:db8::2 two\n");
        set.add_hosts_from("b.hosts", "\n2001:db8::1 other\n2001:db8::3 x_y\n");
        let (ptrs, problems) = set.finish();
        let names: Vec<&str> = ptrs.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["hyosine.example.net.", "two.example.net."]);
        let msgs: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert_eq!(msgs.len(), 2, "{msgs:?}");
        assert!(
            msgs[0].starts_with("b.hosts:2: 2001:db8::1 already has name hyosine.example.net. (a.hosts:1)"),
            "{msgs:?}"
        );
        assert!(msgs[1].starts_with("b.hosts:3: \"x_y.example.net.\" is not a valid host name"), "{msgs:?}");
    }

    /// A long bad name is cut, never the message after it.
    #[test]
    fn long_values_cut_not_messages() {
        let long = "a".repeat(300);
        let mut set = PtrSet::new(zone("2001:db8::/64"), None);
        set.add_hosts(&format!("2001:db8::1 {long}\n"));
        let (_, problems) = set.finish();
        let m = problems[0].to_string();
        assert!(m.ends_with("is a relative name (no trailing dot) and no domain was given to qualify it"), "{m}");
        assert!(m.len() < 200 && m.contains('…'), "{m}");
    }

    #[test]
    fn writer_checks_order_zone_and_names() {
        let mut w = ZoneWriter::new(zone("192.0.2.0/24"), &header(), Vec::new()).unwrap();
        w.ptr("192.0.2.10".parse().unwrap(), "ten.example.").unwrap();
        // "9" sorts after "10" (RFC 4034 §6.1), so this is in order...
        w.ptr("192.0.2.9".parse().unwrap(), "nine.example.").unwrap();
        // ...and this is not.
        assert!(matches!(w.ptr("192.0.2.11".parse().unwrap(), "x.example."), Err(RdnsError::OutOfOrder { .. })));
        assert!(matches!(w.ptr("192.0.2.9".parse().unwrap(), "x.example."), Err(RdnsError::OutOfOrder { .. })));
        assert!(matches!(w.ptr("192.0.3.1".parse().unwrap(), "x.example."), Err(RdnsError::OutsideZone { .. })));
        assert!(matches!(w.ptr("192.0.2.99".parse().unwrap(), "x_y.example."), Err(RdnsError::BadHostname { .. })));
        let (out, n) = w.finish().unwrap();
        assert_eq!(n, 2);
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.ends_with("@\tIN\tNS\tns1.example.net.\n10\tIN\tPTR\tten.example.\n9\tIN\tPTR\tnine.example.\n"),
            "{text}"
        );
        assert!(text.contains("$ORIGIN 2.0.192.in-addr.arpa.\n$TTL 3600\n"));
        assert!(text.contains("2026010101\t; serial"));
    }

    #[test]
    fn header_validation() {
        let mut h = header();
        h.ns.clear();
        assert!(ZoneWriter::new(zone("2001:db8::/48"), &h, Vec::new()).is_err());
        let mut h = header();
        h.retry = h.refresh;
        assert!(matches!(h.validate(), Err(RdnsError::BadSetting(_))));
        let mut h = header();
        h.ttl = u32::MAX;
        assert!(h.validate().is_err());
        let mut h = header();
        h.hostmaster = "first\\.last.example.net.".into();
        assert!(h.validate().is_ok());
    }

    #[test]
    fn hosts_problems_by_line() {
        let mut set = PtrSet::new(zone("2001:db8::/64"), None);
        set.add_hosts(
            "2001:db8::1 a.example.\n\
             2001:db8::1 A.EXAMPLE.  # same name, another case: dropped silently\n\
             2001:db8::1 b.example.\n\
             2001:db8::2 relative\n\
             2001:db8::3 bad_name.example.\n\
             10.0.0.1 v4.example.\n\
             fe80::1%eth0 ll.example.\n\
             2001:db8::4\n\
             2001:db8::5 e.example.\n",
        );
        let (ptrs, problems) = set.finish();
        assert_eq!(
            ptrs,
            [
                Ptr { addr: "2001:db8::1".parse().unwrap(), name: "a.example.".into() },
                Ptr { addr: "2001:db8::5".parse().unwrap(), name: "e.example.".into() },
            ]
        );
        let got: Vec<(Option<usize>, DiagKind)> = problems.iter().map(|d| (d.line, d.kind)).collect();
        assert_eq!(
            got,
            [
                (Some(3), DiagKind::Duplicate),
                (Some(4), DiagKind::BadName),
                (Some(5), DiagKind::BadName),
                (Some(6), DiagKind::OutsideZone),
                (Some(7), DiagKind::Malformed),
                (Some(8), DiagKind::Malformed),
            ]
        );
        assert!(
            problems[0].to_string().contains("line 3: 2001:db8::1 already has name a.example. (line 1); b.example."),
            "{}",
            problems[0]
        );
    }

    #[test]
    fn forward_zone_source() {
        let text = "$ORIGIN example.net.\n$TTL 300\n\
            @ IN SOA ns1 hostmaster 1 7200 3600 1209600 300\n\
            @ IN NS ns1\n\
            ns1 IN AAAA 2001:db8::53\n\
            www IN AAAA 2001:db8::80\n\
            www IN A 192.0.2.80\n\
            mail IN AAAA 2001:db8::25\n\
            other IN AAAA 2001:db9::1\n\
            *.wild IN AAAA 2001:db8::99\n";
        let mut set = PtrSet::new(zone("2001:db8::/64"), None);
        set.add_forward_zone(text, None).unwrap();
        let (ptrs, problems) = set.finish();
        let got: Vec<String> = ptrs.iter().map(|p| format!("{} {}", p.addr, p.name)).collect();
        assert_eq!(
            got,
            ["2001:db8::25 mail.example.net.", "2001:db8::53 ns1.example.net.", "2001:db8::80 www.example.net."]
        );
        let kinds: Vec<DiagKind> = problems.iter().map(|d| d.kind).collect();
        assert!(kinds.contains(&DiagKind::OutsideZone) && kinds.contains(&DiagKind::BadName), "{problems:?}");
        assert!(problems.iter().any(|d| d.message.contains("record other.example.net. AAAA 2001:db9::1")));
        let mut set = PtrSet::new(zone("2001:db8::/64"), None);
        assert!(matches!(set.add_forward_zone("$INCLUDE /etc/passwd\n", None), Err(RdnsError::ForwardZone(_))));
        assert!(matches!(
            set.add_forward_zone("www IN AAAA nonsense\n", Some("example.")),
            Err(RdnsError::ForwardZone(_))
        ));
    }

    #[test]
    fn template_streams_in_order() {
        let t = Template::parse("host-{dashed}.example.net.", None).unwrap();
        let z = zone("192.0.2.0/24");
        let mut w = ZoneWriter::new(z, &header(), Vec::new()).unwrap();
        let n = write_template(&mut w, &t, &AddrRange::parse("192.0.2.0/24").unwrap(), 256).unwrap();
        assert_eq!(n, 256);
        let (out, _) = w.finish().unwrap();
        let text = String::from_utf8(out).unwrap();
        let owners: Vec<&str> =
            text.lines().filter(|l| l.contains("PTR")).map(|l| l.split('\t').next().unwrap()).collect();
        assert_eq!(&owners[..4], ["0", "1", "10", "100"]);
        let mut w = ZoneWriter::new(z, &header(), Vec::new()).unwrap();
        let big = AddrRange::parse("192.0.2.0/24").unwrap();
        assert!(matches!(write_template(&mut w, &t, &big, 255), Err(RdnsError::RangeTooLarge { .. })));
        let outside = AddrRange::parse("192.0.2.250-192.0.3.1").unwrap();
        assert!(matches!(write_template(&mut w, &t, &outside, 255), Err(RdnsError::OutsideZone { .. })));
        let long = Template::parse(&format!("{}-{{dashed}}.example.", "a".repeat(60)), None).unwrap();
        assert!(matches!(write_template(&mut w, &long, &big, 256), Err(RdnsError::TemplateOutput { .. })));
    }
}
