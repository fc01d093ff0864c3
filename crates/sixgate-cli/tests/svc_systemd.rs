//! The systemd units in `dist/systemd/`: `systemd-analyze verify` accepts them without a
//! warning (with `ExecStart` pointed at the binary under test, since verify checks that the
//! command exists), each asks only for the capabilities its daemon needs, and
//! `systemd-analyze security --offline=yes` rates each exposure at most 3.0 ("OK").
//! Skipped, with the reason, where `systemd-analyze` is missing.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

/// (unit file, instance to verify it as, capabilities it must grant exactly).
const UNITS: [(&str, &str, &[&str]); 5] = [
    ("sixgate-nat64.service", "sixgate-nat64.service", &["CAP_NET_ADMIN"]),
    ("sixgate-tunnel@.service", "sixgate-tunnel@t1.service", &["CAP_NET_ADMIN", "CAP_NET_RAW"]),
    ("sixgate-dns64.service", "sixgate-dns64.service", &["CAP_NET_BIND_SERVICE"]),
    ("sixgate-rdns.service", "sixgate-rdns.service", &["CAP_NET_BIND_SERVICE"]),
    ("sixgate-proxy.service", "sixgate-proxy.service", &["CAP_NET_BIND_SERVICE"]),
];

fn dist() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../dist/systemd")
}

fn values<'a>(unit: &'a str, key: &str) -> Vec<&'a str> {
    unit.lines().filter_map(|l| l.strip_prefix(key)?.strip_prefix('=')).collect()
}

#[test]
fn units_declare_notify_reload_and_only_the_capabilities_needed() {
    for (file, _, caps) in UNITS {
        let unit = std::fs::read_to_string(dist().join(file)).unwrap();
        assert_eq!(values(&unit, "Type"), ["notify"], "{file}");
        assert_eq!(values(&unit, "ExecReload"), ["/bin/kill -HUP $MAINPID"], "{file}");
        for key in ["AmbientCapabilities", "CapabilityBoundingSet"] {
            let got: Vec<&str> = values(&unit, key).iter().flat_map(|v| v.split_whitespace()).collect();
            assert_eq!(got, caps, "{file}: {key}");
        }
        for key in ["NoNewPrivileges", "ProtectSystem", "DynamicUser", "PrivateTmp", "ProtectHome"] {
            assert!(!values(&unit, key).is_empty(), "{file}: {key} missing");
        }
    }
}

#[test]
fn systemd_analyze_verifies_and_rates_the_units() {
    skip_without!("systemd-analyze");
    let dir = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_sixgate");
    for (file, instance, _) in UNITS {
        let unit = std::fs::read_to_string(dist().join(file)).unwrap().replace("/usr/bin/sixgate", bin);
        std::fs::write(dir.path().join(instance), unit).unwrap();
    }
    let o = Command::new("systemd-analyze")
        .arg("verify")
        .arg("--man=no")
        .args(UNITS.iter().map(|(_, i, _)| dir.path().join(i)))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "verify failed: {err}");
    assert!(!err.contains("sixgate"), "verify warned: {err}");
    for (_, instance, _) in UNITS {
        let o = Command::new("systemd-analyze")
            .args(["security", "--offline=yes", "--no-pager"])
            .arg(dir.path().join(instance))
            .output()
            .unwrap();
        let out = String::from_utf8_lossy(&o.stdout);
        let line = out.lines().find(|l| l.contains("Overall exposure level")).unwrap_or_else(|| panic!("{out}"));
        eprintln!("{line}");
        let score: f64 = line.split(": ").nth(1).and_then(|s| s.split(' ').next()?.parse().ok()).unwrap();
        assert!(score <= 3.0, "{instance}: {line}");
    }
}
