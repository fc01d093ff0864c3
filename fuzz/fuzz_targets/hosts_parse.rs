#![no_main]
//! Fuzz target `hosts_parse`: the hosts-file parser and the PTR set it feeds: print/parse round trip, sorted unique records the writer accepts. The checks live in `sixgate_testkit::fuzz::rdns` so that
//! `cargo test` replays the corpus through the same code (tests/fuzz_corpus_rdns.rs).
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    sixgate_testkit::fuzz::rdns::check_hosts(data);
});
