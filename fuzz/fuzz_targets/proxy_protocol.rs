#![no_main]
//! Fuzz target `proxy_protocol`: bytes through the PROXY protocol v1/v2 decoder, and what decodes back through the encoders; panics if a property of
//! `sixgate_testkit::fuzz::proxy::proxy_protocol` fails. The corpus in `fuzz/corpus/proxy_protocol/` is replayed by
//! `crates/sixgate-proxy/tests/fuzz_corpus.rs`.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    sixgate_testkit::fuzz::proxy::proxy_protocol(data);
});
