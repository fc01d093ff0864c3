//! Host names as PTR targets and NS names: RFC 1035 §2.3.1 / RFC 1123 §2.1 "LDH" labels.
//!
//! ```
//! use sixgate_rdns::hostname::qualify;
//! assert_eq!(qualify("www", Some("example.net.")).unwrap(), "www.example.net.");
//! assert_eq!(qualify("www.example.net.", None).unwrap(), "www.example.net.");
//! assert!(qualify("www", None).is_err());
//! assert!(qualify("-bad.example.net.", None).is_err());
//! ```

use crate::error::RdnsError;

/// Longest host name text without its trailing dot (RFC 1035 §2.3.4's 255 octets on the
/// wire is 253 characters of text).
pub const MAX_NAME_LEN: usize = 253;
/// Longest label (RFC 1035 §2.3.4).
pub const MAX_LABEL_LEN: usize = 63;

fn bad(name: &str, reason: &'static str) -> RdnsError {
    RdnsError::BadHostname { name: name.to_owned(), reason }
}

/// Checks an absolute host name (with its trailing dot): every label 1–63 letters, digits
/// and hyphens, not starting or ending with a hyphen (RFC 1035 §2.3.1, relaxed by RFC 1123
/// §2.1 to allow a leading digit), at most 253 characters before the root.
pub fn check_absolute(name: &str) -> Result<(), RdnsError> {
    let body = name.strip_suffix('.').ok_or_else(|| bad(name, "not absolute (no trailing dot)"))?;
    check_labels(name, body)
}

fn check_labels(name: &str, body: &str) -> Result<(), RdnsError> {
    if body.is_empty() {
        return Err(bad(name, "the root is not a host name"));
    }
    if body.len() > MAX_NAME_LEN {
        return Err(bad(name, "longer than 253 characters (RFC 1035 §2.3.4)"));
    }
    for label in body.split('.') {
        let b = label.as_bytes();
        if b.is_empty() {
            return Err(bad(name, "empty label"));
        }
        if b.len() > MAX_LABEL_LEN {
            return Err(bad(name, "a label is longer than 63 characters (RFC 1035 §2.3.4)"));
        }
        if !b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-') {
            return Err(bad(name, "only letters, digits and hyphens are allowed (RFC 1035 §2.3.1)"));
        }
        if b[0] == b'-' || b[b.len() - 1] == b'-' {
            return Err(bad(name, "a label starts or ends with a hyphen (RFC 1035 §2.3.1)"));
        }
    }
    Ok(())
}

/// Makes `name` absolute and checks it: a name with a trailing dot is taken as is; a
/// relative one is qualified by `domain` (itself absolute, or made so), or refused when there
/// is no domain. Returns the absolute name, case kept.
pub fn qualify(name: &str, domain: Option<&str>) -> Result<String, RdnsError> {
    if name.ends_with('.') {
        check_absolute(name)?;
        return Ok(name.to_owned());
    }
    let Some(domain) = domain else {
        return Err(RdnsError::RelativeName(name.to_owned()));
    };
    let domain = domain.strip_suffix('.').unwrap_or(domain);
    let full = format!("{name}.{domain}.");
    check_absolute(&full)?;
    Ok(full)
}

/// Turns a hostmaster address into the SOA RNAME form (RFC 1035 §8): `hostmaster@example.net`
/// becomes `hostmaster.example.net.`, a dot in the local part is escaped (`first\.last.…`).
/// A name without `@` is taken as already in RNAME form and qualified like [`qualify`].
pub fn rname(mailbox: &str, domain: Option<&str>) -> Result<String, RdnsError> {
    let Some((local, host)) = mailbox.split_once('@') else {
        return qualify(mailbox, domain);
    };
    let host = if host.ends_with('.') { host.to_owned() } else { format!("{host}.") };
    check_absolute(&host)?;
    let ok = !local.is_empty()
        && local.len() <= MAX_LABEL_LEN
        && local.bytes().all(|c| c.is_ascii_alphanumeric() || b"-_+.".contains(&c))
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..");
    if !ok {
        return Err(bad(
            mailbox,
            "the mailbox's local part must be 1-63 letters, digits, '-', '_', '+' or single dots",
        ));
    }
    Ok(format!("{}.{host}", local.replace('.', "\\.")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ldh_rules() {
        for ok in ["a.", "host-1.example.net.", "1host.example.", "A-B.C.", &format!("{}.", "a".repeat(63))] {
            check_absolute(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        let long = format!("{}a.", "abcdefghi.".repeat(25)); // 251 + "a" = 252 chars: ok
        assert!(check_absolute(&long).is_ok(), "{}", long.len());
        let too_long = format!("{}abcd.", "abcdefghi.".repeat(25)); // 254 chars
        assert!(check_absolute(&too_long).is_err());
        for bad in [
            "a",
            ".",
            "a..b.",
            "-a.",
            "a-.",
            "a_b.",
            "*.example.",
            "é.example.",
            "a b.",
            &format!("{}.", "a".repeat(64)),
        ] {
            assert!(check_absolute(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn qualify_and_rname() {
        assert_eq!(qualify("ns1", Some("example.net")).unwrap(), "ns1.example.net.");
        assert!(matches!(qualify("ns1", None), Err(RdnsError::RelativeName(_))));
        assert_eq!(rname("hostmaster@example.net", None).unwrap(), "hostmaster.example.net.");
        assert_eq!(rname("first.last@example.net.", None).unwrap(), "first\\.last.example.net.");
        assert_eq!(rname("hostmaster.example.net.", None).unwrap(), "hostmaster.example.net.");
        assert!(rname("@example.net", None).is_err());
        assert!(rname("a@-x.net", None).is_err());
        assert!(rname("a b@example.net", None).is_err());
    }
}
