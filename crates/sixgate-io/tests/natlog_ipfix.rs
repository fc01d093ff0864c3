//! The event log's IPFIX sink: NAT events from a real engine and port blocks reach a UDP
//! collector as RFC 7011 messages — templates first, then data records that decode by
//! them into the events sent — beside a JSON Lines file that gets the same events; and
//! real collectors agree: Wireshark's decoder (`tshark -d udp.port==N,cflow -V`, on a
//! loopback capture), nfdump's `nfcapd` and pmacct's `nfacctd` take the messages. Each
//! tool's test prints why it skips when the tool (or the capture privilege) is missing.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sixgate_core::buf::PacketBuf;
use sixgate_core::engine::{Engine, Side, Verdict};
use sixgate_core::rfc6052::Pool6;
use sixgate_io::natlog::{NatLog, Record, Sink};
use sixgate_nat64::stateful::NatEventKind;
use sixgate_nat64::{BlockEvent, BlockEventKind, EventLevel, Nat64, Nat64Config, NatEvent, Pool4Range};
use sixgate_testkit::packets::udp6_ports;

/// The Observation Domain the tests export from.
const DOMAIN: u32 = 4711;

/// Six events, one of each kind: a BIB entry and a session from a real engine (UDP
/// 2001:db8::10 port 5353 → 203.0.113.5 port 53), their deletion, and a port block of
/// 2001:db8:0:100::/56 allocated and released.
fn sample() -> Vec<Record> {
    let pool6 = Pool6::new("64:ff9b:1::/96".parse().unwrap()).unwrap();
    let pool4 = vec![Pool4Range::new("198.51.100.1/32".parse().unwrap(), 1024, 65535)];
    let mut c = Nat64Config::new(pool6, pool4, "192.0.2.1".parse().unwrap(), "2001:db8:ffff::1".parse().unwrap());
    c.events = EventLevel::Session;
    c.max_new_sessions_per_second = 0;
    let mut e = Nat64::new(c).unwrap();
    let mut b = PacketBuf::from_slice(&udp6_ports("2001:db8::10", "64:ff9b:1::cb00:7105", 5353, 53, b"q"));
    assert_eq!(e.process(&mut b, Instant::now()), Verdict::Forward(Side::V4));
    let created: Vec<NatEvent> = std::iter::from_fn(|| e.poll_event()).collect();
    let kinds: Vec<_> = created.iter().map(|e| e.kind).collect();
    assert_eq!(kinds, [NatEventKind::BibCreated, NatEventKind::SessionCreated]);
    let mut out: Vec<Record> = created.iter().map(|e| Record::Nat(*e)).collect();
    out.push(Record::Nat(NatEvent { kind: NatEventKind::SessionDeleted, ..created[1] }));
    out.push(Record::Nat(NatEvent { kind: NatEventKind::BibDeleted, ..created[0] }));
    for kind in [BlockEventKind::Allocated, BlockEventKind::Released] {
        out.push(Record::Block(BlockEvent {
            kind,
            time: Instant::now(),
            subscriber: "2001:db8:0:100::/56".parse().unwrap(),
            ipv4: Ipv4Addr::new(198, 51, 100, 1),
            ports: 2016..=4031,
        }));
    }
    out
}

/// Sends [`sample`] through an event log to `sinks`; returns when the log has written it.
fn export(sinks: &[Sink]) -> (u64, u64, u64) {
    let mut log = NatLog::open_all(sinks, 64).unwrap();
    log.start().unwrap();
    let tx = log.sender().unwrap();
    tx.send_batch(sample());
    drop(tx);
    let stats = log.stats();
    log.shutdown();
    stats.snapshot()
}

fn be16(b: &[u8]) -> u16 {
    u16::from_be_bytes([b[0], b[1]])
}

/// A minimal IPFIX collector's decoding (RFC 7011 §3): each data record of `msgs` as a
/// map from Information Element ID to its bytes, by the templates seen before it.
/// With each message's sequence number and count of data records.
#[allow(clippy::type_complexity)]
fn decode(msgs: &[Vec<u8>]) -> (Vec<(u16, BTreeMap<u16, Vec<u8>>)>, Vec<(u32, u32)>) {
    let mut templates: BTreeMap<u16, Vec<(u16, u16)>> = BTreeMap::new();
    let (mut records, mut seqs) = (Vec::new(), Vec::new());
    for m in msgs {
        assert_eq!(be16(&m[0..]), 10, "version");
        assert_eq!(usize::from(be16(&m[2..])), m.len(), "message length");
        assert_eq!(u32::from_be_bytes(m[12..16].try_into().unwrap()), DOMAIN);
        let before = records.len();
        let mut at = 16;
        while at < m.len() {
            let (id, len) = (be16(&m[at..]), usize::from(be16(&m[at + 2..])));
            let set = &m[at + 4..at + len];
            at += len;
            if id == 2 {
                let mut t = 0;
                while t < set.len() {
                    let (tid, n) = (be16(&set[t..]), usize::from(be16(&set[t + 2..])));
                    let fields = (0..n).map(|i| (be16(&set[t + 4 + 4 * i..]), be16(&set[t + 6 + 4 * i..]))).collect();
                    templates.insert(tid, fields);
                    t += 4 + 4 * n;
                }
                continue;
            }
            let fields = templates.get(&id).unwrap_or_else(|| panic!("data set {id} before its template"));
            let size: usize = fields.iter().map(|&(_, l)| usize::from(l)).sum();
            for r in set.chunks_exact(size) {
                let mut map = BTreeMap::new();
                let mut o = 0;
                for &(ie, l) in fields {
                    map.insert(ie, r[o..o + usize::from(l)].to_vec());
                    o += usize::from(l);
                }
                records.push((id, map));
            }
        }
        seqs.push((u32::from_be_bytes(m[8..12].try_into().unwrap()), (records.len() - before) as u32));
    }
    (records, seqs)
}

/// Receives datagrams until none comes for a second.
fn receive(sock: &UdpSocket) -> Vec<Vec<u8>> {
    sock.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 65536];
    while let Ok(n) = sock.recv(&mut buf) {
        out.push(buf[..n].to_vec());
    }
    out
}

#[test]
fn ipfix_events_reach_the_collector_and_decode_by_their_templates() {
    let collector = UdpSocket::bind("127.0.0.1:0").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("nat.jsonl");
    let stats =
        export(&[Sink::File(file.clone()), Sink::Ipfix { collector: collector.local_addr().unwrap(), domain: DOMAIN }]);
    assert_eq!(stats, (6, 0, 0));
    let msgs = receive(&collector);
    assert!(msgs.len() >= 2, "{} messages", msgs.len());
    assert!(msgs.iter().all(|m| m.len() <= 512));
    // The templates come first, alone.
    assert_eq!(be16(&msgs[0][16..]), 2, "a template set first");
    let (records, seqs) = decode(&msgs);
    assert_eq!(records.len(), 6);
    // RFC 7011 §3.1: each message's sequence number counts the data records before it.
    let mut counted = 0;
    for (seq, n) in &seqs {
        assert_eq!(*seq, counted, "{seqs:?}");
        counted += n;
    }
    let events: Vec<u8> = records.iter().map(|(_, r)| r[&230][0]).collect();
    assert_eq!(events, [10, 6, 7, 11, 16, 17], "natEvent: BIB create, session create/delete, BIB delete, block");
    let templates: Vec<u16> = records.iter().map(|(t, _)| *t).collect();
    assert_eq!(templates, [257, 256, 256, 257, 258, 258]);
    let s = &records[1].1;
    assert_eq!(s[&4], [17], "UDP");
    assert_eq!(s[&27], "2001:db8::10".parse::<Ipv6Addr>().unwrap().octets());
    assert_eq!(s[&7], 5353u16.to_be_bytes());
    assert_eq!(s[&225], [198, 51, 100, 1]);
    assert_eq!(s[&28], "64:ff9b:1::cb00:7105".parse::<Ipv6Addr>().unwrap().octets());
    assert_eq!(s[&226], [203, 0, 113, 5]);
    assert_eq!((s[&11].as_slice(), s[&228].as_slice()), (&[0, 53][..], &[0, 53][..]));
    let json: Vec<serde_json::Value> =
        std::fs::read_to_string(&file).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(json.len(), 6);
    // The same mapping in both sinks, the same millisecond.
    assert_eq!(json[1]["port4"].as_u64().unwrap(), u64::from(be16(&s[&227])));
    let ms = u64::from_be_bytes(s[&323].as_slice().try_into().unwrap());
    let t = json[1]["time"].as_str().unwrap();
    assert_eq!(&t[t.len() - 4..t.len() - 1], format!("{:03}", ms % 1000), "{t}");
    let b = &records[4].1;
    assert_eq!(b[&27], "2001:db8:0:100::".parse::<Ipv6Addr>().unwrap().octets());
    assert_eq!(b[&29], [56]);
    assert_eq!((be16(&b[&361]), be16(&b[&362]), be16(&b[&363]), be16(&b[&364])), (2016, 4031, 1, 2016));
}

/// Which of `tools` are missing from PATH.
fn missing(tools: &[&str]) -> Option<String> {
    let gone: Vec<&str> = tools
        .iter()
        .copied()
        .filter(|t| {
            Command::new("sh").args(["-c", &format!("command -v {t}")]).output().map_or(true, |o| !o.status.success())
        })
        .collect();
    (!gone.is_empty()).then(|| format!("{} missing", gone.join(", ")))
}

/// A free UDP port on the loopback (bound and let go).
fn free_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn stop(mut c: Child, signal: &str) -> std::process::Output {
    let _ = Command::new("kill").args([signal, &c.id().to_string()]).status();
    let deadline = Instant::now() + Duration::from_secs(10);
    while c.try_wait().ok().flatten().is_none() {
        if Instant::now() > deadline {
            let _ = c.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    c.wait_with_output().unwrap()
}

/// Waits until `path`'s contents hold `needle` (a tool's start-up line), at most 20 s.
fn wait_for(path: &std::path::Path, needle: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if std::fs::read_to_string(path).is_ok_and(|s| s.contains(needle)) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

#[test]
fn ipfix_messages_decode_in_tshark() {
    if let Some(why) = missing(&["tshark"]) {
        eprintln!("skipping: {why} (Debian package tshark)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("ipfix.pcap");
    let err = dir.path().join("tshark.err");
    // The collector: a bound socket (no ICMP port unreachable), the capture on the loopback.
    let collector = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = collector.local_addr().unwrap().port();
    let cap = Command::new("tshark")
        .args(["-i", "lo", "-f", &format!("udp port {port}"), "-w", pcap.to_str().unwrap(), "-a", "duration:60"])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .unwrap();
    if !wait_for(&err, "Capturing on") {
        let o = stop(cap, "-TERM");
        let why = std::fs::read_to_string(&err).unwrap_or_default();
        eprintln!("skipping: tshark cannot capture on lo (needs root or CAP_NET_RAW): {why} {:?}", o.status);
        return;
    }
    // The capture starts a moment after the line.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(export(&[Sink::Ipfix { collector: collector.local_addr().unwrap(), domain: DOMAIN }]), (6, 0, 0));
    let sent = receive(&collector);
    std::thread::sleep(Duration::from_millis(500));
    let _ = stop(cap, "-INT");
    let o = Command::new("tshark")
        .args(["-r", pcap.to_str().unwrap(), "-d", &format!("udp.port=={port},cflow"), "-V"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let count = |s: &str| text.matches(s).count();
    assert_eq!(count("Cisco NetFlow/IPFIX"), sent.len(), "{text}");
    assert!(text.contains("Version: 10"), "{text}");
    assert!(text.contains(&format!("Observation Domain Id: {DOMAIN}")), "{text}");
    for (id, fields) in [(256, 11), (257, 7), (258, 9)] {
        assert!(text.contains(&format!("Template Id: {id}")), "template {id}: {text}");
        assert!(text.contains(&format!("Field Count: {fields}")), "template {id} fields: {text}");
    }
    // RFC 8158's natEvent values, by Wireshark's own names for them.
    let events: Vec<&str> = text.lines().filter_map(|l| l.trim().strip_prefix("Nat Event: ")).collect();
    assert_eq!(
        events,
        [
            "NAT64 BIB create (10)",
            "NAT64 session create (6)",
            "NAT64 session delete (7)",
            "NAT64 BIB delete (11)",
            "Port block allocation (16)",
            "Port block de-allocation (17)"
        ],
        "{text}"
    );
    assert_eq!(count("Observation Time Milliseconds: "), 6, "{text}");
    for field in [
        "SrcAddr: 2001:db8::10",
        "SrcPort: 5353",
        "Post NAT Source IPv4 Address: 198.51.100.1",
        "Post NAPT Source Transport Port: ",
        "DstAddr: 64:ff9b:1::cb00:7105",
        "Post NAT Destination IPv4 Address: 203.0.113.5",
        "DstPort: 53",
        "Post NAPT Destination Transport Port: 53",
        "Protocol: UDP (17)",
        "SrcAddr: 2001:db8:0:100::",
        "SrcMask: 56",
        "Port Range Start: 2016",
        "Port Range End: 4031",
        "Port Range Step Size: 1",
        "Port Range Num Ports: 2016",
    ] {
        assert!(text.contains(field), "no {field:?} in:\n{text}");
    }
    assert!(!text.contains("Malformed") && !text.contains("Expert Info"), "{text}");
}

/// Runs a collector (`args`, its start-up line `ready`), sends it the sample, stops it.
fn collect(program: &str, args: &[&str], ready: &str, log: &std::path::Path, port: u16) -> Option<String> {
    let c = Command::new(program)
        .args(args)
        .stdout(std::fs::File::create(log).unwrap())
        .stderr(Stdio::from(std::fs::OpenOptions::new().append(true).open(log).unwrap()))
        .spawn()
        .unwrap();
    if !wait_for(log, ready) {
        let o = stop(c, "-TERM");
        return Some(format!("{program} did not start ({:?}): {}", o.status, std::fs::read_to_string(log).unwrap()));
    }
    // Its workers settle a moment after the line.
    std::thread::sleep(Duration::from_secs(1));
    let to: SocketAddr = ([127, 0, 0, 1], port).into();
    assert_eq!(export(&[Sink::Ipfix { collector: to, domain: DOMAIN }]), (6, 0, 0));
    std::thread::sleep(Duration::from_secs(3));
    // Both write what they hold and end on SIGINT (nfacctd ignores SIGTERM).
    let _ = stop(c, "-INT");
    None
}

#[test]
fn ipfix_messages_are_taken_by_nfdumps_nfcapd() {
    if let Some(why) = missing(&["nfcapd", "nfdump"]) {
        eprintln!("skipping: {why} (Debian package nfdump)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let port = free_port();
    let log = dir.path().join("nfcapd.log");
    let args = ["-b", "127.0.0.1", "-p", &port.to_string(), "-w", data.to_str().unwrap()];
    if let Some(why) = collect("nfcapd", &args, "Startup", &log, port) {
        panic!("{why}");
    }
    let logtext = std::fs::read_to_string(&log).unwrap();
    let files: Vec<_> = std::fs::read_dir(&data).unwrap().filter_map(Result::ok).map(|e| e.path()).collect();
    assert!(!files.is_empty(), "no nfcapd file: {logtext}");
    let o = Command::new("nfdump").args(["-R", data.to_str().unwrap(), "-o", "raw"]).output().unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{} {}", String::from_utf8_lossy(&o.stderr), logtext);
    // Every record, its natEvent and the mapping (nfdump 1.7 names none of RFC 8158's
    // NAT64 events, but keeps their values).
    let field = |name: &str| -> Vec<String> {
        text.lines()
            .filter_map(|l| l.split_once('=').filter(|(k, _)| k.trim() == name).map(|(_, v)| v.trim().to_owned()))
            .collect()
    };
    let events: Vec<String> =
        field("nat event").iter().map(|v| v.split(':').next().unwrap().trim().to_owned()).collect();
    assert_eq!(events, ["10", "6", "7", "11", "16", "17"], "{text}\n{logtext}");
    assert_eq!(field("src addr")[..4], ["2001:db8::10"; 4], "{text}");
    assert_eq!(field("src addr")[4..], ["2001:db8:0:100::"; 2], "{text}");
    assert_eq!(field("src xlt ip")[..4], ["198.51.100.1"; 4], "{text}");
    assert!(field("dst xlt ip").contains(&"203.0.113.5".to_owned()), "{text}");
    assert!(field("dst addr").contains(&"64:ff9b:1::cb00:7105".to_owned()), "{text}");
    assert!(text.contains("total flows: 6"), "{text}");
}

#[test]
fn ipfix_messages_are_taken_by_pmacct_nfacctd() {
    if let Some(why) = missing(&["nfacctd"]) {
        eprintln!("skipping: {why} (Debian package pmacct)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let csv = dir.path().join("flows.csv");
    let conf = dir.path().join("nfacctd.conf");
    std::fs::write(
        &conf,
        format!(
            "daemonize: false\nnfacctd_ip: 127.0.0.1\nnfacctd_port: {port}\nplugins: print[nat]\n\
             aggregate[nat]: src_host, dst_host, src_port, dst_port, proto, nat_event, post_nat_src_host, \
             post_nat_src_port, post_nat_dst_host, post_nat_dst_port\n\
             print_output[nat]: csv\nprint_output_file[nat]: {}\nprint_refresh_time[nat]: 1\n",
            csv.display()
        ),
    )
    .unwrap();
    let log = dir.path().join("nfacctd.log");
    if let Some(why) = collect("nfacctd", &["-f", conf.to_str().unwrap()], "cache entries", &log, port) {
        panic!("{why}");
    }
    let logtext = std::fs::read_to_string(&log).unwrap();
    let text = std::fs::read_to_string(&csv).unwrap_or_else(|e| panic!("no {}: {e}\n{logtext}", csv.display()));
    let mut lines = text.lines();
    let head: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
    let col = |name: &str| {
        head.iter().position(|h| h.eq_ignore_ascii_case(name)).unwrap_or_else(|| panic!("no {name}: {text}"))
    };
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    let mut events: Vec<&str> = rows.iter().map(|r| r[col("NAT_EVENT")]).collect();
    events.sort_unstable();
    assert_eq!(events, ["10", "11", "16", "17", "6", "7"], "{text}\n{logtext}");
    let session = rows.iter().find(|r| r[col("NAT_EVENT")] == "6").unwrap();
    assert_eq!(session[col("SRC_IP")], "2001:db8::10", "{text}");
    assert_eq!(session[col("DST_IP")], "64:ff9b:1::cb00:7105", "{text}");
    assert_eq!(session[col("POST_NAT_SRC_IP")], "198.51.100.1", "{text}");
    assert_eq!(session[col("POST_NAT_DST_IP")], "203.0.113.5", "{text}");
    assert_eq!(session[col("SRC_PORT")], "5353", "{text}");
    assert_eq!(session[col("DST_PORT")], "53", "{text}");
}
