//! Replays the stored fuzz corpora of `text_parse`, `addr_explain` and `rfc6052_extract`
//! through the same checks the fuzz targets run (`sixgate_testkit::fuzz::sixto4`).

use sixgate_testkit::corpus as replay;

fn replay(target: &str, check: fn(&[u8])) {
    replay::replay(target, 1, check);
}

#[test]
fn text_parse_corpus() {
    replay("text_parse", sixgate_testkit::fuzz::sixto4::text_parse);
}

#[test]
fn addr_explain_corpus() {
    replay("addr_explain", sixgate_testkit::fuzz::sixto4::addr_explain);
}

#[test]
fn rfc6052_extract_corpus() {
    replay("rfc6052_extract", sixgate_testkit::fuzz::sixto4::rfc6052_extract);
}
