//! End to end: the stateful gateway on a two-queue TUN device, its tables cut into two
//! shards (`queues = 2`). Eight IPv6 sources fetch over TCP at once, learn their UDP
//! mappings from an IPv4 echo server, then send to each other through the pool address
//! (hairpinning, RFC 6146 §3.8, which crosses shards for sources hashed to different
//! ones), and ping the IPv4 host; every byte and every mapping is checked. Needs root;
//! otherwise it prints why it skips and passes.
//!
//! ```text
//!  h6 (2001:db8:6::10 … ::17) ── rt [stateful NAT64, 2 queues, pool4 192.0.2.1] ── h4 (198.51.100.2)
//! ```

mod common;

use common::*;

use std::time::{Duration, Instant};

#[test]
fn stateful_gateway_on_two_queues_keeps_sessions_whichever_queue_packets_use() {
    if let Some(why) = netns_skip_reason() {
        eprintln!("skipping: {why}");
        return;
    }
    let mut t = Netns::new("sgq", &["h6", "rt", "h4"]);
    let (h6, rt, h4) = (t.ns("h6"), t.ns("rt"), t.ns("h4"));
    must(&["ip", "link", "add", "v6a", "netns", &h6, "type", "veth", "peer", "name", "v6b", "netns", &rt]);
    must(&["ip", "link", "add", "v4a", "netns", &h4, "type", "veth", "peer", "name", "v4b", "netns", &rt]);
    for i in 0x10..0x18 {
        must(&["ip", "-n", &h6, "-6", "addr", "add", &format!("2001:db8:6::{i:x}/64"), "dev", "v6a", "nodad"]);
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

    let gw = t.dir.path().join("gw.toml");
    std::fs::write(
        &gw,
        "tun = \"nat64\"\nmode = \"stateful\"\nqueues = 2\npool6 = \"2001:db8:64::/96\"\nipv4 = \"192.0.2.100\"\n\
         ipv6 = \"2001:db8:ff::1\"\npool4 = [\"192.0.2.1/32 1024-65535\"]\nfiltering = \"endpoint-independent\"\n\
         stats_interval = 0\n",
    )
    .unwrap();
    let gw = gw.display().to_string();
    let sg = env!("CARGO_BIN_EXE_sixgate");
    let gw_pid = t.spawn("rt", &[sg, "nat64", "run", "--config", &gw], "gw.log");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !sh(&["ip", "-n", &rt, "link", "show", "nat64"]).status.success() {
        assert!(Instant::now() < deadline, "TUN never appeared: {}", t.log("gw.log"));
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(t.log("gw.log").contains("2 queue(s)"), "{}", t.log("gw.log"));
    must(&["ip", "-n", &rt, "-6", "route", "add", "2001:db8:64::/96", "dev", "nat64"]);
    must(&["ip", "-n", &rt, "route", "add", "192.0.2.0/24", "dev", "nat64"]);

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
    let before = t.log("gw.log").lines().count();
    let _ = sh(&["kill", "-USR1", &gw_pid.to_string()]);
    let deadline = Instant::now() + Duration::from_secs(5);
    let counters = loop {
        if let Some(l) = t.log("gw.log").lines().skip(before).find(|l| l.contains("received=")).map(str::to_owned) {
            break l;
        }
        assert!(Instant::now() < deadline, "no counters: {}", t.log("gw.log"));
        std::thread::sleep(Duration::from_millis(50));
    };
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
