//! Replays the fuzz corpus `fuzz/corpus/sit_decap/` through the checks the fuzz target
//! runs (`sixgate_6in4::fuzzing`), so every input the fuzzer kept stays a regression test.

use std::path::Path;

#[test]
fn corpus_sit_decap() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/sit_decap");
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .collect();
    entries.sort();
    for path in &entries {
        let data = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let r = std::panic::catch_unwind(|| sixgate_6in4::fuzzing::sit_decap(&data));
        assert!(r.is_ok(), "corpus file {} fails", path.display());
    }
    // The corpus is seeded with real packets; an empty one means it was lost.
    assert!(entries.len() >= 20, "only {} corpus files in {}", entries.len(), dir.display());
}

#[test]
fn seeds() {
    for s in sixgate_6in4::fuzzing::seeds() {
        sixgate_6in4::fuzzing::sit_decap(&s);
    }
}

/// Writes the seeds into the corpus: `SIXGATE_WRITE_SEEDS=1 cargo test -p sixgate-6in4
/// --test fuzz_corpus write_seeds -- --ignored`.
#[test]
#[ignore = "regenerates the fuzz seeds; run on purpose"]
fn write_seeds() {
    if std::env::var_os("SIXGATE_WRITE_SEEDS").is_none() {
        return;
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/sit_decap");
    std::fs::create_dir_all(&dir).expect("corpus directory");
    for (i, s) in sixgate_6in4::fuzzing::seeds().iter().enumerate() {
        std::fs::write(dir.join(format!("seed-{i:03}")), s).expect("write seed");
    }
}
