//! Replays the reverse-DNS fuzz corpora through the same checks the fuzz targets run
//! (`sixgate::rdns::fuzzing`), so every `cargo test` re-asserts the properties on them.

use std::fs;
use std::path::Path;

fn replay(target: &str, check: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus").join(target);
    let mut n = 0;
    for entry in fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("corpus entry").path();
        if path.is_file() {
            check(&fs::read(&path).expect("read corpus file"));
            n += 1;
        }
    }
    assert!(n > 0, "empty corpus for {target}");
}

#[test]
fn arpa_parse_corpus() {
    replay("arpa_parse", sixgate::rdns::fuzzing::check_arpa);
}

#[test]
fn hosts_parse_corpus() {
    replay("hosts_parse", sixgate::rdns::fuzzing::check_hosts);
}

#[test]
fn template_parse_corpus() {
    replay("template_parse", sixgate::rdns::fuzzing::check_template);
}
