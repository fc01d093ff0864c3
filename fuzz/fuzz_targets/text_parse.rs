#![no_main]
//! Fuzz target `text_parse`. Text parsing: the batch IPv4 parser against std, the 6to4 text formatter against Display, sixgate-core's
//! address, host:port and prefix parsers (print→parse round trip), batch mode against std line by line.
//!
//! The checks live in `sixgate_testkit::fuzz::sixto4` so that `tests/fuzz_corpus_6to4.rs` replays the
//! corpus through exactly the same code in `cargo test`.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    sixgate_testkit::fuzz::sixto4::text_parse(data);
});
