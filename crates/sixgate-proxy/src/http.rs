//! HTTP/1.x request head: the Host the request is for.
//!
//! [`peek_request_head`] looks at the bytes read so far and finds where the request is
//! going, without consuming anything: the proxy forwards the same bytes, head and all, to
//! the backend it picks. Only the request line and the field lines are examined; the body
//! and any further requests on the connection are the backend's business.

use std::net::Ipv6Addr;

use crate::Peek;

/// The most bytes buffered while waiting for a complete request head.
pub const DEFAULT_LIMIT: usize = 8 * 1024;

/// What the proxy needs from a request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead {
    /// The host of the `Host` field (or of an absolute-form target), lower-cased, port
    /// removed; an IPv6 literal without its brackets, in the RFC 5952 text form.
    pub host: String,
    /// The port given with the host, if any.
    pub port: Option<u16>,
    /// The length of the head, through the blank line.
    pub head_len: usize,
}

/// Why a stream does not begin with a usable HTTP/1.x request head.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HttpError {
    /// The head did not end within the limit.
    #[error("request head longer than {limit} bytes")]
    TooLong {
        /// The limit.
        limit: usize,
    },
    /// No Host, several Hosts, or a Host that is not a valid host name.
    #[error("bad or missing Host: {0}")]
    BadHost(&'static str),
    /// Not an HTTP/1.x request line or field syntax.
    #[error("malformed request head: {0}")]
    Malformed(&'static str),
}

/// Parses the request head at the start of `buf`, buffering at most `limit` bytes.
///
/// `NeedMore` until the blank line that ends the head; lines already complete are checked
/// as they arrive, so a stream that is not HTTP/1.x is refused early. Line ends are CRLF,
/// or a lone LF (RFC 9112 §2.2 allows a recipient to accept it); a lone CR is refused.
pub fn peek_request_head(buf: &[u8], limit: usize) -> Result<Peek<RequestHead>, HttpError> {
    let avail = &buf[..buf.len().min(limit)];
    let need_more = || if buf.len() >= limit { Err(HttpError::TooLong { limit }) } else { Ok(Peek::NeedMore) };
    let mut pos = 0;
    // RFC 9112 §2.2: a server SHOULD ignore at least one empty line before the request line.
    loop {
        match &avail[pos..] {
            [b'\r', b'\n', ..] => pos += 2,
            [b'\n', ..] => pos += 1,
            [b'\r'] | [] => return need_more(),
            _ => break,
        }
    }
    let Some((line, next)) = next_line(avail, pos)? else {
        check_partial_request_line(&avail[pos..])?;
        return need_more();
    };
    let (minor, target) = parse_request_line(line)?;
    pos = next;
    let mut host_field: Option<&[u8]> = None;
    loop {
        let Some((line, next)) = next_line(avail, pos)? else {
            // RFC 9112 §5.2 (obs-fold) and §2.2 (whitespace after the start line).
            if matches!(avail.get(pos), Some(b' ' | b'\t')) {
                return Err(HttpError::Malformed("field line beginning with whitespace (obs-fold)"));
            }
            return need_more();
        };
        pos = next;
        if line.is_empty() {
            break;
        }
        let (name, value) = parse_field_line(line)?;
        if name.eq_ignore_ascii_case(b"host") {
            // RFC 9112 §3.2: more than one Host field line is answered with 400.
            if host_field.replace(value).is_some() {
                return Err(HttpError::BadHost("more than one Host field"));
            }
        }
    }
    // RFC 9112 §3.2: a Host with an invalid value is answered with 400, whatever the target.
    let from_field = host_field.map(parse_host_port).transpose()?;
    let (host, port) = match (target, from_field) {
        // RFC 9112 §3.2.2: an absolute-form target's authority replaces the Host field...
        (Some(t), Some(_)) => t,
        // ...but an HTTP/1.1 request without Host is still answered with 400 (§3.2).
        (Some(t), None) if minor == 0 => t,
        (_, Some(f)) => f,
        (_, None) => return Err(HttpError::BadHost("no Host field")),
    };
    Ok(Peek::Done(RequestHead { host, port, head_len: pos }))
}

/// A complete response with `status` (400, 421, 502, 503, 504) and `Connection: close`.
///
/// Any 4xx or 5xx code works; one outside 400–599 gives 500.
pub fn error_response(status: u16) -> Vec<u8> {
    let status = if (400..=599).contains(&status) { status } else { 500 };
    let reason = match status {
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        408 => "Request Timeout",
        421 => "Misdirected Request",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Error",
    };
    let body = format!("{status} {reason}\n");
    format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// The line starting at `pos` (without its CRLF or LF) and where the next one starts;
/// `None` while it has no end yet.
fn next_line(buf: &[u8], pos: usize) -> Result<Option<(&[u8], usize)>, HttpError> {
    let rest = &buf[pos..];
    let Some(lf) = rest.iter().position(|&b| b == b'\n') else {
        // A CR not followed by LF is refused as soon as the next byte shows it.
        if rest.iter().position(|&b| b == b'\r').is_some_and(|cr| cr + 1 < rest.len()) {
            return Err(HttpError::Malformed("CR without LF"));
        }
        return Ok(None);
    };
    let line = rest[..lf].strip_suffix(b"\r").unwrap_or(&rest[..lf]);
    // RFC 9112 §2.2: a bare CR in a protocol element is invalid.
    if line.contains(&b'\r') {
        return Err(HttpError::Malformed("CR without LF"));
    }
    Ok(Some((line, pos + lf + 1)))
}

/// `tchar` of RFC 9110 §5.6.2.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// The start of a request line still without its end: at least its method must be a token.
fn check_partial_request_line(part: &[u8]) -> Result<(), HttpError> {
    let method = part.split(|&b| b == b' ').next().unwrap_or_default();
    if !method.iter().all(|&b| is_tchar(b)) || (method.is_empty() && !part.is_empty()) {
        return Err(HttpError::Malformed("request line does not begin with a method"));
    }
    Ok(())
}

/// A host and optional port.
type HostPort = (String, Option<u16>);

/// The request line (RFC 9112 §3): the minor version and, for an absolute-form target,
/// its host and port.
fn parse_request_line(line: &[u8]) -> Result<(u8, Option<HostPort>), HttpError> {
    let mut parts = line.split(|&b| b == b' ');
    let (Some(method), Some(target), Some(version), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(HttpError::Malformed("request line is not method SP target SP version"));
    };
    if method.is_empty() || !method.iter().all(|&b| is_tchar(b)) {
        return Err(HttpError::Malformed("method is not a token"));
    }
    // RFC 9112 §2.3: HTTP-version = "HTTP/" DIGIT "." DIGIT, case-sensitive; major 1 here.
    let minor = match version {
        [b'H', b'T', b'T', b'P', b'/', b'1', b'.', d] if d.is_ascii_digit() => d - b'0',
        _ => return Err(HttpError::Malformed("version is not HTTP/1.x")),
    };
    if target.is_empty() || !target.iter().all(|&b| b > b' ' && b != 0x7f) {
        return Err(HttpError::Malformed("request target empty or with control characters"));
    }
    // RFC 9112 §3.2: origin-form, absolute-form, authority-form (CONNECT), asterisk-form.
    if method == b"CONNECT" {
        return Err(HttpError::Malformed("CONNECT is not routed"));
    }
    if target[0] == b'/' {
        return Ok((minor, None));
    }
    if target == b"*" {
        return if method == b"OPTIONS" {
            Ok((minor, None))
        } else {
            Err(HttpError::Malformed("'*' target without OPTIONS"))
        };
    }
    // RFC 9112 §3.2.2, absolute-form: scheme "://" authority path-abempty [ "?" query ].
    let Some(sep) = target.windows(3).position(|w| w == b"://") else {
        return Err(HttpError::Malformed("request target in no known form"));
    };
    let scheme = &target[..sep];
    if !scheme.eq_ignore_ascii_case(b"http") && !scheme.eq_ignore_ascii_case(b"https") {
        return Err(HttpError::Malformed("absolute-form target with a scheme other than http or https"));
    }
    let rest = &target[sep + 3..];
    let end = rest.iter().position(|&b| matches!(b, b'/' | b'?' | b'#')).unwrap_or(rest.len());
    let authority = &rest[..end];
    // RFC 9110 §4.2.4: userinfo in an http(s) URI is an error.
    if authority.contains(&b'@') {
        return Err(HttpError::BadHost("userinfo in the request target"));
    }
    Ok((minor, Some(parse_host_port(authority)?)))
}

/// A field line (RFC 9112 §5): its name and its value without surrounding whitespace.
fn parse_field_line(line: &[u8]) -> Result<(&[u8], &[u8]), HttpError> {
    if matches!(line.first(), Some(b' ' | b'\t')) {
        // RFC 9112 §5.2 (obs-fold) and §2.2 (whitespace after the start line): rejected.
        return Err(HttpError::Malformed("field line beginning with whitespace (obs-fold)"));
    }
    let Some(colon) = line.iter().position(|&b| b == b':') else {
        return Err(HttpError::Malformed("field line without a colon"));
    };
    let name = &line[..colon];
    if name.is_empty() {
        return Err(HttpError::Malformed("empty field name"));
    }
    // RFC 9112 §5.1: no whitespace between the field name and the colon (400).
    if !name.iter().all(|&b| is_tchar(b)) {
        return Err(HttpError::Malformed("field name is not a token (whitespace before the colon?)"));
    }
    let value = trim_ows(&line[colon + 1..]);
    // RFC 9110 §5.5: CR, LF and NUL are invalid in a field value.
    if value.contains(&0) {
        return Err(HttpError::Malformed("NUL in a field value"));
    }
    Ok((name, value))
}

/// `OWS` (space and tab, RFC 9110 §5.6.3) removed from both ends.
fn trim_ows(v: &[u8]) -> &[u8] {
    let ows = |b: &u8| *b == b' ' || *b == b'\t';
    let start = v.iter().position(|b| !ows(b)).unwrap_or(v.len());
    let end = v.iter().rposition(|b| !ows(b)).map_or(start, |e| e + 1);
    &v[start..end]
}

/// `Host = uri-host [ ":" port ]` (RFC 9110 §7.2; RFC 3986 §3.2.2 and §3.2.3): an IPv6
/// literal in brackets, or a host name (an IPv4 address passes as one).
fn parse_host_port(v: &[u8]) -> Result<HostPort, HttpError> {
    if v.is_empty() {
        return Err(HttpError::BadHost("empty host"));
    }
    let (host, port) = if let Some(inner) = v.strip_prefix(b"[") {
        let Some(close) = inner.iter().position(|&b| b == b']') else {
            return Err(HttpError::BadHost("IPv6 literal without ']'"));
        };
        let text = std::str::from_utf8(&inner[..close]).map_err(|_| HttpError::BadHost("bad IPv6 literal"))?;
        // IPvFuture ("v1.x") is not routable either.
        let addr: Ipv6Addr = text.parse().map_err(|_| HttpError::BadHost("bad IPv6 literal"))?;
        let port = match &inner[close + 1..] {
            [] => None,
            [b':', p @ ..] => Some(p),
            _ => return Err(HttpError::BadHost("bytes after the IPv6 literal")),
        };
        (addr.to_string(), port)
    } else {
        let (name, port) = match v.iter().position(|&b| b == b':') {
            Some(c) => (&v[..c], Some(&v[c + 1..])),
            None => (v, None),
        };
        (crate::normalize_host_name(name).map_err(HttpError::BadHost)?, port)
    };
    // RFC 3986 §3.2.3: port = *DIGIT; an empty port is the same as none.
    let port = match port {
        None | Some([]) => None,
        Some(p) if p.len() <= 5 && p.iter().all(u8::is_ascii_digit) => {
            let n = p.iter().fold(0u32, |n, d| n * 10 + u32::from(d - b'0'));
            Some(u16::try_from(n).map_err(|_| HttpError::BadHost("port above 65535"))?)
        }
        Some(_) => return Err(HttpError::BadHost("port is not a number")),
    };
    Ok((host, port))
}
