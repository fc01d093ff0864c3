//! `--user` / `user = "NAME"`: started as root, a daemon becomes that user and its group
//! after setup, with no capability left (`/proc/PID/status`: `Uid`, `Gid`, `Groups`,
//! `CapEff`, `CapPrm`, `NoNewPrivs`), and still serves. Root only, with the `nobody` user.

mod common;
mod svc_util;

use svc_util::{ask, empty_upstream, Daemon};

/// The `nobody` user's uid and gid, if there is one.
fn nobody() -> Option<(u32, u32)> {
    let o = common::sh(&["getent", "passwd", "nobody"]);
    let line = String::from_utf8_lossy(&o.stdout).into_owned();
    let f: Vec<&str> = line.trim().split(':').collect();
    Some((f.get(2)?.parse().ok()?, f.get(3)?.parse().ok()?))
}

/// The value of `key:` in `/proc/PID/status` (`PID` may be `PID/task/TID`).
fn status(pid: impl std::fmt::Display, key: &str) -> String {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let l = s.lines().find(|l| l.starts_with(&format!("{key}:"))).unwrap_or_else(|| panic!("no {key} in {s}"));
    l[key.len() + 1..].trim().to_owned()
}

fn skip() -> Option<(u32, u32)> {
    if !common::is_root() {
        eprintln!("skipping: needs root to drop it");
        return None;
    }
    let n = nobody();
    if n.is_none() {
        eprintln!("skipping: no user nobody");
    }
    n
}

/// Every thread of `pid` (the metrics and signal threads started before the drop too)
/// runs as `uid`/`gid` with no capability (the kernel changes every thread's IDs and
/// capabilities: glibc applies `setuid` and friends to all threads).
fn assert_dropped(pid: u32, uid: u32, gid: u32) {
    let tasks: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .map(|e| format!("{pid}/task/{}", e.unwrap().file_name().to_string_lossy()))
        .collect();
    assert!(!tasks.is_empty());
    for t in tasks {
        assert_eq!(status(&t, "Uid"), format!("{uid}\t{uid}\t{uid}\t{uid}"), "{t}");
        assert_eq!(status(&t, "Gid"), format!("{gid}\t{gid}\t{gid}\t{gid}"), "{t}");
        assert_eq!(status(&t, "Groups"), gid.to_string(), "{t}");
        for caps in ["CapEff", "CapPrm", "CapAmb"] {
            assert_eq!(status(&t, caps), "0000000000000000", "{t} {caps}");
        }
    }
    // Per thread: set by the main thread at the drop, inherited by the threads it starts
    // after (the workers).
    assert_eq!(status(pid, "NoNewPrivs"), "1");
}

#[test]
fn dns64_started_as_root_runs_as_the_user_and_still_answers() {
    let Some((uid, gid)) = skip() else { return };
    let upstream = empty_upstream();
    let mut d = Daemon::spawn(
        &["dns64", "--listen", "127.0.0.1:0", "--upstream", &upstream, "--workers", "1", "--user", "nobody"],
        &[],
    );
    let l = d.line("listening on ");
    let dns = l.split("listening on ").nth(1).unwrap().split(' ').next().unwrap().to_owned();
    d.line("running as user nobody");
    assert_dropped(d.child.id(), uid, gid);
    assert_eq!(ask(&dns, "example.test.").1, 0, "still answers");
    d.kill("-TERM");
    assert!(d.wait_exit().success());
}

#[test]
fn an_unknown_user_is_refused_before_serving() {
    if !common::is_root() {
        eprintln!("skipping: needs root");
        return;
    }
    let upstream = empty_upstream();
    let mut d = Daemon::spawn(
        &["dns64", "--listen", "127.0.0.1:0", "--upstream", &upstream, "--user", "no-such-user-sixgate"],
        &[],
    );
    d.line("no such user");
    assert!(!d.wait_exit().success());
}

/// `nat64 run` with `user = "nobody"` in the file: the TUN queues stay open, the gateway
/// still answers a SIGHUP (reading its file as the user) and stops cleanly (TUN: root only).
#[test]
fn nat64_gateway_runs_as_the_user_from_the_file() {
    let Some((uid, gid)) = skip() else { return };
    if !std::path::Path::new("/dev/net/tun").exists() {
        eprintln!("skipping: no /dev/net/tun");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("nat64.toml");
    let tun = format!("sgpriv{}", std::process::id() % 10000);
    std::fs::write(
        &cfg,
        format!(
            "tun = \"{tun}\"\npool6 = \"64:ff9b::/96\"\nipv4 = \"192.0.2.1\"\nstats_interval = 0\nuser = \"nobody\"\n\
             metrics_listen = \"127.0.0.1:0\"\n"
        ),
    )
    .unwrap();
    // The file must stay readable for the reload after the drop.
    let mut perm = std::fs::metadata(dir.path()).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perm, 0o755);
    std::fs::set_permissions(dir.path(), perm).unwrap();
    let mut d = Daemon::spawn(&["nat64", "run", "--config", cfg.to_str().unwrap(), "--queues", "2"], &[]);
    d.line("running as user nobody");
    assert_dropped(d.child.id(), uid, gid);
    d.kill("-HUP");
    d.line("SIGHUP: reload of");
    assert!(std::path::Path::new(&format!("/sys/class/net/{tun}")).exists(), "the device stays");
    d.kill("-TERM");
    assert!(d.wait_exit().success());
}
