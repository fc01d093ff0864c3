#![no_main]
//! Fuzz target `rfc6052_extract`. RFC 6052 embed/extract are inverse for every prefix length and extraction refuses exactly what
//! RFC 6052 §2.2 says; 6to4 and 6rd round trips on the same bytes.
//!
//! The checks live in `sixgate_testkit::fuzz::sixto4` so that `tests/fuzz_corpus_6to4.rs` replays the
//! corpus through exactly the same code in `cargo test`.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    sixgate_testkit::fuzz::sixto4::rfc6052_extract(data);
});
