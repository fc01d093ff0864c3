//! sixgate-6to4 (under construction).
#![forbid(unsafe_code)]
#![warn(missing_docs)]
