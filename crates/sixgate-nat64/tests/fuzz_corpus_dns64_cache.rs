//! Replays the DNS64 cache fuzz corpus (`fuzz/corpus/dns64_cache/`) through the checks the
//! fuzz target runs (`sixgate_testkit::fuzz::dns64_cache`), so every input the fuzzer kept
//! stays a test.

use sixgate_testkit::corpus as replay;
use sixgate_testkit::fuzz::dns64_cache::{dns64_cache, seeds_dns64_cache};

#[test]
fn corpus_dns64_cache() {
    replay::replay("dns64_cache", 3, dns64_cache);
}

#[test]
fn seeds() {
    for s in seeds_dns64_cache() {
        dns64_cache(&s);
    }
}

/// Mutations of the seeds: every truncation and every single-byte change to 0x00, 0xc0
/// and 0xff, as the fuzzer's first steps would make them.
#[test]
fn mutated_seeds() {
    for s in seeds_dns64_cache() {
        for cut in 0..=s.len() {
            dns64_cache(&s[..cut]);
        }
        for i in 0..s.len() {
            for b in [0x00, 0xc0, 0xff] {
                let mut m = s.clone();
                m[i] = b;
                dns64_cache(&m);
            }
        }
    }
}

/// Writes the seeds into the corpus: `SIXGATE_WRITE_SEEDS=1 cargo test -p sixgate-nat64 --features dns64
/// --test fuzz_corpus_dns64_cache write_seeds -- --ignored`.
#[test]
#[ignore = "regenerates the fuzz seeds; run on purpose"]
fn write_seeds() {
    replay::write_seeds("dns64_cache", &seeds_dns64_cache());
}
