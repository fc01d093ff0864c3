//! `nat64 run --check` with the scale-out and event-log keys: the part of pool4 an
//! instance keeps and where its events go are shown; a bad `instance`, too few pool4
//! addresses for the instances, events with nowhere to go, an IPFIX collector that is not
//! HOST:PORT and event logging in stateless mode are refused in one line naming the value and the fix.

use std::process::{Command, Output};

fn check(extra: &str) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("nat64.toml");
    std::fs::write(
        &p,
        format!("tun = \"sgnl0\"\npool6 = \"2001:db8:64::/96\"\nipv4 = \"192.0.2.1\"\nipv6 = \"2001:db8::1\"\n{extra}"),
    )
    .unwrap();
    Command::new(env!("CARGO_BIN_EXE_sixgate"))
        .args(["nat64", "run", "--check", "--config", p.to_str().unwrap()])
        .env_remove("RUST_LOG")
        .output()
        .unwrap()
}

fn refused(o: &Output, needles: &[&str]) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    for n in needles {
        assert!(err.contains(n), "no {n:?} in: {err}");
    }
}

const STATEFUL: &str = "mode = \"stateful\"\npool4 = [\"192.0.2.4/30\"]\n";

#[test]
fn check_shows_the_instance_part_and_the_event_log() {
    let o = check(&format!("{STATEFUL}instance = \"2/2\"\n[log]\nevents = \"session\"\nfile = \"/var/log/x.jsonl\"\n"));
    let out = String::from_utf8_lossy(&o.stdout);
    if o.status.code() == Some(2) && String::from_utf8_lossy(&o.stderr).contains("CAP_NET_ADMIN") {
        eprintln!("skipping: not root");
        return;
    }
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(out.contains("pool4 192.0.2.6/31 ports 1024-65535"), "{out}");
    assert!(!out.contains("192.0.2.4/31"), "{out}");
    assert!(out.contains("event log: Session events, JSON Lines to /var/log/x.jsonl"), "{out}");
    // IPFIX besides the file, with its observation domain.
    let o = check(&format!(
        "{STATEFUL}[log]\nevents = \"bib\"\nfile = \"/var/log/x.jsonl\"\nipfix = \"127.0.0.1:4739\"\nipfix_domain = 2\n"
    ));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        out.contains(
            "event log: Bib events, JSON Lines to /var/log/x.jsonl and IPFIX (RFC 8158) over UDP to 127.0.0.1:4739, observation domain 2"
        ),
        "{out}"
    );
}

#[test]
fn bad_instances_and_logs_are_refused_with_the_fix() {
    refused(&check(&format!("{STATEFUL}instance = \"3/2\"\n")), &["instance \"3/2\"", "1 <= k <= n"]);
    refused(&check(&format!("{STATEFUL}instance = \"half\"\n")), &["instance \"half\""]);
    refused(
        &check(&format!("{STATEFUL}instance = \"1/8\"\n")),
        &["instance 1/8", "4 address(es)", "at least one address per instance"],
    );
    refused(&check(&format!("{STATEFUL}[log]\nevents = \"bib\"\n")), &["log.events", "nowhere to go", "log.file"]);
    refused(
        &check(&format!("{STATEFUL}[log]\nevents = \"every\"\nfile = \"x\"\n")),
        &["log.events \"every\"", "\"bib\""],
    );
    refused(&check("[log]\nevents = \"bib\"\nfile = \"x\"\n"), &["need mode = \"stateful\""]);
    refused(
        &check(&format!("{STATEFUL}[log]\nevents = \"bib\"\nipfix = \"nowhere\"\n")),
        &["log.ipfix \"nowhere\"", "HOST:PORT"],
    );
    refused(&check("instance = \"1/2\"\n"), &["need mode = \"stateful\""]);
}
