//! The daemons' log format and level: `--log-format json` gives one JSON object per line,
//! `$JOURNAL_STREAM` (set by systemd) drops the log's own timestamps, `--log-level` and
//! `RUST_LOG` filter the start-up and stop summaries (at info) away. `sixgate dns64` on
//! loopback, readiness known from the systemd notification socket.

use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::time::Duration;

/// Runs `sixgate dns64` on loopback with `extra` flags and `env` until it is ready, stops
/// it with SIGTERM and returns its standard error.
fn run_dns64(extra: &[&str], env: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notify");
    let sock = UnixDatagram::bind(&path).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_sixgate"))
        .args(["dns64", "--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:9", "--workers", "1"])
        .args(extra)
        .env_remove("RUST_LOG")
        .env_remove("JOURNAL_STREAM")
        .envs(env.iter().copied())
        .env("NOTIFY_SOCKET", &path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut buf = [0u8; 256];
    let n = sock.recv(&mut buf).expect("READY=1 within 10 s");
    assert!(String::from_utf8_lossy(&buf[..n]).contains("READY=1"));
    let o = Command::new("kill").args(["-TERM", &child.id().to_string()]).output().unwrap();
    assert!(o.status.success());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stderr).unwrap()
}

#[test]
fn json_lines_carry_level_message_and_timestamp() {
    let err = run_dns64(&["--log-format", "json"], &[]);
    let lines: Vec<serde_json::Value> =
        err.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}"))).collect();
    let start = lines
        .iter()
        .find(|v| v["fields"]["message"].as_str().is_some_and(|m| m.contains("listening on")))
        .unwrap_or_else(|| panic!("{err}"));
    assert_eq!(start["level"], "INFO");
    assert!(start["timestamp"].is_string());
    assert!(lines.iter().any(|v| v["fields"]["message"].as_str().is_some_and(|m| m.contains("final counters"))));
}

#[test]
fn under_the_journal_lines_have_no_timestamp_of_their_own() {
    let plain = run_dns64(&[], &[]);
    let first = plain.lines().next().unwrap();
    assert!(first.starts_with(|c: char| c.is_ascii_digit()), "a timestamp first: {first:?}");
    let journal = run_dns64(&[], &[("JOURNAL_STREAM", "8:12345")]);
    let first = journal.lines().next().unwrap();
    assert!(first.trim_start().starts_with("INFO "), "{first:?}");
    assert!(first.contains("listening on"), "{first:?}");
}

#[test]
fn log_level_and_rust_log_filter_the_summaries() {
    assert!(run_dns64(&[], &[]).contains("final counters"));
    for (flags, env) in [(&["--log-level", "warn"][..], &[][..]), (&[][..], &[("RUST_LOG", "warn")][..])] {
        let err = run_dns64(flags, env);
        assert!(!err.contains("listening on") && !err.contains("final counters"), "{flags:?} {env:?}: {err}");
    }
    // The flag wins over RUST_LOG.
    assert!(run_dns64(&["--log-level", "info"], &[("RUST_LOG", "error")]).contains("final counters"));
    // A bad level is refused at start with exit status 2.
    let o = Command::new(env!("CARGO_BIN_EXE_sixgate"))
        .args(["dns64", "--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:9", "--log-level", "loud=="])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    assert!(String::from_utf8_lossy(&o.stderr).contains("log level"));
}
