//! Replays the parser fuzz corpora (`fuzz/corpus/proxy_tls/`, `proxy_http/`,
//! `proxy_protocol/`) through the checks the fuzz targets run
//! (`sixgate_testkit::fuzz::proxy`), so every input the fuzzers kept stays a test.

use sixgate_testkit::corpus as replay;
use sixgate_testkit::fuzz::proxy;

#[test]
fn corpus_proxy_tls() {
    replay::replay("proxy_tls", 10, proxy::tls);
}

#[test]
fn corpus_proxy_http() {
    replay::replay("proxy_http", 10, proxy::http);
}

#[test]
fn corpus_proxy_protocol() {
    replay::replay("proxy_protocol", 7, proxy::proxy_protocol);
}

#[test]
fn seeds() {
    for s in proxy::seeds_tls() {
        proxy::tls(&s);
    }
    for s in proxy::seeds_http() {
        proxy::http(&s);
    }
    for s in proxy::seeds_proxy() {
        proxy::proxy_protocol(&s);
    }
}

/// Writes the seeds into the corpora: `SIXGATE_WRITE_SEEDS=1 cargo test -p sixgate-proxy
/// --test fuzz_corpus write_seeds -- --ignored`.
#[test]
#[ignore = "regenerates the fuzz seeds; run on purpose"]
fn write_seeds() {
    replay::write_seeds("proxy_tls", &proxy::seeds_tls());
    replay::write_seeds("proxy_http", &proxy::seeds_http());
    replay::write_seeds("proxy_protocol", &proxy::seeds_proxy());
}
