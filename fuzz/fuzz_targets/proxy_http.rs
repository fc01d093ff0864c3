#![no_main]
//! Fuzz target `proxy_http`: a stream's first bytes through the HTTP/1.x request-head parser; panics if a property of
//! `sixgate_testkit::fuzz::proxy::http` fails. The corpus in `fuzz/corpus/proxy_http/` is replayed by
//! `crates/sixgate-proxy/tests/fuzz_corpus.rs`.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    sixgate_testkit::fuzz::proxy::http(data);
});
