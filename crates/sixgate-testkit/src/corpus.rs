//! Corpus replay for `cargo test`, used by every `fuzz_corpus*` test: every input a fuzzer
//! kept in `fuzz/corpus/TARGET/` goes through the same check function the fuzz target runs
//! (from [`crate::fuzz`]), so it stays a regression test.

use std::path::{Path, PathBuf};

/// `fuzz/corpus/TARGET` of the workspace, found upwards from this crate's directory.
pub fn corpus_dir(target: &str) -> PathBuf {
    let mut d = Path::new(env!("CARGO_MANIFEST_DIR"));
    loop {
        let c = d.join("fuzz/corpus");
        if c.is_dir() {
            return c.join(target);
        }
        d = d.parent().unwrap_or_else(|| panic!("no fuzz/corpus above {}", env!("CARGO_MANIFEST_DIR")));
    }
}

/// Runs `check` on every file of the target's corpus, in name order; fails on a panic or
/// on fewer than `min` files (the corpora are seeded, so a short one means files were lost).
pub fn replay(target: &str, min: usize, check: impl Fn(&[u8]) + std::panic::RefUnwindSafe) {
    let dir = corpus_dir(target);
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.is_file())
        .collect();
    entries.sort();
    for path in &entries {
        let data = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let r = std::panic::catch_unwind(|| check(&data));
        assert!(r.is_ok(), "{target}: corpus file {} fails its check", path.display());
    }
    assert!(entries.len() >= min, "{target}: only {} corpus files in {}", entries.len(), dir.display());
}

/// Writes `seeds` into the target's corpus as `seed-NNN`, when `SIXGATE_WRITE_SEEDS` is set
/// (the ignored `write_seeds` tests call this on purpose only).
pub fn write_seeds(target: &str, seeds: &[Vec<u8>]) {
    if std::env::var_os("SIXGATE_WRITE_SEEDS").is_none() {
        return;
    }
    let dir = corpus_dir(target);
    std::fs::create_dir_all(&dir).expect("corpus directory");
    for (i, s) in seeds.iter().enumerate() {
        std::fs::write(dir.join(format!("seed-{i:03}")), s).expect("write seed");
    }
}
