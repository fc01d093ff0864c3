//! End to end for issue 7: an IPv6-only host resolves a name that a real resolver (Debian
//! unbound, in the router namespace) has only as an A record through `sixgate dns64`, gets
//! the synthesized AAAA, and fetches data over TCP from the IPv4-only server through
//! `sixgate nat64 run` in stateful mode; two IPv6 sources share the one IPv4 pool address;
//! an idle UDP session expires on a shortened timer. Needs root, unbound and dig; otherwise
//! it prints why it skips and passes.
//!
//! ```text
//!  h6 (2001:db8:6::2, ::3) ── rt [dns64 on [2001:db8:6::1]:53 → unbound 127.0.0.1;
//!                                 stateful NAT64 on TUN, pool4 192.0.2.1] ── h4 (198.51.100.2)
//! ```

mod common;

use common::*;

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const UNBOUND: &str = "/usr/sbin/unbound";
const SERVER_V6: &str = "2001:db8:64::c633:6402";

fn skip_reason() -> Option<String> {
    if let Some(why) = netns_skip_reason() {
        return Some(why);
    }
    for p in [UNBOUND] {
        if !std::path::Path::new(p).exists() {
            return Some(format!("{p} missing"));
        }
    }
    if Command::new("dig").arg("-v").output().is_err() {
        return Some("dig missing".into());
    }
    None
}

struct Topo {
    p: String,
    children: Vec<Child>,
    dir: tempfile::TempDir,
}

impl Topo {
    fn ns(&self, n: &str) -> String {
        format!("{}{n}", self.p)
    }

    fn exec(&self, n: &str, args: &[&str]) -> Output {
        let ns = self.ns(n);
        let mut v = vec!["ip", "netns", "exec", &ns];
        v.extend_from_slice(args);
        sh(&v)
    }

    fn spawn(&mut self, n: &str, args: &[&str], log: &str) {
        let ns = self.ns(n);
        let child = Command::new("ip")
            .args(["netns", "exec", &ns])
            .args(args)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(self.dir.path().join(log)).unwrap())
            .spawn()
            .unwrap();
        self.children.push(child);
    }

    fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default()
    }

    fn python(&self, n: &str, script: &str) -> Child {
        let ns = self.ns(n);
        Command::new("ip")
            .args(["netns", "exec", &ns, PY, "-c", script])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }
}

impl Drop for Topo {
    fn drop(&mut self) {
        stop_all(self.children.iter_mut());
        for n in ["h6", "rt", "h4"] {
            let _ = sh(&["ip", "netns", "del", &self.ns(n)]);
        }
    }
}

#[test]
fn ipv6_only_host_reaches_ipv4_server_by_name_through_dns64_and_stateful_nat64() {
    if let Some(why) = skip_reason() {
        eprintln!("skipping: {why}");
        return;
    }
    let mut t = Topo {
        p: format!("sgs{}", std::process::id() % 100000),
        children: Vec::new(),
        dir: tempfile::tempdir().unwrap(),
    };
    for n in ["h6", "rt", "h4"] {
        let _ = sh(&["ip", "netns", "del", &t.ns(n)]);
        must(&["ip", "netns", "add", &t.ns(n)]);
        must(&["ip", "-n", &t.ns(n), "link", "set", "lo", "up"]);
    }
    let (h6, rt, h4) = (t.ns("h6"), t.ns("rt"), t.ns("h4"));
    must(&["ip", "link", "add", "v6a", "netns", &h6, "type", "veth", "peer", "name", "v6b", "netns", &rt]);
    must(&["ip", "link", "add", "v4a", "netns", &h4, "type", "veth", "peer", "name", "v4b", "netns", &rt]);
    for a in ["2001:db8:6::2/64", "2001:db8:6::3/64"] {
        must(&["ip", "-n", &h6, "-6", "addr", "add", a, "dev", "v6a", "nodad"]);
    }
    must(&["ip", "-n", &h6, "link", "set", "v6a", "up"]);
    must(&["ip", "-n", &h6, "-6", "route", "add", "2001:db8:64::/96", "via", "2001:db8:6::1"]);
    must(&["ip", "-n", &rt, "-6", "addr", "add", "2001:db8:6::1/64", "dev", "v6b", "nodad"]);
    must(&["ip", "-n", &rt, "addr", "add", "198.51.100.1/24", "dev", "v4b"]);
    must(&["ip", "-n", &rt, "link", "set", "v6b", "up"]);
    must(&["ip", "-n", &rt, "link", "set", "v4b", "up"]);
    assert!(t
        .exec("rt", &["sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1"])
        .status
        .success());
    must(&["ip", "-n", &h4, "addr", "add", "198.51.100.2/24", "dev", "v4a"]);
    must(&["ip", "-n", &h4, "link", "set", "v4a", "up"]);
    must(&["ip", "-n", &h4, "route", "add", "192.0.2.0/24", "via", "198.51.100.1"]);

    // The resolver: the server's name has only an A record.
    let d = t.dir.path().display().to_string();
    let conf: PathBuf = t.dir.path().join("unbound.conf");
    std::fs::write(
        &conf,
        format!(
            "server:\n    interface: 127.0.0.1\n    port: 5300\n    do-ip6: no\n    do-daemonize: no\n    use-syslog: no\n    \
             logfile: \"\"\n    chroot: \"\"\n    username: \"\"\n    directory: \"{d}\"\n    pidfile: \"{d}/u.pid\"\n    \
             access-control: 127.0.0.0/8 allow\n    num-threads: 1\n    local-zone: \"example.test.\" static\n    \
             local-data: \"example.test. 300 IN SOA ns.example.test. h.example.test. 1 3600 600 86400 300\"\n    \
             local-data: \"server.example.test. 300 IN A 198.51.100.2\"\nremote-control:\n    control-enable: no\n"
        ),
    )
    .unwrap();
    let conf = conf.display().to_string();
    t.spawn("rt", &[UNBOUND, "-d", "-c", &conf], "unbound.log");
    let sg = env!("CARGO_BIN_EXE_sixgate");
    t.spawn(
        "rt",
        &[
            sg,
            "dns64",
            "--listen",
            "[2001:db8:6::1]:53",
            "--upstream",
            "127.0.0.1:5300",
            "--prefix",
            "2001:db8:64::/96",
        ],
        "dns64.log",
    );
    let gw = t.dir.path().join("gw.toml");
    std::fs::write(
        &gw,
        "tun = \"nat64\"\nmode = \"stateful\"\npool6 = \"2001:db8:64::/96\"\nipv4 = \"192.0.2.100\"\n\
         ipv6 = \"2001:db8:ff::1\"\npool4 = [\"192.0.2.1/32 1024-65535\"]\nudp_timeout = 2\nstats_interval = 0\n",
    )
    .unwrap();
    let gw = gw.display().to_string();
    t.spawn("rt", &[sg, "nat64", "run", "--config", &gw], "gw.log");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !sh(&["ip", "-n", &rt, "link", "show", "nat64"]).status.success() {
        assert!(Instant::now() < deadline, "TUN never appeared: {}", t.log("gw.log"));
        std::thread::sleep(Duration::from_millis(50));
    }
    must(&["ip", "-n", &rt, "-6", "route", "add", "2001:db8:64::/96", "dev", "nat64"]);
    must(&["ip", "-n", &rt, "route", "add", "192.0.2.0/24", "dev", "nat64"]);

    // 1. DNS64: the AAAA the IPv6-only host gets is the A record under the prefix.
    let mut aaaa = String::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        let o =
            t.exec("h6", &["dig", "@2001:db8:6::1", "+short", "+tries=1", "+time=1", "server.example.test", "AAAA"]);
        aaaa = String::from_utf8_lossy(&o.stdout).trim().to_owned();
        if aaaa.parse::<std::net::Ipv6Addr>().is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(aaaa, SERVER_V6, "synthesized AAAA; dns64: {} unbound: {}", t.log("dns64.log"), t.log("unbound.log"));

    // 2. TCP from two IPv6 sources through the stateful translator: both arrive from the
    //    one pool address, on different ports, and get every byte.
    let server = t.python(
        "h4",
        "import socket\ns=socket.socket();s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n\
         s.bind(('0.0.0.0',5001));s.listen(2);s.settimeout(20)\npeers=[]\n\
         for i in range(2):\n  c,a=s.accept();peers.append(a);c.sendall(bytes(range(256))*4096);c.close()\n\
         print(' '.join(f'{h}:{p}' for h,p in peers))",
    );
    std::thread::sleep(Duration::from_millis(300));
    let client = t.python(
        "h6",
        &format!(
            "import socket\nout=[]\nfor src in ('2001:db8:6::2','2001:db8:6::3'):\n  \
             c=socket.socket(socket.AF_INET6);c.settimeout(20);c.bind((src,0));c.connect(('{aaaa}',5001))\n  n=0\n  \
             while True:\n    b=c.recv(65536)\n    if not b: break\n    n+=len(b)\n  out.append(str(n))\nprint(' '.join(out))"
        ),
    );
    let c = wait_output(client, Duration::from_secs(40));
    let s = wait_output(server, Duration::from_secs(10));
    assert_eq!(String::from_utf8_lossy(&c.stdout).trim(), "1048576 1048576", "{}", String::from_utf8_lossy(&c.stderr));
    let peers: Vec<String> = String::from_utf8_lossy(&s.stdout).split_whitespace().map(str::to_owned).collect();
    assert_eq!(peers.len(), 2, "{peers:?}");
    assert!(peers.iter().all(|p| p.starts_with("192.0.2.1:")), "one shared pool address: {peers:?}");
    assert_ne!(peers[0], peers[1], "two mappings on one address need two ports");

    // 3. UDP: the server answers at once, then again after the 2 s UDP timeout; the late
    //    datagram finds no binding and is dropped (RFC 6146 §3.5.1).
    let server = t.python(
        "h4",
        "import socket,time\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);s.bind(('0.0.0.0',5002));s.settimeout(10)\n\
         b,a=s.recvfrom(100);s.sendto(b'now',a);time.sleep(4);s.sendto(b'late',a);print(a[0])",
    );
    std::thread::sleep(Duration::from_millis(300));
    let client = t.python(
        "h6",
        &format!(
            "import socket\nc=socket.socket(socket.AF_INET6,socket.SOCK_DGRAM);c.settimeout(2)\n\
             c.sendto(b'hi',('{aaaa}',5002))\nprint(c.recvfrom(100)[0].decode())\nc.settimeout(6)\n\
             try:\n  print(c.recvfrom(100)[0].decode())\nexcept socket.timeout:\n  print('none')"
        ),
    );
    let c = wait_output(client, Duration::from_secs(20));
    let _ = wait_output(server, Duration::from_secs(15));
    assert_eq!(String::from_utf8_lossy(&c.stdout).split_whitespace().collect::<Vec<_>>(), ["now", "none"]);
    std::thread::sleep(Duration::from_millis(300));
    let gw_pid = t.children[2].id().to_string();
    let before = t.log("gw.log").lines().count();
    let _ = sh(&["kill", "-USR1", &gw_pid]);
    let deadline = Instant::now() + Duration::from_secs(5);
    let counters = loop {
        if let Some(l) = t.log("gw.log").lines().skip(before).find(|l| l.contains("received=")).map(str::to_owned) {
            break l;
        }
        assert!(Instant::now() < deadline, "no counters: {}", t.log("gw.log"));
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(counters.contains("no-binding=1"), "the late datagram is dropped for want of a binding: {counters}");
}
