//! Replays the SIIT fuzz corpora (`fuzz/corpus/siit_4to6/`, `fuzz/corpus/siit_6to4/`)
//! through the same checks the fuzz targets run (`sixgate_testkit::fuzz::nat64`), so that every
//! input the fuzzers kept, including the ones that once crashed, stays a regression test.

use sixgate_testkit::corpus as replay;

// The corpora are seeded with real packets; a short one means they were lost.
fn replay(target: &str, f: fn(&[u8])) {
    replay::replay(target, 20, f);
}

#[test]
fn corpus_siit_4to6() {
    replay("siit_4to6", sixgate_testkit::fuzz::nat64::siit_4to6);
}

#[test]
fn corpus_siit_6to4() {
    replay("siit_6to4", sixgate_testkit::fuzz::nat64::siit_6to4);
}

/// The built-in seeds pass too (they are what the corpora were seeded with).
#[test]
fn seeds() {
    for s in sixgate_testkit::fuzz::nat64::seeds_4to6() {
        sixgate_testkit::fuzz::nat64::siit_4to6(&s);
    }
    for s in sixgate_testkit::fuzz::nat64::seeds_6to4() {
        sixgate_testkit::fuzz::nat64::siit_6to4(&s);
    }
}

/// Writes the seeds into the corpus directories: `SIXGATE_WRITE_SEEDS=1 cargo test -p
/// sixgate-nat64 --test fuzz_corpus write_seeds -- --ignored`.
#[test]
#[ignore = "regenerates the fuzz seeds; run on purpose"]
fn write_seeds() {
    replay::write_seeds("siit_4to6", &sixgate_testkit::fuzz::nat64::seeds_4to6());
    replay::write_seeds("siit_6to4", &sixgate_testkit::fuzz::nat64::seeds_6to4());
}

#[test]
fn corpus_stateful() {
    replay("stateful", sixgate_testkit::fuzz::nat64::stateful);
}

#[test]
fn seeds_stateful() {
    for s in sixgate_testkit::fuzz::nat64::seeds_stateful() {
        sixgate_testkit::fuzz::nat64::stateful(&s);
    }
}

/// Writes the stateful seeds: `SIXGATE_WRITE_SEEDS=1 cargo test -p sixgate-nat64 --test
/// fuzz_corpus write_seeds_stateful -- --ignored`.
#[test]
#[ignore = "regenerates the fuzz seeds; run on purpose"]
fn write_seeds_stateful() {
    replay::write_seeds("stateful", &sixgate_testkit::fuzz::nat64::seeds_stateful());
}
