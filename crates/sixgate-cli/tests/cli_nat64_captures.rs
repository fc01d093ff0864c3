//! `sixgate nat64 translate --in/--out`: the input is never overwritten (same file, hard or
//! symbolic link), a truncated capture names its file and frame and what was readable is
//! still translated, the output appears whole or not at all, and `--explain` gives one
//! line per frame with the drop reason and its RFC section.

use std::path::Path;
use std::process::{Command, Output};

use sixgate_testkit::packets as testpkt;

fn sixgate(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sixgate")).args(args).output().expect("run sixgate")
}

const POOL: &[&str] = &["nat64", "translate", "--pool6", "2001:db8:64::/96", "--own-ipv4", "198.51.100.1"];

/// A classic little-endian pcap of `frames` with link type `link`.
fn pcap(link: u32, frames: &[Vec<u8>]) -> Vec<u8> {
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
    f
}

/// The packets of a classic pcap, either byte order.
fn packets(path: &Path) -> Vec<Vec<u8>> {
    let d = std::fs::read(path).expect("read output");
    let le = d[..4] == [0xd4, 0xc3, 0xb2, 0xa1];
    let mut out = Vec::new();
    let mut i = 24;
    while i + 16 <= d.len() {
        let b: [u8; 4] = d[i + 8..i + 12].try_into().unwrap();
        let n = if le { u32::from_le_bytes(b) } else { u32::from_be_bytes(b) } as usize;
        out.push(d[i + 16..i + 16 + n].to_vec());
        i += 16 + n;
    }
    out
}

fn echo6(seq: u16) -> Vec<u8> {
    testpkt::echo6("2001:db8:64::c000:20a", "2001:db8:64::c633:6414", 1, seq, b"ping")
}

fn translate(extra: &[&str]) -> Output {
    sixgate(&[POOL, extra].concat())
}

fn temp_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect()
}

#[test]
fn the_input_capture_is_never_the_output() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.pcap");
    let original = pcap(101, &[echo6(1), echo6(2)]);
    std::fs::write(&input, &original).unwrap();
    let hard = dir.path().join("hard.pcap");
    std::fs::hard_link(&input, &hard).unwrap();
    let sym = dir.path().join("sym.pcap");
    std::os::unix::fs::symlink(&input, &sym).unwrap();
    let i = input.to_str().unwrap();
    // The same path, a hard link, a symbolic link, and the same file by another spelling.
    let dotted = format!("{}/./in.pcap", dir.path().display());
    for out in [i, hard.to_str().unwrap(), sym.to_str().unwrap(), &dotted] {
        let o = translate(&["--in", i, "--out", out]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "--out {out}: {err}");
        assert!(err.contains("is the input capture") && err.contains("inode") && err.contains(out), "{err}");
        assert_eq!(std::fs::read(&input).unwrap(), original, "the input was touched through {out}");
    }
    let out = dir.path().join("out.pcap");
    let o = translate(&["--in", i, "--out", out.to_str().unwrap(), "--replies", hard.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--replies"));
    assert_eq!(std::fs::read(&input).unwrap(), original);
    assert!(!out.exists(), "nothing written on a refusal");
}

#[test]
fn a_truncated_capture_names_file_and_frame_and_keeps_what_was_read() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("cut.pcap");
    let mut bytes = pcap(101, &[echo6(1), echo6(2), echo6(3), echo6(4)]);
    bytes.truncate(bytes.len() - 10); // the fourth record loses its last bytes
    std::fs::write(&input, &bytes).unwrap();
    let out = dir.path().join("out.pcap");
    let o = translate(&["--in", input.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_ne!(o.status.code(), Some(0), "a truncated capture is not a success: {err}");
    assert!(err.contains(input.to_str().unwrap()) && err.contains("frame 4"), "{err}");
    assert!(err.contains("3 frames before it were translated"), "{err}");
    assert!(String::from_utf8_lossy(&o.stdout).contains("read 3 frames"), "{}", String::from_utf8_lossy(&o.stdout));
    let pkts = packets(&out);
    assert_eq!(pkts.len(), 3, "the readable frames are in the output");
    assert!(pkts.iter().all(|p| p[0] >> 4 == 4));
    assert!(temp_files(dir.path()).is_empty(), "{:?}", temp_files(dir.path()));
}

/// A pcapng of `frames` (raw IP, one interface).
fn pcapng(frames: &[Vec<u8>]) -> Vec<u8> {
    fn block(t: u32, mut body: Vec<u8>) -> Vec<u8> {
        body.resize(body.len().div_ceil(4) * 4, 0);
        let len = (12 + body.len()) as u32;
        [t.to_le_bytes().to_vec(), len.to_le_bytes().to_vec(), body, len.to_le_bytes().to_vec()].concat()
    }
    let shb = [0x1a2b_3c4du32.to_le_bytes().to_vec(), vec![1, 0, 0, 0], (-1i64).to_le_bytes().to_vec()].concat();
    let idb = [101u16.to_le_bytes().to_vec(), vec![0, 0], 65535u32.to_le_bytes().to_vec()].concat();
    let mut f = [block(0x0a0d_0d0a, shb), block(1, idb)].concat();
    for p in frames {
        let len = (p.len() as u32).to_le_bytes();
        let head = [[0u8; 12].to_vec(), len.to_vec(), len.to_vec(), p.clone()].concat();
        f.extend(block(6, head));
    }
    f
}

#[test]
fn a_truncated_pcapng_is_named_too() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("cut.pcapng");
    let mut bytes = pcapng(&[echo6(1), echo6(2), echo6(3)]);
    bytes.truncate(bytes.len() - 7);
    std::fs::write(&input, &bytes).unwrap();
    let out = dir.path().join("out.pcap");
    let o = translate(&["--in", input.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("cut.pcapng: frame 3") && err.contains("2 frames before it"), "{err}");
    assert_eq!(packets(&out).len(), 2);
}

#[test]
fn a_failed_run_leaves_the_old_output_and_no_temporary_file() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.pcap");
    std::fs::write(&input, pcap(101, &[echo6(1)])).unwrap();
    let out = dir.path().join("out.pcap");
    std::fs::write(&out, b"precious").unwrap();
    // The replies file cannot be created: the run fails after the output was opened.
    let replies = dir.path().join("no/such/dir/replies.pcap");
    let o = translate(&[
        "--in",
        input.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--replies",
        replies.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(std::fs::read(&out).unwrap(), b"precious", "the old output was destroyed");
    assert!(temp_files(dir.path()).is_empty(), "{:?}", temp_files(dir.path()));
    // A good run replaces it whole.
    let o = translate(&["--in", input.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(packets(&out).len(), 1);
    assert!(temp_files(dir.path()).is_empty());
}

#[test]
fn explain_gives_one_line_per_frame_with_reason_and_rfc() {
    let dir = tempfile::tempdir().unwrap();
    let eth = |et: u16, ip: Vec<u8>| {
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&et.to_be_bytes());
        f.extend(ip);
        f
    };
    let mut ttl1 = testpkt::udp4("198.51.100.20", "192.0.2.10", 53, b"late");
    ttl1[8] = 1;
    testpkt::fix_ipv4_checksum(&mut ttl1);
    let mut big = testpkt::udp4("198.51.100.20", "192.0.2.10", 53, &[9u8; 3000]);
    big[6] = 0; // DF clear: fragmented to 1280
    testpkt::fix_ipv4_checksum(&mut big);
    let frames = vec![
        eth(0x86dd, echo6(1)),
        eth(0x0806, vec![0; 28]),
        eth(0x0800, ttl1),
        eth(0x0800, big),
        eth(0x0800, testpkt::udp4("127.0.0.1", "192.0.2.10", 53, b"x")),
    ];
    let input = dir.path().join("in.pcap");
    std::fs::write(&input, pcap(1, &frames)).unwrap();
    let out = dir.path().join("out.pcap");
    let o = translate(&["--in", input.to_str().unwrap(), "--out", out.to_str().unwrap(), "--explain"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout);
    let lines: Vec<&str> = text.lines().filter(|l| l.starts_with("frame ")).collect();
    assert_eq!(
        lines,
        [
            "frame 1: translated to IPv4",
            "frame 2: not an IP packet (link type ETHERNET): skipped",
            "frame 3: not forwarded, answered with an ICMP error: ttl-exceeded (RFC 7915 §4.1)",
            "frame 4: translated to IPv6 as 3 fragments",
            "frame 5: dropped: forbidden-address (RFC 7915 §4.1, §5.1 (RFC 1812 §5.3.7))",
        ],
        "{text}"
    );
    assert!(text.contains("read 5 frames"), "{text}");
    // The summary by reason keeps the silent drops and the answered packets apart, each
    // counted once: frame 3 under answered only, frame 5 under dropped only.
    let summary: Vec<&str> = text.lines().filter(|l| !l.starts_with("frame ") && !l.starts_with("read ")).collect();
    let summary: Vec<String> = summary.iter().map(|l| l.split_whitespace().collect::<Vec<_>>().join(" ")).collect();
    assert_eq!(
        summary,
        ["dropped, by reason:", "forbidden-address 1", "answered with an ICMP error, by reason:", "ttl-exceeded 1"],
        "{text}"
    );
    // Without --explain, no per-frame lines.
    let o = translate(&["--in", input.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert!(!String::from_utf8_lossy(&o.stdout).contains("frame 1:"));
}
