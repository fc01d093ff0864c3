//! `sixgate nat64 translate` end to end through the binary.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use sixgate_testkit::packets;

fn sixgate(args: &[&str], stdin: &[u8]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_sixgate"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A run that fails on its arguments exits without reading its input: a broken pipe
    // here is expected then, and the exit status tells the rest.
    if let Err(e) = c.stdin.take().unwrap().write_all(stdin) {
        assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "{e}");
    }
    c.wait_with_output().unwrap()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

const POOL: &[&str] = &["nat64", "translate", "--pool6", "2001:db8:64::/96", "--own-ipv4", "198.51.100.1"];

#[test]
fn stdin_binary_packet_translated() {
    let pkt = packets::udp6("2001:db8:64::c000:20a", "2001:db8:64::c633:6414", 53, b"hi");
    let o = sixgate(POOL, &pkt);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(o.stdout.len(), 20 + 8 + 2);
    assert_eq!(o.stdout[0], 0x45);
    assert_eq!(&o.stdout[12..20], &[192, 0, 2, 10, 198, 51, 100, 20]);
}

#[test]
fn stdin_hex_and_drop_exit_status() {
    let pkt = packets::udp6("2001:db8:99::1", "2001:db8:64::c633:6414", 53, b"hi");
    let mut args = POOL.to_vec();
    args.push("--hex");
    let o = sixgate(&args, hex(&pkt).as_bytes());
    assert_eq!(o.status.code(), Some(1));
    assert!(o.stdout.is_empty());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("untranslatable-source"), "{err}");
    // TTL 1 → an ICMPv4 Time Exceeded from the own address, on stdout, exit 0.
    let mut pkt = packets::udp4("192.0.2.10", "198.51.100.20", 53, b"hi");
    pkt[8] = 1;
    packets::fix_ipv4_checksum(&mut pkt);
    let o = sixgate(&args, hex(&pkt).as_bytes());
    assert!(o.status.success());
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.starts_with("45c0"), "{out}");
    assert!(out.contains("c6336401c000020a0b00"), "from 198.51.100.1 to 192.0.2.10, type 11: {out}");
}

#[test]
fn bad_options_one_line_exit_2() {
    for (args, needle) in [
        (vec!["nat64", "translate", "--pool6", "2001:db8::/33"], "/33"),
        (vec!["nat64", "translate", "--pool6", "64:ff9b::/96", "--eam", "2001:db8::/120"], "V6PREFIX=V4PREFIX"),
        (vec!["nat64", "translate", "--pool6", "64:ff9b::/96", "--tos", "loud"], "loud"),
        (vec!["nat64", "translate", "--pool6", "64:ff9b::/96", "--lowest-ipv6-mtu", "1000"], "1000"),
        (vec!["nat64", "translate"], "nothing to translate"),
    ] {
        let o = sixgate(&args, b"");
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(needle), "{args:?}: {err}");
    }
}

fn write_pcap(path: &std::path::Path, link: u32, frames: &[Vec<u8>]) {
    let mut f = Vec::new();
    f.extend_from_slice(&0xa1b2c3d4u32.to_le_bytes());
    f.extend_from_slice(&2u16.to_le_bytes());
    f.extend_from_slice(&4u16.to_le_bytes());
    f.extend_from_slice(&[0; 8]);
    f.extend_from_slice(&65535u32.to_le_bytes());
    f.extend_from_slice(&link.to_le_bytes());
    for (i, p) in frames.iter().enumerate() {
        f.extend_from_slice(&(i as u32).to_le_bytes());
        f.extend_from_slice(&0u32.to_le_bytes());
        f.extend_from_slice(&(p.len() as u32).to_le_bytes());
        f.extend_from_slice(&(p.len() as u32).to_le_bytes());
        f.extend_from_slice(p);
    }
    std::fs::write(path, f).unwrap();
}

/// Packets of a classic pcap (24-byte header, 16-byte records).
fn read_pcap(path: &std::path::Path) -> (u32, Vec<Vec<u8>>) {
    let d = std::fs::read(path).unwrap();
    let le = d[..4] == [0xd4, 0xc3, 0xb2, 0xa1];
    let u32at = |i: usize| {
        let b: [u8; 4] = d[i..i + 4].try_into().unwrap();
        if le {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        }
    };
    let link = u32at(20);
    let mut out = Vec::new();
    let mut i = 24;
    while i + 16 <= d.len() {
        let n = u32at(i + 8) as usize;
        out.push(d[i + 16..i + 16 + n].to_vec());
        i += 16 + n;
    }
    (link, out)
}

#[test]
fn pcap_ethernet_in_raw_out_with_replies_file() {
    let dir = tempfile::tempdir().unwrap();
    let eth = |et: u16, ip: Vec<u8>| {
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&et.to_be_bytes());
        f.extend(ip);
        f
    };
    let mut ttl1 = packets::udp4("198.51.100.20", "192.0.2.10", 53, b"late");
    ttl1[8] = 1;
    packets::fix_ipv4_checksum(&mut ttl1);
    let mut big = packets::udp4("198.51.100.20", "192.0.2.10", 53, &[9u8; 3000]);
    big[6] = 0; // DF clear → fragmented to 1280
    packets::fix_ipv4_checksum(&mut big);
    let frames = vec![
        eth(0x86dd, packets::echo6("2001:db8:64::c000:20a", "2001:db8:64::c633:6414", 1, 1, b"ping")),
        eth(0x0806, vec![0; 28]), // ARP: skipped
        eth(0x0800, ttl1),
        eth(0x0800, big),
        eth(0x0800, packets::udp4("127.0.0.1", "192.0.2.10", 53, b"x")), // forbidden: dropped
    ];
    let input = dir.path().join("in.pcap");
    let output = dir.path().join("out.pcap");
    let replies = dir.path().join("replies.pcap");
    write_pcap(&input, 1, &frames);
    let mut args = POOL.to_vec();
    let (i, o, r) = (input.to_str().unwrap(), output.to_str().unwrap(), replies.to_str().unwrap());
    args.extend(["--in", i, "--out", o, "--replies", r]);
    let out = sixgate(&args, b"");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(summary.contains("read 5 frames (1 not IP)"), "{summary}");
    assert!(summary.contains("1 ICMP replies; 1 dropped"), "{summary}");
    assert!(summary.contains("ttl-exceeded") && summary.contains("forbidden-address"), "{summary}");
    let (link, pkts) = read_pcap(&output);
    assert_eq!(link, 101, "raw IP link type");
    assert_eq!(pkts.len(), 1 + 3, "echo + three fragments");
    assert_eq!(pkts[0][0] >> 4, 4);
    assert!(pkts[1..].iter().all(|p| p[0] >> 4 == 6 && p[6] == 44 && p.len() <= 1280));
    let (_, reps) = read_pcap(&replies);
    assert_eq!(reps.len(), 1);
    assert_eq!((reps[0][20], reps[0][21]), (11, 0));
}

#[test]
fn config_file_keys_and_line_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("gw.toml");
    std::fs::write(&cfg, "pool6 = \"2001:db8:64::/96\"\nipv4 = \"198.51.100.1\"\n[[eam]]\nipv6 = \"2001:db8:aa::/120\"\nipv4 = \"203.0.113.0/24\"\n").unwrap();
    let pkt = packets::udp4("192.0.2.10", "203.0.113.5", 53, b"x");
    let o = sixgate(&["nat64", "translate", "--config", cfg.to_str().unwrap()], &pkt);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(&o.stdout[24..40], &"2001:db8:aa::5".parse::<std::net::Ipv6Addr>().unwrap().octets());
    std::fs::write(&cfg, "pool6 = \"2001:db8:64::/96\"\nipv4_mtu = \"large\"\n").unwrap();
    let o = sixgate(&["nat64", "translate", "--config", cfg.to_str().unwrap()], &pkt);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("gw.toml:2:"), "{err}");
}

/// `nat64 run --check` warns when the DNS64 prefix or the announced PREF64 is not pool6.
#[test]
fn check_warns_on_prefix_disagreement() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gw.toml");
    let run = |extra: &str| {
        std::fs::write(&path, format!("tun = \"nat64\"\npool6 = \"64:ff9b::/96\"\n{extra}")).unwrap();
        let o = sixgate(&["nat64", "run", "--check", "--config", path.to_str().unwrap()], b"");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let out = run("dns64_prefix = \"64:ff9b::/96\"\npref64 = \"64:ff9b::/96\"\n");
    assert!(!out.contains("warning"), "{out}");
    let out = run("dns64_prefix = \"2001:db8:64::/96\"\npref64 = \"2001:db8:46::/96\"\n");
    assert!(
        out.contains("warning: DNS64 prefix 2001:db8:64::/96 differs from the translator's pool6 64:ff9b::/96"),
        "{out}"
    );
    assert!(out.contains("warning: announced PREF64 2001:db8:46::/96 differs"), "{out}");
    // A prefix PREF64 cannot carry is an error of the file.
    std::fs::write(&path, "tun = \"nat64\"\npool6 = \"64:ff9b::/96\"\npref64 = \"2001:db8::/60\"\n").unwrap();
    let o = sixgate(&["nat64", "run", "--check", "--config", path.to_str().unwrap()], b"");
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains(":3: pref64:"), "{}", String::from_utf8_lossy(&o.stderr));
}
