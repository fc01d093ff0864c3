//! The checks of the fuzz targets, by library crate. See the crate documentation.

pub mod dns64_cache;
pub mod nat64;
pub mod proxy;
pub mod rdns;
pub mod sit;
pub mod sixto4;
