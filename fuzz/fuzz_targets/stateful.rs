#![no_main]
//! Fuzz target `stateful`: sequences of packets from both sides and time steps through the
//! stateful NAT64 (input format in `sixgate_testkit::fuzz::nat64::stateful`); panics if the
//! tables' invariants or an output's checksums break. The corpus in
//! `fuzz/corpus/stateful/` is replayed by `crates/sixgate-nat64/tests/fuzz_corpus.rs`.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    sixgate_testkit::fuzz::nat64::stateful(data);
});
