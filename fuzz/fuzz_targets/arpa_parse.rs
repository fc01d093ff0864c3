#![no_main]
//! Fuzz target `arpa_parse`: the arpa-name parser: name(parse(x)) == x. The checks live in `sixgate_testkit::fuzz::rdns` so that
//! `cargo test` replays the corpus through the same code (tests/fuzz_corpus_rdns.rs).
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    sixgate_testkit::fuzz::rdns::check_arpa(data);
});
