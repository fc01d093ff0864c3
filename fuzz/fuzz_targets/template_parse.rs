#![no_main]
//! Fuzz target `template_parse`: name templates and address ranges: print/parse round trip, deterministic rendering, canonical walk order. The checks live in `sixgate_testkit::fuzz::rdns` so that
//! `cargo test` replays the corpus through the same code (tests/fuzz_corpus_rdns.rs).
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    sixgate_testkit::fuzz::rdns::check_template(data);
});
