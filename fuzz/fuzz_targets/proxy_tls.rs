#![no_main]
//! Fuzz target `proxy_tls`: a stream's first bytes through the ClientHello parser; panics if a property of
//! `sixgate_testkit::fuzz::proxy::tls` fails. The corpus in `fuzz/corpus/proxy_tls/` is replayed by
//! `crates/sixgate-proxy/tests/fuzz_corpus.rs`.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    sixgate_testkit::fuzz::proxy::tls(data);
});
