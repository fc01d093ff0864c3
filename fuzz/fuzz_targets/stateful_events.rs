#![no_main]
//! Fuzz target `stateful_events`: traffic and time through the stateful NAT64 with its
//! BIB and session events on (input format in
//! `sixgate_testkit::fuzz::nat64::stateful_events`); panics if the event stream does not
//! replay into the engine's tables. The corpus in `fuzz/corpus/stateful_events/` is
//! replayed by `crates/sixgate-nat64/tests/fuzz_corpus_events.rs`.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    sixgate_testkit::fuzz::nat64::stateful_events(data);
});
