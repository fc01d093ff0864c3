//! Replays the DNS64 fuzz corpus (`fuzz/corpus/dns64/`) through the checks the fuzz target
//! runs (`sixgate_nat64::fuzzing::dns64`), so every input the fuzzer kept stays a test.

use std::path::Path;

fn corpus() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/dns64")
}

#[test]
fn corpus_dns64() {
    let dir = corpus();
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .collect();
    entries.sort();
    for path in &entries {
        let data = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let r = std::panic::catch_unwind(|| sixgate_nat64::fuzzing::dns64(&data));
        assert!(r.is_ok(), "corpus file {} fails", path.display());
    }
    assert!(entries.len() >= 40, "only {} corpus files in {}", entries.len(), dir.display());
}

#[test]
fn seeds() {
    for s in sixgate_nat64::fuzzing::seeds_dns64() {
        sixgate_nat64::fuzzing::dns64(&s);
    }
}

/// Writes the seeds into the corpus: `SIXGATE_WRITE_SEEDS=1 cargo test -p sixgate-nat64
/// --test fuzz_corpus_dns64 write_seeds -- --ignored`.
#[test]
#[ignore = "regenerates the fuzz seeds; run on purpose"]
fn write_seeds() {
    if std::env::var_os("SIXGATE_WRITE_SEEDS").is_none() {
        return;
    }
    std::fs::create_dir_all(corpus()).expect("corpus directory");
    for (i, s) in sixgate_nat64::fuzzing::seeds_dns64().iter().enumerate() {
        std::fs::write(corpus().join(format!("seed-{i:03}")), s).expect("write seed");
    }
}
