#![no_main]
//! Fuzz target `arpa_parse` (being built).
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = data;
});
