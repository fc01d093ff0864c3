#![no_main]
//! Fuzz target `rfc6052_extract` (being built).
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = data;
});
