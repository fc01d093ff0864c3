//! Shell completions, manual pages and the install script: `sixgate completions bash`
//! passes `bash -n` (zsh and fish scripts are checked by their shells where installed),
//! `sixgate man DIR` writes a page per command that `groff` formats without a warning, and
//! `dist/install.sh` into a temporary root gives a binary that runs, its units, pages,
//! completions and example configurations that pass `--check`.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn sixgate(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sixgate")).args(args).output().unwrap()
}

fn ok(o: &Output) -> String {
    assert!(o.status.success(), "{}", common::text(o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn on_path(tool: &str) -> bool {
    common::tools_skip_reason(&[tool]).is_none()
}

#[test]
fn completion_scripts_parse_in_their_shells() {
    let dir = tempfile::tempdir().unwrap();
    for (shell, check, marker) in
        [("bash", "bash", "complete -F"), ("zsh", "zsh", "#compdef sixgate"), ("fish", "fish", "complete -c sixgate")]
    {
        let script = ok(&sixgate(&["completions", shell]));
        assert!(script.contains(marker), "{shell}: no {marker:?}");
        for sub in ["nat64", "dns64", "tunnel", "log-level"] {
            assert!(script.contains(sub), "{shell}: {sub} not completed");
        }
        let path = dir.path().join(format!("sixgate.{shell}"));
        std::fs::write(&path, &script).unwrap();
        if on_path(check) {
            let o = Command::new(check).arg("-n").arg(&path).output().unwrap();
            assert!(o.status.success(), "{check} -n: {}", common::text(&o));
        } else {
            eprintln!("{check} not installed: checked the {shell} script's content only");
        }
    }
    assert!(!sixgate(&["completions", "tcsh"]).status.success(), "an unknown shell is refused");
}

#[test]
fn a_manual_page_per_command_formats_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    ok(&sixgate(&["man", dir.path().to_str().unwrap()]));
    for page in [
        "sixgate.1",
        "sixgate-nat64.1",
        "sixgate-nat64-run.1",
        "sixgate-nat64-translate.1",
        "sixgate-tunnel-run.1",
        "sixgate-dns64.1",
        "sixgate-rdns-zone.1",
        "sixgate-6to4.1",
        "sixgate-completions.1",
    ] {
        let path = dir.path().join(page);
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{page}: {e}"));
        assert!(text.starts_with(".ie") || text.contains("\n.TH "), "{page} is not a man page");
        if on_path("groff") {
            // -k: UTF-8 input (§, —); -ww: every warning; -z: no output.
            let o = Command::new("groff").args(["-k", "-man", "-Tutf8", "-z", "-ww"]).arg(&path).output().unwrap();
            assert!(o.status.success() && o.stderr.is_empty(), "{page}: {}", common::text(&o));
        }
    }
    let run = std::fs::read_to_string(dir.path().join("sixgate-nat64-run.1")).unwrap();
    assert!(run.contains("SIGHUP") && run.contains("check"), "the page carries the command's help");
    // Without DIR: sixgate(1) on standard output.
    assert!(ok(&sixgate(&["man"])).contains(".TH sixgate"));
}

#[test]
fn install_script_into_a_temporary_root() {
    let root = tempfile::tempdir().unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../dist/install.sh");
    let o = Command::new("sh")
        .arg(&script)
        .env("DESTDIR", root.path())
        .env("PREFIX", "/usr")
        .env("SIXGATE_BIN", env!("CARGO_BIN_EXE_sixgate"))
        .output()
        .unwrap();
    ok(&o);
    let at = |p: &str| -> PathBuf { root.path().join(p.trim_start_matches('/')) };
    let bin = at("/usr/bin/sixgate");
    let v = Command::new(&bin).arg("--version").output().unwrap();
    assert_eq!(ok(&v).trim(), format!("sixgate {}", env!("CARGO_PKG_VERSION")));
    for f in [
        "/usr/lib/systemd/system/sixgate-nat64.service",
        "/usr/lib/systemd/system/sixgate-tunnel@.service",
        "/usr/lib/systemd/system/sixgate-dns64.service",
        "/usr/share/man/man1/sixgate-nat64-run.1",
        "/usr/share/bash-completion/completions/sixgate",
        "/usr/share/zsh/vendor-completions/_sixgate",
        "/usr/share/fish/vendor_completions.d/sixgate.fish",
        "/etc/sixgate/dns64.env",
    ] {
        assert!(at(f).is_file(), "{f} not installed");
    }
    let health = at("/usr/bin/sixgate-bgp-health");
    let o = Command::new("sh").arg(&health).arg("--help").output().unwrap();
    assert!(ok(&o).contains("--protocol NAME"), "{health:?}");
    if on_path("man") {
        let o =
            Command::new("man").arg("-w").arg("sixgate-dns64").env("MANPATH", at("/usr/share/man")).output().unwrap();
        assert!(ok(&o).contains("sixgate-dns64.1"));
    }
    // The example configurations are valid as shipped.
    let nat64 = at("/etc/sixgate/nat64.toml");
    ok(&Command::new(&bin).args(["nat64", "run", "--check", "--config"]).arg(&nat64).output().unwrap());
    let tunnel = at("/etc/sixgate/tunnel-example.toml");
    ok(&Command::new(&bin).args(["tunnel", "run", "--check", "--config"]).arg(&tunnel).output().unwrap());
    // A second run keeps configurations an operator has edited.
    std::fs::write(&nat64, "# mine\n").unwrap();
    ok(&Command::new("sh")
        .arg(&script)
        .env("DESTDIR", root.path())
        .env("SIXGATE_BIN", env!("CARGO_BIN_EXE_sixgate"))
        .output()
        .unwrap());
    assert_eq!(std::fs::read_to_string(&nat64).unwrap(), "# mine\n");
}
