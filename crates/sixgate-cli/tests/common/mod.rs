//! Helpers shared by the network-namespace end-to-end tests.
#![allow(dead_code, unreachable_pub)]

use std::process::{Child, Command, Output};

pub mod proxy;
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
    // Every program the namespace tests run outside a skip check of their own.
    if let Some(why) = tools_skip_reason(&["ip", "ping", "sysctl", "kill"]) {
        return Some(why);
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
    tools_skip_reason_in(&std::env::var_os("PATH").unwrap_or_default(), tools)
}

/// [`tools_skip_reason`] for the search path `path`.
pub fn tools_skip_reason_in(path: &std::ffi::OsStr, tools: &[&str]) -> Option<String> {
    tools
        .iter()
        .find(|t| !std::env::split_paths(path).any(|d| d.join(t).is_file()))
        .map(|t| format!("{t} not installed"))
}

/// A directory of links to every program on `PATH` except `without`: a `PATH` on which
/// those tools are missing, as on a fresh machine.
pub fn path_without(without: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let path = std::env::var_os("PATH").unwrap_or_default();
    for d in std::env::split_paths(&path) {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let name = e.file_name();
            let to = dir.path().join(&name);
            if without.iter().any(|w| name == *w) || to.exists() {
                continue;
            }
            let _ = std::os::unix::fs::symlink(e.path(), to);
        }
    }
    dir
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

/// Network namespaces made for one test — named `{prefix}{pid}x{n}{name}`, unique to the
/// process and to the call, so tests running in parallel never share one — with the veth
/// links, addresses and routes the test asks for, the daemons it started in them and a
/// scratch directory. Dropping it (also while a failed assertion unwinds, in the middle
/// of the set-up too) stops the daemons and deletes the namespaces, and with them their
/// links.
///
/// ```ignore
/// let t = Netns::new("sg", &["h6", "rt"]);
/// t.link("h6", "v6a", "rt", "v6b").addr("h6", "v6a", "2001:db8:6::2/64").addr("rt", "v6b", "2001:db8:6::1/64");
/// t.route("h6", "2001:db8:64::/96", "2001:db8:6::1").forwarding("rt");
/// ```
pub struct Netns {
    pub prefix: String,
    pub names: Vec<&'static str>,
    pub children: Vec<Child>,
    pub dir: tempfile::TempDir,
}

impl Netns {
    /// Creates namespaces `names` (deleting leftovers of the same name), loopback up.
    pub fn new(prefix: &str, names: &[&'static str]) -> Self {
        static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let t = Self {
            prefix: format!("{prefix}{}x{call}", std::process::id() % 100000),
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

    /// A veth pair: `a_dev` in namespace `a`, `b_dev` in `b`, both up.
    pub fn link(&self, a: &str, a_dev: &str, b: &str, b_dev: &str) -> &Self {
        let (na, nb) = (self.ns(a), self.ns(b));
        must(&["ip", "link", "add", a_dev, "netns", &na, "type", "veth", "peer", "name", b_dev, "netns", &nb]);
        must(&["ip", "-n", &na, "link", "set", a_dev, "up"]);
        must(&["ip", "-n", &nb, "link", "set", b_dev, "up"]);
        self
    }

    /// Address `cidr` on `dev` in namespace `n` (IPv6 without duplicate address detection,
    /// so it is usable at once).
    pub fn addr(&self, n: &str, dev: &str, cidr: &str) -> &Self {
        let ns = self.ns(n);
        if cidr.contains(':') {
            must(&["ip", "-n", &ns, "-6", "addr", "add", cidr, "dev", dev, "nodad"]);
        } else {
            must(&["ip", "-n", &ns, "addr", "add", cidr, "dev", dev]);
        }
        self
    }

    /// A route to `dst` via the gateway `via` in namespace `n`.
    pub fn route(&self, n: &str, dst: &str, via: &str) -> &Self {
        let fam = if via.contains(':') { "-6" } else { "-4" };
        must(&["ip", "-n", &self.ns(n), fam, "route", "add", dst, "via", via]);
        self
    }

    /// A route to `dst` (an IPv4 or IPv6 prefix, not `default`) out of device `dev` in
    /// namespace `n`.
    pub fn route_dev(&self, n: &str, dst: &str, dev: &str) -> &Self {
        let fam = if dst.contains(':') { "-6" } else { "-4" };
        must(&["ip", "-n", &self.ns(n), fam, "route", "add", dst, "dev", dev]);
        self
    }

    /// Sets sysctls (`key=value`) in namespace `n`.
    pub fn sysctl(&self, n: &str, settings: &[&str]) -> &Self {
        let mut args = vec!["sysctl", "-qw"];
        args.extend_from_slice(settings);
        let o = self.exec(n, &args);
        assert!(o.status.success(), "sysctl {settings:?} in {n}: {}", text(&o));
        self
    }

    /// IPv4 and IPv6 forwarding on in namespace `n`.
    pub fn forwarding(&self, n: &str) -> &Self {
        self.sysctl(n, &["net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1"])
    }

    /// The translator topology of the NAT64 tests (and of `bench/lib/netns.sh`):
    ///
    /// ```text
    ///  h6 (2001:db8:6::2/64 on v6a) ── v6b 2001:db8:6::1 rt 198.51.100.1 v4b ── (v4a 198.51.100.2/24) h4
    /// ```
    ///
    /// h6 routes pool6 `2001:db8:64::/96` to the router, h4 routes `203.0.113.0/24` (the
    /// EAM range) and `192.0.2.0/24` (the translator's and pool4 addresses) to it; the
    /// router forwards. The translator and its TUN routes are the test's.
    pub fn nat64(prefix: &str) -> Self {
        let t = Self::new(prefix, &["h6", "rt", "h4"]);
        t.link("h6", "v6a", "rt", "v6b").link("h4", "v4a", "rt", "v4b");
        t.addr("h6", "v6a", "2001:db8:6::2/64").route("h6", "2001:db8:64::/96", "2001:db8:6::1");
        t.addr("rt", "v6b", "2001:db8:6::1/64").addr("rt", "v4b", "198.51.100.1/24").forwarding("rt");
        t.addr("h4", "v4a", "198.51.100.2/24");
        t.route("h4", "203.0.113.0/24", "198.51.100.1").route("h4", "192.0.2.0/24", "198.51.100.1");
        t
    }

    /// The chain of the tunnel tests: two sites joined only by an IPv4 router, a host
    /// behind each, linked but not addressed (the test gives the addresses):
    ///
    /// ```text
    ///  ha e0 ── e6 sa e4 ── m1 md m2 ── e4 sb e6 ── e0 hb
    /// ```
    pub fn two_sites(prefix: &str) -> Self {
        let t = Self::new(prefix, &["ha", "sa", "md", "sb", "hb"]);
        t.link("ha", "e0", "sa", "e6").link("sa", "e4", "md", "m1");
        t.link("md", "m2", "sb", "e4").link("sb", "e6", "hb", "e0");
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

    /// A TCP upload of `n` random bytes from namespace `from` to a server in `to` bound to
    /// `bind` (an IPv4 or IPv6 literal), the client connecting to `connect`: (what the client
    /// sent, what the server got), each as "LEN SHA256".
    pub fn tcp_upload(&self, from: &str, to: &str, bind: &str, connect: &str, n: usize) -> (String, String) {
        let family = if bind.contains(':') { "AF_INET6" } else { "AF_INET" };
        let server = self.python(
            to,
            &format!(
                "import socket,hashlib\n\
                 s=socket.socket(socket.{family});s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n\
                 s.bind(('{bind}',5001));s.listen(1);s.settimeout(30);c,_=s.accept();c.settimeout(30)\n\
                 h=hashlib.sha256();n=0\n\
                 while True:\n  d=c.recv(65536)\n  if not d: break\n  h.update(d);n+=len(d)\n\
                 print(n,h.hexdigest())"
            ),
        );
        std::thread::sleep(Duration::from_millis(300));
        let client = self.python(
            from,
            &format!(
                "import socket,hashlib,os,time\n\
                 d=os.urandom({n})\n\
                 for i in range(50):\n  \
                   try:\n    c=socket.create_connection(('{connect}',5001),timeout=5);break\n  \
                   except OSError:\n    time.sleep(0.1)\n\
                 c.settimeout(30);c.sendall(d);c.shutdown(socket.SHUT_WR);c.recv(1);c.close()\n\
                 print(len(d),hashlib.sha256(d).hexdigest())"
            ),
        );
        let c = wait_output(client, Duration::from_secs(60));
        let s = wait_output(server, Duration::from_secs(60));
        assert!(c.status.success(), "client: {}", text(&c));
        assert!(s.status.success(), "server: {}", text(&s));
        (String::from_utf8_lossy(&c.stdout).trim().to_owned(), String::from_utf8_lossy(&s.stdout).trim().to_owned())
    }

    /// UDP echoed both ways: a server in namespace `to` bound to `bind` (an IPv4 or IPv6
    /// literal) sends back each of `count` datagrams the client in `from` sends to `dst`
    /// (an IPv6 literal), datagram `i` being `1 + i * step` bytes of `i`; each is compared
    /// when it comes back. (datagrams echoed intact, the client's stderr).
    pub fn udp_echo(&self, from: &str, to: &str, bind: &str, dst: &str, count: usize, step: usize) -> (u32, String) {
        let family = if bind.contains(':') { "AF_INET6" } else { "AF_INET" };
        let server = self.python(
            to,
            &format!(
                "import socket\ns=socket.socket(socket.{family},socket.SOCK_DGRAM)\ns.bind(('{bind}',5003));s.settimeout(15)\n\
                 n=0\nwhile n<{count}:\n  b,a=s.recvfrom(65535);s.sendto(b,a);n+=1"
            ),
        );
        std::thread::sleep(Duration::from_millis(300));
        let client = self.python(
            from,
            &format!(
                "import socket\nc=socket.socket(socket.AF_INET6,socket.SOCK_DGRAM);c.settimeout(1)\nok=0\n\
                 for i in range({count}):\n  m=bytes([i%256])*(1+i*{step})\n  c.sendto(m,('{dst}',5003))\n  \
                 try:\n    b,_=c.recvfrom(65535);ok+=(b==m)\n  except socket.timeout: pass\nprint(ok)"
            ),
        );
        let o = wait_output(client, Duration::from_secs(90));
        let _ = wait_output(server, Duration::from_secs(20));
        (
            String::from_utf8_lossy(&o.stdout).trim().parse().unwrap_or(0),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
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
