//! `/etc/hosts`-style input: `ADDRESS NAME [ALIAS…]` per line, `#` starts a comment.
//!
//! The first name of a line is the canonical one and becomes the PTR target; aliases are
//! kept but not used for PTR records (one address, one PTR: RFC 1912 §2.1 advises against
//! several).
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

/// Cuts very long input in messages.
pub(crate) fn shorten(s: &str) -> String {
    if s.chars().count() > 80 {
        format!("{}…", s.chars().take(80).collect::<String>())
    } else {
        s.to_owned()
    }
}
