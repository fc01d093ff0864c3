#![no_main]
//! Fuzz target `addr_explain`. `sixgate addr`: every IPv4 address found inside an IPv6 address re-embeds to it; class, texts,
//! /64 and reverse name agree with the address.
//!
//! The checks live in `sixgate_testkit::fuzz::sixto4` so that `tests/fuzz_corpus_6to4.rs` replays the
//! corpus through exactly the same code in `cargo test`.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    sixgate_testkit::fuzz::sixto4::addr_explain(data);
});
