//! `sixgate nat64 lookup` through the binary: the abuse desk's two questions under the
//! RFC 7422 deterministic mapping, answered from the gateway's file; the answer agrees
//! with the port the engine gave a real flow; values outside the mapping and files
//! without the mapping are refused with one line naming the value and the fix.

use std::io::Write;
use std::process::{Command, Output};
use std::time::Instant;

use sixgate_core::buf::PacketBuf;
use sixgate_core::engine::{Engine, Side, Verdict};
use sixgate_nat64::{Allocation, Deterministic, Nat64, Nat64Config, Pool4Range};

const FILE: &str = r#"
mode = "stateful"
pool6 = "64:ff9b::/96"
ipv4 = "192.0.2.1"
ipv6 = "2001:db8:ffff::1"
pool4 = ["198.51.100.0/28 1024-65535"]
port_block = 1008
block_prefix_len = 56
deterministic = true
subscribers = "2001:db8:100::/46"
"#;

fn file(text: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
    f.write_all(text.as_bytes()).unwrap();
    f
}

fn lookup(f: &tempfile::NamedTempFile, args: &[&str]) -> Output {
    let path = f.path().to_str().unwrap();
    Command::new(env!("CARGO_BIN_EXE_sixgate")).args(["nat64", "lookup", "--config", path]).args(args).output().unwrap()
}

fn ok(o: &Output) -> String {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn refused(o: &Output) -> String {
    assert!(!o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    let e = String::from_utf8(o.stderr.clone()).unwrap();
    assert_eq!(e.trim_end().lines().count(), 1, "one line: {e}");
    e
}

#[test]
fn both_directions_text_and_json() {
    let f = file(FILE);
    // 2001:db8:100::/46 holds 1,024 /56 subscribers; /28 × 64 ranges of 1,008 ports.
    // 2001:db8:103:ff00::/56 is subscriber 1023: address 15, range 63 → 1024 + 63 × 1008.
    let o = ok(&lookup(&f, &["--ipv6", "2001:db8:103:ff12::7"]));
    assert_eq!(o, "2001:db8:103:ff12::7: subscriber 2001:db8:103:ff00::/56 holds 198.51.100.15 ports 64528-65535\n");
    let o = ok(&lookup(&f, &["--ipv4", "198.51.100.15", "--port", "65000"]));
    assert_eq!(
        o,
        "198.51.100.15 port 65000: subscriber 2001:db8:103:ff00::/56 holds 198.51.100.15 ports 64528-65535\n"
    );
    let j: serde_json::Value =
        serde_json::from_str(&ok(&lookup(&f, &["--ipv4", "198.51.100.3", "--port", "2040", "--json"]))).unwrap();
    // Port 2040 is range 1 of address 3: subscriber 1 × 16 + 3 = 19 = 2001:db8:100:1300::/56.
    assert_eq!(j["subscriber"], "2001:db8:100:1300::/56");
    assert_eq!(
        (j["ipv4"].as_str(), j["first_port"].as_u64(), j["last_port"].as_u64()),
        (Some("198.51.100.3"), Some(2032), Some(3039))
    );
}

#[test]
fn agrees_with_the_engine() {
    let f = file(FILE);
    let pool6 = "64:ff9b::/96".parse().unwrap();
    let pool4 = vec![Pool4Range::new("198.51.100.0/28".parse().unwrap(), 1024, 65535)];
    let mut c = Nat64Config::new(pool6, pool4, "192.0.2.1".parse().unwrap(), "2001:db8:ffff::1".parse().unwrap());
    c.allocation = Allocation::Deterministic(Deterministic::new("2001:db8:100::/46".parse().unwrap(), 56, 1008));
    let mut e = Nat64::new(c).unwrap();
    for (client, sport) in [("2001:db8:101:2a00::99", 55555), ("2001:db8:100::1", 1), ("2001:db8:102:7f01::1", 40000)] {
        let mut b =
            PacketBuf::from_slice(&sixgate_testkit::packets::udp6_ports(client, "64:ff9b::808:808", sport, 53, b"q"));
        assert_eq!(e.process(&mut b, Instant::now()), Verdict::Forward(Side::V4));
        let p = b.as_slice();
        let (a, port) = (format!("{}.{}.{}.{}", p[12], p[13], p[14], p[15]), u16::from_be_bytes([p[20], p[21]]));
        let o = ok(&lookup(&f, &["--ipv4", &a, "--port", &port.to_string(), "--json"]));
        let j: serde_json::Value = serde_json::from_str(&o).unwrap();
        let sub: ipnet::Ipv6Net = j["subscriber"].as_str().unwrap().parse().unwrap();
        assert!(
            sub.contains(&client.parse::<std::net::Ipv6Addr>().unwrap()),
            "{client} got {a}:{port}, lookup says {sub}"
        );
    }
}

#[test]
fn refusals_name_the_value_and_the_fix() {
    let f = file(FILE);
    let e = refused(&lookup(&f, &["--ipv4", "203.0.113.1", "--port", "2000"]));
    assert!(e.contains("203.0.113.1 port 2000") && e.contains("not in pool4"), "{e}");
    let e = refused(&lookup(&f, &["--ipv4", "198.51.100.1", "--port", "80"]));
    assert!(e.contains("not in pool4"), "{e}");
    let e = refused(&lookup(&f, &["--ipv6", "2001:db8:200::1"]));
    assert!(e.contains("2001:db8:200::1") && e.contains("2001:db8:100::/46"), "{e}");
    // Both forms at once, or neither: clap refuses.
    assert!(!lookup(&f, &["--ipv4", "198.51.100.1"]).status.success());
    assert!(!lookup(&f, &[]).status.success());
    // A file without the mapping.
    let g = file(&FILE.replace("deterministic = true\nsubscribers = \"2001:db8:100::/46\"\n", ""));
    let e = refused(&lookup(&g, &["--ipv4", "198.51.100.1", "--port", "2000"]));
    assert!(e.contains("deterministic = true"), "{e}");
    // Too many subscribers for pool4: the sizing error.
    let g = file(&FILE.replace("/46", "/40"));
    let e = refused(&lookup(&g, &["--ipv6", "2001:db8:100::1"]));
    assert!(e.contains("65536 subscribers") && e.contains("add pool4 addresses"), "{e}");
    // Keys that belong to the other mode.
    let g = file(&format!("{FILE}max_blocks_per_subscriber = 4\n"));
    let e = refused(&lookup(&g, &["--ipv6", "2001:db8:100::1"]));
    assert!(e.contains("max_blocks_per_subscriber"), "{e}");
    let g = file(&FILE.replace("deterministic = true\n", ""));
    let e = refused(&lookup(&g, &["--ipv6", "2001:db8:100::1"]));
    assert!(e.contains("subscribers: only with deterministic = true"), "{e}");
}
