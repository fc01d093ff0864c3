#![no_main]
//! Fuzz target `dns64`: a client query and upstream answers (byte 0 a mode, see
//! `sixgate_testkit::fuzz::nat64::dns64`) through the DNS64 state machine, and the same bytes
//! through the PREF64 decoder; panics if an answer breaks a property. The corpus in
//! `fuzz/corpus/dns64/` is replayed by `crates/sixgate-nat64/tests/fuzz_corpus_dns64.rs`.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    sixgate_testkit::fuzz::nat64::dns64(data);
});
