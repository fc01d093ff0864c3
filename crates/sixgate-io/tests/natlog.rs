//! The event log's sinks: JSON Lines to a file (valid JSON, one object per event, the
//! file reopened after a rename), drops counted when the channel is full, RFC 5424
//! syslog over a local datagram socket and over UDP; an engine wrapped in `Logged`
//! hands its events over as it translates.

use std::net::UdpSocket;
use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

use sixgate_core::buf::PacketBuf;
use sixgate_core::engine::{Engine, Side, Verdict};
use sixgate_core::rfc6052::Pool6;
use sixgate_io::natlog::{Logged, NatLog, Record, Sink, BATCH};
use sixgate_nat64::{EventLevel, Nat64, Nat64Config, NatEvent, Pool4Range};
use sixgate_testkit::packets::udp6_ports;

fn engine(level: EventLevel) -> Nat64 {
    let pool6 = Pool6::new("64:ff9b:1::/96".parse().unwrap()).unwrap();
    let pool4 = vec![Pool4Range::new("198.51.100.1/32".parse().unwrap(), 1024, 65535)];
    let mut c = Nat64Config::new(pool6, pool4, "192.0.2.1".parse().unwrap(), "2001:db8:ffff::1".parse().unwrap());
    c.events = level;
    c.max_new_sessions_per_second = 0;
    Nat64::new(c).unwrap()
}

/// `n` events from a real engine (a new BIB entry and session each, at session level).
fn events(n: usize) -> Vec<NatEvent> {
    let mut e = engine(EventLevel::Session);
    let now = Instant::now();
    let mut out = Vec::new();
    let mut port = 1024u16;
    while out.len() < n {
        let mut b = PacketBuf::from_slice(&udp6_ports("2001:db8::10", "64:ff9b:1::cb00:7105", port, 53, b"q"));
        assert_eq!(e.process(&mut b, now), Verdict::Forward(Side::V4));
        out.extend(std::iter::from_fn(|| e.poll_event()));
        port += 1;
    }
    out.truncate(n);
    out
}

fn lines(path: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect()
}

#[test]
fn file_sink_writes_one_json_object_per_event_with_the_fields() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nat.jsonl");
    let mut log = NatLog::open(&Sink::File(path.clone()), 1024).unwrap();
    log.start().unwrap();
    let tx = log.sender().unwrap();
    for e in events(2) {
        tx.send(e);
    }
    drop(tx);
    let stats = log.stats();
    log.shutdown();
    let v = lines(&path);
    assert_eq!(v.len(), 2);
    assert_eq!(v[0]["event"], "bib-add");
    assert_eq!(v[1]["event"], "session-add");
    for x in &v {
        assert_eq!(x["proto"], "udp");
        assert_eq!(x["src6"], "2001:db8::10");
        assert_eq!(x["sport6"], 1024);
        assert_eq!(x["pool4"], "198.51.100.1");
        assert!(x["port4"].as_u64().is_some_and(|p| (1024..=65535).contains(&p)));
        let t = x["time"].as_str().unwrap();
        assert!(t.len() == 24 && t.ends_with('Z') && t.as_bytes()[10] == b'T', "{t}");
    }
    assert_eq!(
        (v[1]["dst4"].as_str(), v[1]["dst6"].as_str(), v[1]["dport"].as_u64()),
        (Some("203.0.113.5"), Some("64:ff9b:1::cb00:7105"), Some(53))
    );
    assert!(v[0].get("dst4").is_none());
    assert_eq!(stats.snapshot(), (2, 0, 0));
}

#[test]
fn reopen_after_a_rename_writes_to_a_new_file_and_keeps_the_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nat.jsonl");
    let moved = dir.path().join("nat.jsonl.1");
    let mut log = NatLog::open(&Sink::File(path.clone()), 1024).unwrap();
    log.start().unwrap();
    let tx = log.sender().unwrap();
    let ev = events(6);
    for e in &ev[..4] {
        tx.send(*e);
    }
    // logrotate: the file is moved, then the daemon told (SIGHUP).
    std::fs::rename(&path, &moved).unwrap();
    log.reopen();
    for e in &ev[4..] {
        tx.send(*e);
    }
    drop(tx);
    log.shutdown();
    assert_eq!(lines(&moved).len(), 4);
    let new = lines(&path);
    assert_eq!(new.len(), 2);
    assert_eq!(new[0]["sport6"], 1026);
}

#[test]
fn a_full_channel_drops_and_counts_without_blocking() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nat.jsonl");
    // Not started yet: nothing takes from the channel of 4.
    let mut log = NatLog::open(&Sink::File(path.clone()), 4).unwrap();
    let tx = log.sender().unwrap();
    for e in events(10) {
        tx.send(e);
    }
    let stats = log.stats();
    assert_eq!(stats.snapshot(), (0, 6, 0));
    log.start().unwrap();
    drop(tx);
    log.shutdown();
    assert_eq!(lines(&path).len(), 4);
    assert_eq!(stats.snapshot(), (4, 6, 0));
}

#[test]
fn syslog_over_a_local_datagram_socket_is_rfc5424_with_the_json_message() {
    let dir = tempfile::tempdir().unwrap();
    let sock_path = dir.path().join("log");
    let server = UnixDatagram::bind(&sock_path).unwrap();
    server.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut log = NatLog::open(&Sink::SyslogLocal(sock_path.clone()), 16).unwrap();
    log.start().unwrap();
    let tx = log.sender().unwrap();
    for e in events(2) {
        tx.send(e);
    }
    let mut buf = [0u8; 2048];
    for want in ["bib-add", "session-add"] {
        let n = server.recv(&mut buf).unwrap();
        let m = std::str::from_utf8(&buf[..n]).unwrap();
        check_syslog(m, want);
    }
    // The syslog daemon restarts: a new socket at the same path gets the next messages.
    drop(server);
    std::fs::remove_file(&sock_path).unwrap();
    let server = UnixDatagram::bind(&sock_path).unwrap();
    server.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    for e in events(1) {
        tx.send(e);
    }
    let n = server.recv(&mut buf).unwrap();
    check_syslog(std::str::from_utf8(&buf[..n]).unwrap(), "bib-add");
    drop(tx);
    let stats = log.stats();
    log.shutdown();
    assert_eq!(stats.snapshot(), (3, 0, 0));
}

#[test]
fn syslog_over_udp_reaches_the_collector() {
    let server = UdpSocket::bind("127.0.0.1:0").unwrap();
    server.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut log = NatLog::open(&Sink::SyslogUdp(server.local_addr().unwrap()), 16).unwrap();
    log.start().unwrap();
    let tx = log.sender().unwrap();
    for e in events(1) {
        tx.send(e);
    }
    let mut buf = [0u8; 2048];
    let n = server.recv(&mut buf).unwrap();
    check_syslog(std::str::from_utf8(&buf[..n]).unwrap(), "bib-add");
    drop(tx);
    log.shutdown();
}

/// `<134>1 TIMESTAMP HOST sixgate PID MSGID - {json}`.
fn check_syslog(m: &str, msgid: &str) {
    let f: Vec<&str> = m.splitn(8, ' ').collect();
    assert_eq!(f.len(), 8, "{m}");
    assert_eq!(f[0], "<134>1");
    assert!(f[1].ends_with('Z'), "{m}");
    assert_eq!((f[3], f[4], f[5], f[6]), ("sixgate", std::process::id().to_string().as_str(), msgid, "-"));
    let j: serde_json::Value = serde_json::from_str(f[7]).unwrap();
    assert_eq!(j["event"], msgid);
}

#[test]
fn a_logged_engine_hands_over_its_events_as_it_translates_and_at_its_timers() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nat.jsonl");
    let mut log = NatLog::open(&Sink::File(path.clone()), 1024).unwrap();
    log.start().unwrap();
    let mut e = Logged::new(engine(EventLevel::Bib), log.sender());
    let t0 = Instant::now();
    for port in [4000, 4001, 4000] {
        let mut b = PacketBuf::from_slice(&udp6_ports("2001:db8::10", "64:ff9b:1::cb00:7105", port, 53, b"q"));
        assert_eq!(e.process(&mut b, t0), Verdict::Forward(Side::V4));
    }
    // UDP_DEFAULT later both BIB entries go.
    e.handle_timeout(t0 + Duration::from_secs(400));
    drop(e);
    log.shutdown();
    let v = lines(&path);
    let kinds: Vec<_> = v.iter().map(|x| x["event"].as_str().unwrap().to_owned()).collect();
    assert_eq!(kinds, ["bib-add", "bib-add", "bib-del", "bib-del"]);
}

#[test]
fn port_blocks_are_logged_one_line_per_block() {
    use sixgate_nat64::{Allocation, PortBlocks};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("blocks.jsonl");
    let mut log = NatLog::open(&Sink::File(path.clone()), 1024).unwrap();
    log.start().unwrap();
    let pool6 = Pool6::new("64:ff9b:1::/96".parse().unwrap()).unwrap();
    let pool4 = vec![Pool4Range::new("198.51.100.1/32".parse().unwrap(), 1024, 65535)];
    let mut c = Nat64Config::new(pool6, pool4, "192.0.2.1".parse().unwrap(), "2001:db8:ffff::1".parse().unwrap());
    c.max_new_sessions_per_second = 0;
    let mut blocks = PortBlocks::new(512);
    blocks.hold = Duration::from_secs(10);
    c.allocation = Allocation::Blocks(blocks);
    // Events off: the log takes the port blocks alone.
    let mut e = Logged::new(Nat64::new(c).unwrap(), log.sender());
    let t0 = Instant::now();
    // Two hosts of one /56 subscriber, three flows: one block.
    for (src, port) in [("2001:db8:0:1::10", 4000), ("2001:db8:0:1::11", 4001), ("2001:db8:0:1::10", 4002)] {
        let mut b = PacketBuf::from_slice(&udp6_ports(src, "64:ff9b:1::cb00:7105", port, 53, b"q"));
        assert_eq!(e.process(&mut b, t0), Verdict::Forward(Side::V4));
    }
    e.sync_counters();
    // The sessions time out (UDP, 300 s), then the hold time passes.
    e.handle_timeout(t0 + Duration::from_secs(400));
    e.handle_timeout(t0 + Duration::from_secs(420));
    drop(e);
    let stats = log.stats();
    log.shutdown();
    let v = lines(&path);
    let kinds: Vec<_> = v.iter().map(|x| x["event"].as_str().unwrap().to_owned()).collect();
    assert_eq!(kinds, ["block-add", "block-del"], "{v:?}");
    assert_eq!(v[0]["subscriber"], "2001:db8::/56");
    assert_eq!(v[0]["pool4"], "198.51.100.1");
    let ports = v[0]["ports"].as_str().unwrap();
    let (a, b) = ports.split_once('-').unwrap();
    let (a, b): (u16, u16) = (a.parse().unwrap(), b.parse().unwrap());
    assert_eq!(b - a + 1, 512, "{ports}");
    assert_eq!(v[1]["ports"], v[0]["ports"]);
    assert_eq!(stats.logged.load(std::sync::atomic::Ordering::Relaxed), 2);
}

/// `n` events numbered by their IPv6 port, 0 to `n - 1`.
fn numbered(n: usize) -> Vec<NatEvent> {
    let base = events(1)[0];
    (0..n).map(|i| NatEvent { ipv6_port: i as u16, ..base }).collect()
}

#[test]
fn a_burst_against_a_stalled_writer_drops_exactly_the_overflow_and_keeps_the_rest_in_order() {
    // A syslog daemon that does not read: the logging thread's send blocks once the
    // socket's queue is full, inside the first batch, so the channel gives back no room
    // while the burst comes.
    let qlen: usize = std::fs::read_to_string("/proc/sys/net/unix/max_dgram_qlen")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(512);
    const CAP: usize = 3000;
    const N: usize = 9000;
    let first = qlen + 500;
    if first >= CAP {
        eprintln!("skipped: net.unix.max_dgram_qlen {qlen} is too large for this test's channel of {CAP}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let sock_path = dir.path().join("log");
    let server = UnixDatagram::bind(&sock_path).unwrap();
    let mut log = NatLog::open(&Sink::SyslogLocal(sock_path.clone()), CAP).unwrap();
    log.start().unwrap();
    let tx = log.sender().unwrap();
    let ev = numbered(N);
    tx.send_batch(ev[..first].iter().map(|e| Record::Nat(*e)).collect());
    // Then batches of every size up to BATCH, and single events.
    let mut at = first;
    let mut size = 1;
    while at < N {
        let end = (at + size).min(N);
        if size == 1 {
            tx.send(ev[at]);
        } else {
            tx.send_batch(ev[at..end].iter().map(|e| Record::Nat(*e)).collect());
        }
        at = end;
        size = size % BATCH + 1;
    }
    let stats = log.stats();
    assert_eq!(stats.snapshot().1, (N - CAP) as u64, "dropped exactly the overflow");
    // The daemon reads: the first CAP events arrive, in order, and nothing else.
    server.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut buf = [0u8; 2048];
    for want in 0..CAP {
        let n = server.recv(&mut buf).unwrap();
        let m = std::str::from_utf8(&buf[..n]).unwrap();
        let j: serde_json::Value = serde_json::from_str(m.splitn(8, ' ').nth(7).unwrap()).unwrap();
        assert_eq!(j["sport6"], want, "{m}");
    }
    drop(tx);
    log.shutdown();
    server.set_nonblocking(true).unwrap();
    assert!(server.recv(&mut buf).is_err(), "more than the channel held");
    assert_eq!(stats.snapshot(), (CAP as u64, (N - CAP) as u64, 0));
}

#[test]
fn each_workers_events_keep_their_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nat.jsonl");
    let mut log = NatLog::open(&Sink::File(path.clone()), 1 << 20).unwrap();
    log.start().unwrap();
    const FLOWS: u16 = 3000;
    std::thread::scope(|s| {
        for k in 0..4u16 {
            let tx = log.sender();
            s.spawn(move || {
                let mut e = Logged::new(engine(EventLevel::Bib), tx);
                let now = Instant::now();
                for i in 0..FLOWS {
                    let src = format!("2001:db8:{}::10", k + 1);
                    let mut b = PacketBuf::from_slice(&udp6_ports(&src, "64:ff9b:1::cb00:7105", 1024 + i, 53, b"q"));
                    assert_eq!(e.process(&mut b, now), Verdict::Forward(Side::V4));
                    // Publications at odd points: partial batches between full ones.
                    if i % 97 == 0 {
                        e.sync_counters();
                    }
                }
            });
        }
    });
    let stats = log.stats();
    log.shutdown();
    assert_eq!(stats.snapshot(), (4 * u64::from(FLOWS), 0, 0));
    let mut next = [1024u64; 4];
    for x in lines(&path) {
        let src = x["src6"].as_str().unwrap();
        let k: usize = src.trim_start_matches("2001:db8:").split(':').next().unwrap().parse::<usize>().unwrap() - 1;
        assert_eq!(x["sport6"], next[k], "worker {k} out of order");
        next[k] += 1;
    }
    assert_eq!(next, [1024 + u64::from(FLOWS); 4]);
}

#[test]
fn a_logged_engine_hands_its_batch_over_at_each_publication() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nat.jsonl");
    // Not started, room for one event: what reaches the channel shows in the counters.
    let log = NatLog::open(&Sink::File(path.clone()), 1).unwrap();
    let stats = log.stats();
    let mut e = Logged::new(engine(EventLevel::Bib), log.sender());
    let t0 = Instant::now();
    for port in [4000, 4001] {
        let mut b = PacketBuf::from_slice(&udp6_ports("2001:db8::10", "64:ff9b:1::cb00:7105", port, 53, b"q"));
        assert_eq!(e.process(&mut b, t0), Verdict::Forward(Side::V4));
    }
    assert_eq!(stats.snapshot(), (0, 0, 0), "still in the worker's batch");
    e.sync_counters();
    assert_eq!(stats.snapshot(), (0, 1, 0), "the batch of two went; one fit");
    drop(e);
    log.shutdown();
    assert_eq!(stats.snapshot(), (1, 1, 0));
    assert_eq!(lines(&path)[0]["sport6"], 4000);
}
