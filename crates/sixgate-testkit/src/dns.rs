//! Running real DNS servers in tests: free loopback ports, child processes killed on drop,
//! `dig` and a parser of its output, and a bounded wait until a server answers.
//!
//! The servers (named, unbound, `sixgate dns64`) listen on high ports of 127.0.0.1 and
//! write into a temporary directory the test owns. Nothing here waits without a bound.

use std::net::{TcpListener, UdpSocket};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Whether the tests run as root (named and unbound as root need no user switch).
pub fn is_root() -> bool {
    Command::new("id").arg("-u").output().map(|o| o.stdout.starts_with(b"0")).unwrap_or(false)
}

/// The first of these programs that cannot be run (`program`, `args`), with the Debian
/// package that has it, as a skip reason.
pub fn missing_tool(tools: &[(&str, &[&str], &str)]) -> Option<String> {
    tools.iter().find_map(|(prog, args, pkg)| {
        Command::new(prog)
            .args(*args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_err()
            .then(|| format!("{prog} missing (apt-get install {pkg})"))
    })
}

/// A port free for both UDP and TCP on 127.0.0.1.
pub fn free_port() -> u16 {
    for _ in 0..100 {
        let Ok(u) = UdpSocket::bind("127.0.0.1:0") else { continue };
        let Ok(addr) = u.local_addr() else { continue };
        if TcpListener::bind(("127.0.0.1", addr.port())).is_ok() {
            return addr.port();
        }
    }
    panic!("no free port on 127.0.0.1");
}

/// A child process, killed and reaped on drop.
#[derive(Debug)]
pub struct Guard(pub Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `program` with `args`, its stdout discarded and its stderr into `log`.
pub fn spawn(program: &str, args: &[&str], log: &Path) -> Guard {
    let err = std::fs::File::create(log).unwrap_or_else(|e| panic!("create {}: {e}", log.display()));
    let child = Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(err)
        .spawn()
        .unwrap_or_else(|e| panic!("start {program}: {e}"));
    Guard(child)
}

/// `dig @127.0.0.1 -p PORT` with the header, answer and authority sections printed, one
/// try of at most 3 seconds, then `args`. Returns its standard output.
pub fn dig(port: u16, args: &[&str]) -> String {
    let o = Command::new("dig")
        .args(["@127.0.0.1", "-p", &port.to_string(), "+noall", "+comments", "+answer", "+authority"])
        .args(["+tries=1", "+time=3"])
        .args(args)
        .output()
        .expect("run dig");
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Waits (at most 10 s) until the server on `port` answers `name`/`qtype` with any
/// status; panics with the server's log otherwise.
pub fn wait_up(port: u16, name: &str, qtype: &str, log: &Path) {
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(10) {
        if dig(port, &["+time=1", name, qtype]).contains("status: ") {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("server on port {port} did not come up: {}", std::fs::read_to_string(log).unwrap_or_default());
}

/// One record of a dig output: owner (lower case), TTL, type, data.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct DigRecord {
    /// Owner name, lower case, with the trailing dot.
    pub name: String,
    /// TTL.
    pub ttl: u32,
    /// Type mnemonic (`AAAA`, `CNAME`, …).
    pub rtype: String,
    /// The data fields, joined by one space.
    pub data: String,
}

/// A dig answer, parsed.
#[derive(Debug, Clone, Default)]
pub struct DigAnswer {
    /// The status (`NOERROR`, `SERVFAIL`, `BADVERS`, …; `NONE` without an answer).
    pub status: String,
    /// The header flags (`qr`, `aa`, `tc`, `rd`, `ra`, `ad`, `cd`).
    pub flags: Vec<String>,
    /// The EDNS flags (`do`), when the answer had an OPT record.
    pub edns_flags: Option<Vec<String>>,
    /// The EDNS version of the answer's OPT record.
    pub edns_version: Option<u8>,
    /// The answer section.
    pub answer: Vec<DigRecord>,
    /// The authority section.
    pub authority: Vec<DigRecord>,
}

impl DigAnswer {
    /// Whether the header has this flag.
    pub fn flag(&self, f: &str) -> bool {
        self.flags.iter().any(|x| x == f)
    }

    /// Whether the OPT record has the DO flag.
    pub fn dnssec_ok(&self) -> bool {
        self.edns_flags.as_ref().is_some_and(|f| f.iter().any(|x| x == "do"))
    }

    /// The answer section without TTLs, sorted: (owner, type, data).
    pub fn answer_set(&self) -> Vec<(String, String, String)> {
        let mut v: Vec<_> = self.answer.iter().map(|r| (r.name.clone(), r.rtype.clone(), r.data.clone())).collect();
        v.sort();
        v
    }

    /// The data of the answer records of this type, sorted.
    pub fn data_of(&self, rtype: &str) -> Vec<String> {
        let mut v: Vec<_> = self.answer.iter().filter(|r| r.rtype == rtype).map(|r| r.data.clone()).collect();
        v.sort();
        v
    }

    /// The types in the authority section, sorted.
    pub fn authority_types(&self) -> Vec<String> {
        let mut v: Vec<_> = self.authority.iter().map(|r| r.rtype.clone()).collect();
        v.sort();
        v
    }
}

/// Parses the output of [`dig`] (`+comments +answer +authority`).
pub fn parse_dig(out: &str) -> DigAnswer {
    let mut a = DigAnswer { status: "NONE".into(), ..DigAnswer::default() };
    let mut section = "";
    for line in out.lines() {
        let l = line.trim();
        if let Some(rest) = l.split("status: ").nth(1) {
            a.status = rest.split(',').next().unwrap_or("").trim().to_string();
        } else if let Some(rest) = l.strip_prefix(";; flags:") {
            a.flags = rest.split(';').next().unwrap_or("").split_whitespace().map(str::to_owned).collect();
        } else if let Some(rest) = l.strip_prefix("; EDNS: version:") {
            a.edns_version = rest.split(',').next().and_then(|v| v.trim().parse().ok());
            let flags = rest.split("flags:").nth(1).and_then(|f| f.split(';').next()).unwrap_or("");
            a.edns_flags = Some(flags.split_whitespace().map(str::to_owned).collect());
        } else if l.starts_with(";; ANSWER SECTION") {
            section = "answer";
        } else if l.starts_with(";; AUTHORITY SECTION") {
            section = "authority";
        } else if l.starts_with(";; ") && l.ends_with("SECTION:") {
            section = "";
        } else if !l.starts_with(';') && !l.is_empty() {
            let f: Vec<&str> = l.split_whitespace().collect();
            if f.len() < 5 {
                continue;
            }
            let r = DigRecord {
                name: f[0].to_lowercase(),
                ttl: f[1].parse().unwrap_or(0),
                rtype: f[3].to_string(),
                data: f[4..].join(" "),
            };
            match section {
                "answer" => a.answer.push(r),
                "authority" => a.authority.push(r),
                _ => {}
            }
        }
    }
    a
}
