//! End to end for issue 7: an IPv6-only host resolves a name that a real resolver (Debian
//! unbound, in the router namespace) has only as an A record through `sixgate dns64`, gets
//! the synthesized AAAA, and fetches data over TCP from the IPv4-only server through
//! `sixgate nat64 run` in stateful mode; two IPv6 sources share the one IPv4 pool address;
//! an idle UDP session expires on a shortened timer. Needs root, unbound and dig; otherwise
//! it prints why it skips and passes.
//!
//! And the held unsolicited SYN (RFC 6146 §3.5.2.2) through the real gateway: the IPv4
//! host's SYN to a pool port without a binding is answered with ICMP Port Unreachable when
//! TCP_INCOMING_SYN (shortened to 2 s) runs out, not before; a SYN the IPv6 host answers
//! with its own in that time (a simultaneous open) is discarded and the connection works.
//! Needs root and scapy.
//!
//! And the gateway on two queues (tables in two shards): TCP, UDP mappings, hairpinning
//! between eight sources and ping, whichever queue the kernel hands each packet to.
//!
//! ```text
//!  h6 (2001:db8:6::2, ::3) ── rt [dns64 on [2001:db8:6::1]:53 → unbound 127.0.0.1;
//!                                 stateful NAT64 on TUN, pool4 192.0.2.1] ── h4 (198.51.100.2)
//! ```

mod common;

use common::*;

use std::path::PathBuf;
use std::process::Command;
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

/// The three namespaces drawn above (a [`Netns`] with the links and addresses made).
struct Topo(Netns);

impl std::ops::Deref for Topo {
    type Target = Netns;
    fn deref(&self) -> &Netns {
        &self.0
    }
}

impl std::ops::DerefMut for Topo {
    fn deref_mut(&mut self) -> &mut Netns {
        &mut self.0
    }
}

impl Topo {
    /// The NAT64 topology ([`Netns::nat64`]) as drawn above, with the second IPv6 source
    /// (without the daemons).
    fn new(prefix: &str) -> Self {
        let t = Netns::nat64(prefix);
        t.addr("h6", "v6a", "2001:db8:6::3/64");
        Self(t)
    }

    /// Starts `sixgate nat64 run` in stateful mode (pool6 2001:db8:64::/96, pool4
    /// 192.0.2.1) in the router with `extra` TOML lines, waits for its TUN device and
    /// routes the prefixes into it. Returns the gateway's index in `children`.
    fn gateway(&mut self, extra: &str) -> usize {
        let gw = self.dir.path().join("gw.toml");
        std::fs::write(
            &gw,
            format!(
                "tun = \"nat64\"\nmode = \"stateful\"\npool6 = \"2001:db8:64::/96\"\nipv4 = \"192.0.2.100\"\n\
                 ipv6 = \"2001:db8:ff::1\"\npool4 = [\"192.0.2.1/32 1024-65535\"]\nstats_interval = 0\n{extra}"
            ),
        )
        .unwrap();
        let gw = gw.display().to_string();
        self.spawn("rt", &[env!("CARGO_BIN_EXE_sixgate"), "nat64", "run", "--config", &gw], "gw.log");
        let rt = self.ns("rt");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !sh(&["ip", "-n", &rt, "link", "show", "nat64"]).status.success() {
            assert!(Instant::now() < deadline, "TUN never appeared: {}", self.log("gw.log"));
            std::thread::sleep(Duration::from_millis(50));
        }
        must(&["ip", "-n", &rt, "-6", "route", "add", "2001:db8:64::/96", "dev", "nat64"]);
        must(&["ip", "-n", &rt, "route", "add", "192.0.2.0/24", "dev", "nat64"]);
        self.children.len() - 1
    }

    /// The gateway's counters line, asked for with SIGUSR1.
    fn counters(&self, gw: usize) -> String {
        let before = self.log("gw.log").lines().count();
        let _ = sh(&["kill", "-USR1", &self.children[gw].id().to_string()]);
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if let Some(l) = self.log("gw.log").lines().skip(before).find(|l| l.contains("received=")) {
                return l.to_owned();
            }
            assert!(Instant::now() < deadline, "no counters: {}", self.log("gw.log"));
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

#[test]
fn ipv6_only_host_reaches_ipv4_server_by_name_through_dns64_and_stateful_nat64() {
    if let Some(why) = skip_reason() {
        eprintln!("skipping: {why}");
        return;
    }
    let mut t = Topo::new("sgs");

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
    let gw = t.gateway("udp_timeout = 2\n");

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
    let counters = t.counters(gw);
    assert!(counters.contains("no-binding=1"), "the late datagram is dropped for want of a binding: {counters}");
}

/// A `key=N` field of a counters line (0 when absent).
fn field(counters: &str, key: &str) -> u64 {
    counters.split_whitespace().find_map(|f| f.strip_prefix(key)?.strip_prefix('=')?.parse().ok()).unwrap_or(0)
}

#[test]
fn unsolicited_ipv4_syn_is_held_then_refused_or_met_by_a_simultaneous_open() {
    if let Some(why) = netns_skip_reason() {
        eprintln!("skipping: {why}");
        return;
    }
    if !sh(&[PY, "-c", "import scapy.all"]).status.success() {
        eprintln!("skipping: scapy missing for {PY}");
        return;
    }
    let mut t = Topo::new("sgh");
    let gw = t.gateway("tcp_incoming_syn_timeout = 2\n");

    // 1. The IPv4 host sends one SYN (scapy: a kernel socket would retransmit it, and
    //    with linear SYN timeouts a retransmission can meet the deadline and be held
    //    anew) to a pool port nobody is bound to, and sniffs its interface. The SYN is
    //    held for TCP_INCOMING_SYN (2 s here), then answered with Port Unreachable
    //    quoting it: not before the 2 s, and soon after.
    let probe = t.python(
        "h4",
        "import time,json\nfrom scapy.all import AsyncSniffer,IP,TCP,ICMP,IPerror,TCPerror,send\n\
         sn=AsyncSniffer(iface='v4a',store=True,lfilter=lambda p:IP in p and (ICMP in p or TCP in p))\n\
         sn.start();time.sleep(1)\n\
         send(IP(src='198.51.100.2',dst='192.0.2.1')/TCP(sport=5000,dport=40000,flags='S',seq=123456789),verbose=0)\n\
         time.sleep(3.5);ps=sn.stop()\n\
         syns=[float(p.time) for p in ps if TCP in p and p[IP].dst=='192.0.2.1']\n\
         errs=[dict(time=float(p.time),src=p[IP].src,type=p[ICMP].type,code=p[ICMP].code,qsrc=p[IPerror].src,\
         qdst=p[IPerror].dst,sport=p[TCPerror].sport,dport=p[TCPerror].dport,flags=int(p[TCPerror].flags),\
         seq=p[TCPerror].seq) for p in ps if ICMP in p and TCPerror in p]\n\
         print(json.dumps(dict(syns=syns,errors=errs)))",
    );
    let o = wait_output(probe, Duration::from_secs(20));
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    let line = out.lines().last().unwrap_or_default().to_owned();
    let v: serde_json::Value =
        serde_json::from_str(&line).unwrap_or_else(|_| panic!("{out} {}", String::from_utf8_lossy(&o.stderr)));
    let syns = v["syns"].as_array().unwrap();
    let errs = v["errors"].as_array().unwrap();
    assert_eq!((syns.len(), errs.len()), (1, 1), "one SYN out, one error back: {line}\ngateway: {}", t.log("gw.log"));
    let e = &errs[0];
    let after = e["time"].as_f64().unwrap() - syns[0].as_f64().unwrap();
    assert!((2.0..3.0).contains(&after), "the error {after:.3} s after the SYN; TCP_INCOMING_SYN is 2 s: {line}");
    assert_eq!((e["type"].as_u64(), e["code"].as_u64()), (Some(3), Some(3)), "Port Unreachable: {line}");
    assert_eq!(e["src"], "192.0.2.1", "from the pool address the SYN went to: {line}");
    assert_eq!((e["qsrc"].as_str(), e["qdst"].as_str()), (Some("198.51.100.2"), Some("192.0.2.1")), "{line}");
    assert_eq!(
        (e["sport"].as_u64(), e["dport"].as_u64(), e["flags"].as_u64(), e["seq"].as_u64()),
        (Some(5000), Some(40000), Some(2), Some(123456789)),
        "it quotes the SYN: {line}"
    );
    let c1 = t.counters(gw);
    assert_eq!(field(&c1, "generated"), 1, "one Port Unreachable, made by a timer: {c1}");
    assert_eq!(field(&c1, "replied"), 0, "no packet given was answered: {c1}");
    assert_eq!(field(&c1, "incoming-syn-held"), 1, "the SYN was held: {c1}");
    assert_eq!(field(&c1, "incoming-syn"), 0, "none refused for want of room: {c1}");

    // 2. A simultaneous open: the IPv4 host's SYN to pool port 40001 is held; about half
    //    a second later the IPv6 host sends its own SYN from port 40001 (the pool port it
    //    gets, its own being free) to the IPv4 host. The held SYN is discarded (no error
    //    comes for it) and both ends connect and talk.
    let v6 = t.python(
        "h6",
        "import socket,time\ntime.sleep(0.5)\nc=socket.socket(socket.AF_INET6);c.bind(('2001:db8:6::2',40001))\n\
         c.settimeout(10);c.connect(('2001:db8:64::c633:6402',5001));c.sendall(b'from-v6');print(c.recv(100).decode())",
    );
    let v4 = t.python(
        "h4",
        "import socket,time\ns=socket.socket();s.bind(('198.51.100.2',5001));s.settimeout(10)\n\
         s.connect(('192.0.2.1',40001));s.sendall(b'from-v4');print(s.recv(100).decode());time.sleep(2.5)",
    );
    let o6 = wait_output(v6, Duration::from_secs(15));
    let o4 = wait_output(v4, Duration::from_secs(15));
    assert_eq!(String::from_utf8_lossy(&o6.stdout).trim(), "from-v4", "{}\ngateway: {}", text(&o6), t.log("gw.log"));
    assert_eq!(String::from_utf8_lossy(&o4.stdout).trim(), "from-v6", "{}", text(&o4));
    // The IPv4 host stayed 2.5 s more, past the held SYN's time: no error was sent for it.
    let c2 = t.counters(gw);
    assert!(field(&c2, "incoming-syn-held") > field(&c1, "incoming-syn-held"), "the IPv4 SYN came first, held: {c2}");
    assert_eq!(field(&c2, "generated"), 1, "no Port Unreachable for the SYN a simultaneous open took: {c2}");
}

/// The stateful gateway on a two-queue TUN device, its tables cut into two shards
/// (`queues = 2`): eight IPv6 sources fetch over TCP at once, learn their UDP mappings from
/// an IPv4 echo server, then send to each other through the pool address (hairpinning, RFC
/// 6146 §3.8, which crosses shards for sources hashed to different ones), and ping the
/// IPv4 host; every byte and every mapping is checked.
#[test]
fn stateful_gateway_on_two_queues_keeps_sessions_whichever_queue_packets_use() {
    if let Some(why) = skip_reason() {
        eprintln!("skipping: {why}");
        return;
    }
    let mut t = Topo::new("sgq");
    let h6 = t.ns("h6");
    for i in 0x10..0x18 {
        must(&["ip", "-n", &h6, "-6", "addr", "add", &format!("2001:db8:6::{i:x}/64"), "dev", "v6a", "nodad"]);
    }
    let gw = t.gateway("queues = 2\nfiltering = \"endpoint-independent\"\n");
    assert!(t.log("gw.log").contains("2 queue(s)"), "{}", t.log("gw.log"));

    // h4: a TCP server sending 256 KiB to each of 8 clients at once, and a UDP server
    // answering each datagram with the address and port it came from.
    let server = t.python(
        "h4",
        "import socket,threading\n\
         s=socket.socket();s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1);s.bind(('0.0.0.0',5001));s.listen(8)\n\
         s.settimeout(30)\n\
         u=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);u.bind(('0.0.0.0',5002))\n\
         def echo():\n  while True:\n    b,a=u.recvfrom(100);u.sendto(f'{a[0]}:{a[1]}'.encode(),a)\n\
         threading.Thread(target=echo,daemon=True).start()\n\
         def send(c):\n  c.sendall(bytes(range(256))*1024);c.close()\n\
         peers=[]\nts=[]\n\
         for i in range(8):\n  c,a=s.accept();peers.append(f'{a[0]}:{a[1]}')\n  \
         t=threading.Thread(target=send,args=(c,));t.start();ts.append(t)\n\
         [t.join() for t in ts]\nprint(' '.join(peers))\n\
         import time;time.sleep(8)",
    );
    std::thread::sleep(Duration::from_millis(300));
    let client = t.python(
        "h6",
        "import socket,threading\n\
         srcs=[f'2001:db8:6::{i:x}' for i in range(0x10,0x18)]\nS='2001:db8:64::c633:6402'\nres={}\n\
         def tcp(src):\n  c=socket.socket(socket.AF_INET6);c.settimeout(20);c.bind((src,0));c.connect((S,5001));n=0\n  \
         while True:\n    b=c.recv(65536)\n    if not b: break\n    n+=len(b)\n  res[src]=n\n\
         ts=[threading.Thread(target=tcp,args=(s,)) for s in srcs]\n[t.start() for t in ts]\n[t.join() for t in ts]\n\
         print('tcp',' '.join(str(res.get(s)) for s in srcs))\n\
         socks={};ports={}\n\
         for s in srcs:\n  u=socket.socket(socket.AF_INET6,socket.SOCK_DGRAM);u.bind((s,0));u.settimeout(3)\n  \
         u.sendto(b'who',(S,5002));d,_=u.recvfrom(100);a,p=d.decode().rsplit(':',1)\n  socks[s]=u;ports[s]=int(p)\n  \
         assert a=='192.0.2.1',a\n\
         print('udp',len(set(ports.values())))\n\
         P='2001:db8:64::c000:201'\n\
         for s in srcs:\n  for d in srcs:\n    if s!=d: socks[s].sendto(s.encode(),(P,ports[d]))\n\
         got=0;bad=[]\n\
         for d in srcs:\n  for _ in range(len(srcs)-1):\n    try:\n      b,a=socks[d].recvfrom(100)\n    \
         except socket.timeout:\n      bad.append(d);break\n    s=b.decode()\n    \
         if a[0]==P and a[1]==ports[s]: got+=1\n    else: bad.append((d,a,s))\n\
         print('hairpin',got,bad)",
    );
    let c = wait_output(client, Duration::from_secs(60));
    let out = String::from_utf8_lossy(&c.stdout).into_owned();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}{}\ngateway: {}", String::from_utf8_lossy(&c.stderr), t.log("gw.log"));
    assert_eq!(lines[0], format!("tcp{}", " 262144".repeat(8)), "every byte to every source");
    assert_eq!(lines[1], "udp 8", "eight mappings, eight pool ports");
    assert_eq!(lines[2], "hairpin 56 []", "every source reaches every other through the pool address");
    let s = wait_output(server, Duration::from_secs(20));
    let peers: Vec<String> = String::from_utf8_lossy(&s.stdout).split_whitespace().map(str::to_owned).collect();
    assert_eq!(peers.len(), 8, "{peers:?}");
    assert!(peers.iter().all(|p| p.starts_with("192.0.2.1:")), "one shared pool address: {peers:?}");
    let mut ports = peers.clone();
    ports.sort();
    ports.dedup();
    assert_eq!(ports.len(), 8, "eight TCP mappings: {peers:?}");

    // ICMP identifiers are shared out too.
    let o = t.exec("h6", &["ping", "-6", "-c", "3", "-i", "0.2", "-W", "2", "2001:db8:64::c633:6402"]);
    assert!(o.status.success(), "ping through the stateful gateway: {}", text(&o));

    // Both workers translated, and the counters of both shards come out.
    let counters = t.counters(gw);
    assert!(!counters.contains("no-binding") && !counters.contains("no-session"), "nothing lost a session: {counters}");
    // The kernel spread the flows over both queues (about 30 flows: all on one queue has
    // a chance of about 2⁻²⁹).
    let spread: Vec<u64> = counters
        .split_whitespace()
        .find_map(|w| w.strip_prefix("received_per_queue="))
        .unwrap_or_else(|| panic!("no per-queue figures: {counters}"))
        .split('/')
        .map(|n| n.parse().unwrap())
        .collect();
    assert!(spread.len() == 2 && spread.iter().all(|&n| n > 0), "both queues carried packets: {counters}");
}
