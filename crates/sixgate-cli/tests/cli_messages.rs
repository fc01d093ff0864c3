//! Messages on first contact: each refusal names the value, the rule and the fix.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};

mod common;

const BIN: &str = env!("CARGO_BIN_EXE_sixgate");

fn sixgate(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().expect("run sixgate")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write");
    p.to_str().expect("utf-8").to_owned()
}

/// `--listen ::1:5353` is refused with the library's message, which shows `[::1]:5353`.
#[test]
fn dns64_unbracketed_listen_suggests_brackets() {
    let o = sixgate(&["dns64", "--listen", "::1:5353", "--upstream", "[::1]:53"]);
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(e.contains("[::1]:5353") && e.contains("RFC 3986"), "{e}");
}

/// `--upstream 127.0.0.1` (and `--listen ADDR`) without a port mean port 53.
#[test]
fn dns64_upstream_without_port_is_port_53() {
    let port = std::net::UdpSocket::bind("127.0.0.1:0").and_then(|s| s.local_addr()).expect("free port").port();
    let listen = format!("127.0.0.1:{port}");
    let mut child = Command::new(BIN)
        .args(["dns64", "--listen", &listen, "--upstream", "127.0.0.1"])
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut line = String::new();
    let read = BufReader::new(child.stderr.take().expect("stderr")).read_line(&mut line);
    let _ = child.kill();
    let _ = child.wait();
    read.expect("read");
    assert!(line.contains("upstream 127.0.0.1:53"), "{line}");
}

/// A TOML integer out of range says the range (and the key), not "expected u8".
#[test]
fn toml_out_of_range_states_the_range() {
    let dir = tempfile::tempdir().expect("tempdir");
    let t = write(
        dir.path(),
        "t.toml",
        "tun = \"t0\"\nlocal = \"192.0.2.1\"\nremote = \"198.51.100.1\"\naddress = \"2001:db8::1/64\"\nttl = 300\n",
    );
    let o = sixgate(&["tunnel", "run", "--config", &t, "--check"]);
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(e.contains("t.toml:5: ttl:") && e.contains("1 to 255") && !e.contains("u8"), "{e}");
    let n = write(dir.path(), "n.toml", "pool6 = \"64:ff9b::/96\"\nmtu = 70000\n");
    let o = sixgate(&["nat64", "run", "--config", &n, "--check"]);
    let e = stderr(&o);
    assert!(e.contains("n.toml:2: mtu:") && e.contains("0 to 65535") && !e.contains("u16"), "{e}");
}

/// A bad pool4 port range says which port is wrong.
#[test]
fn pool4_says_which_port() {
    let dir = tempfile::tempdir().expect("tempdir");
    let base = "mode = \"stateful\"\npool6 = \"2001:db8:64::/96\"\n";
    for (entry, needles) in [
        (
            "198.51.100.0/30 9000-1000",
            &["first port 9000 is after the last port 1000", "first > last", "1000-9000"][..],
        ),
        ("198.51.100.0/30 1000-70000", &["last port \"70000\"", "0 to 65535"][..]),
        ("198.51.100.0/30 x-2000", &["first port \"x\""][..]),
        ("198.51.100.0/33", &["\"198.51.100.0/33\" is not an IPv4 prefix"][..]),
    ] {
        let f = write(dir.path(), "s.toml", &format!("{base}pool4 = [\"{entry}\"]\n"));
        let o = sixgate(&["nat64", "run", "--config", &f, "--check"]);
        assert_eq!(o.status.code(), Some(2), "{entry}");
        let e = stderr(&o);
        for n in needles {
            assert!(e.contains(n), "{entry}: {n:?} not in {e}");
        }
        assert!(e.contains("PREFIX FIRST-LAST"), "{e}");
    }
}

/// A drop is reported once by its stable name, not `malformed (Malformed)`, followed by the
/// RFC rule it applies (or the note that it is local policy).
#[test]
fn translate_drop_names_the_reason_once() {
    let mut child = Command::new(BIN)
        .args(["nat64", "translate", "--pool6", "64:ff9b::/96", "--hex"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    use std::io::Write;
    child.stdin.take().expect("stdin").write_all(b"4500\n").expect("write");
    let o = child.wait_with_output().expect("wait");
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert!(e.starts_with("dropped: "), "{e}");
    let name = e["dropped: ".len()..].split_whitespace().next().expect("a reason");
    assert_eq!(e.to_lowercase().matches(&name.to_lowercase()).count(), 1, "the reason is repeated: {e}");
    assert!(e.contains("(RFC ") || e.contains("local policy"), "no rule named: {e}");
}

/// pref64 and dns64_prefix with host bits are refused with the prefix without them and the
/// RFC 6052 §2.2 lengths; --help documents both keys.
#[test]
fn pref64_host_bits_refused_and_keys_documented() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = write(
        dir.path(),
        "p.toml",
        "pool6 = \"2001:db8:64::/96\"\npref64 = \"2001:db8:64::/40\"\ndns64_prefix = \"2001:db8:64::/40\"\n",
    );
    let o = sixgate(&["nat64", "run", "--config", &f, "--check"]);
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    for key in ["p.toml:2: pref64:", "p.toml:3: dns64_prefix:"] {
        let line = e.lines().find(|l| l.contains(key)).unwrap_or_else(|| panic!("{key} not in {e}"));
        assert!(line.contains("2001:db8::/40") && line.contains("RFC 6052 §2.2"), "{line}");
    }
    let o = sixgate(&["nat64", "run", "--help"]);
    let help = String::from_utf8_lossy(&o.stdout);
    assert!(help.contains("dns64_prefix") && help.contains("pref64") && help.contains("RFC 8781"), "{help}");
}

/// Runs `sixgate ARGS` as the unprivileged user nobody.
fn as_nobody(args: &[&str]) -> Output {
    Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", BIN])
        .args(args)
        .output()
        .expect("setpriv")
}

/// A bind refused for lack of privilege names the capability needed and how to grant it.
#[test]
fn permission_failures_name_the_capability() {
    skip_without!("setpriv");
    if !common::is_root() {
        eprintln!("skipping: dropping privileges needs root");
        return;
    }
    let unpriv = std::fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start")
        .ok()
        .and_then(|s| s.trim().parse::<u16>().ok())
        .unwrap_or(1024);
    if unpriv > 53 {
        let e = stderr(&as_nobody(&["dns64", "--listen", "127.0.0.1:53", "--upstream", "127.0.0.2"]));
        assert!(e.contains("CAP_NET_BIND_SERVICE") && e.contains("setcap"), "{e}");
    } else {
        eprintln!("skipping the port 53 case: ip_unprivileged_port_start is {unpriv}");
    }
    let e = stderr(&as_nobody(&[
        "tunnel",
        "run",
        "--tun",
        "sgcap0",
        "--local",
        "192.0.2.1",
        "--remote",
        "198.51.100.1",
        "--address",
        "2001:db8::1/64",
    ]));
    assert!(e.contains("CAP_NET_ADMIN") && e.contains("AmbientCapabilities"), "{e}");
}

/// A raw socket refused names CAP_NET_RAW: a TUN device is allowed (in a namespace of its
/// own), the raw socket is not.
#[test]
fn raw_socket_failure_names_cap_net_raw() {
    skip_without!("unshare", "capsh");
    if let Some(why) = common::netns_skip_reason() {
        eprintln!("skipping: {why}");
        return;
    }
    let cmd = format!("{BIN} tunnel run --tun sgcap1 --local 192.0.2.1 --remote 198.51.100.1 --address 2001:db8::1/64");
    let o = Command::new("unshare")
        .args(["--net", "capsh", "--drop=cap_net_raw", "--", "-c", &cmd])
        .output()
        .expect("unshare");
    let e = stderr(&o);
    assert!(e.contains("raw IP socket") && e.contains("CAP_NET_RAW"), "{e}");
}
