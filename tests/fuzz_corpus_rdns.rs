//! Replays the reverse-DNS fuzz corpora through the same checks the fuzz targets run
//! (`sixgate_testkit::fuzz::rdns`), so every `cargo test` re-asserts the properties on them.

use sixgate_testkit::corpus as replay;

fn replay(target: &str, check: fn(&[u8])) {
    replay::replay(target, 1, check);
}

#[test]
fn arpa_parse_corpus() {
    replay("arpa_parse", sixgate_testkit::fuzz::rdns::check_arpa);
}

#[test]
fn hosts_parse_corpus() {
    replay("hosts_parse", sixgate_testkit::fuzz::rdns::check_hosts);
}

#[test]
fn template_parse_corpus() {
    replay("template_parse", sixgate_testkit::fuzz::rdns::check_template);
}

#[test]
fn rdns_serve_corpus() {
    replay("rdns_serve", sixgate_testkit::fuzz::rdns::check_serve);
}

#[test]
fn rdns_serve_seeds() {
    for s in sixgate_testkit::fuzz::rdns::seeds_serve() {
        sixgate_testkit::fuzz::rdns::check_serve(&s);
    }
}

/// Writes the `rdns_serve` seeds into the corpus: `cargo test --test fuzz_corpus_rdns
/// write_serve_seeds -- --ignored`.
#[test]
#[ignore = "regenerates the fuzz seeds; run on purpose"]
fn write_serve_seeds() {
    replay::write_seeds("rdns_serve", &sixgate_testkit::fuzz::rdns::seeds_serve());
}
