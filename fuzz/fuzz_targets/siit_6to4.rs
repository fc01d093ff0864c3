#![no_main]
//! Fuzz target `siit_6to4` (being built).
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = data;
});
