//! HTTP/1.x request head: the Host the request is for.

use crate::Peek;

/// The most bytes buffered while waiting for a complete request head.
pub const DEFAULT_LIMIT: usize = 8 * 1024;

/// What the proxy needs from a request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead {
    /// The host of the `Host` field (or of an absolute-form target), lower-cased, port removed.
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
pub fn peek_request_head(buf: &[u8], limit: usize) -> Result<Peek<RequestHead>, HttpError> {
    let _ = (buf, limit);
    unimplemented!("scaffold")
}

/// A complete response with `status` (400, 421, 502, 503, 504) and `Connection: close`.
pub fn error_response(status: u16) -> Vec<u8> {
    let _ = status;
    unimplemented!("scaffold")
}
