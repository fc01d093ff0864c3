//! `/etc/hosts`-style input: `ADDRESS NAME [ALIAS…]` per line, `#` starts a comment.
//!
//! The first name of a line is the canonical one and becomes the PTR target; aliases are
//! kept but not used for PTR records (one address, one PTR: RFC 1912 §2.1 advises against
//! several).
//!
//! **Which names are fully qualified.** A hosts file is not master-file syntax: nobody writes
//! the trailing dot of RFC 1034 §3.1 there, and hosts(5) wants the canonical name to be the
//! fully qualified one. So a name that contains a dot (`hyosine.example.net`) is taken as fully
//! qualified, as the resolver does with its default `ndots:1`, and only a single-label name
//! (`hyosine`) is qualified with the domain ([`hosts_name`]). A trailing dot is accepted too.
//!
//! ```
//! use sixgate_rdns::hosts::parse_hosts;
//! let (entries, problems) = parse_hosts("# lab\n2001:db8::1 www.example.net. www\n\nbogus\n");
//! assert_eq!(entries.len(), 1);
//! assert_eq!((entries[0].line, entries[0].name.as_str()), (2, "www.example.net."));
//! assert_eq!(problems[0].line, Some(4));
//! ```

use std::fmt;
use std::net::IpAddr;

use crate::error::RdnsError;
use crate::hostname::{check_absolute, qualify};
use crate::zone::{DiagKind, Diagnostic};

/// One parsed hosts line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostsEntry {
    /// 1-based line number.
    pub line: usize,
    /// The address.
    pub addr: IpAddr,
    /// The canonical name, as written (not yet checked nor qualified).
    pub name: String,
    /// Further names on the line.
    pub aliases: Vec<String>,
}

impl fmt::Display for HostsEntry {
    /// The entry as a hosts line (without line number).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.addr, self.name)?;
        for a in &self.aliases {
            write!(f, " {a}")?;
        }
        Ok(())
    }
}

/// Parses hosts text. Lines that are not `ADDRESS NAME…` (bad address, a zone index such as
/// `fe80::1%eth0`, no name) are returned as problems with their line number; names are only
/// split here, and checked when they become PTR targets.
pub fn parse_hosts(text: &str) -> (Vec<HostsEntry>, Vec<Diagnostic>) {
    let mut entries = Vec::new();
    let mut problems = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let content = raw.split_once('#').map_or(raw, |(c, _)| c);
        let mut fields = content.split_ascii_whitespace();
        let Some(addr_text) = fields.next() else { continue };
        let addr: IpAddr = match addr_text.parse() {
            Ok(a) => a,
            Err(_) => {
                problems.push(Diagnostic::new(
                    Some(line),
                    DiagKind::Malformed,
                    format!("{:?} is not an IPv4 or IPv6 address (zone indexes are not allowed)", shorten(addr_text)),
                ));
                continue;
            }
        };
        let Some(name) = fields.next() else {
            problems.push(Diagnostic::new(Some(line), DiagKind::Malformed, format!("{addr} has no name")));
            continue;
        };
        entries.push(HostsEntry { line, addr, name: name.to_owned(), aliases: fields.map(str::to_owned).collect() });
    }
    (entries, problems)
}

/// The absolute name a hosts-file name stands for (see the module notes): a name containing a
/// dot is fully qualified, a single label is qualified with `domain` (or refused without one).
///
/// ```
/// use sixgate_rdns::hosts::hosts_name;
/// assert_eq!(hosts_name("hyosine", Some("example.net")).unwrap(), "hyosine.example.net.");
/// assert_eq!(hosts_name("hyosine.example.net", Some("example.net")).unwrap(), "hyosine.example.net.");
/// assert_eq!(hosts_name("www.lab.example.org", Some("example.net")).unwrap(), "www.lab.example.org.");
/// assert!(hosts_name("hyosine", None).is_err());
/// ```
pub fn hosts_name(name: &str, domain: Option<&str>) -> Result<String, RdnsError> {
    if name.contains('.') && !name.ends_with('.') {
        let full = format!("{name}.");
        check_absolute(&full).map_err(|e| match e {
            // Name the value as written.
            RdnsError::BadHostname { reason, .. } => RdnsError::BadHostname { name: name.to_owned(), reason },
            e => e,
        })?;
        return Ok(full);
    }
    qualify(name, domain)
}

/// Cuts a value in messages (only the value: the message around it stays whole).
pub(crate) fn shorten(s: &str) -> String {
    sixgate_core::text::excerpt(s.as_bytes(), sixgate_core::text::EXCERPT_CHARS)
}
