//! `sixgate proxy` when the backend fails, in network namespaces (the world of
//! `common::proxy`): a backend that refuses (RST), one that cannot be reached (no route,
//! an `unreachable` route) or whose packets are silently dropped (nftables), a connection
//! left idle, and DNS mode's names with several AAAA records (one refusing, one dropping
//! packets, more than three). Each test reads the
//! outcome counters from the metrics endpoint before and after and asserts their exact
//! deltas (and that the final counters line agrees), with the splice(2) copy and with
//! `--no-splice`. Durations are asserted only against the configured timeouts, with a
//! wide margin above them.

mod common;

use std::time::{Duration, Instant};

use common::proxy::{
    assert_deltas, counter, curl, fds, outcomes, proxy_with, sockets_and_pipes, stop_proxy, world, BE,
};
use common::Netns;

/// The metrics endpoint, in the proxy namespace.
const METRICS: &str = "127.0.0.1:9166";

/// The hello, idle and connect timeouts of [`FAIL_TOML`], in milliseconds.
const TIMEOUT_MS: u64 = 1500;

const FAIL_TOML: &str = r#"
hello_timeout_ms = 1500
idle_timeout_ms = 1500
connect_timeout_ms = 1500
resolver = "127.0.0.1:5353"
metrics_listen = "127.0.0.1:9166"

[[listener]]
listen = "198.51.100.1:443"
protocol = "tls"
backend_prefixes = ["2001:db8:100::/64"]
[listener.routes]
"a.example" = "[2001:db8:100::2]:443"
"refused.example" = "[2001:db8:100::2]:9"
"noroute.example" = "[2001:db8:300::1]:443"
"unreach.example" = "[2001:db8:301::1]:443"
"dropped.example" = "[2001:db8:100::2]:9443"

[[listener]]
listen = "198.51.100.1:80"
protocol = "http"
[listener.routes]
"a.example" = "[2001:db8:100::2]:80"
"refused.example" = "[2001:db8:100::2]:9"
"noroute.example" = "[2001:db8:300::1]:80"
"unreach.example" = "[2001:db8:301::1]:80"
"dropped.example" = "[2001:db8:100::2]:9443"
"#;

/// Python: `tls(name)` prints `NAME RESULT SECONDS`, RESULT `eof` when the proxy closed (FIN)
/// the connection cleanly during the handshake, `reset` on a RST, `handshake` when a
/// server answered; `http(name)` prints `NAME RESULT STATUS SECONDS`, having read to the
/// end of the stream.
const CLIENTS: &str = r#"
import socket, ssl, time
def tls(name):
    c = ssl.create_default_context()
    c.check_hostname = False
    c.verify_mode = ssl.CERT_NONE
    s = socket.create_connection(('198.51.100.1', 443))
    s.settimeout(30)
    t0 = time.monotonic()
    try:
        c.wrap_socket(s, server_hostname=name)
        r = 'handshake'
    except (ssl.SSLEOFError, ssl.SSLZeroReturnError):
        r = 'eof'
    except ConnectionResetError:
        r = 'reset'
    except Exception as e:
        r = type(e).__name__
    print(name, r, round(time.monotonic() - t0, 3), flush=True)
def http(name):
    s = socket.create_connection(('198.51.100.1', 80))
    s.settimeout(30)
    t0 = time.monotonic()
    s.sendall(b'GET / HTTP/1.1\r\nHost: ' + name.encode() + b'\r\n\r\n')
    d = b''
    try:
        while True:
            c = s.recv(4096)
            if not c:
                break
            d += c
        r = 'eof'
    except ConnectionResetError:
        r = 'reset'
    status = d.split(b' ')[1].decode() if d.startswith(b'HTTP/1.1 ') else '-'
    print(name, r, status, round(time.monotonic() - t0, 3), flush=True)
"#;

/// The proxy of [`FAIL_TOML`] in the shared world, with splice(2) or `--no-splice`.
fn start(splice: bool) -> (Netns, u32) {
    let mut t = world();
    let extra: &[&str] = if splice { &[] } else { &["--no-splice"] };
    let pid = proxy_with(&mut t, FAIL_TOML, extra);
    (t, pid)
}

/// Runs [`CLIENTS`] then `calls` in the client namespace; its output lines, split.
fn clients(t: &Netns, calls: &str) -> Vec<Vec<String>> {
    let c = t.python("cl", &format!("{CLIENTS}\n{calls}\n"));
    let o = common::wait_output(c, Duration::from_secs(60));
    assert!(o.status.success(), "python: {}", common::text(&o));
    String::from_utf8_lossy(&o.stdout).lines().map(|l| l.split_whitespace().map(str::to_owned).collect()).collect()
}

/// The seconds a client line ends with.
fn secs(line: &[String]) -> f64 {
    line.last().and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("no duration in {line:?}"))
}

/// Stops the proxy and checks that its final counters line agrees with the last scrape.
fn stop_and_agree(t: &mut Netns, pid: u32, last: &std::collections::BTreeMap<String, u64>) {
    let log = stop_proxy(t, pid);
    for (k, v) in last {
        assert_eq!(counter(&log, k), *v, "{k}: final counters against the last scrape\n{log}");
    }
}

fn backend_refused(splice: bool) {
    let (mut t, pid) = start(splice);
    let before = outcomes(&t, METRICS);
    // Port 9 of the backend's own address: nothing listens, its kernel answers RST.
    let out = clients(&t, "tls('refused.example')\nhttp('refused.example')");
    assert_eq!(out.len(), 2, "{out:?}");
    assert_eq!(out[0][..2], ["refused.example", "eof"], "TLS closed cleanly: {out:?}");
    assert_eq!(out[1][..3], ["refused.example", "eof", "502"], "HTTP: 502, then closed: {out:?}");
    let after = outcomes(&t, METRICS);
    assert_deltas(&before, &after, &[("backend_refused", 2)]);
    // A working name afterwards: the proxy is unharmed, and the counters move only there.
    assert_eq!(curl(&t, "a.example", 443, "https").1, "site-a\n");
    let last = outcomes(&t, METRICS);
    assert_deltas(&after, &last, &[("routed", 1)]);
    stop_and_agree(&mut t, pid, &last);
}

#[test]
fn a_refusing_backend_closes_the_client_and_counts_backend_refused() {
    skip_proxy!();
    backend_refused(true);
}

#[test]
fn a_refusing_backend_closes_the_client_and_counts_backend_refused_without_splice() {
    skip_proxy!();
    backend_refused(false);
}

fn no_route(splice: bool) {
    let (mut t, pid) = start(splice);
    // 2001:db8:300::/64 has no route at all; 2001:db8:301::/64 an `unreachable` one.
    let o = t.exec("px", &["ip", "-6", "route", "add", "unreachable", "2001:db8:301::/64"]);
    assert!(o.status.success(), "{}", common::text(&o));
    let before = outcomes(&t, METRICS);
    let out =
        clients(&t, "tls('noroute.example')\nhttp('noroute.example')\ntls('unreach.example')\nhttp('unreach.example')");
    assert_eq!(out.len(), 4, "{out:?}");
    for (i, l) in out.iter().enumerate() {
        assert_eq!(l[1], "eof", "closed cleanly: {out:?}");
        if i % 2 == 1 {
            assert_eq!(l[2], "502", "HTTP without a route: 502: {out:?}");
        }
        // Refused by the proxy's own host at once: well within the connect timeout.
        assert!(secs(l) < TIMEOUT_MS as f64 / 1000.0, "{out:?}");
    }
    let after = outcomes(&t, METRICS);
    assert_deltas(&before, &after, &[("backend_unreachable", 4)]);
    stop_and_agree(&mut t, pid, &after);
}

#[test]
fn a_backend_without_a_route_is_unreachable_at_once() {
    skip_proxy!();
    no_route(true);
}

#[test]
fn a_backend_without_a_route_is_unreachable_at_once_without_splice() {
    skip_proxy!();
    no_route(false);
}

/// The backend silently drops every packet matching `what` (nftables words): no RST, no ICMP.
fn drop_at_backend(t: &Netns, what: &[&str]) {
    for rule in [
        &["add", "table", "inet", "sixgate_test"][..],
        &["add", "chain", "inet", "sixgate_test", "input", "{ type filter hook input priority 0; }"],
        &[&["add", "rule", "inet", "sixgate_test", "input"][..], what, &["drop"]].concat(),
    ] {
        let o = t.exec("be", &[&["nft"][..], rule].concat());
        assert!(o.status.success(), "nft {rule:?}: {}", common::text(&o));
    }
}

fn dropped(splice: bool) {
    let (mut t, pid) = start(splice);
    drop_at_backend(&t, &["tcp", "dport", "9443"]);
    let before = outcomes(&t, METRICS);
    let out = clients(&t, "tls('dropped.example')\nhttp('dropped.example')");
    assert_eq!(out.len(), 2, "{out:?}");
    assert_eq!(out[0][1], "eof", "TLS closed cleanly: {out:?}");
    assert_eq!(out[1][1..3], ["eof", "504"], "HTTP: 504 at the connect timeout: {out:?}");
    let timeout = TIMEOUT_MS as f64 / 1000.0;
    for l in &out {
        // Closed by the connect timeout: not before it, and not long after it.
        assert!(secs(l) >= timeout * 0.95 && secs(l) < timeout + 3.0, "connect timeout {timeout} s: {out:?}");
    }
    let after = outcomes(&t, METRICS);
    assert_deltas(&before, &after, &[("backend_unreachable", 2)]);
    stop_and_agree(&mut t, pid, &after);
}

#[test]
fn a_backend_dropping_packets_is_unreachable_at_the_connect_timeout() {
    skip_proxy!();
    skip_without!("nft");
    dropped(true);
}

#[test]
fn a_backend_dropping_packets_is_unreachable_at_the_connect_timeout_without_splice() {
    skip_proxy!();
    skip_without!("nft");
    dropped(false);
}

/// The descriptors of `pid` once they stop changing (two equal counts 200 ms apart; at
/// most 10 s).
fn settled_fds(pid: u32) -> usize {
    let t0 = Instant::now();
    let mut last = fds(pid);
    loop {
        std::thread::sleep(Duration::from_millis(200));
        let now = fds(pid);
        if now == last || t0.elapsed() > Duration::from_secs(10) {
            return now;
        }
        last = now;
    }
}

fn idle(splice: bool) {
    let (mut t, pid) = start(splice);
    // One request through the proxy first, so that the splice copy's pool holds its pipe
    // before the count is taken.
    assert_eq!(curl(&t, "a.example", 80, "http").1, "http-a\n");
    let before = outcomes(&t, METRICS);
    let base = settled_fds(pid);
    let (base_sockets, _) = sockets_and_pipes(pid);
    // A routed connection, answered, then silent: nginx keeps it for 120 s, the proxy
    // closes it at its idle timeout.
    let script = "import socket, sys, time\n\
         s = socket.create_connection(('198.51.100.1', 80))\ns.settimeout(30)\n\
         s.sendall(b'GET / HTTP/1.1\\r\\nHost: a.example\\r\\n\\r\\n')\nd = b''\n\
         while b'http-a' not in d:\n    c = s.recv(4096)\n    if not c: break\n    d += c\n\
         print('answered', d[:15], flush=True)\nt0 = time.monotonic()\n\
         try:\n    r = 'eof' if s.recv(4096) == b'' else 'data'\nexcept ConnectionResetError:\n    r = 'reset'\n\
         print(r, round(time.monotonic() - t0, 3), flush=True)\n";
    let mut c = t.python("cl", script);
    let mut out = std::io::BufReader::new(c.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut out, &mut line).unwrap();
    assert_eq!(line.trim(), "answered b'HTTP/1.1 200 OK'", "{line}");
    // The connection holds two sockets in the proxy while open.
    let (open_sockets, _) = sockets_and_pipes(pid);
    assert_eq!(open_sockets, base_sockets + 2, "sockets while the connection is open");
    line.clear();
    std::io::BufRead::read_line(&mut out, &mut line).unwrap();
    let o = common::wait_output(c, Duration::from_secs(60));
    assert!(o.status.success(), "{}", common::text(&o));
    let words: Vec<String> = line.split_whitespace().map(str::to_owned).collect();
    assert_eq!(words.first().map(String::as_str), Some("eof"), "closed cleanly by the proxy: {line}");
    let timeout = TIMEOUT_MS as f64 / 1000.0;
    assert!(secs(&words) >= timeout * 0.95 && secs(&words) < timeout + 3.0, "idle timeout {timeout} s: {line}");
    // Every descriptor of the connection released.
    let t0 = Instant::now();
    while fds(pid) != base && t0.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(fds(pid), base, "descriptors after the idle close; sockets, pipes: {:?}", sockets_and_pipes(pid));
    let after = outcomes(&t, METRICS);
    assert_deltas(&before, &after, &[("routed", 1), ("idle_closed", 1)]);
    stop_and_agree(&mut t, pid, &after);
}

#[test]
fn an_idle_connection_is_closed_at_the_idle_timeout_without_a_leak() {
    skip_proxy!();
    idle(true);
}

#[test]
fn an_idle_connection_is_closed_at_the_idle_timeout_without_a_leak_without_splice() {
    skip_proxy!();
    idle(false);
}

fn several_aaaa(splice: bool) {
    let (mut t, pid) = start(splice);
    let before = outcomes(&t, METRICS);
    // multi.example: 2001:db8:100::3 (refuses) then the backend: the second one serves.
    assert_eq!(curl(&t, "multi.example", 443, "https").1, "site-a\n");
    let after = outcomes(&t, METRICS);
    assert_deltas(&before, &after, &[("routed", 1)]);
    // four.example: three refusing addresses before the backend: the fourth is never
    // tried, the connection counted once, as the last failure.
    let (code, body, _) = curl(&t, "four.example", 443, "https");
    assert_ne!(code, 0, "{body}");
    let last = outcomes(&t, METRICS);
    assert_deltas(&after, &last, &[("backend_refused", 1)]);
    stop_and_agree(&mut t, pid, &last);
    // The order was the resolver's: check that unbound gave them so.
    let o = t.exec("px", &["dig", "+short", "-p", "5353", "@127.0.0.1", "four.example", "AAAA"]);
    if o.status.success() {
        let order: Vec<String> = String::from_utf8_lossy(&o.stdout).lines().map(str::to_owned).collect();
        assert_eq!(order, ["2001:db8:100::3", "2001:db8:100::4", "2001:db8:100::5", BE], "unbound's order");
    }
}

#[test]
fn dns_mode_tries_the_next_address_of_a_name_up_to_three() {
    skip_proxy!();
    several_aaaa(true);
}

#[test]
fn dns_mode_tries_the_next_address_of_a_name_up_to_three_without_splice() {
    skip_proxy!();
    several_aaaa(false);
}

fn dns_share(splice: bool) {
    let (mut t, pid) = start(splice);
    // slow.example: 2001:db8:100::6, whose packets the backend drops, then the backend.
    drop_at_backend(&t, &["ip6", "daddr", "2001:db8:100::6"]);
    let before = outcomes(&t, METRICS);
    let t0 = Instant::now();
    let (code, body, err) = curl(&t, "slow.example", 443, "https");
    let took = t0.elapsed();
    // The first attempt had half the connect timeout, so the second had time to succeed
    // (had the first taken all of it, the connection would have failed).
    assert_eq!((code, body.as_str()), (0, "site-a\n"), "{err}");
    let timeout = Duration::from_millis(TIMEOUT_MS);
    assert!(took >= timeout / 2 - Duration::from_millis(50), "the first address was tried: {took:?}");
    assert!(took < timeout + Duration::from_secs(3), "{took:?}");
    let after = outcomes(&t, METRICS);
    assert_deltas(&before, &after, &[("routed", 1)]);
    stop_and_agree(&mut t, pid, &after);
}

#[test]
fn dns_mode_gives_each_address_a_share_of_the_connect_timeout() {
    skip_proxy!();
    skip_without!("nft");
    dns_share(true);
}

#[test]
fn dns_mode_gives_each_address_a_share_of_the_connect_timeout_without_splice() {
    skip_proxy!();
    skip_without!("nft");
    dns_share(false);
}
