//! `sixgate proxy` between real clients and servers, in network namespaces (the world of
//! `common::proxy`): routing by SNI and Host, the client's address at the backend, the
//! refusals, slow and garbage clients, many idle connections, the per-source limit. Every
//! wait is bounded; nothing asserts a duration.

mod common;

use std::time::{Duration, Instant};

use common::proxy::{counter, curl, fds, log_with, proxy, py, sockets_and_pipes, stop_proxy, world, CL4, NAT46};
use common::sh;

const PROXY_TOML: &str = r#"
hello_timeout_ms = 1500
idle_timeout_ms = 60000
resolver = "127.0.0.1:5353"
max_per_source = 6000

[[listener]]
listen = ["198.51.100.1:443", "[2001:db8:100::1]:443"]
protocol = "tls"
backend_prefixes = ["2001:db8:100::/64"]
[listener.routes]
"a.example" = "[2001:db8:100::2]:443"
"*.b.example" = "[2001:db8:100::2]:443"
"b.example" = "[2001:db8:100::2]:443"
"pp.example" = { backend = "[2001:db8:100::2]:8443", send_proxy = "v2" }

[[listener]]
listen = "198.51.100.1:80"
protocol = "http"
[listener.routes]
"a.example" = "[2001:db8:100::2]:80"
"b.example" = "[2001:db8:100::2]:80"

[[listener]]
listen = "198.51.100.1:8444"
protocol = "tls"
nat46_prefix = "2001:db8:46::/96"
default_backend = "[2001:db8:100::2]:443"
"#;

#[test]
fn routes_by_sni_and_host_with_the_clients_address_and_refusals() {
    skip_proxy!();
    routes_and_refusals(PROXY_TOML);
}

/// The same with the buffered copy instead of splice(2).
#[test]
fn routes_by_sni_and_host_without_splice() {
    skip_proxy!();
    routes_and_refusals(&format!("splice = false\n{PROXY_TOML}"));
}

fn routes_and_refusals(toml: &str) {
    let mut t = world();
    let pid = proxy(&mut t, toml);
    // SNI routing over IPv4 to the IPv6-only servers.
    assert_eq!(curl(&t, "a.example", 443, "https").1, "site-a\n");
    assert_eq!(curl(&t, "b.example", 443, "https").1, "site-b\n");
    // Host routing.
    assert_eq!(curl(&t, "a.example", 80, "http").1, "http-a\n");
    assert_eq!(curl(&t, "b.example", 80, "http").1, "http-b\n");
    // The IPv6 listener.
    let o = t.exec(
        "px",
        &["curl", "-sk", "--max-time", "10", "--resolve", "a.example:443:[2001:db8:100::1]", "https://a.example/"],
    );
    assert_eq!(String::from_utf8_lossy(&o.stdout), "site-a\n", "{}", common::text(&o));
    // PROXY v2: nginx sees the client's IPv4 address as $proxy_protocol_addr.
    assert_eq!(curl(&t, "pp.example", 443, "https").1, "pp-site\n");
    let pp = log_with(&t.dir.path().join("pp.log"), "pp=");
    assert!(pp.contains(&format!("pp={CL4}:")), "{pp}");
    assert!(pp.contains("remote=2001:db8:100::1"), "{pp}");
    assert!(pp.contains("sni=pp.example"), "{pp}");
    // NAT46: nginx's own $remote_addr is the prefix + the client's IPv4.
    assert_eq!(curl(&t, "a.example", 8444, "https").1, "site-a\n");
    let a = log_with(&t.dir.path().join("a.log"), "2001:db8:46::");
    let src = a
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .find(|s| s.starts_with("2001:db8:46::"))
        .unwrap_or_else(|| panic!("no NAT46 source in {a}"));
    let pool: sixgate_core::rfc6052::Pool6 = NAT46.parse().unwrap();
    let decoded = sixgate_core::rfc6052::extract(&pool, src.parse().unwrap()).unwrap();
    assert_eq!(decoded.to_string(), CL4, "{src}");
    // DNS mode: a name inside backend_prefixes is reached, one outside is refused.
    assert_eq!(curl(&t, "dns-in.example", 443, "https").1, "site-a\n");
    let (code, _, err) = curl(&t, "dns-out.example", 443, "https");
    assert_ne!(code, 0);
    assert!(err.to_lowercase().contains("unrecognized name"), "{err}");
    // Unknown SNI: the alert; unknown Host: 421.
    let (code, _, err) = curl(&t, "nowhere.example", 443, "https");
    assert_ne!(code, 0);
    assert!(err.to_lowercase().contains("unrecognized name"), "{err}");
    let o = t.exec(
        "cl",
        &[
            "curl",
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--resolve",
            "c.example:80:198.51.100.1",
            "http://c.example/",
        ],
    );
    assert_eq!(String::from_utf8_lossy(&o.stdout), "421");
    // SIGHUP: a new route takes effect without a restart.
    let new = toml.replace(
        "\"b.example\" = \"[2001:db8:100::2]:80\"",
        "\"b.example\" = \"[2001:db8:100::2]:80\"\n\"c.example\" = \"[2001:db8:100::2]:80\"",
    );
    std::fs::write(t.dir.path().join("proxy.toml"), new).unwrap();
    let _ = sh(&["kill", "-HUP", &pid.to_string()]);
    let t0 = Instant::now();
    while !t.log("proxy.log").contains("SIGHUP") {
        assert!(t0.elapsed() < Duration::from_secs(10), "no reload: {}", t.log("proxy.log"));
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(t.log("proxy.log").contains("applied"), "{}", t.log("proxy.log"));
    let o = t.exec(
        "cl",
        &["curl", "-s", "-w", " %{http_code}", "--resolve", "c.example:80:198.51.100.1", "http://c.example/"],
    );
    // nginx has no c.example server: its default server for port 80 (a.example) answers.
    assert_eq!(String::from_utf8_lossy(&o.stdout), "http-a\n 200");
    let log = stop_proxy(&mut t, pid);
    assert!(counter(&log, "routed") >= 8, "{log}");
    assert!(counter(&log, "unknown_name") >= 2, "{log}");
    assert_eq!(counter(&log, "refused_prefix"), 1, "{log}");
}

#[test]
fn slow_and_garbage_clients_are_closed_and_5000_idle_connections_do_not_leak() {
    skip_proxy!();
    let mut t = world();
    let pid = proxy(&mut t, PROXY_TOML);
    // A client that starts a ClientHello and never finishes it is closed at the timeout
    // (1.5 s here): the read sees the end of the stream, long before its own 30 s limit.
    let slow = py(
        &t,
        "import socket\ns = socket.create_connection(('198.51.100.1', 443))\ns.settimeout(30)\n\
         s.sendall(bytes([22, 3, 1, 0, 200, 1, 0, 0, 196]))\nprint('eof' if s.recv(100) == b'' else 'data')\n",
    );
    assert_eq!(slow.trim(), "eof");
    // Garbage: closed cleanly on TLS, answered 400 on HTTP.
    let garbage = py(
        &t,
        "import socket\nfor port in (443, 80):\n    s = socket.create_connection(('198.51.100.1', port))\n    \
         s.settimeout(30)\n    s.sendall(b'\\x00\\xffgarbage\\r\\n\\r\\n' * 4)\n    d = b''\n    while True:\n        \
         c = s.recv(4096)\n        if not c: break\n        d += c\n    print(port, d[:12])\n",
    );
    assert!(garbage.contains("443 b''"), "{garbage}");
    assert!(garbage.contains("80 b'HTTP/1.1 400"), "{garbage}");
    assert!(t.log("proxy.log").contains("listening"), "the proxy still runs");
    // 5,000 concurrent routed connections, idle after one request each, then released.
    let before = fds(pid);
    let (sockets_before, pipes_before) = sockets_and_pipes(pid);
    let marker = t.dir.path().join("release");
    let script = format!(
        "import socket, resource, os, time\nresource.setrlimit(resource.RLIMIT_NOFILE, (12000, 12000))\n\
         socks = []\nfor i in range(5000):\n    s = socket.create_connection(('198.51.100.1', 80))\n    \
         s.sendall(b'GET / HTTP/1.1\\r\\nHost: a.example\\r\\n\\r\\n')\n    socks.append(s)\n\
         ok = 0\nfor s in socks:\n    s.settimeout(30)\n    if s.recv(4096).startswith(b'HTTP/1.1 200'): ok += 1\n\
         print('held', ok, flush=True)\nwhile not os.path.exists('{m}'): time.sleep(0.05)\n\
         for s in socks: s.close()\nprint('closed', flush=True)\n",
        m = marker.display()
    );
    let mut c = t.python("cl", &script);
    let mut out = std::io::BufReader::new(c.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut out, &mut line).unwrap();
    assert_eq!(line.trim(), "held 5000");
    let held = fds(pid);
    assert!(held >= before + 10_000, "{before} descriptors before, {held} with 5000 connections");
    std::fs::write(&marker, "").unwrap();
    let o = common::wait_output(c, Duration::from_secs(60));
    assert!(o.status.success(), "{}", common::text(&o));
    // Every socket closed; the only other descriptors left are the splice copy's pool of
    // empty pipes (at most 256 pipes, two descriptors each).
    let t0 = Instant::now();
    while sockets_and_pipes(pid).0 > sockets_before {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "{:?} sockets, pipes left, {sockets_before} sockets before",
            sockets_and_pipes(pid)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let pooled = sockets_and_pipes(pid).1 - pipes_before;
    assert!(pooled <= 512, "{pooled} pipe descriptors");
    assert_eq!(fds(pid), before + pooled, "nothing but pooled pipes left");
    let log = stop_proxy(&mut t, pid);
    assert!(counter(&log, "timeout") >= 1, "{log}");
    assert!(counter(&log, "bad_input") >= 2, "{log}");
    assert!(counter(&log, "routed") >= 5000, "{log}");
}

#[test]
fn the_per_source_limit_answers_503_over_it() {
    skip_proxy!();
    let mut t = world();
    let pid = proxy(&mut t, &PROXY_TOML.replace("max_per_source = 6000", "max_per_source = 2"));
    // Two connections held open (their requests answered), a third refused at once.
    let out = py(
        &t,
        "import socket\nsocks = []\nfor i in range(2):\n    s = socket.create_connection(('198.51.100.1', 80))\n    \
         s.settimeout(30)\n    s.sendall(b'GET / HTTP/1.1\\r\\nHost: a.example\\r\\n\\r\\n')\n    \
         print('held', s.recv(4096)[:15])\n    socks.append(s)\n\
         s = socket.create_connection(('198.51.100.1', 80))\ns.settimeout(30)\nprint('third', s.recv(4096)[:12])\n",
    );
    assert_eq!(out.matches("held b'HTTP/1.1 200").count(), 2, "{out}");
    assert!(out.contains("third b'HTTP/1.1 503"), "{out}");
    let log = stop_proxy(&mut t, pid);
    assert_eq!(counter(&log, "limit"), 1, "{log}");
}
