//! Replays the `stateful_events` fuzz corpus (`fuzz/corpus/stateful_events/`) through the
//! checks the fuzz target runs (`sixgate_testkit::fuzz::nat64::stateful_events`).

use sixgate_testkit::corpus as replay;

#[test]
fn corpus_stateful_events() {
    replay::replay("stateful_events", 5, sixgate_testkit::fuzz::nat64::stateful_events);
}

#[test]
fn seeds_stateful_events() {
    for s in sixgate_testkit::fuzz::nat64::seeds_stateful_events() {
        sixgate_testkit::fuzz::nat64::stateful_events(&s);
    }
}

/// Writes the seeds: `SIXGATE_WRITE_SEEDS=1 cargo test -p sixgate-nat64 --test
/// fuzz_corpus_events write_seeds -- --ignored`.
#[test]
#[ignore = "regenerates the fuzz seeds; run on purpose"]
fn write_seeds() {
    replay::write_seeds("stateful_events", &sixgate_testkit::fuzz::nat64::seeds_stateful_events());
}
