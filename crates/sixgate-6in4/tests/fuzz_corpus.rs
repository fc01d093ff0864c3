//! Replays the fuzz corpus `fuzz/corpus/sit_decap/` through the checks the fuzz target
//! runs (`sixgate_testkit::fuzz::sit`), so every input the fuzzer kept stays a regression test.

use sixgate_testkit::corpus as replay;

#[test]
fn corpus_sit_decap() {
    // The corpus is seeded with real packets; a short one means it was lost.
    replay::replay("sit_decap", 20, sixgate_testkit::fuzz::sit::sit_decap);
}

#[test]
fn seeds() {
    for s in sixgate_testkit::fuzz::sit::seeds() {
        sixgate_testkit::fuzz::sit::sit_decap(&s);
    }
}

/// Writes the seeds into the corpus: `SIXGATE_WRITE_SEEDS=1 cargo test -p sixgate-6in4
/// --test fuzz_corpus write_seeds -- --ignored`.
#[test]
#[ignore = "regenerates the fuzz seeds; run on purpose"]
fn write_seeds() {
    replay::write_seeds("sit_decap", &sixgate_testkit::fuzz::sit::seeds());
}
