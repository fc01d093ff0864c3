//! The DNS64 server's Prometheus endpoint (`--metrics-listen`): the series count what the
//! server did (a query, a SIGHUP), the exposition passes `promtool check metrics` (Debian
//! `prometheus`; skipped with the reason where missing), a scraper that asks for
//! OpenMetrics gets it, other paths are 404.

mod common;
mod svc_util;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

use svc_util::{ask, empty_upstream, Daemon};

/// `GET path` over HTTP/1.0: the status code and the body.
fn get(addr: &str, path: &str, accept: &str) -> (u16, String) {
    let mut c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(c, "GET {path} HTTP/1.0\r\nHost: {addr}\r\nAccept: {accept}\r\n\r\n").unwrap();
    let mut resp = String::new();
    c.read_to_string(&mut resp).unwrap();
    let (head, body) = resp.split_once("\r\n\r\n").unwrap_or((&resp, ""));
    let code = head.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (code, body.to_owned())
}

#[test]
fn dns64_metrics_count_queries_and_reloads_and_pass_promtool() {
    let upstream = empty_upstream();
    let mut d = Daemon::spawn(
        &[
            "dns64",
            "--listen",
            "127.0.0.1:0",
            "--upstream",
            &upstream,
            "--workers",
            "1",
            "--metrics-listen",
            "127.0.0.1:0",
        ],
        &[],
    );
    let l = d.line("listening on ");
    let dns = l.split("listening on ").nth(1).unwrap().split(' ').next().unwrap().to_owned();
    let l = d.line("metrics on http://");
    let metrics = l.split("http://").nth(1).unwrap().trim_end_matches("/metrics").to_owned();
    assert_eq!(ask(&dns, "example.test.").1, 0);
    // Synthesized from the well-known addresses (RFC 7050 §3).
    assert_eq!(ask(&dns, "ipv4only.arpa.").1, 0);
    d.kill("-HUP");
    d.line("SIGHUP");

    let (code, body) = get(&metrics, "/metrics", "*/*");
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("\nsixgate_dns64_queries_total 2\n"), "{body}");
    for want in [
        "\nsixgate_dns64_synthesized_total 1\n",
        "\nsixgate_dns64_upstream_timeouts_total 0\n",
        "# TYPE sixgate_dns64_response_seconds histogram\n",
        "\nsixgate_dns64_response_seconds_count 2\n",
        "\nsixgate_dns64_response_seconds_bucket{le=\"+Inf\"} 2\n",
    ] {
        assert!(body.contains(want), "no {want:?} in {body}");
    }
    assert!(body.contains("sixgate_reloads_total{result=\"no_config_file\"} 1\n"), "{body}");
    assert!(body.contains("# TYPE sixgate_dns64_queries_total counter"), "text format 0.0.4: {body}");
    assert!(!body.contains("# EOF"));
    if common::tools_skip_reason(&["promtool"]).is_none() {
        let mut p = Command::new("promtool")
            .args(["check", "metrics"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        p.stdin.take().unwrap().write_all(body.as_bytes()).unwrap();
        let o = p.wait_with_output().unwrap();
        assert!(o.status.success(), "promtool: {}", common::text(&o));
    } else {
        eprintln!("promtool not installed: exposition not linted");
    }

    let (code, om) = get(&metrics, "/metrics", "application/openmetrics-text;version=1.0.0,text/plain;q=0.5");
    assert_eq!(code, 200);
    assert!(om.ends_with("# EOF\n") && om.contains("# TYPE sixgate_dns64_queries counter"), "{om}");
    assert_eq!(get(&metrics, "/", "*/*").0, 404);
    assert!(d.alive());
    d.kill("-TERM");
    assert!(d.wait_exit().success());
}

/// `nat64 run --metrics-listen` (root, TUN): packets by queue, silent drops and answered
/// packets by every stable reason name, reloads by result; the exposition passes promtool.
#[test]
fn nat64_metrics_by_queue_and_reason_pass_promtool() {
    if !common::is_root() || !std::path::Path::new("/dev/net/tun").exists() {
        eprintln!("skipping: needs root and /dev/net/tun");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("nat64.toml");
    let tun = format!("sgmet{}", std::process::id() % 10000);
    std::fs::write(
        &cfg,
        format!("tun = \"{tun}\"\npool6 = \"64:ff9b::/96\"\nipv4 = \"192.0.2.1\"\nstats_interval = 0\n"),
    )
    .unwrap();
    let mut d = Daemon::spawn(
        &["nat64", "run", "--config", cfg.to_str().unwrap(), "--queues", "2", "--metrics-listen", "127.0.0.1:0"],
        &[],
    );
    let l = d.line("metrics on http://");
    let metrics = l.split("http://").nth(1).unwrap().trim_end_matches("/metrics").to_owned();
    d.kill("-HUP");
    d.line("SIGHUP: reload of");
    let (code, body) = get(&metrics, "/metrics", "*/*");
    assert_eq!(code, 200, "{body}");
    for want in [
        "sixgate_nat64_received_total{queue=\"0\"} ",
        "sixgate_nat64_received_total{queue=\"1\"} ",
        "sixgate_nat64_replied_total{queue=\"0\"} ",
        "sixgate_nat64_drops_total{reason=\"",
        // Answered packets apart from silent drops, by the same reason names.
        "sixgate_nat64_answered_total{reason=\"ttl-exceeded\"} 0\n",
        "sixgate_reloads_total{result=\"unchanged\"} 1\n",
    ] {
        assert!(body.contains(want), "no {want:?} in {body}");
    }
    if common::tools_skip_reason(&["promtool"]).is_none() {
        let mut p = Command::new("promtool")
            .args(["check", "metrics"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        p.stdin.take().unwrap().write_all(body.as_bytes()).unwrap();
        let o = p.wait_with_output().unwrap();
        assert!(o.status.success(), "promtool: {}", common::text(&o));
    }
    d.kill("-TERM");
    assert!(d.wait_exit().success());
}

/// `metrics_listen` in the file of `nat64 run` and `tunnel run`: `--check` shows it, the
/// flag wins, and an address already in use is refused (root: `--check` also checks the
/// capabilities).
#[test]
fn metrics_listen_key_is_read_and_the_flag_wins() {
    if !common::is_root() {
        eprintln!("skipping: --check needs CAP_NET_ADMIN");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = taken.local_addr().unwrap().to_string();
    let nat64 = dir.path().join("nat64.toml");
    let tunnel = dir.path().join("tunnel.toml");
    let write = |metrics: &str| {
        std::fs::write(
            &nat64,
            format!(
                "tun = \"sgmk{}\"\npool6 = \"64:ff9b::/96\"\nipv4 = \"192.0.2.1\"\nmetrics_listen = \"{metrics}\"\n",
                std::process::id() % 10000
            ),
        )
        .unwrap();
        std::fs::write(
            &tunnel,
            format!(
                "tun = \"sgmt{}\"\nlocal = \"192.0.2.1\"\nremote = \"198.51.100.1\"\naddress = \"2001:db8::1/64\"\n\
                 metrics_listen = \"{metrics}\"\n",
                std::process::id() % 10000
            ),
        )
        .unwrap();
    };
    let bin = env!("CARGO_BIN_EXE_sixgate");
    let run = |args: &[&str]| Command::new(bin).args(args).env_remove("RUST_LOG").output().unwrap();
    let (n, t) = (nat64.to_str().unwrap(), tunnel.to_str().unwrap());
    write("127.0.0.1:9164");
    for args in [&["nat64", "run", "--check", "--config", n][..], &["tunnel", "run", "--check", "--config", t]] {
        let o = run(args);
        assert!(o.status.success(), "{}", common::text(&o));
        assert!(
            String::from_utf8_lossy(&o.stdout).contains("metrics http://127.0.0.1:9164/metrics"),
            "{}",
            common::text(&o)
        );
        let mut with_flag = args.to_vec();
        with_flag.extend(["--metrics-listen", "[::1]:9999"]);
        let o = run(&with_flag);
        assert!(
            String::from_utf8_lossy(&o.stdout).contains("metrics http://[::1]:9999/metrics"),
            "{}",
            common::text(&o)
        );
    }
    write(&taken);
    for args in [&["nat64", "run", "--check", "--config", n][..], &["tunnel", "run", "--check", "--config", t]] {
        let o = run(args);
        assert_eq!(o.status.code(), Some(2), "{}", common::text(&o));
        assert!(String::from_utf8_lossy(&o.stderr).contains(&taken), "{}", common::text(&o));
    }
}

/// Scrapes until `want` shows (the workers publish their gauges within a second of start).
fn scrape_until(metrics: &str, want: &str) -> String {
    for _ in 0..50 {
        let (code, body) = get(metrics, "/metrics", "*/*");
        assert_eq!(code, 200, "{body}");
        if body.contains(want) {
            return body;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("no {want:?} in the metrics");
}

fn promtool(body: &str) {
    if common::tools_skip_reason(&["promtool"]).is_some() {
        eprintln!("promtool not installed: exposition not linted");
        return;
    }
    let mut p = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    p.stdin.take().unwrap().write_all(body.as_bytes()).unwrap();
    let o = p.wait_with_output().unwrap();
    assert!(o.status.success(), "promtool: {}", common::text(&o));
}

/// Stateful `nat64 run` with two queues (root, TUN): sessions by protocol and TCP state,
/// BIB entries, pool4 ports used and free per address (the shards' slices summed to the
/// whole range), held SYNs, waiting fragments, limit hits by key; promtool passes.
#[test]
fn stateful_nat64_metrics_show_the_tables_and_pass_promtool() {
    if !common::is_root() || !std::path::Path::new("/dev/net/tun").exists() {
        eprintln!("skipping: needs root and /dev/net/tun");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("nat64.toml");
    let tun = format!("sgmst{}", std::process::id() % 10000);
    std::fs::write(
        &cfg,
        format!(
            "tun = \"{tun}\"\nmode = \"stateful\"\npool6 = \"64:ff9b::/96\"\nipv4 = \"192.0.2.1\"\n\
             pool4 = [\"198.51.100.0/31 1024-2047\"]\nstats_interval = 0\nmetrics_listen = \"127.0.0.1:0\"\n"
        ),
    )
    .unwrap();
    let mut d = Daemon::spawn(&["nat64", "run", "--config", cfg.to_str().unwrap(), "--queues", "2"], &[]);
    let l = d.line("metrics on http://");
    let metrics = l.split("http://").nth(1).unwrap().trim_end_matches("/metrics").to_owned();
    // Each queue's shard holds half of every address's ports: the whole range once both
    // queues have published.
    let body =
        scrape_until(&metrics, "sixgate_nat64_pool4_ports_free{address=\"198.51.100.1\",protocol=\"udp\"} 1024\n");
    for want in [
        "# TYPE sixgate_nat64_sessions gauge\n",
        "sixgate_nat64_sessions{protocol=\"tcp\",state=\"established\"} 0\n",
        "sixgate_nat64_sessions{protocol=\"udp\",state=\"open\"} 0\n",
        "sixgate_nat64_bib_entries{protocol=\"icmp\"} 0\n",
        "sixgate_nat64_pool4_ports_free{address=\"198.51.100.1\",protocol=\"udp\"} 1024\n",
        "sixgate_nat64_pool4_ports_used{address=\"198.51.100.0\",protocol=\"tcp\"} 0\n",
        "sixgate_nat64_held_syns 0\n",
        "sixgate_nat64_fragments_waiting 0\n",
        "sixgate_nat64_limit_hits_total{limit=\"max_sessions\"} 0\n",
        "sixgate_nat64_limit_hits_total{limit=\"pool4\"} 0\n",
    ] {
        assert!(body.contains(want), "no {want:?} in {body}");
    }
    promtool(&body);
    d.kill("-TERM");
    assert!(d.wait_exit().success());
}

/// `tunnel run` (root: TUN and raw sockets): path-MTU cache entries and Packet Too Big
/// messages sent; promtool passes.
#[test]
fn tunnel_metrics_show_the_path_mtu_cache_and_ptbs() {
    if !common::is_root() || !std::path::Path::new("/dev/net/tun").exists() {
        eprintln!("skipping: needs root and /dev/net/tun");
        return;
    }
    let tun = format!("sgmtu{}", std::process::id() % 10000);
    let mut d = Daemon::spawn(
        &[
            "tunnel",
            "run",
            "--tun",
            &tun,
            "--local",
            "192.0.2.1",
            "--remote",
            "198.51.100.1",
            "--address",
            "2001:db8:ffff::1/64",
            "--stats-interval",
            "0",
            "--metrics-listen",
            "127.0.0.1:0",
        ],
        &[],
    );
    let l = d.line("metrics on http://");
    let metrics = l.split("http://").nth(1).unwrap().trim_end_matches("/metrics").to_owned();
    let body = scrape_until(&metrics, "sixgate_tunnel_path_mtu_entries");
    for want in [
        "sixgate_tunnel_path_mtu_entries 0\n",
        "sixgate_tunnel_ptb_sent_total 0\n",
        "# TYPE sixgate_tunnel_path_mtu_entries gauge\n",
    ] {
        assert!(body.contains(want), "no {want:?} in {body}");
    }
    assert!(!body.contains("limit_hits"), "the tunnel has no such limits: {body}");
    promtool(&body);
    d.kill("-TERM");
    assert!(d.wait_exit().success());
}
