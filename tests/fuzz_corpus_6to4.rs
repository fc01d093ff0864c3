//! Replays the stored fuzz corpora of `text_parse`, `addr_explain` and `rfc6052_extract`
//! through the same checks the fuzz targets run (`sixgate::sixto4::fuzzing`).

use std::path::Path;

fn replay(target: &str, check: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus").join(target);
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("directory entry").path();
        let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let r = std::panic::catch_unwind(|| check(&data));
        assert!(r.is_ok(), "{target}: corpus file {} fails its check", path.display());
        n += 1;
    }
    assert!(n > 0, "{target}: empty corpus");
}

#[test]
fn text_parse_corpus() {
    replay("text_parse", sixgate::sixto4::fuzzing::text_parse);
}

#[test]
fn addr_explain_corpus() {
    replay("addr_explain", sixgate::sixto4::fuzzing::addr_explain);
}

#[test]
fn rfc6052_extract_corpus() {
    replay("rfc6052_extract", sixgate::sixto4::fuzzing::rfc6052_extract);
}
