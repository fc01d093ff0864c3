//! The library crates compile no test support into their users' builds: no hidden
//! modules or items, no dependency on this crate other than as a dev-dependency, and no
//! documentation example that leans on either.

use std::path::{Path, PathBuf};

/// The crates a user builds: the facade and every published library.
const LIBRARIES: &[&str] = &[
    ".",
    "crates/sixgate-core",
    "crates/sixgate-6to4",
    "crates/sixgate-nat64",
    "crates/sixgate-6in4",
    "crates/sixgate-rdns",
    "crates/sixgate-io",
    "crates/sixgate-proxy",
    "crates/sixgate-bpf",
];

/// Hidden items allowed to stay public: none. An item public enough for the integration
/// tests is public API, documented as such.
const HIDDEN_ALLOWED: &[&str] = &[];

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

fn sources(lib: &str) -> Vec<(PathBuf, String)> {
    let mut files = Vec::new();
    rust_files(&workspace().join(lib).join("src"), &mut files);
    assert!(!files.is_empty(), "no sources in {lib}/src");
    files
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (p, text)
        })
        .collect()
}

/// The name of the item a line declares (`pub fn name(`, `pub mod name;`), if any.
fn item_name(line: &str) -> Option<&str> {
    let rest = line.trim_start();
    let rest = rest.strip_prefix("pub(crate) ").or_else(|| rest.strip_prefix("pub ")).unwrap_or(rest);
    let rest = ["fn ", "mod ", "struct ", "enum ", "const ", "static ", "type ", "trait "]
        .iter()
        .find_map(|k| rest.strip_prefix(k))?;
    let end = rest.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(rest.len());
    Some(&rest[..end])
}

#[test]
fn no_hidden_items_in_the_libraries() {
    let mut found = Vec::new();
    for lib in LIBRARIES {
        for (path, text) in sources(lib) {
            let lines: Vec<&str> = text.lines().collect();
            for (i, l) in lines.iter().enumerate() {
                if !l.trim_start().starts_with("#[doc(hidden)]") {
                    continue;
                }
                let item = lines[i + 1..].iter().find_map(|l| item_name(l)).unwrap_or("?");
                if !HIDDEN_ALLOWED.contains(&item) {
                    found.push(format!("{}:{}: {item}", path.display(), i + 1));
                }
            }
        }
    }
    assert!(found.is_empty(), "hidden items in the libraries:\n{}", found.join("\n"));
}

#[test]
fn no_test_support_modules_in_the_libraries() {
    for lib in LIBRARIES {
        for (path, text) in sources(lib) {
            for (i, l) in text.lines().enumerate() {
                let decl = l.trim_start();
                for m in ["fuzzing", "testpkt"] {
                    assert!(
                        !(decl.starts_with(&format!("pub mod {m}")) || decl.starts_with(&format!("mod {m}"))),
                        "{}:{}: module {m} belongs in sixgate-testkit",
                        path.display(),
                        i + 1
                    );
                }
            }
        }
    }
}

#[test]
fn documentation_examples_use_public_api_only() {
    for lib in LIBRARIES {
        for (path, text) in sources(lib) {
            for (i, l) in text.lines().enumerate() {
                let t = l.trim_start();
                if !(t.starts_with("///") || t.starts_with("//!")) {
                    continue;
                }
                for hidden in ["testpkt", "fuzzing::", "sixgate_testkit"] {
                    assert!(!t.contains(hidden), "{}:{}: documentation uses {hidden}", path.display(), i + 1);
                }
            }
        }
    }
}

/// `[dependencies]` (and target-specific dependency tables) of a manifest never name the
/// testkit; `[dev-dependencies]` may.
#[test]
fn the_libraries_depend_on_the_testkit_only_for_their_tests() {
    for lib in LIBRARIES {
        let path = workspace().join(lib).join("Cargo.toml");
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut section = String::new();
        for l in text.lines() {
            let t = l.trim();
            if t.starts_with('[') {
                section = t.to_string();
                continue;
            }
            let normal = section.ends_with("dependencies]") && !section.ends_with("dev-dependencies]");
            let workspace_table = section == "[workspace.dependencies]";
            if normal && !workspace_table {
                assert!(!t.starts_with("sixgate-testkit"), "{}: {section} names sixgate-testkit", path.display());
            }
        }
    }
}
