//! Replays the SIIT fuzz corpora (`fuzz/corpus/siit_4to6/`, `fuzz/corpus/siit_6to4/`)
//! through the same checks the fuzz targets run (`sixgate_nat64::fuzzing`), so that every
//! input the fuzzers kept, including the ones that once crashed, stays a regression test.

use std::path::Path;

fn replay(dir: &str, f: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus").join(dir);
    let mut n = 0;
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let r = std::panic::catch_unwind(|| f(&data));
        assert!(r.is_ok(), "corpus file {} fails", path.display());
        n += 1;
    }
    // The corpora are seeded with real packets; an empty one means they were lost.
    assert!(n >= 20, "only {n} corpus files in {}", dir.display());
}

#[test]
fn corpus_siit_4to6() {
    replay("siit_4to6", sixgate_nat64::fuzzing::siit_4to6);
}

#[test]
fn corpus_siit_6to4() {
    replay("siit_6to4", sixgate_nat64::fuzzing::siit_6to4);
}

/// The built-in seeds pass too (they are what the corpora were seeded with).
#[test]
fn seeds() {
    for s in sixgate_nat64::fuzzing::seeds_4to6() {
        sixgate_nat64::fuzzing::siit_4to6(&s);
    }
    for s in sixgate_nat64::fuzzing::seeds_6to4() {
        sixgate_nat64::fuzzing::siit_6to4(&s);
    }
}

/// Writes the seeds into the corpus directories: `SIXGATE_WRITE_SEEDS=1 cargo test -p
/// sixgate-nat64 --test fuzz_corpus write_seeds -- --ignored`.
#[test]
#[ignore = "regenerates the fuzz seeds; run on purpose"]
fn write_seeds() {
    if std::env::var_os("SIXGATE_WRITE_SEEDS").is_none() {
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus");
    for (dir, seeds) in
        [("siit_4to6", sixgate_nat64::fuzzing::seeds_4to6()), ("siit_6to4", sixgate_nat64::fuzzing::seeds_6to4())]
    {
        for (i, s) in seeds.iter().enumerate() {
            std::fs::write(root.join(dir).join(format!("seed-{i:03}")), s).expect("write seed");
        }
    }
}

#[test]
fn corpus_stateful() {
    replay("stateful", sixgate_nat64::fuzzing::stateful);
}

#[test]
fn seeds_stateful() {
    for s in sixgate_nat64::fuzzing::seeds_stateful() {
        sixgate_nat64::fuzzing::stateful(&s);
    }
}

/// Writes the stateful seeds: `SIXGATE_WRITE_SEEDS=1 cargo test -p sixgate-nat64 --test
/// fuzz_corpus write_seeds_stateful -- --ignored`.
#[test]
#[ignore = "regenerates the fuzz seeds; run on purpose"]
fn write_seeds_stateful() {
    if std::env::var_os("SIXGATE_WRITE_SEEDS").is_none() {
        return;
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/stateful");
    std::fs::create_dir_all(&dir).expect("corpus directory");
    for (i, s) in sixgate_nat64::fuzzing::seeds_stateful().iter().enumerate() {
        std::fs::write(dir.join(format!("seed-{i:03}")), s).expect("write seed");
    }
}
