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

// The proxy around the parsers: routing (sans-IO) and, with feature `server`, the I/O.
#[cfg(all(feature = "server", target_os = "linux"))]
pub mod io;
pub mod route;
