//! SIGHUP: the configuration file is read again and validated as at start; a file that
//! fails is refused with its `FILE:LINE` messages and the running configuration stays. A
//! valid one is applied live to the running engines (each worker's, through its control
//! mailbox, between two bursts: the engines keep their sessions, bindings and counters)
//! except the keys the daemon cannot change without a restart (the TUN device, the queue
//! count, the mode, offload, routes, the metrics address, …): those are reported as
//! needing a restart and not applied, and so are the settings an engine itself keeps
//! until a restart (its [`ReloadReport::needs_restart`]). Nothing is half-applied: the
//! whole file is validated before any engine is touched, and every engine validates
//! its part again before it changes anything.

use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use sixgate_core::reload::ReloadReport;

/// Reloads so far by result, for the metrics: the names of [`Outcome::result`] and
/// `no_config_file`.
const RESULTS: [&str; 7] =
    ["unchanged", "needs_restart", "refused", "unreadable", "applied", "failed", "no_config_file"];
static COUNTS: [AtomicU64; 7] = [const { AtomicU64::new(0) }; 7];

/// Counts a SIGHUP that found no configuration file to read.
pub(crate) fn record_no_file() {
    COUNTS[6].fetch_add(1, Ordering::Relaxed);
}

/// Reloads so far, by result name.
pub(crate) fn counts() -> [(&'static str, u64); 7] {
    std::array::from_fn(|i| (RESULTS[i], COUNTS[i].load(Ordering::Relaxed)))
}

/// Validates a configuration text: `Ok` or one message per problem (`FILE:LINE: ...`
/// where the line is known). Arguments: the text and the file's name for the messages.
pub(crate) type Validate = Box<dyn Fn(&str, &str) -> Result<(), Vec<String>> + Send>;

/// Applies a validated configuration text to the running engines: what they reported
/// (merged), or one message per engine that refused or did not answer. Arguments: the
/// text and the file's name.
pub(crate) type Apply = Box<dyn Fn(&str, &str) -> Result<ReloadReport, Vec<String>> + Send>;

/// How long a reload waits for each worker to have applied a new configuration (a worker
/// runs it between two bursts, at the latest 100 ms after it was sent when idle).
pub(crate) const APPLY_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Re-reads one daemon's configuration file.
pub(crate) struct Reloader {
    path: PathBuf,
    /// The text the daemon was started from: the keys in `restart` compare with it.
    started: String,
    validate: Validate,
    /// Keys only a restart changes.
    restart: &'static [&'static str],
    /// Applies the rest; with none, every changed key needs a restart.
    apply: Option<Apply>,
    /// The text the engines run now, and the settings they keep until a restart.
    live: Mutex<(String, Vec<String>)>,
    /// A fingerprint of the other files the configuration names (hosts files, zone files)
    /// from its text, and the one the engines run: when it changes, the file is applied as
    /// if a key had changed.
    inputs: Option<(Inputs, Mutex<String>)>,
    /// Run at every SIGHUP before the file is read (reopening a log file).
    on_hup: Option<Box<dyn Fn() + Send>>,
}

/// The fingerprint of the files a configuration text names.
pub(crate) type Inputs = Box<dyn Fn(&str) -> String + Send>;

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
    /// The file is valid and was applied.
    Applied {
        /// The settings in force now (the engines' names for them).
        changed: Vec<String>,
        /// The keys and settings that differ but wait for a restart.
        needs_restart: Vec<String>,
        /// Stateful sessions and BIB entries ended (their pool4 address or port left).
        sessions_ended: usize,
        /// BIB entries ended with them.
        bib_ended: usize,
    },
    /// The file is valid but an engine refused it or did not answer: the messages.
    Failed(Vec<String>),
}

impl Reloader {
    /// For the file at `path`, whose text `running` the daemon was started from; every
    /// changed key is reported as needing a restart until [`Reloader::live`] says how to
    /// apply them.
    pub(crate) fn new(path: PathBuf, running: String, validate: Validate) -> Self {
        Self {
            path,
            live: Mutex::new((running.clone(), Vec::new())),
            started: running,
            validate,
            restart: &[],
            apply: None,
            inputs: None,
            on_hup: None,
        }
    }

    /// Also applies the file when the files it names change (`inputs` of the text).
    pub(crate) fn inputs(mut self, inputs: Inputs) -> Self {
        let now = inputs(&self.started);
        self.inputs = Some((inputs, Mutex::new(now)));
        self
    }

    /// Runs `f` at every reload, before the file is read, whatever it holds.
    pub(crate) fn on_hup(mut self, f: Box<dyn Fn() + Send>) -> Self {
        self.on_hup = Some(f);
        self
    }

    /// Applies changed keys other than `restart` with `apply`.
    pub(crate) fn live(mut self, restart: &'static [&'static str], apply: Apply) -> Self {
        self.restart = restart;
        self.apply = Some(apply);
        self
    }

    /// Reads and validates the file, compares it with the running configuration and
    /// applies what can be applied.
    pub(crate) fn reload(&self) -> Outcome {
        if let Some(f) = &self.on_hup {
            f();
        }
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
        let Some(apply) = &self.apply else {
            let changed = changed_keys(&self.started, &text);
            return if changed.is_empty() { Outcome::Unchanged } else { Outcome::NeedsRestart(changed) };
        };
        let is_restart = |k: &String| self.restart.contains(&k.as_str());
        let mut restart: Vec<String> = changed_keys(&self.started, &text).into_iter().filter(is_restart).collect();
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        let mut to_apply: Vec<String> = changed_keys(&live.0, &text).into_iter().filter(|k| !is_restart(k)).collect();
        let inputs = self.inputs.as_ref().map(|(f, last)| (f(&text), last));
        if let Some((now, last)) = &inputs {
            if *now != *last.lock().unwrap_or_else(|e| e.into_inner()) {
                to_apply.push("files".to_owned());
            }
        }
        if to_apply.is_empty() {
            let mut all = restart;
            all.extend(live.1.iter().filter(|k| !all.contains(k)).cloned().collect::<Vec<_>>());
            return if all.is_empty() { Outcome::Unchanged } else { Outcome::NeedsRestart(all) };
        }
        match apply(&text, &name) {
            Ok(r) => {
                if let Some((now, last)) = inputs {
                    *last.lock().unwrap_or_else(|e| e.into_inner()) = now;
                }
                let kept: Vec<String> = r.needs_restart.iter().map(|s| (*s).to_owned()).collect();
                *live = (text, kept.clone());
                for k in kept {
                    if !restart.contains(&k) {
                        restart.push(k);
                    }
                }
                if r.changed.is_empty() && r.sessions_ended == 0 && r.bib_ended == 0 {
                    // Nothing the engines run differs (e.g. only a key they keep until a
                    // restart, or one only `--check` reads).
                    return if restart.is_empty() { Outcome::Unchanged } else { Outcome::NeedsRestart(restart) };
                }
                Outcome::Applied {
                    changed: r.changed.iter().map(|s| (*s).to_owned()).collect(),
                    needs_restart: restart,
                    sessions_ended: r.sessions_ended,
                    bib_ended: r.bib_ended,
                }
            }
            Err(errs) => Outcome::Failed(errs),
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
            Self::Applied { .. } => 4,
            Self::Failed(_) => 5,
        }
    }

    /// Whether the file was refused (unreadable or invalid) or not taken by an engine.
    pub(crate) fn is_refusal(&self) -> bool {
        matches!(self, Self::Unreadable(_) | Self::Refused(_) | Self::Failed(_))
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
            Self::Applied { changed, needs_restart, sessions_ended, bib_ended } => {
                if changed.is_empty() {
                    f.write_str("valid; applied: nothing the engines run differs")?;
                } else {
                    write!(f, "valid; applied: {}", changed.join(", "))?;
                }
                if *sessions_ended > 0 || *bib_ended > 0 {
                    write!(f, "; sessions ended: {sessions_ended} ({bib_ended} BIB entries; their pool4 address or port left)")?;
                }
                if !needs_restart.is_empty() {
                    write!(f, "; needs restart (not applied): {}", needs_restart.join(", "))?;
                }
                Ok(())
            }
            Self::Failed(errs) => write!(f, "not applied by every worker: {}", errs.join("; ")),
        }
    }
}

/// Sends `job` to every worker and waits for each to have run it: the merged reports, or
/// one message per worker that refused (`worker N: ...`) or did not answer. A job is only
/// sent once the configuration has been validated in full, so a refusal is unexpected.
pub(crate) fn apply_to_workers<E, F>(workers: &[sixgate_io::Control<E>], job: F) -> Result<ReloadReport, Vec<String>>
where
    E: 'static,
    F: Fn(&mut E, std::time::Instant) -> Result<ReloadReport, String> + Clone + Send + 'static,
{
    let replies: Vec<_> = workers.iter().map(|w| w.send(job.clone())).collect();
    let mut report = ReloadReport::default();
    let mut errs = Vec::new();
    for (i, r) in replies.into_iter().enumerate() {
        match r.and_then(|r| r.wait(APPLY_WAIT)) {
            Ok(Ok(r)) => report.merge(r),
            Ok(Err(e)) => errs.push(format!("worker {i}: refused: {e}")),
            Err(e) => errs.push(format!("worker {i}: {e}")),
        }
    }
    if errs.is_empty() {
        Ok(report)
    } else {
        Err(errs)
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

/// The keys of `sixgate nat64 run` that only a restart changes: the device and its
/// queues, the mode (stateless or stateful), offload, routes, the metrics address, the
/// counter-line interval and the fast path's kind and interfaces (the programs' maps are
/// reloaded; their attachments are not).
pub(crate) const NAT64_RESTART: &[&str] = &[
    "tun",
    "queues",
    "mode",
    "offload",
    "routes",
    "metrics_listen",
    "stats_interval",
    "fast_path",
    "fast_path_interfaces",
];

/// The keys of `sixgate tunnel run` that only a restart changes: the device, its address
/// and prefix, offload, path MTU discovery (a socket), routes, the metrics address and the
/// counter-line interval, the fast path's kind and interfaces (`local` and `mode` the engine
/// itself keeps until a restart).
pub(crate) const TUNNEL_RESTART: &[&str] = &[
    "tun",
    "address",
    "offload",
    "pmtu",
    "routes",
    "metrics_listen",
    "stats_interval",
    "fast_path",
    "fast_path_interfaces",
];

/// The engine configurations a `sixgate nat64 run` file gives, as at start: parse,
/// per-line checks, the stateful part, the engine configuration and, with several
/// queues, the shards. The translator's configuration and, in stateful mode, the NAT64's.
pub(crate) fn nat64_configs(
    text: &str,
    name: &str,
    queues: usize,
) -> Result<(sixgate_nat64::SiitConfig, Option<sixgate_nat64::Nat64Config>), Vec<String>> {
    use crate::nat64_config::{EngineOpts, FileConfig};
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
    let st = match stateful {
        Some(st) => {
            let st = st.to_config(cfg.clone()).map_err(|e| one(e.message))?;
            if queues > 1 {
                sixgate_nat64::Nat64Shards::new(st.clone(), queues).map_err(|e| one(format!("queues: {e}")))?;
            }
            Some(st)
        }
        None => None,
    };
    Ok((cfg, st))
}

/// The validation `sixgate nat64 run` does at start, on a text ([`nat64_configs`]).
pub(crate) fn validate_nat64(queues: usize) -> Validate {
    Box::new(move |text, name| nat64_configs(text, name, queues).map(drop))
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

    /// A reloader over `text` whose live keys go to real stateless translators, one per
    /// worker, through their mailboxes; the workers run here, by `run`.
    fn live_siit(
        dir: &tempfile::TempDir,
        text: &str,
        workers: usize,
    ) -> (Reloader, Vec<sixgate_io::Mailbox<sixgate_nat64::Siit>>) {
        let path = dir.path().join("nat64.toml");
        std::fs::write(&path, text).unwrap();
        let (controls, boxes): (Vec<_>, Vec<_>) = (0..workers).map(|_| sixgate_io::control()).unzip();
        let apply: Apply = Box::new(move |text, name| {
            let (cfg, _) = nat64_configs(text, name, 1)?;
            apply_to_workers(&controls, move |e: &mut sixgate_nat64::Siit, _| {
                e.reconfigure(cfg.clone()).map_err(|e| e.to_string())
            })
        });
        (Reloader::new(path, text.to_owned(), validate_nat64(1)).live(NAT64_RESTART, apply), boxes)
    }

    #[test]
    fn a_valid_file_is_applied_to_every_worker_restart_keys_are_not_and_a_bad_one_changes_nothing() {
        use sixgate_nat64::Siit;
        let dir = tempfile::tempdir().unwrap();
        let start = format!("{GOOD}stats_interval = 0\n");
        let (r, boxes) = live_siit(&dir, &start, 2);
        let (cfg, _) = nat64_configs(&start, "x", 1).unwrap();
        let mut engines: Vec<Siit> = (0..2).map(|_| Siit::new(cfg.clone()).unwrap()).collect();
        // The workers: each runs its mailbox, as its loop does between bursts.
        let stop = std::sync::atomic::AtomicBool::new(false);
        let workers = std::thread::scope(|sc| {
            let stop = &stop;
            let h = sc.spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    for (e, b) in engines.iter_mut().zip(&boxes) {
                        b.run_pending(e);
                    }
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
                engines
            });
            let file = dir.path().join("nat64.toml");
            let eam = "[[eam]]\nipv6 = \"2001:db8:6::/120\"\nipv4 = \"198.51.100.0/24\"\n";
            let moved = start.replace("tun = \"nat64\"", "tun = \"other\"");
            std::fs::write(&file, format!("{moved}icmp_rate = 5\n{eam}")).unwrap();
            let o = r.reload();
            let Outcome::Applied { changed, needs_restart, .. } = &o else { panic!("{o:?}") };
            assert_eq!(needs_restart, &["tun"], "{o}");
            assert!(changed.contains(&"eamt".to_owned()) && changed.contains(&"icmp_rate".to_owned()), "{o}");
            assert!(o.to_string().starts_with("valid; applied: "), "{o}");
            // Applied: the same file again has nothing left to apply, only the restart key.
            assert_eq!(r.reload(), Outcome::NeedsRestart(vec!["tun".into()]));
            // A bad file reaches no worker.
            std::fs::write(&file, format!("{start}pool6 = \"64:ff9b::/95\"\n")).unwrap();
            assert!(matches!(r.reload(), Outcome::Refused(_)));
            stop.store(true, Ordering::Relaxed);
            h.join().unwrap()
        });
        for e in &workers {
            assert_eq!(e.config().icmp_rate.per_second, 5, "every worker took the new rate");
            assert_eq!(e.config().eamt.entries().len(), 1, "and the EAM entry");
            assert_eq!(e.config().pool6, cfg.pool6, "not the refused pool6");
        }
    }

    #[test]
    fn a_worker_that_has_stopped_fails_the_reload_and_says_which() {
        let dir = tempfile::tempdir().unwrap();
        let (r, mut boxes) = live_siit(&dir, GOOD, 2);
        drop(boxes.remove(1));
        std::fs::write(dir.path().join("nat64.toml"), format!("{GOOD}icmp_rate = 5\n")).unwrap();
        // Worker 0 answers from this thread once the reload has sent to it.
        let (cfg, _) = nat64_configs(GOOD, "x", 1).unwrap();
        let mut e = sixgate_nat64::Siit::new(cfg).unwrap();
        let o = std::thread::scope(|sc| {
            let h = sc.spawn(move || r.reload());
            while !h.is_finished() {
                boxes[0].run_pending(&mut e);
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            h.join().unwrap()
        });
        let Outcome::Failed(errs) = &o else { panic!("{o:?}") };
        assert_eq!(errs, &["worker 1: the worker has stopped"], "{o}");
        assert!(o.is_refusal());
    }

    #[test]
    fn changed_keys_lists_added_removed_and_changed() {
        assert_eq!(changed_keys("a = 1\nb = 2\n", "b = 3\nc = 4\n"), ["a", "b", "c"]);
        assert!(changed_keys("[[eam]]\nipv6 = \"x\"\n", "[[eam]]\nipv6 = \"x\"\n").is_empty());
    }
}
