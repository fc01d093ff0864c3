//! The PROXY protocol (HAProxy's specification), versions 1 and 2.

use std::net::SocketAddr;

use crate::Peek;

/// One type-length-value of a version 2 header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tlv {
    /// The type (`PP2_TYPE_*`).
    pub kind: u8,
    /// The value.
    pub value: Vec<u8>,
}

/// A decoded PROXY header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The original connection's addresses; `None` for `LOCAL` (v2) or `UNKNOWN` (v1).
    pub addresses: Option<(SocketAddr, SocketAddr)>,
    /// The TLVs (version 2 only).
    pub tlvs: Vec<Tlv>,
}

/// Why bytes are not a PROXY header.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProxyError {
    /// Neither signature.
    #[error("no PROXY protocol signature")]
    NoSignature,
    /// The header is malformed.
    #[error("malformed PROXY header: {0}")]
    Malformed(&'static str),
}

/// The version 1 (text) header for a connection from `source` to `destination`.
pub fn encode_v1(source: SocketAddr, destination: SocketAddr) -> Vec<u8> {
    let _ = (source, destination);
    unimplemented!("scaffold")
}

/// The version 2 (binary) header, command PROXY, stream, with `tlvs`.
pub fn encode_v2(source: SocketAddr, destination: SocketAddr, tlvs: &[Tlv]) -> Vec<u8> {
    let _ = (source, destination, tlvs);
    unimplemented!("scaffold")
}

/// Decodes a v1 or v2 header at the start of `buf`: the header and its length in bytes.
pub fn decode(buf: &[u8]) -> Result<Peek<(Header, usize)>, ProxyError> {
    let _ = buf;
    unimplemented!("scaffold")
}
