//! Helpers shared by the network-namespace end-to-end tests.
#![allow(dead_code, unreachable_pub)]

use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

/// Debian's Python, which has scapy (a pyenv `python3` on PATH may not).
pub const PY: &str = "/usr/bin/python3";

/// Whether the tests run as root (network namespaces and TUN need CAP_NET_ADMIN).
pub fn is_root() -> bool {
    Command::new("id").arg("-u").output().map(|o| o.stdout.starts_with(b"0")).unwrap_or(false)
}

/// Why a network-namespace test cannot run here, if it cannot.
pub fn netns_skip_reason() -> Option<String> {
    if !is_root() {
        return Some("not root: network namespaces and TUN need CAP_NET_ADMIN".into());
    }
    for tool in ["ip", "ping"] {
        if Command::new(tool).arg("-V").output().is_err() {
            return Some(format!("{tool} not installed"));
        }
    }
    if !std::path::Path::new("/dev/net/tun").exists() {
        return Some("/dev/net/tun missing".into());
    }
    if !std::path::Path::new(PY).exists() {
        return Some(format!("{PY} missing"));
    }
    None
}

/// Why a test that crafts packets with scapy cannot run here, if it cannot.
pub fn scapy_skip_reason() -> Option<String> {
    let ok = Command::new(PY).args(["-c", "import scapy"]).output().map(|o| o.status.success()).unwrap_or(false);
    (!ok).then(|| format!("scapy missing for {PY}"))
}

/// Why a test that runs these programs cannot run here: the first one that is not on
/// `PATH` (a fresh machine may lack the optional tools, e.g. `ethtool` or `iperf3`).
pub fn tools_skip_reason(tools: &[&str]) -> Option<String> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    tools
        .iter()
        .find(|t| !std::env::split_paths(&path).any(|d| d.join(t).is_file()))
        .map(|t| format!("{t} not installed"))
}

/// Returns from the test, printing why, when [`tools_skip_reason`] or [`scapy_skip_reason`]
/// says it cannot run: `skip_without!("ethtool", "iperf3")`, `skip_without!(scapy)`.
#[macro_export]
macro_rules! skip_without {
    (scapy) => {
        if let Some(why) = $crate::common::scapy_skip_reason() {
            eprintln!("skipping: {why}");
            return;
        }
    };
    ($($tool:literal),+) => {
        if let Some(why) = $crate::common::tools_skip_reason(&[$($tool),+]) {
            eprintln!("skipping: {why}");
            return;
        }
    };
}

/// Runs a command to completion.
pub fn sh(args: &[&str]) -> Output {
    Command::new(args[0]).args(&args[1..]).output().unwrap_or_else(|e| panic!("{args:?}: {e}"))
}

/// Runs a command that must succeed.
pub fn must(args: &[&str]) {
    let o = sh(args);
    assert!(o.status.success(), "{args:?} failed: {}", String::from_utf8_lossy(&o.stderr));
}

/// Waits for a child at most `limit`, then kills it and fails.
pub fn wait_output(mut c: Child, limit: Duration) -> Output {
    let deadline = Instant::now() + limit;
    loop {
        if let Ok(Some(_)) = c.try_wait() {
            return c.wait_with_output().unwrap();
        }
        if Instant::now() > deadline {
            let _ = c.kill();
            let o = c.wait_with_output().unwrap();
            panic!("timed out: {}", String::from_utf8_lossy(&o.stderr));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Stops daemons the way an operator would: SIGTERM to each (so they print their final
/// counters), up to 5 s for each to exit, then SIGKILL for any still running.
pub fn stop_all<'a>(children: impl IntoIterator<Item = &'a mut Child>) {
    let children: Vec<&mut Child> = children.into_iter().collect();
    for c in &children {
        let _ = sh(&["kill", "-TERM", &c.id().to_string()]);
    }
    for c in children {
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline && !matches!(c.try_wait(), Ok(Some(_))) {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = c.kill();
        let _ = c.wait();
    }
}

/// Standard output then standard error of a finished command, as text.
pub fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// Network namespaces `{prefix}{name}` made for one test, the daemons it started in them
/// and a scratch directory; dropping it stops the daemons and deletes the namespaces.
pub struct Netns {
    pub prefix: String,
    pub names: Vec<&'static str>,
    pub children: Vec<Child>,
    pub dir: tempfile::TempDir,
}

impl Netns {
    /// Creates namespaces `names` (deleting leftovers of the same name), loopback up.
    pub fn new(prefix: &str, names: &[&'static str]) -> Self {
        let t = Self {
            prefix: format!("{prefix}{}", std::process::id() % 100000),
            names: names.to_vec(),
            children: Vec::new(),
            dir: tempfile::tempdir().unwrap(),
        };
        for n in names {
            let _ = sh(&["ip", "netns", "del", &t.ns(n)]);
            must(&["ip", "netns", "add", &t.ns(n)]);
            must(&["ip", "-n", &t.ns(n), "link", "set", "lo", "up"]);
        }
        t
    }

    /// The full name of namespace `n`.
    pub fn ns(&self, n: &str) -> String {
        format!("{}{n}", self.prefix)
    }

    /// Runs a command in namespace `n` to completion.
    pub fn exec(&self, n: &str, args: &[&str]) -> Output {
        let ns = self.ns(n);
        let mut v = vec!["ip", "netns", "exec", &ns];
        v.extend_from_slice(args);
        sh(&v)
    }

    /// Starts a daemon in namespace `n`, its standard error to `log` in the scratch
    /// directory.
    pub fn spawn(&mut self, n: &str, args: &[&str], log: &str) -> u32 {
        let ns = self.ns(n);
        let child = Command::new("ip")
            .args(["netns", "exec", &ns])
            .args(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(self.dir.path().join(log)).unwrap())
            .spawn()
            .unwrap();
        let id = child.id();
        self.children.push(child);
        id
    }

    /// What a daemon logged so far.
    pub fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default()
    }

    /// Starts a Python script in namespace `n`, output captured.
    pub fn python(&self, n: &str, script: &str) -> Child {
        let ns = self.ns(n);
        Command::new("ip")
            .args(["netns", "exec", &ns, PY, "-c", script])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        stop_all(self.children.iter_mut());
        for n in &self.names {
            let _ = sh(&["ip", "netns", "del", &self.ns(n)]);
        }
    }
}
