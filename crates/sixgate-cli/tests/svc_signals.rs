//! No signal an operator sends ends a daemon silently: SIGHUP reloads (and keeps
//! running), SIGUSR1 prints the counters, SIGUSR2 is logged as ignored, SIGTERM stops with
//! the final counters and exit status 0. `sixgate dns64` on loopback needs no privileges;
//! `sixgate nat64 run` needs root and a TUN device (skipped with the reason otherwise).
//! Under systemd the same signals arrive as `READY=1`, `RELOADING=1`, `READY=1`,
//! `STOPPING=1` on `$NOTIFY_SOCKET`.

mod common;

use std::io::{BufRead, BufReader};
use std::net::UdpSocket;
use std::os::unix::net::UnixDatagram;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

/// A running daemon whose standard error lines arrive on a channel.
struct Daemon {
    child: Child,
    lines: Receiver<String>,
    seen: Vec<String>,
}

impl Daemon {
    fn spawn(args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_sixgate"))
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let err = BufReader::new(child.stderr.take().unwrap());
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for l in err.lines().map_while(Result::ok) {
                if tx.send(l).is_err() {
                    return;
                }
            }
        });
        Self { child, lines, seen: Vec::new() }
    }

    /// The next line containing `needle`, waiting at most 10 s.
    fn line(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(l) => {
                    self.seen.push(l.clone());
                    if l.contains(needle) {
                        return l;
                    }
                }
                Err(_) => break,
            }
        }
        panic!("no line with {needle:?}; stderr so far:\n{}", self.seen.join("\n"));
    }

    fn kill(&self, sig: &str) {
        let o = Command::new("kill").args([sig, &self.child.id().to_string()]).output().unwrap();
        assert!(o.status.success(), "kill {sig}: {}", String::from_utf8_lossy(&o.stderr));
    }

    fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    fn wait_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(s)) = self.child.try_wait() {
                return s;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        panic!("the daemon did not stop within 10 s");
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A resolver on 127.0.0.1 that answers every query with an empty NOERROR response.
fn empty_upstream() -> String {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = sock.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        let mut buf = [0u8; 1500];
        while let Ok((n, peer)) = sock.recv_from(&mut buf) {
            if n < 12 {
                continue;
            }
            buf[2] |= 0x80; // QR: a response, the question kept
            buf[3] = 0x80; // RA, NOERROR
            let _ = sock.send_to(&buf[..n], peer);
        }
    });
    addr
}

/// Asks `server` for the AAAA of `name` over UDP; the response's ID and RCODE.
fn ask(server: &str, name: &str) -> (u16, u8) {
    let mut q = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in name.split('.').filter(|l| !l.is_empty()) {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 28, 0, 1]);
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.send_to(&q, server).unwrap();
    let mut buf = [0u8; 1500];
    let n = s.recv(&mut buf).expect("the daemon answers");
    assert!(n >= 12 && buf[2] & 0x80 != 0, "a DNS response");
    (u16::from_be_bytes([buf[0], buf[1]]), buf[3] & 0x0f)
}

fn start_dns64(env: &[(&str, &str)]) -> (Daemon, String) {
    let upstream = empty_upstream();
    let mut d = Daemon::spawn(
        &["dns64", "--listen", "127.0.0.1:0", "--upstream", &upstream, "--workers", "1", "--timeout-ms", "500"],
        env,
    );
    let l = d.line("listening on ");
    let addr = l.split("listening on ").nth(1).unwrap().split(' ').next().unwrap().to_owned();
    (d, addr)
}

#[test]
fn dns64_lives_through_hup_usr1_usr2_and_stops_with_final_counters() {
    let (mut d, addr) = start_dns64(&[]);
    assert_eq!(ask(&addr, "example.test."), (0x1234, 0));
    d.kill("-HUP");
    d.line("SIGHUP: no configuration file");
    d.kill("-USR1");
    let counters = d.line(" queries, ");
    assert!(counters.contains("1 queries"), "{counters}");
    d.kill("-USR2");
    d.line("SIGUSR2 ignored");
    assert!(d.alive(), "alive after SIGHUP, SIGUSR1 and SIGUSR2");
    assert_eq!(ask(&addr, "example.test."), (0x1234, 0), "still answers");
    d.kill("-TERM");
    let last = d.line("stopped; final counters:");
    assert!(last.contains("2 queries"), "{last}");
    assert!(d.wait_exit().success());
}

#[test]
fn systemd_notify_sequence_arrives_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notify");
    let sock = UnixDatagram::bind(&path).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let recv = || {
        let mut buf = [0u8; 1024];
        let n = sock.recv(&mut buf).expect("a notification within 10 s");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    let (mut d, addr) = start_dns64(&[("NOTIFY_SOCKET", path.to_str().unwrap())]);
    let ready = recv();
    assert!(ready.lines().any(|l| l == "READY=1"), "{ready:?}");
    // READY=1 means serving.
    assert_eq!(ask(&addr, "example.test.").1, 0);
    d.kill("-HUP");
    let reloading = recv();
    let mut lines = reloading.lines();
    assert_eq!(lines.next(), Some("RELOADING=1"), "{reloading:?}");
    let usec = lines.next().and_then(|l| l.strip_prefix("MONOTONIC_USEC=")).expect("MONOTONIC_USEC");
    assert!(usec.parse::<u64>().is_ok_and(|u| u > 0), "{reloading:?}");
    let ready = recv();
    assert!(ready.lines().any(|l| l == "READY=1"), "{ready:?}");
    d.kill("-TERM");
    assert_eq!(recv(), "STOPPING=1");
    assert!(d.wait_exit().success());
}

/// `nat64 run` on a TUN device: a changed valid file is reported as needing a restart, a
/// bad one refused with its line, and the gateway keeps running through both.
#[test]
fn nat64_reload_reports_and_refuses_and_keeps_running() {
    if !common::is_root() || !std::path::Path::new("/dev/net/tun").exists() {
        eprintln!("skipping: needs root and /dev/net/tun");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("nat64.toml");
    let tun = format!("sghup{}", std::process::id() % 100000);
    let good = format!("tun = \"{tun}\"\npool6 = \"64:ff9b::/96\"\nipv4 = \"192.0.2.1\"\nstats_interval = 0\n");
    std::fs::write(&cfg, &good).unwrap();
    let mut d = Daemon::spawn(&["nat64", "run", "--config", cfg.to_str().unwrap()], &[]);
    d.line("translating on");
    std::fs::write(&cfg, format!("{good}icmp_rate = 5\n")).unwrap();
    d.kill("-HUP");
    let l = d.line("SIGHUP: reload of");
    assert!(l.contains("changed: icmp_rate") && l.contains("needs restart"), "{l}");
    std::fs::write(&cfg, format!("{good}pool6 = \"64:ff9b::/95\"\n")).unwrap();
    d.kill("-HUP");
    let l = d.line("SIGHUP: reload of");
    assert!(l.contains("refused") && l.contains("nat64.toml:"), "{l}");
    d.kill("-USR1");
    d.line("received=");
    assert!(d.alive(), "alive after two reloads");
    assert!(std::path::Path::new(&format!("/sys/class/net/{tun}")).exists(), "the TUN device stays");
    d.kill("-TERM");
    d.line("final counters");
    assert!(d.wait_exit().success());
}
