//! The world of the `sixgate proxy` tests, shared by `netns_proxy` and
//! `netns_proxy_failures`:
//!
//! ```text
//!  cl 198.51.100.2 ── 198.51.100.1 px 2001:db8:100::1 ── 2001:db8:100::2 be
//!  (IPv4 only: curl, python)   (sixgate proxy, unbound)   (IPv6 only: nginx)
//! ```
//!
//! nginx serves `a.example` and `b.example` over TLS (a self-signed certificate made by
//! openssl here) and HTTP, a PROXY-protocol listener logging `$proxy_protocol_addr`, and
//! logs `$remote_addr` for the NAT46 listener; unbound answers the DNS-mode names. The
//! backend namespace also holds 2001:db8:100::3 to ::6, on which nothing listens (every
//! connection to them is refused, unless a test drops it). Needs root, `ip`, `nginx`, `openssl`, `curl`, `unbound`
//! and `/usr/bin/python3`; otherwise each test prints why it skips and passes. Every wait
//! is bounded.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use super::{sh, Netns};

/// The backend's address, where nginx listens.
pub const BE: &str = "2001:db8:100::2";
/// The proxy's IPv4 address.
pub const PX4: &str = "198.51.100.1";
/// The client's IPv4 address.
pub const CL4: &str = "198.51.100.2";
/// The NAT46 prefix, local in the proxy namespace and routed back to it from the backend.
pub const NAT46: &str = "2001:db8:46::/96";

/// Why the proxy tests cannot run here, if they cannot.
pub fn skip_reason() -> Option<String> {
    if !super::is_root() {
        return Some("not root: network namespaces need CAP_NET_ADMIN".into());
    }
    if let Some(why) = super::tools_skip_reason(&["ip", "nginx", "openssl", "curl", "unbound"]) {
        return Some(format!("{why} (apt-get install nginx-light openssl curl unbound)"));
    }
    if !Path::new(super::PY).exists() {
        return Some(format!("{} missing", super::PY));
    }
    None
}

/// Returns from the test, printing why, when [`skip_reason`] says it cannot run.
#[macro_export]
macro_rules! skip_proxy {
    () => {
        if let Some(why) = $crate::common::proxy::skip_reason() {
            eprintln!("skipping: {why}");
            return;
        }
    };
}

/// The three namespaces, nginx and unbound running, certificates made.
pub fn world() -> Netns {
    let mut t = Netns::new("pxy", &["cl", "px", "be"]);
    t.link("cl", "c0", "px", "c1").link("px", "b0", "be", "b1");
    t.addr("cl", "c0", &format!("{CL4}/24")).addr("px", "c1", &format!("{PX4}/24"));
    t.addr("px", "b0", "2001:db8:100::1/64").addr("be", "b1", &format!("{BE}/64"));
    // Addresses of the backend on which nothing listens: connections to them are refused.
    for a in ["2001:db8:100::3/64", "2001:db8:100::4/64", "2001:db8:100::5/64", "2001:db8:100::6/64"] {
        t.addr("be", "b1", a);
    }
    // NAT46: the proxy takes the prefix as local; the backend routes it back to the proxy.
    let o = t.exec("px", &["ip", "-6", "route", "add", "local", NAT46, "dev", "lo"]);
    assert!(o.status.success(), "{}", super::text(&o));
    t.route("be", NAT46, "2001:db8:100::1");
    let d = t.dir.path().to_path_buf();
    let o = sh(&[
        "openssl",
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=a.example",
        "-addext",
        "subjectAltName=DNS:a.example,DNS:b.example,DNS:pp.example,DNS:dns-in.example,DNS:nat.example",
        "-keyout",
        &d.join("key.pem").display().to_string(),
        "-out",
        &d.join("cert.pem").display().to_string(),
    ]);
    assert!(o.status.success(), "openssl: {}", super::text(&o));
    let ssl = format!("ssl_certificate {0}/cert.pem; ssl_certificate_key {0}/key.pem;", d.display());
    let site = |port: &str, name: &str, body: &str, log: &str| {
        format!(
            "server {{ listen [{BE}]:{port}; server_name {name}; access_log {d}/{log} combined_host; \
             location / {{ return 200 \"{body}\\n\"; }} }}\n",
            d = d.display()
        )
    };
    let mut servers = String::new();
    servers += &site("443 ssl", "a.example", "site-a", "a.log");
    servers += &site("443 ssl", "b.example", "site-b", "b.log");
    servers += &site("80", "a.example", "http-a", "a.log");
    servers += &site("80", "b.example", "http-b", "b.log");
    let conf = format!(
        "user root; worker_processes 1; daemon off; pid {d}/nginx.pid; error_log {d}/nginx.err info;\n\
         worker_rlimit_nofile 16000;\n\
         events {{ worker_connections 12000; }}\n\
         http {{\n\
           {ssl}\n\
           keepalive_timeout 120s; keepalive_requests 10000;\n\
           client_body_temp_path {d}/tmp; proxy_temp_path {d}/tmp; fastcgi_temp_path {d}/tmp; \
           uwsgi_temp_path {d}/tmp; scgi_temp_path {d}/tmp;\n\
           log_format combined_host '$remote_addr $host';\n\
           log_format pp 'pp=$proxy_protocol_addr:$proxy_protocol_port remote=$remote_addr sni=$ssl_server_name';\n\
           {servers}\n\
           server {{ listen [{BE}]:8443 ssl proxy_protocol; server_name pp.example; access_log {d}/pp.log pp; \
             location / {{ return 200 \"pp-site\\n\"; }} }}\n\
         }}\n",
        d = d.display()
    );
    std::fs::create_dir_all(d.join("tmp")).unwrap();
    std::fs::write(d.join("nginx.conf"), conf).unwrap();
    let conf_path = d.join("nginx.conf").display().to_string();
    let o = t.exec("be", &["nginx", "-t", "-c", &conf_path]);
    assert!(o.status.success(), "nginx -t: {}", super::text(&o));
    t.spawn("be", &["nginx", "-c", &conf_path], "nginx.log");
    let unbound = format!(
        "server:\n    interface: 127.0.0.1\n    port: 5353\n    do-ip6: no\n    do-daemonize: no\n    use-syslog: no\n    \
         logfile: \"\"\n    chroot: \"\"\n    username: \"\"\n    directory: \"{d}\"\n    pidfile: \"{d}/unbound.pid\"\n    \
         access-control: 127.0.0.0/8 allow\n    num-threads: 1\n    rrset-roundrobin: no\n    local-zone: \"example.\" static\n    \
         local-data: \"dns-in.example. 60 IN AAAA {BE}\"\n    \
         local-data: \"dns-out.example. 60 IN AAAA 2001:db8:200::5\"\n    \
         local-data: \"multi.example. 60 IN AAAA 2001:db8:100::3\"\n    \
         local-data: \"multi.example. 60 IN AAAA {BE}\"\n    \
         local-data: \"four.example. 60 IN AAAA 2001:db8:100::3\"\n    \
         local-data: \"four.example. 60 IN AAAA 2001:db8:100::4\"\n    \
         local-data: \"four.example. 60 IN AAAA 2001:db8:100::5\"\n    \
         local-data: \"four.example. 60 IN AAAA {BE}\"\n    \
         local-data: \"slow.example. 60 IN AAAA 2001:db8:100::6\"\n    \
         local-data: \"slow.example. 60 IN AAAA {BE}\"\nremote-control:\n    control-enable: no\n",
        d = d.display()
    );
    std::fs::write(d.join("unbound.conf"), unbound).unwrap();
    let ub = d.join("unbound.conf").display().to_string();
    t.spawn("px", &["unbound", "-d", "-c", &ub], "unbound.log");
    wait_for(&t, "be", &["curl", "-s", "-o", "/dev/null", &format!("http://[{BE}]/")], "nginx");
    t
}

/// Runs `args` in `ns` until it succeeds, at most 10 s.
pub fn wait_for(t: &Netns, ns: &str, args: &[&str], what: &str) {
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(10) {
        if t.exec(ns, args).status.success() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{what} did not come up: {}", t.log(&format!("{what}.log")));
}

/// Starts the proxy in `px` from `toml`; its pid.
pub fn proxy(t: &mut Netns, toml: &str) -> u32 {
    proxy_with(t, toml, &[])
}

/// Starts the proxy in `px` from `toml` and the flags `extra`; its pid.
pub fn proxy_with(t: &mut Netns, toml: &str, extra: &[&str]) -> u32 {
    let cfg = t.dir.path().join("proxy.toml");
    std::fs::write(&cfg, toml).unwrap();
    let cfg = cfg.display().to_string();
    let bin = env!("CARGO_BIN_EXE_sixgate");
    let mut args = vec![bin, "proxy", "--config", &cfg];
    args.extend_from_slice(extra);
    let mut check = args.clone();
    check.push("--check");
    let o = t.exec("px", &check);
    assert!(o.status.success(), "--check: {}", super::text(&o));
    let pid = t.spawn("px", &args, "proxy.log");
    let t0 = Instant::now();
    while !t.log("proxy.log").contains("listening on") {
        assert!(t0.elapsed() < Duration::from_secs(10), "proxy did not start: {}", t.log("proxy.log"));
        std::thread::sleep(Duration::from_millis(50));
    }
    pid
}

/// The text of the log at `path` once it contains `needle` (nginx writes its access log
/// just after the response; at most 10 s).
pub fn log_with(path: &Path, needle: &str) -> String {
    let t0 = Instant::now();
    loop {
        let s = std::fs::read_to_string(path).unwrap_or_default();
        if s.contains(needle) || t0.elapsed() > Duration::from_secs(10) {
            return s;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `curl` in the client namespace; (exit code, stdout, stderr).
pub fn curl(t: &Netns, url_host: &str, port: u16, scheme: &str) -> (i32, String, String) {
    let resolve = format!("{url_host}:{port}:{PX4}");
    let url = format!("{scheme}://{url_host}:{port}/");
    let o = t.exec("cl", &["curl", "-sSk", "--max-time", "10", "--resolve", &resolve, &url]);
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// Stops the proxy with SIGTERM and returns its log once it has exited.
pub fn stop_proxy(t: &mut Netns, pid: u32) -> String {
    let _ = sh(&["kill", "-TERM", &pid.to_string()]);
    let t0 = Instant::now();
    while !t.log("proxy.log").contains("final counters") {
        assert!(t0.elapsed() < Duration::from_secs(10), "no final counters: {}", t.log("proxy.log"));
        std::thread::sleep(Duration::from_millis(50));
    }
    t.log("proxy.log")
}

/// The counter `name` of the proxy's final counters line in `log`.
pub fn counter(log: &str, name: &str) -> u64 {
    let line = log.lines().rev().find(|l| l.contains("final counters")).unwrap_or("");
    line.split(&format!("{name}="))
        .nth(1)
        .and_then(|s| s.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in {line:?}"))
}

/// A Python client in the client namespace: prints what it finds.
pub fn py(t: &Netns, script: &str) -> String {
    let c = t.python("cl", script);
    let o = super::wait_output(c, Duration::from_secs(60));
    assert!(o.status.success(), "python: {}", super::text(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The number of open descriptors of `pid`.
pub fn fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map(|d| d.count()).unwrap_or(0)
}

/// The descriptors of `pid` that are sockets, and those that are pipes.
pub fn sockets_and_pipes(pid: u32) -> (usize, usize) {
    let (mut sockets, mut pipes) = (0, 0);
    for e in std::fs::read_dir(format!("/proc/{pid}/fd")).into_iter().flatten().flatten() {
        let to = std::fs::read_link(e.path()).map(|p| p.display().to_string()).unwrap_or_default();
        sockets += usize::from(to.starts_with("socket:"));
        pipes += usize::from(to.starts_with("pipe:"));
    }
    (sockets, pipes)
}

/// The proxy's connections by outcome, scraped from its metrics endpoint `at` (in the
/// proxy namespace): `sixgate_proxy_connections_total{outcome="..."}`.
pub fn outcomes(t: &Netns, at: &str) -> BTreeMap<String, u64> {
    let url = format!("http://{at}/metrics");
    let t0 = Instant::now();
    let o = loop {
        // The endpoint starts just after the listeners.
        let o = t.exec("px", &["curl", "-sS", "--max-time", "10", &url]);
        if o.status.success() || t0.elapsed() > Duration::from_secs(10) {
            break o;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(o.status.success(), "metrics: {}", super::text(&o));
    let body = String::from_utf8_lossy(&o.stdout).into_owned();
    let m: BTreeMap<String, u64> = body
        .lines()
        .filter(|l| l.starts_with("sixgate_proxy_connections"))
        .filter_map(|l| {
            let outcome = l.split("outcome=\"").nth(1)?.split('"').next()?;
            let n = l.rsplit(' ').next()?.parse().ok()?;
            Some((outcome.to_owned(), n))
        })
        .collect();
    assert!(m.contains_key("routed") && m.contains_key("idle_closed"), "no outcomes in {body}");
    m
}

/// Asserts that from `before` to `after` each outcome grew by exactly its number in
/// `expect`, and every other one not at all.
pub fn assert_deltas(before: &BTreeMap<String, u64>, after: &BTreeMap<String, u64>, expect: &[(&str, u64)]) {
    let got: BTreeMap<&str, i128> = after
        .iter()
        .map(|(k, &v)| (k.as_str(), i128::from(v) - i128::from(before.get(k).copied().unwrap_or(0))))
        .filter(|&(_, d)| d != 0)
        .collect();
    let want: BTreeMap<&str, i128> = expect.iter().map(|&(k, d)| (k, i128::from(d))).filter(|&(_, d)| d != 0).collect();
    assert_eq!(got, want, "outcome deltas; before {before:?}, after {after:?}");
}
