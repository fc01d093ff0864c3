//! CLI tests of `sixgate fmt` and of the literal forms `sixgate addr` accepts, run against the
//! built binary; the configuration forms are fed to the programs that read them (nginx -t,
//! haproxy -c, postfix check) where those are installed.

use std::path::Path;
use std::process::{Command, Output};

mod common;

fn sixgate(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sixgate")).args(args).output().expect("run sixgate")
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).expect("UTF-8 stdout")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The value of one form.
fn form(addr: &str, form: &str, extra: &[&str]) -> String {
    let mut args = vec!["fmt", addr, "--as", form];
    args.extend_from_slice(extra);
    let o = sixgate(&args);
    assert!(o.status.success(), "fmt {addr} --as {form}: {}", stderr(&o));
    stdout(&o).trim_end().to_owned()
}

/// `sixgate addr` takes the forms its help lists: `[v6]:port`, `v6%zone`, a prefix, a URL.
#[test]
fn addr_accepts_every_literal_form() {
    for (input, canonical, extra) in [
        ("[2001:db8::1]:443", "2001:db8::1", "port             443"),
        ("fe80::1%eth0", "fe80::1%eth0", "link-local"),
        ("2001:db8::/64", "2001:db8::", "prefix           2001:db8::/64"),
        ("http://[2001:db8::1]:8080/path", "2001:db8::1", "port             8080"),
        ("192.0.2.1:53", "192.0.2.1", "port             53"),
    ] {
        let o = sixgate(&["addr", input]);
        assert!(o.status.success(), "addr {input}: {}", stderr(&o));
        let out = stdout(&o);
        assert!(out.starts_with(&format!("address          {canonical}\n")), "addr {input}:\n{out}");
        assert!(out.contains(extra), "addr {input}: {extra:?} not in\n{out}");
    }
    let o = sixgate(&["addr", "--json", "[2001:db8::1]:443"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON");
    assert_eq!((v["canonical"].as_str(), v["port"].as_u64()), (Some("2001:db8::1"), Some(443)));
    // Still refused, with the reason: unbalanced brackets, a name.
    let o = sixgate(&["addr", "[2001:db8::1"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("unbalanced brackets"), "{}", stderr(&o));
}

#[test]
fn fmt_forms_of_an_ipv6_address() {
    let a = "2001:DB8:0:0::1";
    assert_eq!(form(a, "canonical", &[]), "2001:db8::1");
    assert_eq!(form(a, "expanded", &[]), "2001:0db8:0000:0000:0000:0000:0000:0001");
    assert_eq!(form(a, "bracketed", &[]), "[2001:db8::1]");
    assert_eq!(form(a, "host-port", &["--port", "443"]), "[2001:db8::1]:443");
    assert_eq!(form(a, "url", &["--port", "8080"]), "http://[2001:db8::1]:8080/");
    assert_eq!(form("https://[2001:db8::1]/x", "url", &[]), "https://[2001:db8::1]/");
    assert_eq!(form(a, "nginx", &["--port", "443"]), "listen [2001:db8::1]:443;");
    assert_eq!(form(a, "haproxy-bind", &["--port", "443"]), "bind [2001:db8::1]:443");
    assert_eq!(form(a, "haproxy-server", &["--port", "80"]), "server srv1 [2001:db8::1]:80");
    assert_eq!(form(a, "munin", &[]), "address 2001:db8::1");
    assert_eq!(form(a, "postfix-mynetworks", &[]), "mynetworks = [2001:db8::1]");
    assert_eq!(form(a, "postfix-inet-interfaces", &[]), "inet_interfaces = [2001:db8::1]");
    assert_eq!(form(a, "postfix-bind", &[]), "smtp_bind_address6 = 2001:db8::1");
    assert_eq!(form(a, "reverse", &[]), "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.");
    // Several forms at once, comma-separated: one per line, name first.
    let o = sixgate(&["fmt", a, "--as", "canonical,reverse"]);
    let out = stdout(&o);
    assert!(out.starts_with("canonical               2001:db8::1\nreverse                 1.0.0"), "{out}");
    // The port of the input is used; --port overrides it.
    assert_eq!(form("[2001:db8::1]:25", "host-port", &[]), "[2001:db8::1]:25");
    assert_eq!(form("[2001:db8::1]:25", "host-port", &["--port", "587"]), "[2001:db8::1]:587");
}

/// RFC 6874 §2: in a URL the zone follows `%25`; programs without zone syntax refuse it.
#[test]
fn fmt_zones() {
    assert_eq!(form("fe80::1%eth0", "url", &["--port", "80"]), "http://[fe80::1%25eth0]:80/");
    assert_eq!(form("fe80::1%eth0", "host-port", &["--port", "80"]), "[fe80::1%eth0]:80");
    let o = sixgate(&["fmt", "fe80::1%eth0", "--as", "nginx"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("nginx has no syntax for a zone"), "{}", stderr(&o));
    // Without --as the forms that do not apply are left out, and said so in JSON.
    let o = sixgate(&["fmt", "--json", "fe80::1%eth0"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON");
    assert_eq!(v["forms"]["url"], "http://[fe80::1%25eth0]/");
    assert_eq!((v["address"].as_str(), v["zone"].as_str()), (Some("fe80::1"), Some("eth0")));
    assert!(v["forms"].get("nginx").is_none());
    assert!(v["not_applicable"]["nginx"].as_str().unwrap_or("").contains("zone"), "{v}");
}

#[test]
fn fmt_prefixes_and_ipv4() {
    assert_eq!(form("2001:db8::/64", "postfix-mynetworks", &[]), "mynetworks = [2001:db8::]/64");
    assert_eq!(form("2001:db8::/64", "nginx", &[]), "allow 2001:db8::/64;");
    assert_eq!(form("2001:db8::/48", "reverse", &[]), "0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.");
    assert_eq!(form("192.0.2.0/24", "postfix-mynetworks", &[]), "mynetworks = 192.0.2.0/24");
    assert_eq!(form("192.0.2.1", "host-port", &["--port", "53"]), "192.0.2.1:53");
    assert_eq!(form("192.0.2.1", "postfix-bind", &[]), "smtp_bind_address = 192.0.2.1");
    assert_eq!(form("192.0.2.1", "url", &[]), "http://192.0.2.1/");
    // The subset for IPv4: no expanded or bracketed form.
    let o = sixgate(&["fmt", "192.0.2.1"]);
    let out = stdout(&o);
    assert!(!out.contains("expanded") && !out.contains("bracketed") && out.contains("reverse"), "{out}");
    let o = sixgate(&["fmt", "192.0.2.1", "--as", "bracketed"]);
    assert_eq!(o.status.code(), Some(2));
    let o = sixgate(&["fmt", "2001:db8::1", "--as", "host-port"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--port"), "{}", stderr(&o));
}

fn free_port_v6() -> Option<u16> {
    std::net::TcpListener::bind("[::1]:0").ok().and_then(|l| l.local_addr().ok()).map(|a| a.port())
}

/// nginx accepts the `listen` and `allow` lines (`nginx -t`, which also binds them).
#[test]
fn nginx_accepts_fmt_output() {
    skip_without!("nginx");
    let Some(port) = free_port_v6() else {
        eprintln!("skipping: no IPv6 loopback");
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path().display();
    let listen = form(&format!("[::1]:{port}"), "nginx", &[]);
    let allow = form("2001:db8::/64", "nginx", &[]);
    let conf = format!(
        "pid {d}/nginx.pid;\nerror_log {d}/error.log;\nevents {{}}\nhttp {{\n  access_log off;\n  \
         client_body_temp_path {d}/cb; proxy_temp_path {d}/p; fastcgi_temp_path {d}/f; \
         uwsgi_temp_path {d}/u; scgi_temp_path {d}/s;\n  server {{ {listen} {allow} deny all; }}\n}}\n"
    );
    std::fs::write(dir.path().join("nginx.conf"), conf).expect("write");
    let o = Command::new("nginx")
        .args(["-t", "-p", &d.to_string(), "-c", &format!("{d}/nginx.conf")])
        .output()
        .expect("nginx");
    assert!(o.status.success(), "nginx -t: {}", stderr(&o));
}

/// HAProxy accepts the `bind`, `server` and `acl` lines (`haproxy -c`).
#[test]
fn haproxy_accepts_fmt_output() {
    skip_without!("haproxy");
    let dir = tempfile::tempdir().expect("tempdir");
    let bind = form("[2001:db8::1]:443", "haproxy-bind", &[]);
    let bind4 = form("192.0.2.1:443", "haproxy-bind", &[]);
    let server = form("http://[2001:db8::2]:8080/", "haproxy-server", &[]);
    let acl = form("2001:db8::/64", "haproxy-bind", &[]);
    let conf = format!(
        "defaults\n  mode tcp\n  timeout connect 1s\n  timeout client 1s\n  timeout server 1s\n\
         frontend f\n  {bind}\n  {bind4}\n  {acl}\n  tcp-request connection reject unless allowed_net\n  \
         default_backend b\nbackend b\n  {server}\n"
    );
    let path = dir.path().join("haproxy.cfg");
    std::fs::write(&path, &conf).expect("write");
    let o = Command::new("haproxy").arg("-c").arg("-f").arg(&path).output().expect("haproxy");
    assert!(o.status.success(), "haproxy -c:\n{conf}\n{}{}", stdout(&o), stderr(&o));
}

/// Postfix reads the lines back (`postconf`), and `postfix check` accepts the
/// `inet_interfaces` form (it checks that the address is local, so the loopback is used).
/// `postfix check` does not parse `mynetworks`; postconf reading the value back is all the
/// check there is for it.
#[test]
fn postfix_accepts_fmt_output() {
    skip_without!("postconf", "postfix");
    if !Path::new("/etc/postfix/main.cf").exists() || !common::is_root() {
        eprintln!("skipping: postfix check needs root and /etc/postfix/main.cf");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let mut main = std::fs::read_to_string("/etc/postfix/main.cf").expect("main.cf");
    main.retain(|c| c != '\r');
    let main: String = main
        .lines()
        .filter(|l| !["mynetworks", "inet_interfaces", "smtp_bind_address"].iter().any(|k| l.starts_with(k)))
        .map(|l| format!("{l}\n"))
        .collect();
    let my = form("2001:db8::/64", "postfix-mynetworks", &[]);
    let ifs = form("::1", "postfix-inet-interfaces", &[]);
    let bind = form("2001:db8::25", "postfix-bind", &[]);
    std::fs::write(dir.path().join("main.cf"), format!("{main}{my}\n{ifs}\n{bind}\n")).expect("write");
    std::fs::copy("/etc/postfix/master.cf", dir.path().join("master.cf")).expect("master.cf");
    let d = dir.path().to_str().expect("path");
    let o =
        Command::new("postconf").args(["-c", d, "-h", "mynetworks", "inet_interfaces", "smtp_bind_address6"]).output();
    let o = o.expect("postconf");
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "[2001:db8::]/64\n[::1]\n2001:db8::25\n");
    let o = Command::new("postfix").args(["-c", d, "check"]).output().expect("postfix");
    assert!(o.status.success(), "postfix check: {}", stderr(&o));
    // The check is real: an address that is not local is refused.
    let bad = format!("{main}inet_interfaces = [2001:db8::zz]\n");
    std::fs::write(dir.path().join("main.cf"), bad).expect("write");
    let o = Command::new("postfix").args(["-c", d, "check"]).output().expect("postfix");
    assert!(!o.status.success(), "postfix check accepted a bad inet_interfaces");
}

/// munin's master connects with `IO::Socket::IP->new(PeerAddr => address, PeerPort => port)`
/// (munin 2.0.72's Munin::Master::Node): the `address` and `port` lines `fmt` prints connect
/// that way to a listener on the IPv6 loopback. (munin itself is not installed for this: it
/// has no configuration check to run.)
#[test]
fn munin_lines_connect_as_munin_does() {
    skip_without!("perl");
    let Ok(listener) = std::net::TcpListener::bind("[::1]:0") else {
        eprintln!("skipping: no IPv6 loopback");
        return;
    };
    let port = listener.local_addr().expect("addr").port().to_string();
    let lines = form(&format!("[::1]:{port}"), "munin", &[]);
    let mut it = lines.lines().map(str::trim);
    let address = it.next().and_then(|l| l.strip_prefix("address ")).expect("address line").to_owned();
    let port_line = it.next().and_then(|l| l.strip_prefix("port ")).expect("port line").to_owned();
    assert_eq!((address.as_str(), port_line.as_str()), ("::1", port.as_str()));
    let script = "use IO::Socket::IP; my $s = IO::Socket::IP->new(PeerAddr => $ARGV[0], PeerPort => $ARGV[1], \
                  Proto => 'tcp') or die \"connect: $@\\n\"; print \"connected\\n\";";
    let o = Command::new("perl").args(["-e", script, &address, &port_line]).output().expect("perl");
    assert!(o.status.success() && stdout(&o) == "connected\n", "{}", stderr(&o));
}
