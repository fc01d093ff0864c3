//! End to end: SIGHUP applies a new configuration to the running gateway while a TCP
//! transfer goes through it, and the transfer loses no byte; a file that fails validation
//! is refused and the running configuration stays (a behaviour the bad file would change
//! is checked after it); the service manager hears READY → RELOADING → READY.
//!
//! ```text
//!  h6 (2001:db8:6::2, 2001:db8:7::2) ── rt [sixgate nat64 run on TUN nat64] ── h4 (198.51.100.2)
//! ```
//!
//! Stateless (SIIT): EAM 2001:db8:6::/120 = 203.0.113.0/24 at start; the reload adds
//! 2001:db8:7::/120 = 198.18.0.0/24, which h6's second address can then reach h4 through.
//! Stateful (NAT64, pool4 192.0.2.1 and .2; on one queue and on two, where the tables are
//! shards): the reload changes timers and the ICMP rate; the bad file would move pool4 to
//! 192.0.2.7, and a connection after it still comes from the running pool4; then pool4
//! shrinks to one address and the sessions on the other end, counted in the log.
//!
//! Needs root (network namespaces, TUN) and python3; otherwise each test prints why it
//! skips and passes.

mod common;

use common::*;

use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// 198.51.100.2 under pool6.
const H4_V6: &str = "2001:db8:64::c633:6402";

/// Chunks of 16 KiB the server sends, 10 ms apart: a transfer of about 6 s, 6.5 MB.
const CHUNKS: usize = 400;

/// The gateway in the router of [`Netns::nat64`], with its configuration file, its log
/// and the service manager's notification socket it was given.
struct Gw {
    net: Netns,
    cfg: PathBuf,
    log: PathBuf,
    notify: UnixDatagram,
    gw: Option<Child>,
}

impl std::ops::Deref for Gw {
    type Target = Netns;
    fn deref(&self) -> &Netns {
        &self.net
    }
}

impl Drop for Gw {
    fn drop(&mut self) {
        stop_all(self.gw.as_mut());
    }
}

impl Gw {
    /// Starts `sixgate nat64 run` on `text` (extra `args`) with `$NOTIFY_SOCKET` set,
    /// waits for READY=1 and routes `tun_routes` into the device.
    fn start(tag: &str, text: &str, args: &[&str], tun_routes: &[&str]) -> Self {
        let g = Self::spawn(Netns::nat64(tag), "rt", &["nat64", "run"], text, args);
        for r in tun_routes {
            g.route_dev("rt", r, "nat64");
        }
        g
    }

    /// Starts `sixgate CMD --config FILE ARGS` in namespace `n` of `net`, FILE holding
    /// `text`, with `$NOTIFY_SOCKET` set, and waits for READY=1.
    fn spawn(net: Netns, n: &str, cmd: &[&str], text: &str, args: &[&str]) -> Self {
        let cfg = net.dir.path().join("gw.toml");
        let log = net.dir.path().join("gw.log");
        std::fs::write(&cfg, text).unwrap();
        let sock = net.dir.path().join("notify");
        let notify = UnixDatagram::bind(&sock).unwrap();
        notify.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let gw = Command::new("ip")
            .args(["netns", "exec", &net.ns(n), env!("CARGO_BIN_EXE_sixgate")])
            .args(cmd)
            .arg("--config")
            .arg(&cfg)
            .args(args)
            .env("NOTIFY_SOCKET", &sock)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let g = Self { net, cfg, log, notify, gw: Some(gw) };
        let ready = g.notification();
        assert!(ready.lines().any(|l| l == "READY=1"), "{ready:?}: {}", g.log_text());
        g
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The next message to the notification socket.
    fn notification(&self) -> String {
        let mut buf = [0u8; 1024];
        let n = self.notify.recv(&mut buf).unwrap_or_else(|e| panic!("no notification: {e}: {}", self.log_text()));
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }

    /// Writes `text` to the configuration file, sends SIGHUP and returns the reload's log
    /// line, after checking the service manager heard RELOADING=1 then READY=1.
    fn reload(&self, text: &str) -> String {
        std::fs::write(&self.cfg, text).unwrap();
        let before = self.log_text().lines().filter(|l| l.contains("SIGHUP: reload of")).count();
        let pid = self.gw.as_ref().unwrap().id().to_string();
        assert!(sh(&["kill", "-HUP", &pid]).status.success());
        let reloading = self.notification();
        assert_eq!(reloading.lines().next(), Some("RELOADING=1"), "{reloading:?}");
        let ready = self.notification();
        assert!(ready.lines().any(|l| l == "READY=1"), "{ready:?}");
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let text = self.log_text();
            if let Some(l) = text.lines().filter(|l| l.contains("SIGHUP: reload of")).nth(before) {
                eprintln!("{l}");
                return l.to_owned();
            }
            assert!(Instant::now() < deadline, "no reload line: {text}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Starts a paced TCP transfer from h4 (port `port`) to h6 (which connects to
    /// [`H4_V6`] from `src`): see [`transfer`].
    fn transfer(&self, port: u16, src: &str) -> (Child, Child) {
        transfer(self, ("h4", "0.0.0.0"), ("h6", src), H4_V6, port)
    }
}

/// Starts a paced TCP transfer from a server in namespace `server.0` (listening on
/// `server.1`, port `port`) to a client in `client.0` that connects to `to` from
/// `client.1`: the server prints the peer's address, the client how many bytes it got
/// and the offset of the first one that breaks the pattern (-1: none).
fn transfer(net: &Netns, server: (&str, &str), client: (&str, &str), to: &str, port: u16) -> (Child, Child) {
    let fam = |a: &str| if a.contains(':') { "socket.AF_INET6" } else { "socket.AF_INET" };
    let (sfam, cfam) = (fam(server.1), fam(to));
    let s = net.python(
        server.0,
        &format!(
            "import socket,time\ns=socket.socket({sfam});s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n\
             s.bind(('{}',{port}));s.listen(1);s.settimeout(20)\nc,a=s.accept()\n\
             pat=bytes(range(256))*64\nfor i in range({CHUNKS}):\n  c.sendall(pat);time.sleep(0.01)\n\
             c.close();print(a[0])",
            server.1
        ),
    );
    std::thread::sleep(Duration::from_millis(300));
    let c = net.python(
        client.0,
        &format!(
            "import socket\nc=socket.socket({cfam});c.settimeout(20);c.bind(('{}',0))\n\
             c.connect(('{to}',{port}))\npat=bytes(range(256))*300\nn=0;bad=-1\nwhile True:\n  \
             b=c.recv(65536)\n  if not b: break\n  \
             if bad<0 and b!=pat[n%256:n%256+len(b)]:\n    bad=n+next(i for i in range(len(b)) if b[i]!=(n+i)%256)\n  \
             n+=len(b)\nprint(n,bad)",
            client.1
        ),
    );
    (s, c)
}

/// Waits for a transfer and checks every byte arrived, in order; the server's peer.
fn finish(client: Child, server: Child, log: &str) -> String {
    let c = wait_output(client, Duration::from_secs(60));
    let s = wait_output(server, Duration::from_secs(10));
    assert_eq!(
        String::from_utf8_lossy(&c.stdout).trim(),
        format!("{} -1", CHUNKS * 16384),
        "every byte, in order: {} {}\ngateway: {log}",
        String::from_utf8_lossy(&c.stderr),
        String::from_utf8_lossy(&s.stderr)
    );
    String::from_utf8_lossy(&s.stdout).trim().to_owned()
}

/// Whether `c` is still running (the transfer is not over).
fn running(c: &mut Child) -> bool {
    matches!(c.try_wait(), Ok(None))
}

fn skip() -> bool {
    if let Some(why) = netns_skip_reason().or_else(|| tools_skip_reason(&[PY])) {
        eprintln!("skipping: {why}");
        return true;
    }
    false
}

const SIIT: &str = "tun = \"nat64\"\npool6 = \"2001:db8:64::/96\"\nipv4 = \"192.0.2.1\"\n\
                    ipv6 = \"2001:db8:64::c000:201\"\nmtu = 1500\nstats_interval = 0\n";
const EAM1: &str = "[[eam]]\nipv6 = \"2001:db8:6::/120\"\nipv4 = \"203.0.113.0/24\"\n";
const EAM2: &str = "[[eam]]\nipv6 = \"2001:db8:7::/120\"\nipv4 = \"198.18.0.0/24\"\n";

#[test]
fn siit_reload_during_a_transfer_applies_a_new_eam_entry_and_refuses_a_bad_file_losing_no_byte() {
    if skip() {
        return;
    }
    let t = Gw::start(
        "sglrs",
        &format!("{SIIT}{EAM1}"),
        &[],
        &["2001:db8:64::/96", "203.0.113.0/24", "198.18.0.0/24", "192.0.2.1/32"],
    );
    // h6's second address, reachable only through the EAM entry the reload adds.
    t.addr("h6", "v6a", "2001:db8:7::2/64").route("rt", "2001:db8:7::/64", "2001:db8:6::2");
    t.route("h4", "198.18.0.0/24", "198.51.100.1");
    let ping_from_7 = || t.exec("h6", &["ping", "-6", "-c", "1", "-W", "1", "-I", "2001:db8:7::2", H4_V6]);
    assert!(!ping_from_7().status.success(), "no EAM entry for 2001:db8:7::2 yet");

    let (server, mut client) = t.transfer(5001, "2001:db8:6::2");
    std::thread::sleep(Duration::from_millis(700));
    // (a) A new EAM entry and ICMP rate: applied, to the running translator.
    let l = t.reload(&format!("{SIIT}icmp_rate = 50\n{EAM1}{EAM2}"));
    assert!(l.contains("applied: ") && l.contains("eamt") && l.contains("icmp_rate"), "{l}");
    assert!(!l.contains("needs restart"), "{l}");
    let log = t.log_text();
    let hint = log.split("also needs these routes").nth(1).unwrap_or_else(|| panic!("no route hint: {log}"));
    assert!(hint.contains("198.18.0.0/24 dev nat64") && !hint.contains("203.0.113.0/24"), "only the new one: {hint}");
    let o = ping_from_7();
    assert!(o.status.success(), "the new EAM entry is in force: {}", text(&o));
    // (b) A file that drops both EAM entries, with a bad pool6: refused with its line.
    let bad = format!("{}pool6 = \"2001:db8:64::/95\"\n", SIIT.replace("pool6 = \"2001:db8:64::/96\"\n", ""));
    let l = t.reload(&bad);
    assert!(l.contains("refused") && l.contains("gw.toml:"), "{l}");
    let o = ping_from_7();
    assert!(o.status.success(), "the running configuration stays: {}", text(&o));
    assert!(running(&mut client), "both reloads came during the transfer");
    let peer = finish(client, server, &t.log_text());
    assert_eq!(peer, "203.0.113.2", "through the first EAM entry");
}

/// One UDP datagram from h6 to h4 (port `port`) and its answer, through the gateway:
/// the IPv4 address it came from at h4.
fn udp_exchange(t: &Gw, port: u16) -> String {
    let server = t.python(
        "h4",
        &format!(
            "import socket\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);s.bind(('0.0.0.0',{port}));\
             s.settimeout(10)\nb,a=s.recvfrom(100);s.sendto(b,a);print(a[0])"
        ),
    );
    std::thread::sleep(Duration::from_millis(300));
    let client = t.python(
        "h6",
        &format!(
            "import socket\nc=socket.socket(socket.AF_INET6,socket.SOCK_DGRAM);c.settimeout(5)\n\
             c.sendto(b'hi',('{H4_V6}',{port}));print(c.recv(100))"
        ),
    );
    let c = wait_output(client, Duration::from_secs(10));
    assert_eq!(String::from_utf8_lossy(&c.stdout).trim(), "b'hi'", "{}", text(&c));
    String::from_utf8_lossy(&wait_output(server, Duration::from_secs(10)).stdout).trim().to_owned()
}

/// The stateful gateway on `queues` queues: reloads during a transfer, then a pool4
/// shrink that ends the sessions on the removed address.
fn stateful_reload(tag: &str, queues: &str) {
    if skip() {
        return;
    }
    let base = "tun = \"nat64\"\nmode = \"stateful\"\npool6 = \"2001:db8:64::/96\"\nipv4 = \"192.0.2.100\"\n\
                ipv6 = \"2001:db8:ff::1\"\nstats_interval = 0\n";
    let pool4 = "pool4 = [\"192.0.2.1/32 1024-65535\", \"192.0.2.2/32 1024-65535\"]\n";
    let t = Gw::start(tag, &format!("{base}{pool4}"), &["--queues", queues], &["2001:db8:64::/96", "192.0.2.0/24"]);
    let ours = ["192.0.2.1", "192.0.2.2"];
    let (server, mut client) = t.transfer(5001, "2001:db8:6::2");
    std::thread::sleep(Duration::from_millis(700));
    // (a) Timers and the ICMP rate: applied, the session and its binding survive.
    let l = t.reload(&format!("{base}{pool4}udp_timeout = 60\ntcp_est_timeout = 3600\nicmp_rate = 50\n"));
    assert!(l.contains("applied: ") && l.contains("timers") && l.contains("icmp_rate"), "{l}");
    assert!(!l.contains("needs restart") && !l.contains("sessions ended"), "{l}");
    // (b) A file that would move pool4, with a bad timer: refused.
    let l = t.reload(&format!("{base}pool4 = [\"192.0.2.7/32 1024-65535\"]\nudp_timeout = \"soon\"\n"));
    assert!(l.contains("refused") && l.contains("gw.toml:"), "{l}");
    assert!(running(&mut client), "both reloads came during the transfer");
    // A new connection during the transfer still gets a running pool4 address.
    let (s2, c2) = t.transfer(5002, "2001:db8:6::2");
    let peer = finish(c2, s2, &t.log_text());
    assert!(ours.contains(&peer.as_str()), "the refused pool4 is not in force: {peer}");
    let peer = finish(client, server, &t.log_text());
    assert!(ours.contains(&peer.as_str()), "{peer}");

    // (c) pool4 shrinks to the address a UDP session does not use: that session ends
    //     (and is counted in the log line); the next one comes from the address left.
    let used = udp_exchange(&t, 5003);
    let left = ours.iter().find(|a| **a != used).unwrap();
    let l = t.reload(&format!(
        "{base}pool4 = [\"{left}/32 1024-65535\"]\nudp_timeout = 60\ntcp_est_timeout = 3600\nicmp_rate = 50\n"
    ));
    assert!(l.contains("applied: ") && l.contains("pool4") && l.contains("sessions ended: "), "{l}");
    assert!(!l.contains("sessions ended: 0 "), "{l}");
    assert_eq!(udp_exchange(&t, 5004), *left);
}

#[test]
fn stateful_reload_during_a_transfer_loses_no_byte_and_a_bad_file_keeps_the_old_config() {
    stateful_reload("sglrf", "1");
}

#[test]
fn sharded_stateful_reload_during_a_transfer_loses_no_byte_and_a_bad_file_keeps_the_old_config() {
    stateful_reload("sglrh", "2");
}

/// `tunnel run` (6in4) between two sites, the near endpoint from a file: SIGHUP during a
/// TCP transfer through the tunnel applies a new TTL and refuses a bad file that would set
/// TTL 1 (which the middle router would end); the transfer loses no byte. After it, TTL 1
/// applied live cuts the tunnel at the middle router, and TTL 64 mends it.
#[test]
fn tunnel_reload_during_a_transfer_applies_the_ttl_and_refuses_a_bad_file_losing_no_byte() {
    if skip() {
        return;
    }
    let net = Netns::two_sites("sglrt");
    for (n, dev, a) in [
        ("sa", "e4", "10.1.0.1/24"),
        ("md", "m1", "10.1.0.2/24"),
        ("md", "m2", "10.2.0.2/24"),
        ("sb", "e4", "10.2.0.1/24"),
    ] {
        net.addr(n, dev, a);
    }
    net.route("sa", "10.2.0.0/24", "10.1.0.2").route("sb", "10.1.0.0/24", "10.2.0.2");
    net.sysctl("md", &["net.ipv4.ip_forward=1"]);
    for (h, s, site) in [("ha", "sa", "a"), ("hb", "sb", "b")] {
        net.addr(h, "e0", &format!("2001:db8:{site}::2/64")).route(h, "default", &format!("2001:db8:{site}::1"));
        net.addr(s, "e6", &format!("2001:db8:{site}::1/64")).sysctl(s, &["net.ipv6.conf.all.forwarding=1"]);
    }
    let mut net = net;
    // The far endpoint from flags.
    net.spawn(
        "sb",
        &[
            env!("CARGO_BIN_EXE_sixgate"),
            "tunnel",
            "run",
            "--tun",
            "sit0x",
            "--local",
            "10.2.0.1",
            "--remote",
            "10.1.0.1",
            "--address",
            "2001:db8:ffff::2/64",
            "--stats-interval",
            "0",
        ],
        "sb.log",
    );
    let base = "tun = \"sit0x\"\nlocal = \"10.1.0.1\"\nremote = \"10.2.0.1\"\naddress = \"2001:db8:ffff::1/64\"\n\
                stats_interval = 0\n";
    let t = Gw::spawn(net, "sa", &["tunnel", "run"], base, &[]);
    let deadline = Instant::now() + Duration::from_secs(10);
    for n in ["sa", "sb"] {
        while !t.exec(n, &["ip", "-6", "addr", "show", "dev", "sit0x"]).stdout.windows(4).any(|w| w == b"inet") {
            assert!(Instant::now() < deadline, "no tunnel device in {n}: {} {}", t.log("sb.log"), t.log_text());
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    t.route_dev("sa", "2001:db8:b::/48", "sit0x").route_dev("sb", "2001:db8:a::/48", "sit0x");
    let ping = || t.exec("ha", &["ping", "-6", "-c", "1", "-W", "1", "2001:db8:b::2"]);
    // The first packets wait for neighbour discovery on the host links.
    let o = t.exec("ha", &["ping", "-6", "-c", "3", "-i", "0.3", "-W", "2", "2001:db8:b::2"]);
    assert!(o.status.success(), "through the tunnel: {}", text(&o));

    let (server, mut client) = transfer(&t, ("hb", "::"), ("ha", "2001:db8:a::2"), "2001:db8:b::2", 5001);
    std::thread::sleep(Duration::from_millis(700));
    let l = t.reload(&format!("{base}ttl = 2\n"));
    assert!(l.contains("applied: ttl") && !l.contains("needs restart"), "{l}");
    let l = t.reload(&format!("{base}ttl = 1\nmode = \"gre\"\n"));
    assert!(l.contains("refused") && l.contains("gw.toml: mode"), "{l}");
    assert!(running(&mut client), "both reloads came during the transfer");
    finish(client, server, &t.log_text());

    let l = t.reload(&format!("{base}ttl = 1\n"));
    assert!(l.contains("applied: ttl"), "{l}");
    assert!(!ping().status.success(), "TTL 1 is in force: the middle router ends the outer packets");
    let l = t.reload(&format!("{base}ttl = 64\n"));
    assert!(l.contains("applied: ttl"), "{l}");
    let o = ping();
    assert!(o.status.success(), "TTL 64 again: {}", text(&o));
}
