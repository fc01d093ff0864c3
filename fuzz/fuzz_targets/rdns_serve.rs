#![no_main]
//! Fuzz target `rdns_serve`: a query (byte 0 a mode, see `sixgate_testkit::fuzz::rdns::check_serve`)
//! through the reverse-DNS authority; panics if an answer breaks a property. The corpus in
//! `fuzz/corpus/rdns_serve/` is replayed by `tests/fuzz_corpus_rdns.rs`.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    sixgate_testkit::fuzz::rdns::check_serve(data);
});
