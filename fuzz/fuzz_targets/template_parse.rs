#![no_main]
//! Fuzz target `template_parse` (being built).
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = data;
});
