//! A daemon whose standard error goes away keeps running: `sixgate dns64` on loopback (no
//! privileges needed) with standard error on a pipe whose reader has closed. Rust ignores
//! SIGPIPE, so every log write fails with EPIPE; none of them may end the process.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

fn kill(c: &Child, sig: &str) {
    let o = Command::new("kill").args([sig, &c.id().to_string()]).output().unwrap();
    assert!(o.status.success(), "kill {sig}: {}", String::from_utf8_lossy(&o.stderr));
}

/// Waits at most `limit` for the child to exit.
fn wait_exit(c: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Ok(Some(s)) = c.try_wait() {
            return Some(s);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

#[test]
fn dns64_survives_a_closed_stderr() {
    let mut c = Command::new(env!("CARGO_BIN_EXE_sixgate"))
        // Nothing answers on the discard port; no query is sent anyway.
        .args(["dns64", "--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:9", "--workers", "1"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Read the start line (so the daemon is up and its signal handling in place), then
    // close the reading end.
    let mut err = BufReader::new(c.stderr.take().unwrap());
    let mut line = String::new();
    err.read_line(&mut line).unwrap();
    assert!(line.contains("listening on"), "{line}");
    drop(err);
    // Each SIGUSR1 writes a counters line into the broken pipe.
    for _ in 0..3 {
        kill(&c, "-USR1");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(c.try_wait().unwrap().is_none(), "dns64 ended on a log write to a closed pipe");
    kill(&c, "-TERM");
    let status = wait_exit(&mut c, Duration::from_secs(10));
    if status.is_none() {
        let _ = c.kill();
        let _ = c.wait();
    }
    let status = status.expect("dns64 did not stop on SIGTERM");
    assert!(status.success(), "dns64 exited with {status} after SIGTERM (its final counters line hit EPIPE)");
}
