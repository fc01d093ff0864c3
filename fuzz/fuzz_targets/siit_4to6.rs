#![no_main]
//! Fuzz target `siit_4to6`: arbitrary bytes (byte 0 a mode, see
//! `sixgate_testkit::fuzz::nat64`) through the stateless translator; panics if any output breaks
//! a property. The corpus in `fuzz/corpus/siit_4to6/` is replayed by
//! `crates/sixgate-nat64/tests/fuzz_corpus.rs`.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    sixgate_testkit::fuzz::nat64::siit_4to6(data);
});
