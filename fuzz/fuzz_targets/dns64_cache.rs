#![no_main]
//! Fuzz target `dns64_cache`: bytes as a client's query (the cache keys) and as an upstream
//! answer stored in and served from the DNS64 server's cache (see
//! `sixgate_testkit::fuzz::dns64_cache`). The corpus in `fuzz/corpus/dns64_cache/` is
//! replayed by `crates/sixgate-nat64/tests/fuzz_corpus_dns64_cache.rs`.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    sixgate_testkit::fuzz::dns64_cache::dns64_cache(data);
});
