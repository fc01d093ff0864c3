//! sixgate-rdns (under construction).
#![forbid(unsafe_code)]
#![warn(missing_docs)]
