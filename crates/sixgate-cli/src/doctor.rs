//! `sixgate doctor`: checks the host against a gateway (`nat64 run`) or tunnel (`tunnel
//! run`) configuration and prints one pass/fail/skip line per check, each failure with the
//! command that fixes it.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, RData, RecordType};
use serde::Serialize;
use sixgate_core::rfc6052::{extract, Pool6};
use sixgate_io::routes::{self, Route};

use crate::nat64_config::{EngineOpts, FileConfig};
use crate::CliError;

/// Arguments of `sixgate doctor`.
#[derive(Args)]
pub(crate) struct DoctorArgs {
    /// The configuration to check the host against: a `nat64 run` file (gateway) or a
    /// `tunnel run` file (one with `local`).
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
    /// Also ask this DNS64 resolver for `ipv4only.arpa` AAAA (RFC 7050) and check its prefix
    /// against pool6 and `pref64` [port 53 when none is given].
    #[arg(long, value_name = "ADDR[:PORT]", value_parser = crate::dns64::dns_socket_addr)]
    resolver: Option<SocketAddr>,
    /// One JSON object per check, in an array, instead of text lines.
    #[arg(long)]
    json: bool,
}

/// The result of one check.
#[derive(Serialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum Status {
    Pass,
    Fail,
    Skip,
}

/// One check: what, how it went, and for a failure the fix.
#[derive(Serialize, Debug)]
struct Check {
    check: String,
    status: Status,
    detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    fix: Option<String>,
}

#[derive(Default)]
struct Report(Vec<Check>);

impl Report {
    fn pass(&mut self, check: impl Into<String>, detail: impl Into<String>) {
        self.0.push(Check { check: check.into(), status: Status::Pass, detail: detail.into(), fix: None });
    }
    fn fail(&mut self, check: impl Into<String>, detail: impl Into<String>, fix: impl Into<String>) {
        self.0.push(Check { check: check.into(), status: Status::Fail, detail: detail.into(), fix: Some(fix.into()) });
    }
    fn skip(&mut self, check: impl Into<String>, detail: impl Into<String>) {
        self.0.push(Check { check: check.into(), status: Status::Skip, detail: detail.into(), fix: None });
    }
}

/// What the checks need from either kind of configuration.
struct Target {
    kind: &'static str,
    tun: String,
    mtu: u32,
    routes: Vec<Route>,
    /// IPv4 forwarding matters (a gateway); a 6in4 endpoint sends IPv4, it does not forward it.
    ipv4: bool,
    pool6: Option<Pool6>,
    /// Other prefixes the file says the network uses: (key, prefix).
    prefixes: Vec<(&'static str, Pool6)>,
}

fn gateway(path: &std::path::Path, text: &str) -> Result<Target, CliError> {
    let name = path.display().to_string();
    let mut file = FileConfig::parse(text, &name)?;
    if let Some(e) = file.check(text, &name).pop() {
        return Err(CliError::input(e));
    }
    let tun =
        file.tun.clone().ok_or_else(|| CliError::input(format!("{name}: tun: the TUN device name is missing")))?;
    let mut prefixes = Vec::new();
    for (key, p) in [("dns64_prefix", &file.dns64_prefix), ("pref64", &file.pref64)] {
        if let Some(p) = p.as_ref().and_then(|p| p.get_ref().parse::<Pool6>().ok()) {
            prefixes.push((key, p));
        }
    }
    let stateful = file.take_stateful().map_err(|e| CliError::input(format!("{name}: {}", e.message)))?;
    let mut opts = EngineOpts::default();
    file.merge_into(&mut opts)?;
    let cfg = opts.to_config().map_err(|e| CliError::input(format!("{name}: {e}")))?;
    let pool4 = match &stateful {
        Some(st) => st.to_config(cfg.clone()).map_err(|e| CliError::input(format!("{name}: {}", e.message)))?.pool4,
        None => Vec::new(),
    };
    Ok(Target {
        kind: "gateway",
        routes: crate::nat64::gateway_routes(&tun, &cfg, &pool4),
        // The device MTU `nat64 run` sets.
        mtu: u32::from(cfg.ipv4_mtu.max(cfg.ipv6_mtu)),
        tun,
        ipv4: true,
        pool6: cfg.pool6,
        prefixes,
    })
}

fn tunnel(path: PathBuf) -> Result<Target, CliError> {
    let r = crate::tunnel::resolve_file(path)?;
    Ok(Target {
        kind: "tunnel",
        routes: crate::tunnel::tunnel_routes(&r),
        mtu: u32::from(r.cfg.tunnel_mtu()),
        tun: r.tun,
        ipv4: false,
        pool6: None,
        prefixes: Vec::new(),
    })
}

pub(crate) fn run(a: DoctorArgs) -> Result<ExitCode, CliError> {
    let name = a.config.display().to_string();
    let text = std::fs::read_to_string(&a.config).map_err(|e| CliError::input(format!("cannot read {name}: {e}")))?;
    let table: toml::Table = toml::from_str(&text).map_err(|e| crate::nat64_config::toml_error(&text, &name, &e))?;
    let t = if table.contains_key("local") { tunnel(a.config.clone())? } else { gateway(&a.config, &text)? };
    let mut rep = Report::default();
    forwarding(&mut rep, &t);
    device(&mut rep, &t);
    match a.resolver {
        Some(server) => dns64(&mut rep, &t, server),
        None => rep.skip("dns64", "no --resolver given"),
    }
    let failed = rep.0.iter().filter(|c| c.status == Status::Fail).count();
    let mut out = String::new();
    if a.json {
        let v = serde_json::json!({ "config": name, "kind": t.kind, "failed": failed, "checks": rep.0 });
        out = serde_json::to_string_pretty(&v).unwrap_or_default();
        out.push('\n');
    } else {
        out.push_str(&format!("sixgate doctor: {name} ({} on {})\n", t.kind, t.tun));
        for c in &rep.0 {
            let s = match c.status {
                Status::Pass => "pass",
                Status::Fail => "FAIL",
                Status::Skip => "skip",
            };
            out.push_str(&format!("{s}  {}: {}\n", c.check, c.detail));
            if let Some(f) = &c.fix {
                out.push_str(&format!("      fix: {f}\n"));
            }
        }
        out.push_str(&format!("{failed} check(s) failed\n"));
    }
    // A closed pipe (`| head`) is not an error worth a panic.
    let _ = std::io::Write::write_all(&mut std::io::stdout().lock(), out.as_bytes());
    Ok(if failed > 0 { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

fn forwarding(rep: &mut Report, t: &Target) {
    let mut one = |key: &str, why: &str| match routes::sysctl(key) {
        Ok(v) if v == "1" => rep.pass("forwarding", format!("{key} = 1")),
        Ok(v) => rep.fail("forwarding", format!("{key} = {v}: {why}"), format!("sysctl -w {key}=1")),
        Err(e) => rep.skip("forwarding", format!("cannot read {key}: {e}")),
    };
    if t.ipv4 {
        one("net.ipv4.ip_forward", "the kernel will not pass IPv4 packets between the network and the device");
        one("net.ipv6.conf.all.forwarding", "the kernel will not pass IPv6 packets between the network and the device");
    } else {
        one("net.ipv6.conf.all.forwarding", "the tunnel will not carry IPv6 for other hosts");
    }
}

fn device(rep: &mut Report, t: &Target) {
    let tun = &t.tun;
    let Ok(index) = routes::ifindex(tun) else {
        rep.fail(
            "device",
            format!("{tun} does not exist: the daemon makes it at start, and its routes go with it"),
            format!("start the daemon, or make a persistent device: ip tuntap add dev {tun} mode tun multi_queue"),
        );
        rep.skip("routes", format!("no device {tun}"));
        rep.skip("mtu", format!("no device {tun}"));
        rep.skip("rp_filter", format!("no device {tun}"));
        return;
    };
    rep.pass("device", format!("{tun} exists (index {index})"));
    for r in &t.routes {
        if !r.install {
            continue;
        }
        match routes::lookup(r.dest) {
            Ok(Some(i)) if i == index => rep.pass("routes", format!("{} goes to {tun} ({})", r.prefix(), r.note)),
            Ok(found) => rep.fail(
                "routes",
                format!(
                    "{} ({}) goes {}, not into {tun}",
                    r.prefix(),
                    r.note,
                    found.map_or("nowhere".to_owned(), |i| format!("to device index {i}"))
                ),
                r.command(),
            ),
            Err(e) => rep.skip("routes", format!("cannot look up {}: {e}", r.prefix())),
        }
    }
    match routes::link_mtu(tun) {
        Ok(m) if m == t.mtu => rep.pass("mtu", format!("{tun} MTU {m}, as configured")),
        Ok(m) => rep.fail(
            "mtu",
            format!("{tun} MTU {m}, the configuration says {}", t.mtu),
            format!("ip link set dev {tun} mtu {}", t.mtu),
        ),
        Err(e) => rep.skip("mtu", format!("cannot read the MTU of {tun}: {e}")),
    }
    if !t.ipv4 {
        rep.skip("rp_filter", format!("{tun} carries IPv6 only; rp_filter is IPv4's"));
        return;
    }
    // The kernel applies the larger of `all` and the device's value (ip-sysctl.rst,
    // rp_filter). Strict mode (1) drops a packet from the device whose source the kernel
    // would not route back into it: translated packets and ICMP errors from sources outside
    // the routed prefixes.
    let all = routes::sysctl("net.ipv4.conf.all.rp_filter");
    let dev = routes::sysctl(&format!("net/ipv4/conf/{tun}/rp_filter"));
    match (all, dev) {
        (Ok(a), Ok(d)) => {
            let eff = a.parse::<u8>().unwrap_or(0).max(d.parse::<u8>().unwrap_or(0));
            if eff == 1 {
                let mut fix = Vec::new();
                if a == "1" {
                    fix.push("sysctl -w net.ipv4.conf.all.rp_filter=2".to_owned());
                }
                // A device name with a dot (a VLAN) needs the slash form.
                fix.push(if tun.contains('.') {
                    format!("sysctl -w net/ipv4/conf/{tun}/rp_filter=2")
                } else {
                    format!("sysctl -w net.ipv4.conf.{tun}.rp_filter=2")
                });
                rep.fail(
                    "rp_filter",
                    format!(
                        "strict on {tun} (all = {a}, {tun} = {d}): packets from the device whose source is not \
                         routed back into it are dropped"
                    ),
                    fix.join(" && "),
                );
            } else {
                rep.pass("rp_filter", format!("{eff} on {tun} (all = {a}, {tun} = {d}): not strict"));
            }
        }
        (Err(e), _) | (_, Err(e)) => rep.skip("rp_filter", format!("cannot read rp_filter: {e}")),
    }
}

/// RFC 7050 §2.2: the well-known IPv4-only addresses of `ipv4only.arpa`.
const WKA: [Ipv4Addr; 2] = [Ipv4Addr::new(192, 0, 0, 170), Ipv4Addr::new(192, 0, 0, 171)];

/// The prefixes an AAAA answer of `ipv4only.arpa` reveals: RFC 7050 §3 looks for a
/// well-known address at each RFC 6052 position.
fn learned_prefixes(aaaa: Ipv6Addr) -> Vec<Pool6> {
    [96u8, 64, 56, 48, 40, 32]
        .into_iter()
        .filter_map(|len| {
            let net = ipnet::Ipv6Net::new(aaaa, len).ok()?.trunc();
            let p = Pool6::new(net).ok()?;
            extract(&p, aaaa).ok().filter(|v4| WKA.contains(v4)).map(|_| p)
        })
        .collect()
}

fn dns64(rep: &mut Report, t: &Target, server: SocketAddr) {
    let Some(pool6) = t.pool6 else {
        rep.skip("dns64", format!("the {} configuration has no pool6", t.kind));
        return;
    };
    let answers = match ask(server) {
        Ok(a) => a,
        Err(e) => {
            rep.fail(
                "dns64",
                format!("{server}: no answer for ipv4only.arpa AAAA: {e}"),
                format!("check that a DNS64 runs there: sixgate dns64 --listen {server} --prefix {} ...", pool6.net()),
            );
            return;
        }
    };
    let mut learned: Vec<Pool6> = Vec::new();
    for p in answers.iter().flat_map(|a| learned_prefixes(*a)) {
        if !learned.contains(&p) {
            learned.push(p);
        }
    }
    if learned.is_empty() {
        let shown: Vec<String> = answers.iter().map(Ipv6Addr::to_string).collect();
        rep.fail(
            "dns64",
            format!(
                "{server}: ipv4only.arpa AAAA [{}] embeds neither 192.0.0.170 nor 192.0.0.171 (RFC 7050 §3): \
                 not a DNS64",
                shown.join(", ")
            ),
            format!("run the DNS64 with this prefix: sixgate dns64 --prefix {} ...", pool6.net()),
        );
        return;
    }
    let nets: Vec<String> = learned.iter().map(|p| p.net().to_string()).collect();
    if learned.contains(&pool6) {
        rep.pass("dns64", format!("{server} synthesizes under {} = pool6", pool6.net()));
    } else {
        rep.fail(
            "dns64",
            format!("{server} synthesizes under {}, pool6 is {}", nets.join(", "), pool6.net()),
            format!("run the DNS64 with the gateway's prefix: sixgate dns64 --prefix {} ...", pool6.net()),
        );
    }
    for (key, p) in &t.prefixes {
        if learned.contains(p) {
            rep.pass(*key, format!("{key} {} matches the DNS64's prefix", p.net()));
        } else {
            rep.fail(
                *key,
                format!("{key} {} differs from the DNS64's {}", p.net(), nets.join(", ")),
                format!("set {key} = \"{}\" in the configuration and announce that", pool6.net()),
            );
        }
    }
}

/// Asks `server` for `ipv4only.arpa` AAAA; the addresses in the answer.
fn ask(server: SocketAddr) -> Result<Vec<Ipv6Addr>, String> {
    let name = Name::from_ascii("ipv4only.arpa.").map_err(|e| e.to_string())?;
    let mut q = Message::new(0x5167, MessageType::Query, OpCode::Query);
    q.metadata.recursion_desired = true;
    q.add_query(Query::query(name, RecordType::AAAA));
    let bytes = q.to_vec().map_err(|e| e.to_string())?;
    let reply = routes::udp_exchange(server, &bytes, Duration::from_secs(3)).map_err(|e| e.to_string())?;
    let m = Message::from_vec(&reply).map_err(|e| e.to_string())?;
    let out: Vec<Ipv6Addr> = m
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::AAAA(a) => Some(a.0),
            _ => None,
        })
        .collect();
    if out.is_empty() {
        return Err(format!("{:?} without AAAA records", m.metadata.response_code));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::learned_prefixes;

    #[test]
    fn rfc7050_prefixes_are_learned_at_every_rfc6052_position() {
        // RFC 6052 §2.4 example addresses carrying 192.0.0.170.
        let p = learned_prefixes("64:ff9b::c000:aa".parse().unwrap());
        assert_eq!(p.iter().map(|p| p.net().to_string()).collect::<Vec<_>>(), ["64:ff9b::/96"]);
        let p = learned_prefixes("2001:db8:c000:aa::".parse().unwrap());
        assert_eq!(p.iter().map(|p| p.net().to_string()).collect::<Vec<_>>(), ["2001:db8::/32"]);
        assert!(learned_prefixes("2001:db8::1".parse().unwrap()).is_empty());
    }
}
