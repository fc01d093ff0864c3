//! TLS ClientHello: server name (SNI) and ALPN.

use crate::Peek;

/// The most bytes of a stream buffered while waiting for a complete ClientHello.
pub const DEFAULT_LIMIT: usize = 16 * 1024;

/// What the proxy needs from a ClientHello.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClientHello {
    /// The `host_name` of the server_name extension (RFC 6066 §3), lower-cased, without a
    /// trailing dot; `None` when the extension is absent.
    pub server_name: Option<String>,
    /// The protocols of the ALPN extension (RFC 7301 §3.1), in the client's order.
    pub alpn: Vec<Vec<u8>>,
    /// The legacy record version of the first record (for the alert the proxy may send).
    pub record_version: u16,
}

/// Why a stream does not begin with a usable ClientHello.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// The first byte is not a TLS handshake record.
    #[error("not a TLS handshake")]
    NotHandshake,
    /// The ClientHello did not end within the limit.
    #[error("ClientHello longer than {limit} bytes")]
    TooLong {
        /// The limit.
        limit: usize,
    },
    /// A length or field of the record or handshake is inconsistent.
    #[error("malformed ClientHello: {0}")]
    Malformed(&'static str),
}

/// Parses the ClientHello at the start of `buf` (all bytes read so far), buffering at most
/// `limit` bytes.
pub fn peek_client_hello(buf: &[u8], limit: usize) -> Result<Peek<ClientHello>, TlsError> {
    let _ = (buf, limit);
    unimplemented!("scaffold")
}

/// A fatal `unrecognized_name` alert record (RFC 6066 §3, RFC 8446 §6.2) to send before closing.
pub fn unrecognized_name_alert(record_version: u16) -> [u8; 7] {
    let v = record_version.to_be_bytes();
    [21, v[0], v[1], 0, 2, 2, 112]
}
