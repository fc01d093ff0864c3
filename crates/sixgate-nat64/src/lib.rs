//! sixgate-nat64 (under construction).
#![forbid(unsafe_code)]
#![warn(missing_docs)]
