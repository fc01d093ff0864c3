//! SIGHUP: the configuration file is read again and validated as at start. The engines
//! take their configuration when they are built and have no setters for a running
//! instance, so a valid file that differs is reported key by key as needing a restart,
//! never half-applied; an invalid one is refused with its `FILE:LINE` messages. Either way
//! the running configuration stays and the daemon keeps running.

use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

/// Reloads so far by result, for the metrics: the names of [`Outcome::result`] and
/// `no_config_file`.
const RESULTS: [&str; 5] = ["unchanged", "needs_restart", "refused", "unreadable", "no_config_file"];
static COUNTS: [AtomicU64; 5] = [const { AtomicU64::new(0) }; 5];

/// Counts a SIGHUP that found no configuration file to read.
pub(crate) fn record_no_file() {
    COUNTS[4].fetch_add(1, Ordering::Relaxed);
}

/// Reloads so far, by result name.
pub(crate) fn counts() -> [(&'static str, u64); 5] {
    std::array::from_fn(|i| (RESULTS[i], COUNTS[i].load(Ordering::Relaxed)))
}

/// Validates a configuration text: `Ok` or one message per problem (`FILE:LINE: ...`
/// where the line is known). Arguments: the text and the file's name for the messages.
pub(crate) type Validate = Box<dyn Fn(&str, &str) -> Result<(), Vec<String>> + Send>;

/// Re-reads one daemon's configuration file.
pub(crate) struct Reloader {
    path: PathBuf,
    /// The text the running configuration was built from.
    running: String,
    validate: Validate,
}

/// What a reload found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The file cannot be read.
    Unreadable(String),
    /// The file does not validate: the messages.
    Refused(Vec<String>),
    /// The file is valid and says what is running.
    Unchanged,
    /// The file is valid and these top-level keys differ from the running configuration:
    /// they take effect at the next restart.
    NeedsRestart(Vec<String>),
}

impl Reloader {
    /// For the file at `path`, whose text `running` the daemon was started from.
    pub(crate) fn new(path: PathBuf, running: String, validate: Validate) -> Self {
        Self { path, running, validate }
    }

    /// Reads and validates the file and compares it with the running configuration.
    pub(crate) fn reload(&self) -> Outcome {
        let o = self.check_file();
        COUNTS[o.index()].fetch_add(1, Ordering::Relaxed);
        o
    }

    fn check_file(&self) -> Outcome {
        let name = self.path.display().to_string();
        let text = match std::fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) => return Outcome::Unreadable(format!("cannot read {name}: {e}")),
        };
        if let Err(errs) = (self.validate)(&text, &name) {
            return Outcome::Refused(errs);
        }
        let changed = changed_keys(&self.running, &text);
        if changed.is_empty() {
            Outcome::Unchanged
        } else {
            Outcome::NeedsRestart(changed)
        }
    }

    /// The file's name, for the log.
    pub(crate) fn name(&self) -> String {
        self.path.display().to_string()
    }
}

impl Outcome {
    /// The index of the result's name in the metrics.
    fn index(&self) -> usize {
        match self {
            Self::Unchanged => 0,
            Self::NeedsRestart(_) => 1,
            Self::Refused(_) => 2,
            Self::Unreadable(_) => 3,
        }
    }

    /// Whether the file was refused (unreadable or invalid).
    pub(crate) fn is_refusal(&self) -> bool {
        matches!(self, Self::Unreadable(_) | Self::Refused(_))
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unreadable(e) => write!(f, "refused, the running configuration stays: {e}"),
            Self::Refused(errs) => {
                write!(f, "refused, the running configuration stays: {}", errs.join("; "))
            }
            Self::Unchanged => f.write_str("valid, unchanged"),
            Self::NeedsRestart(keys) => write!(
                f,
                "valid; changed: {}; needs restart (not applied live: the running configuration stays until then)",
                keys.join(", ")
            ),
        }
    }
}

/// The top-level keys whose values differ between two TOML texts (added and removed keys
/// included), in order; the texts are assumed valid (a text that is not TOML counts as
/// empty).
pub(crate) fn changed_keys(old: &str, new: &str) -> Vec<String> {
    let parse = |t: &str| t.parse::<toml::Table>().unwrap_or_default();
    let (old, new) = (parse(old), parse(new));
    let mut keys: Vec<&String> = old.keys().chain(new.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter().filter(|k| old.get(*k) != new.get(*k)).cloned().collect()
}

/// The validation `sixgate nat64 run` does at start, on a text: parse, per-line checks,
/// the stateful part, the engine configuration and, with several queues, the shards.
pub(crate) fn validate_nat64(queues: usize) -> Validate {
    use crate::nat64_config::{EngineOpts, FileConfig};
    Box::new(move |text, name| {
        let mut file = FileConfig::parse(text, name).map_err(|e| vec![e.message])?;
        let errs = file.check(text, name);
        if !errs.is_empty() {
            return Err(errs);
        }
        let one = |m: String| vec![format!("{name}: {m}")];
        let stateful = file.take_stateful().map_err(|e| one(e.message))?;
        let mut opts = EngineOpts::default();
        file.merge_into(&mut opts).map_err(|e| one(e.message))?;
        let cfg = opts.to_config().map_err(|e| one(e.message))?;
        if let Some(st) = stateful {
            let st = st.to_config(cfg).map_err(|e| one(e.message))?;
            if queues > 1 {
                sixgate_nat64::Nat64Shards::new(st, queues).map_err(|e| one(format!("queues: {e}")))?;
            }
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "tun = \"nat64\"\npool6 = \"64:ff9b::/96\"\nipv4 = \"192.0.2.1\"\n";

    fn reloader(dir: &tempfile::TempDir, text: &str) -> Reloader {
        let path = dir.path().join("nat64.toml");
        std::fs::write(&path, text).unwrap();
        Reloader::new(path, text.to_owned(), validate_nat64(1))
    }

    #[test]
    fn a_valid_changed_file_needs_a_restart_and_an_invalid_one_is_refused_with_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let r = reloader(&dir, GOOD);
        assert_eq!(r.reload(), Outcome::Unchanged);
        // Comments and order are not changes.
        std::fs::write(
            dir.path().join("nat64.toml"),
            "# note\nipv4 = \"192.0.2.1\"\ntun = \"nat64\"\npool6 = \"64:ff9b::/96\"\n",
        )
        .unwrap();
        assert_eq!(r.reload(), Outcome::Unchanged);
        std::fs::write(dir.path().join("nat64.toml"), format!("{GOOD}icmp_rate = 5\n")).unwrap();
        assert_eq!(r.reload(), Outcome::NeedsRestart(vec!["icmp_rate".into()]));
        std::fs::write(dir.path().join("nat64.toml"), "tun = \"nat64\"\npool6 = \"64:ff9b::/95\"\n").unwrap();
        let Outcome::Refused(errs) = r.reload() else { panic!("a bad pool6 must be refused") };
        assert!(errs[0].contains("nat64.toml:2: pool6"), "{errs:?}");
        std::fs::write(dir.path().join("nat64.toml"), "tun = \n").unwrap();
        assert!(matches!(r.reload(), Outcome::Refused(_)), "not TOML");
        std::fs::remove_file(dir.path().join("nat64.toml")).unwrap();
        assert!(matches!(r.reload(), Outcome::Unreadable(_)));
    }

    #[test]
    fn changed_keys_lists_added_removed_and_changed() {
        assert_eq!(changed_keys("a = 1\nb = 2\n", "b = 3\nc = 4\n"), ["a", "b", "c"]);
        assert!(changed_keys("[[eam]]\nipv6 = \"x\"\n", "[[eam]]\nipv6 = \"x\"\n").is_empty());
    }
}
