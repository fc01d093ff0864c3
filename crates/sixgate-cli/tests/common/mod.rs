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
