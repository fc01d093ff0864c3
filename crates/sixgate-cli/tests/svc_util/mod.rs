//! Helpers of the `svc_*` tests: a daemon with its standard error lines on a channel, a
//! fake resolver and a DNS client.
#![allow(dead_code, unreachable_pub)]

use std::io::{BufRead, BufReader};
use std::net::UdpSocket;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

/// A running daemon whose standard error lines arrive on a channel.
pub struct Daemon {
    pub child: Child,
    lines: Receiver<String>,
    seen: Vec<String>,
}

impl Daemon {
    pub fn spawn(args: &[&str], env: &[(&str, &str)]) -> Self {
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
    pub fn line(&mut self, needle: &str) -> String {
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

    pub fn kill(&self, sig: &str) {
        let o = Command::new("kill").args([sig, &self.child.id().to_string()]).output().unwrap();
        assert!(o.status.success(), "kill {sig}: {}", String::from_utf8_lossy(&o.stderr));
    }

    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    pub fn wait_exit(&mut self) -> ExitStatus {
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
pub fn empty_upstream() -> String {
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
pub fn ask(server: &str, name: &str) -> (u16, u8) {
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

pub fn start_dns64(env: &[(&str, &str)]) -> (Daemon, String) {
    let upstream = empty_upstream();
    let mut d = Daemon::spawn(
        &["dns64", "--listen", "127.0.0.1:0", "--upstream", &upstream, "--workers", "1", "--timeout-ms", "500"],
        env,
    );
    let l = d.line("listening on ");
    let addr = l.split("listening on ").nth(1).unwrap().split(' ').next().unwrap().to_owned();
    (d, addr)
}
