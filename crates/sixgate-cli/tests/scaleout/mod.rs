//! The scale-out topology of `netns_ecmp` and `netns_bgp`: two stateful gateways for one
//! pool6, each owning half of pool4 (`instance = "1/2"`, `"2/2"`), behind a router that
//! spreads the IPv6 clients' flows over them (ECMP, L4 hash), and an IPv4 server that
//! reaches each gateway's half of pool4 by an ordinary route.
//!
//! ```text
//!                         ┌ ga1 2001:db8:a1::1 ── gw1 [sixgate 1/2: pool4 192.0.2.4/31] 198.51.100.1 ┐
//!  cl (32 sources) ── rt ┤                                                                       ├ h4 203.0.113.10
//!   2001:db8:6::100..    └ ga2 2001:db8:a2::1 ── gw2 [sixgate 2/2: pool4 192.0.2.6/31] 198.51.101.1 ┘
//! ```
#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::common::*;

/// Pool6, the server's IPv4 address and its IPv6 name under pool6.
pub const POOL6: &str = "2001:db8:64::/96";
pub const SERVER4: &str = "203.0.113.10";
pub const SERVER6: &str = "2001:db8:64::cb00:710a";
/// The two halves of pool4 `192.0.2.4/30`.
pub const PART: [&str; 2] = ["192.0.2.4/31", "192.0.2.6/31"];
/// IPv6 client source addresses.
pub const CLIENTS: usize = 32;
/// Bytes each TCP flow carries (server → client).
pub const TCP_BYTES: usize = 65536;

pub fn skip_reason() -> Option<String> {
    netns_skip_reason()
}

pub struct Scale {
    pub t: Netns,
    /// Index in `t.children` of each gateway (none: stopped).
    pub gw: [Option<usize>; 2],
}

/// The gateway (1 or 2) whose half of pool4 holds `addr`.
pub fn owner(addr: &str) -> usize {
    match addr {
        "192.0.2.4" | "192.0.2.5" => 1,
        "192.0.2.6" | "192.0.2.7" => 2,
        other => panic!("{other} is in neither half of pool4"),
    }
}

impl Scale {
    /// The namespaces, links, addresses and the server's routes (no route to pool6 in the
    /// router yet: the test adds it, by hand or by BGP).
    pub fn new(prefix: &str) -> Self {
        let t = Netns::new(prefix, &["cl", "rt", "gw1", "gw2", "h4"]);
        // No duplicate address detection on the links made below: their link-local
        // addresses are usable at once (while tentative, the first flows could go astray
        // between the multipath nexthops).
        for n in ["cl", "rt", "gw1", "gw2", "h4"] {
            t.sysctl(n, &["net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0"]);
        }
        t.link("cl", "c0", "rt", "r0");
        t.addr("cl", "c0", "2001:db8:6::2/64").addr("rt", "r0", "2001:db8:6::1/64");
        for i in 0..CLIENTS {
            t.addr("cl", "c0", &format!("2001:db8:6::{:x}/64", 0x100 + i));
        }
        t.route("cl", POOL6, "2001:db8:6::1");
        t.forwarding("rt");
        // L4 hash: flows of one source may take either gateway (RFC 6438-style 5-tuple).
        t.sysctl("rt", &["net.ipv6.fib_multipath_hash_policy=1"]);
        for k in 1..=2 {
            let gw = ["gw1", "gw2"][k - 1];
            let (ga, gb) = (format!("ga{k}"), format!("gb{k}"));
            t.link("rt", &ga, gw, &gb);
            t.addr("rt", &ga, &format!("2001:db8:a{k}::1/64")).addr(gw, &gb, &format!("2001:db8:a{k}::2/64"));
            t.route(gw, "2001:db8:6::/64", &format!("2001:db8:a{k}::1"));
            let (h, g) = (format!("h{k}"), format!("g{k}"));
            t.link("h4", &h, gw, &g);
            t.addr(gw, &g, &format!("198.51.{}.1/30", 99 + k)).addr("h4", &h, &format!("198.51.{}.2/30", 99 + k));
            t.route(gw, &format!("{SERVER4}/32"), &format!("198.51.{}.2", 99 + k));
            // The server reaches each gateway's half of pool4 by an ordinary route.
            t.route("h4", PART[k - 1], &format!("198.51.{}.1", 99 + k));
            t.forwarding(gw);
        }
        must(&["ip", "-n", &t.ns("h4"), "addr", "add", &format!("{SERVER4}/32"), "dev", "lo"]);
        Self { t, gw: [None, None] }
    }

    /// Starts gateway `k` (1 or 2): stateful, instance `k/2`, session events to
    /// `gw{k}.jsonl` and as IPFIX (observation domain `k`) to a collector on 127.0.0.1:4739
    /// in its namespace ([`Scale::ipfix_sessions`]), metrics and health on 127.0.0.1:9464;
    /// waits until `/health` says ok.
    pub fn start_gateway(&mut self, k: usize) {
        let dir = self.t.dir.path().display().to_string();
        self.start_ipfix_collector(k);
        let cfg = self.t.dir.path().join(format!("gw{k}.toml"));
        std::fs::write(
            &cfg,
            format!(
                "tun = \"nat64\"\nmode = \"stateful\"\npool6 = \"{POOL6}\"\nipv4 = \"192.0.2.10{k}\"\n\
                 ipv6 = \"2001:db8:ff::{k}\"\npool4 = [\"192.0.2.4/30\"]\ninstance = \"{k}/2\"\nroutes = true\n\
                 stats_interval = 0\nmetrics_listen = \"127.0.0.1:9464\"\n\
                 [log]\nevents = \"session\"\nfile = \"{dir}/gw{k}.jsonl\"\nipfix = \"127.0.0.1:4739\"\nipfix_domain = {k}\n"
            ),
        )
        .unwrap();
        let cfg = cfg.display().to_string();
        let ns = ["gw1", "gw2"][k - 1];
        self.t.spawn(ns, &[env!("CARGO_BIN_EXE_sixgate"), "nat64", "run", "--config", &cfg], &format!("gw{k}.log"));
        self.gw[k - 1] = Some(self.t.children.len() - 1);
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if self.health(k).0 == 200 {
                return;
            }
            assert!(Instant::now() < deadline, "gateway {k} never healthy: {}", self.t.log(&format!("gw{k}.log")));
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// A UDP collector on 127.0.0.1:4739 in gateway `k`'s namespace: each datagram, in hex,
    /// a line of `ipfix-gw{k}.txt`.
    fn start_ipfix_collector(&mut self, k: usize) {
        let ns = ["gw1", "gw2"][k - 1];
        let out = self.t.dir.path().join(format!("ipfix-gw{k}.txt")).display().to_string();
        let script = format!(
            "import socket\nf=open('{out}','a',buffering=1)\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n\
             s.bind(('127.0.0.1',4739))\nwhile True:\n  f.write(s.recv(65535).hex()+'\\n')\n"
        );
        self.t.spawn(ns, &[PY, "-c", &script], &format!("ipfix-gw{k}.log"));
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.t.exec(ns, &["ss", "-Hlun", "sport = :4739"]).stdout.is_empty() {
            assert!(Instant::now() < deadline, "no IPFIX collector: {}", self.t.log(&format!("ipfix-gw{k}.log")));
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The IPFIX messages gateway `k` exported so far: the (pool4 address, port) of each
    /// NAT64 session create record (template 256, natEvent 6, RFC 8158), once there are
    /// `n`, or what there is after 10 s. Every message is IPFIX (version 10) of
    /// observation domain `k`, and the templates come first.
    pub fn ipfix_sessions(&self, k: usize, n: usize) -> Vec<(String, u16)> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let mut out = Vec::new();
            let msgs: Vec<Vec<u8>> = self
                .t
                .log(&format!("ipfix-gw{k}.txt"))
                .lines()
                .map(|l| (0..l.len()).step_by(2).map(|i| u8::from_str_radix(&l[i..i + 2], 16).unwrap()).collect())
                .collect();
            for (i, m) in msgs.iter().enumerate() {
                let be16 = |at: usize| usize::from(u16::from_be_bytes([m[at], m[at + 1]]));
                assert_eq!((be16(0), be16(2)), (10, m.len()), "message {i}");
                assert_eq!(u32::from_be_bytes([m[12], m[13], m[14], m[15]]), k as u32, "observation domain");
                if i == 0 {
                    assert_eq!(be16(16), 2, "the templates first");
                }
                let mut at = 16;
                while at + 4 <= m.len() {
                    let (id, len) = (be16(at), be16(at + 2));
                    if id == 256 {
                        for r in m[at + 4..at + len].chunks_exact(58) {
                            if r[8] == 6 {
                                let a = std::net::Ipv4Addr::new(r[28], r[29], r[30], r[31]);
                                out.push((a.to_string(), u16::from_be_bytes([r[32], r[33]])));
                            }
                        }
                    }
                    at += len.max(4);
                }
            }
            if out.len() >= n || Instant::now() > deadline {
                return out;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `GET /metrics` of gateway `k`.
    pub fn metrics(&self, k: usize) -> String {
        let o = self.t.exec(
            ["gw1", "gw2"][k - 1],
            &[PY, "-c", "import urllib.request\nprint(urllib.request.urlopen('http://127.0.0.1:9464/metrics',timeout=5).read().decode())"],
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// `GET /health` of gateway `k`: (status, body); (0, why) when nothing answers.
    pub fn health(&self, k: usize) -> (u16, String) {
        let o = self.t.exec(
            ["gw1", "gw2"][k - 1],
            &[
                PY,
                "-c",
                "import urllib.request,urllib.error\ntry:\n  r=urllib.request.urlopen('http://127.0.0.1:9464/health',timeout=2)\n  \
                 print(r.status,r.read().decode().strip())\nexcept urllib.error.HTTPError as e:\n  \
                 print(e.code,e.read().decode().strip())\nexcept Exception as e:\n  print(0,e)",
            ],
        );
        let s = String::from_utf8_lossy(&o.stdout).trim().to_owned();
        let (code, body) = s.split_once(' ').unwrap_or((&s, ""));
        (code.parse().unwrap_or(0), body.to_owned())
    }

    /// Stops gateway `k` (SIGTERM) and waits for it to end.
    pub fn stop_gateway(&mut self, k: usize) -> String {
        let i = self.gw[k - 1].take().expect("gateway running");
        let c = &mut self.t.children[i];
        let _ = sh(&["kill", "-TERM", &c.id().to_string()]);
        let deadline = Instant::now() + Duration::from_secs(10);
        while c.try_wait().ok().flatten().is_none() {
            assert!(Instant::now() < deadline, "gateway {k} did not stop");
            std::thread::sleep(Duration::from_millis(50));
        }
        self.t.log(&format!("gw{k}.log"))
    }

    /// The counters line of gateway `k` (SIGUSR1).
    pub fn counters(&self, k: usize) -> String {
        let log = format!("gw{k}.log");
        let before = self.t.log(&log).lines().count();
        let i = self.gw[k - 1].expect("gateway running");
        let _ = sh(&["kill", "-USR1", &self.t.children[i].id().to_string()]);
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if let Some(l) = self.t.log(&log).lines().skip(before).find(|l| l.contains("received=")) {
                return l.to_owned();
            }
            assert!(Instant::now() < deadline, "no counters: {}", self.t.log(&log));
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The server in h4: TCP on 5001 sends [`TCP_BYTES`] of a pattern to each connection,
    /// UDP on 5002 echoes; each peer is appended to `peers.txt` (`tcp ADDR` / `udp ADDR`).
    pub fn start_server(&mut self) {
        let peers = self.t.dir.path().join("peers.txt").display().to_string();
        let script = format!(
            "import socket,threading\nf=open('{peers}','a',buffering=1)\nlock=threading.Lock()\n\
             def note(k,a):\n  with lock: f.write(k+' '+a[0]+'\\n')\n\
             data=bytes(range(256))*({TCP_BYTES}//256)\n\
             def tcp():\n  s=socket.socket();s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n  \
             s.bind(('{SERVER4}',5001));s.listen(64)\n  while True:\n    c,a=s.accept();note('tcp',a)\n    \
             threading.Thread(target=lambda c=c:(c.sendall(data),c.close()),daemon=True).start()\n\
             def udp():\n  s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);s.bind(('{SERVER4}',5002))\n  \
             while True:\n    b,a=s.recvfrom(65535);note('udp',a);s.sendto(b,a)\n\
             threading.Thread(target=udp,daemon=True).start()\ntcp()\n"
        );
        self.t.spawn("h4", &[PY, "-c", &script], "server.log");
        // Listening on both ports before any flow starts.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let tcp = self.t.exec("h4", &["ss", "-Hltn", "sport = :5001"]);
            let udp = self.t.exec("h4", &["ss", "-Hlun", "sport = :5002"]);
            if !tcp.stdout.is_empty() && !udp.stdout.is_empty() {
                return;
            }
            assert!(Instant::now() < deadline, "server never listened: {}", self.t.log("server.log"));
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Resolves the router's neighbours (both gateways) and the gateways' (the router):
    /// Linux IPv6 multipath sends a flow hashed to a nexthop whose neighbour entry is not
    /// resolved yet to another one, so a flow that starts then would change gateway
    /// mid-way (and lose its session), as in a network where a gateway just appeared.
    pub fn resolve_neighbours(&self) {
        for k in 1..=2 {
            must(&["ip", "netns", "exec", &self.t.ns("rt"), "ping", "-6", "-c1", "-W2", &format!("2001:db8:a{k}::2")]);
            must(&["ip", "netns", "exec", &self.t.ns("cl"), "ping", "-6", "-c1", "-W2", "2001:db8:6::1"]);
        }
    }

    /// The peers the server saw so far: (protocol, pool4 address) in order.
    pub fn peers(&self) -> Vec<(String, String)> {
        self.t
            .log("peers.txt")
            .lines()
            .filter_map(|l| l.split_once(' ').map(|(a, b)| (a.to_owned(), b.to_owned())))
            .collect()
    }

    /// One TCP and one UDP flow from each of the [`CLIENTS`] sources; every byte checked.
    /// Returns the lines of failures (empty: all flows complete and intact).
    pub fn flows(&self) -> Vec<String> {
        let script = format!(
            "import socket\nerr=[]\ndata=bytes(range(256))*({TCP_BYTES}//256)\n\
             for i in range({CLIENTS}):\n  src='2001:db8:6::%x'%(0x100+i)\n  \
             try:\n    c=socket.socket(socket.AF_INET6);c.settimeout(10);c.bind((src,0));c.connect(('{SERVER6}',5001))\n    \
             got=b''\n    while True:\n      b=c.recv(65536)\n      if not b: break\n      got+=b\n    c.close()\n    \
             if got!=data: err.append('tcp %s: %d bytes, intact %s'%(src,len(got),data.startswith(got)))\n  \
             except Exception as e: err.append('tcp %s: %s'%(src,e))\n  \
             try:\n    u=socket.socket(socket.AF_INET6,socket.SOCK_DGRAM);u.settimeout(5);u.bind((src,0))\n    \
             msg=(src+'|').encode()*40\n    u.sendto(msg,('{SERVER6}',5002))\n    b,a=u.recvfrom(65535)\n    \
             if b!=msg: err.append('udp %s: echo differs'%src)\n  except Exception as e: err.append('udp %s: %s'%(src,e))\n\
             print('\\n'.join(err))\n"
        );
        let o = wait_output(self.t.python("cl", &script), Duration::from_secs(120));
        assert!(o.status.success(), "client: {}", text(&o));
        String::from_utf8_lossy(&o.stdout).lines().filter(|l| !l.is_empty()).map(str::to_owned).collect()
    }

    /// Flows per gateway among `peers` (by the pool4 half their address is in).
    pub fn spread(peers: &[(String, String)]) -> BTreeMap<usize, usize> {
        let mut m = BTreeMap::new();
        for (_, a) in peers {
            *m.entry(owner(a)).or_default() += 1;
        }
        m
    }

    /// The JSON lines gateway `k` logged.
    pub fn events(&self, k: usize) -> Vec<serde_json::Value> {
        self.t.log(&format!("gw{k}.jsonl")).lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    }

    /// The `session-add` lines of gateway `k`, once there are `n` (the log thread writes
    /// a moment after the packets), or what there is after 10 s.
    pub fn session_adds(&self, k: usize, n: usize) -> Vec<serde_json::Value> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let adds: Vec<_> = self.events(k).into_iter().filter(|e| e["event"] == "session-add").collect();
            if adds.len() >= n || Instant::now() > deadline {
                return adds;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}
