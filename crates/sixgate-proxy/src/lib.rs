//! IPv4 to IPv6-only servers: the sans-IO parsers a name-routing TCP proxy needs.
//!
//! * [`tls`]: the first TLS ClientHello of a stream → server name (SNI, RFC 6066 §3) and
//!   ALPN protocols (RFC 7301), across several records and TCP segments, with a bound on
//!   what is buffered.
//! * [`http`]: an HTTP/1.x request head → `Host` (RFC 9112 §3.2), leaving the stream untouched.
//! * [`proxy_protocol`]: the PROXY protocol header, versions 1 and 2, encode and decode, TLVs.
//!
//! No parser touches a socket: each takes the bytes read so far and answers
//! [`Peek::NeedMore`], [`Peek::Done`] or a typed error.

pub mod http;
pub mod proxy_protocol;
pub mod tls;

/// The outcome of looking at the first bytes of a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Peek<T> {
    /// Not enough bytes yet: read more (up to the parser's limit) and ask again.
    NeedMore,
    /// The value, parsed from a prefix of the bytes.
    Done(T),
}

/// The most octets of a DNS name in text form, without the trailing dot (RFC 1035 §2.3.4:
/// 255 octets on the wire, which is 253 characters of text).
pub const MAX_NAME_LEN: usize = 253;

/// A host name as the proxy routes by it: ASCII letters, digits, `-` and `_`, in labels of
/// 1 to 63 characters that neither begin nor end with `-` (RFC 1123 §2.1; the underscore is
/// tolerated because real service names carry it), at most [`MAX_NAME_LEN`] characters, one
/// trailing dot removed, lower-cased. The one home of that rule for the SNI and `Host`
/// parsers; `Err` says what is wrong.
pub fn normalize_host_name(raw: &[u8]) -> Result<String, &'static str> {
    let name = raw.strip_suffix(b".").unwrap_or(raw);
    if name.is_empty() {
        return Err("empty host name");
    }
    if name.len() > MAX_NAME_LEN {
        return Err("host name longer than 253 characters");
    }
    for label in name.split(|&b| b == b'.') {
        if label.is_empty() {
            return Err("empty label in host name");
        }
        if label.len() > 63 {
            return Err("label longer than 63 characters in host name");
        }
        if !label.iter().all(|&b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            return Err("character other than a letter, digit, '-' or '_' in host name");
        }
        if label[0] == b'-' || label[label.len() - 1] == b'-' {
            return Err("label beginning or ending with '-' in host name");
        }
    }
    let mut s = String::with_capacity(name.len());
    s.extend(name.iter().map(|&b| char::from(b.to_ascii_lowercase())));
    Ok(s)
}

// The proxy around the parsers: routing (sans-IO) and, with feature `server`, the I/O.
#[cfg(all(feature = "server", target_os = "linux"))]
pub mod io;
pub mod route;
