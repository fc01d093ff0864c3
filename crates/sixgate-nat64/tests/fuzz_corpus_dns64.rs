//! Replays the DNS64 fuzz corpus (`fuzz/corpus/dns64/`) through the checks the fuzz target
//! runs (`sixgate_testkit::fuzz::nat64::dns64`), so every input the fuzzer kept stays a test.

use sixgate_testkit::corpus as replay;

#[test]
fn corpus_dns64() {
    replay::replay("dns64", 40, sixgate_testkit::fuzz::nat64::dns64);
}

#[test]
fn seeds() {
    for s in sixgate_testkit::fuzz::nat64::seeds_dns64() {
        sixgate_testkit::fuzz::nat64::dns64(&s);
    }
}

/// Writes the seeds into the corpus: `SIXGATE_WRITE_SEEDS=1 cargo test -p sixgate-nat64 --features dns64
/// --test fuzz_corpus_dns64 write_seeds -- --ignored`.
#[test]
#[ignore = "regenerates the fuzz seeds; run on purpose"]
fn write_seeds() {
    replay::write_seeds("dns64", &sixgate_testkit::fuzz::nat64::seeds_dns64());
}
