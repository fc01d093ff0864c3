//! `sixgate tunnel run`: a 6in4 (sit) tunnel endpoint on a TUN device and a raw
//! protocol-41 socket.
//!
//! Every flag is also a key of the `--config` TOML file (flags win):
//!
//! ```toml
//! tun = "sit1"
//! local = "192.0.2.1"
//! remote = "198.51.100.1"       # static mode
//! address = "2001:db8:ffff::1/64"
//! mode = "static"               # or "6to4" (then `relay`, no `remote`)
//! relay = "192.0.2.99"
//! link_mtu = 1500               # tunnel MTU = link_mtu − 20 unless `mtu` is given
//! mtu = 1480
//! ttl = 64
//! copy_dscp = false
//! ecn = "normal"                # RFC 6040: "normal" or "compatibility"
//! icmp_rate = 100               # Packet Too Big per second (0: unlimited)
//! icmp_burst = 20
//! pmtu = true                   # listen to ICMPv4 Fragmentation Needed
//! offload = true                # TUN GSO/GRO and batched syscalls (false: one packet per syscall)
//! stats_interval = 10           # seconds between counter lines (0: none)
//! routes = false                # install the printed routes, remove them on exit
//! metrics_listen = "127.0.0.1:9165"  # Prometheus metrics at http://ADDR:PORT/metrics
//! user = "sixgate"              # started as root: run as this user once the sockets are open
//! fast_path = "bpf"             # kernel fast path (binary built with the `bpf` feature)
//! fast_path_interfaces = ["eth0"]  # the IPv4 interfaces the outer packets arrive on
//! ```
//!
//! With `fast_path = "bpf"` the kernel encapsulates and decapsulates the packets within the
//! tunnel and path MTUs (`sixgate_bpf::SitFastPath`); the engine's learned path MTUs are
//! mirrored into the programs' map every 100 ms, and the fast path turns IPv4 forwarding on
//! for the TUN device alone (the kernel's FIB lookup helper asks it of the device it looks
//! up from; the device carries no IPv4). Route MTUs count for the fast path when locked
//! (`ip route ... mtu lock N`), as for any forwarded packet.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use clap::{Args, Subcommand};
use serde::Deserialize;
use sixgate_6in4::{EcnMode, Mode, SitConfig, SitDrop, SitTunnel};
use sixgate_core::engine::Counters;
use sixgate_io::signals::Signals;
use sixgate_io::{run_controlled_tunnel, RawIpv4, TunDevice, TunOptions, TunnelIo, WorkerStats};

use crate::daemon::log;
use crate::error::Needs;
use crate::CliError;

/// `sixgate tunnel` subcommands.
#[derive(Subcommand)]
pub(crate) enum TunnelCmd {
    /// Run a 6in4 (sit, protocol 41) tunnel endpoint in the foreground until SIGINT or
    /// SIGTERM (SIGUSR1 prints the counters): a TUN device for IPv6, a raw IPv4 socket for
    /// the encapsulated packets. SIGHUP re-reads and validates the `--config` file (flags
    /// still win): a bad one is refused and the running configuration stays; a valid one
    /// is applied at once (remote, relay, TTL, DSCP, ECN, MTUs, path-MTU cache, ICMP rate,
    /// the fast path's maps), except `tun`, `address`, `local`, `mode`, `offload`, `pmtu`,
    /// `routes`, `stats_interval`, `fast_path` and `fast_path_interfaces`, which are reported
    /// as needing a restart and not applied.
    Run(Box<RunArgs>),
}

/// Flags of `sixgate tunnel run` (each one also a TOML key).
#[derive(Args, Default, Clone)]
pub(crate) struct RunArgs {
    /// TOML file with the same options as keys (flags win).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Validate the configuration, print it, and exit.
    #[arg(long)]
    check: bool,
    /// TUN device name.
    #[arg(long, value_name = "NAME")]
    tun: Option<String>,
    /// Local IPv4 endpoint (source of the outer packets).
    #[arg(long, value_name = "V4")]
    local: Option<Ipv4Addr>,
    /// Remote IPv4 endpoint (static mode).
    #[arg(long, value_name = "V4")]
    remote: Option<Ipv4Addr>,
    /// IPv6 address and prefix length of the TUN device, e.g. 2001:db8:ffff::1/64
    /// [6to4 default: 2002:LOCAL::1/16].
    #[arg(long, value_name = "V6/LEN")]
    address: Option<String>,
    /// static (configured tunnel, RFC 4213) or 6to4 (RFC 3056 with RFC 3964 checks)
    /// [default: static].
    #[arg(long, value_name = "MODE")]
    mode: Option<String>,
    /// 6to4 relay for native IPv6 destinations.
    #[arg(long, value_name = "V4")]
    relay: Option<Ipv4Addr>,
    /// MTU of the IPv4 link [default: 1500]; the tunnel MTU is 20 less.
    #[arg(long, value_name = "N")]
    link_mtu: Option<u16>,
    /// Tunnel MTU offered to IPv6 (at least 1280) [default: link MTU − 20].
    #[arg(long, value_name = "N")]
    mtu: Option<u16>,
    /// Outer TTL [default: 64, the IPv4 default RFC 4213 §3.3 points at; `sixgate
    /// tunnel-config` writes the same].
    #[arg(long, value_name = "N")]
    ttl: Option<u8>,
    /// Copy the inner DSCP into the outer header.
    #[arg(long)]
    copy_dscp: bool,
    /// ECN handling, RFC 6040: normal or compatibility [default: normal].
    #[arg(long, value_name = "MODE")]
    ecn: Option<String>,
    /// Packet Too Big messages per second, 0 for no limit [default: 100].
    #[arg(long, value_name = "N")]
    icmp_rate: Option<u32>,
    /// Burst of Packet Too Big messages [default: 20].
    #[arg(long, value_name = "N")]
    icmp_burst: Option<u32>,
    /// Do not listen to ICMPv4 Fragmentation Needed (no dynamic path MTU).
    #[arg(long)]
    no_pmtu: bool,
    /// One packet per syscall: no virtio-net GSO/GRO offload on the TUN device and no
    /// `recvmmsg`/`sendmmsg` batching on the raw socket.
    #[arg(long)]
    no_offload: bool,
    /// Seconds between counter lines on standard error, 0 for none [default: 10].
    #[arg(long, value_name = "N")]
    stats_interval: Option<u64>,
    /// Kernel fast path: bpf (TC-BPF programs decapsulate at the ingress of the
    /// --fast-path-interface interfaces and encapsulate at the egress of the TUN device;
    /// what they do not handle, unchanged, takes the TUN path) or none [default: none].
    #[arg(long, value_name = "KIND")]
    fast_path: Option<String>,
    /// An IPv4 interface the outer packets arrive on, for the fast path (repeatable).
    #[arg(long = "fast-path-interface", value_name = "IFACE")]
    fast_path_interfaces: Vec<String>,
    #[command(flatten)]
    daemon: crate::service::DaemonArgs,
}

/// The TOML file. Unknown keys are errors.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    tun: Option<String>,
    local: Option<Ipv4Addr>,
    remote: Option<Ipv4Addr>,
    address: Option<String>,
    mode: Option<String>,
    relay: Option<Ipv4Addr>,
    link_mtu: Option<u16>,
    mtu: Option<u16>,
    ttl: Option<u8>,
    copy_dscp: Option<bool>,
    ecn: Option<String>,
    icmp_rate: Option<u32>,
    icmp_burst: Option<u32>,
    pmtu: Option<bool>,
    offload: Option<bool>,
    stats_interval: Option<u64>,
    routes: Option<bool>,
    metrics_listen: Option<std::net::SocketAddr>,
    user: Option<String>,
    fast_path: Option<String>,
    #[serde(default)]
    fast_path_interfaces: Vec<String>,
}

/// Everything `run` needs, resolved.
pub(crate) struct Resolved {
    pub(crate) tun: String,
    pub(crate) prefix_len: u8,
    pub(crate) cfg: SitConfig,
    pmtu: bool,
    offload: bool,
    stats_interval: u64,
    routes: bool,
    metrics_listen: Option<std::net::SocketAddr>,
    user: Option<String>,
    /// The fast path's interfaces (`fast_path = "bpf"`), or none.
    fast_path: Option<Vec<String>>,
}

/// Resolves a `tunnel run` configuration file alone (no flags), as `sixgate doctor` reads it.
pub(crate) fn resolve_file(path: PathBuf) -> Result<Resolved, CliError> {
    resolve(RunArgs { config: Some(path), ..RunArgs::default() })
}

/// The routes into the tunnel's device: its IPv6 prefix (the kernel adds it with the
/// address, so installing it normally finds it present). Printed at start, installed with
/// `routes = true`, checked by `sixgate doctor`.
pub(crate) fn tunnel_routes(r: &Resolved) -> Vec<sixgate_io::routes::Route> {
    let net = ipnet::Ipv6Net::new(r.cfg.address, r.prefix_len).map_or(r.cfg.address, |n| n.network());
    vec![sixgate_io::routes::Route::new(net.into(), r.prefix_len, &r.tun, "the tunnel's prefix")]
}

fn resolve(mut a: RunArgs) -> Result<Resolved, CliError> {
    if let Some(path) = &a.config {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| CliError::input(format!("cannot read {name}: {e}")))?;
        let f: FileConfig = toml::from_str(&text).map_err(|e| crate::nat64_config::toml_error(&text, &name, &e))?;
        a.tun = a.tun.or(f.tun);
        a.local = a.local.or(f.local);
        a.remote = a.remote.or(f.remote);
        a.address = a.address.or(f.address);
        a.mode = a.mode.or(f.mode);
        a.relay = a.relay.or(f.relay);
        a.link_mtu = a.link_mtu.or(f.link_mtu);
        a.mtu = a.mtu.or(f.mtu);
        a.ttl = a.ttl.or(f.ttl);
        a.copy_dscp = a.copy_dscp || f.copy_dscp.unwrap_or(false);
        a.ecn = a.ecn.or(f.ecn);
        a.icmp_rate = a.icmp_rate.or(f.icmp_rate);
        a.icmp_burst = a.icmp_burst.or(f.icmp_burst);
        a.no_pmtu = a.no_pmtu || f.pmtu == Some(false);
        a.no_offload = a.no_offload || f.offload == Some(false);
        a.stats_interval = a.stats_interval.or(f.stats_interval);
        a.daemon = a.daemon.over_file(f.metrics_listen, f.user, f.routes);
        a.fast_path = a.fast_path.or(f.fast_path);
        if a.fast_path_interfaces.is_empty() {
            a.fast_path_interfaces = f.fast_path_interfaces;
        }
    }
    let fast_path =
        crate::fast_path::choice(a.fast_path.as_deref(), &a.fast_path_interfaces).map_err(CliError::input)?;
    let tun = a.tun.ok_or_else(|| CliError::input("--tun (or `tun`) is missing"))?;
    let local = a.local.ok_or_else(|| CliError::input("--local (or `local`) is missing"))?;
    let mut cfg = match a.mode.as_deref().unwrap_or("static") {
        "static" => {
            if a.relay.is_some() {
                return Err(CliError::input("--relay needs --mode 6to4"));
            }
            let remote = a.remote.ok_or_else(|| CliError::input("static mode needs --remote (or `remote`)"))?;
            SitConfig::new_static(local, remote, Ipv6Addr::UNSPECIFIED)
        }
        "6to4" => {
            if a.remote.is_some() {
                return Err(CliError::input("--remote is for static mode; 6to4 finds the far end itself"));
            }
            SitConfig::new_6to4(local, a.relay)
        }
        m => return Err(CliError::input(format!("mode {m:?}: expected static or 6to4"))),
    };
    let (address, prefix_len) = match (&a.address, cfg.mode) {
        (Some(s), _) => {
            let (addr, len) =
                s.split_once('/').ok_or_else(|| CliError::input(format!("address {s:?}: expected V6/LEN")))?;
            let addr: Ipv6Addr = addr.parse().map_err(|e| CliError::input(format!("address {s:?}: {e}")))?;
            let len: u8 = len
                .parse()
                .ok()
                .filter(|l| *l <= 128)
                .ok_or_else(|| CliError::input(format!("address {s:?}: bad prefix length")))?;
            (addr, len)
        }
        (None, Mode::SixToFour { .. }) => (cfg.address, 16),
        (None, Mode::Static { .. }) => return Err(CliError::input("--address (or `address`) is missing")),
    };
    cfg.address = address;
    if let Some(m) = a.link_mtu {
        cfg.link_mtu = m;
    }
    cfg.mtu = a.mtu;
    if let Some(t) = a.ttl {
        cfg.ttl = t;
    }
    cfg.copy_dscp = a.copy_dscp;
    cfg.ecn = match a.ecn.as_deref().unwrap_or("normal") {
        "normal" => EcnMode::Normal,
        "compatibility" | "compat" => EcnMode::Compatibility,
        e => return Err(CliError::input(format!("ecn {e:?}: expected normal or compatibility"))),
    };
    if let Some(r) = a.icmp_rate {
        cfg.icmp_rate.per_second = r;
    }
    if let Some(b) = a.icmp_burst {
        cfg.icmp_rate.burst = b;
    }
    cfg.validate().map_err(CliError::input)?;
    Ok(Resolved {
        tun,
        prefix_len,
        cfg,
        pmtu: !a.no_pmtu,
        offload: !a.no_offload,
        stats_interval: a.stats_interval.unwrap_or(10),
        routes: a.daemon.routes,
        metrics_listen: a.daemon.metrics_listen,
        user: a.daemon.user,
        fast_path,
    })
}

pub(crate) fn run(cmd: TunnelCmd) -> Result<ExitCode, CliError> {
    match cmd {
        TunnelCmd::Run(a) => run_endpoint(*a),
    }
}

fn describe(r: &Resolved) -> String {
    let c = &r.cfg;
    let far = match c.mode {
        Mode::Static { remote } => format!("static {} -> {remote}", c.local),
        Mode::SixToFour { relay } => format!(
            "6to4 from {} ({}), relay {}",
            c.local,
            sixgate_core::rfc6052::sixtofour_prefix(c.local),
            relay.map_or("none".to_owned(), |r| r.to_string())
        ),
    };
    format!(
        "tun {} {}/{}, {far}, tunnel MTU {} (link {}), TTL {}, DSCP {}, ECN {:?}, path MTU {}, offload {}",
        r.tun,
        c.address,
        r.prefix_len,
        c.tunnel_mtu(),
        c.link_mtu,
        c.ttl,
        if c.copy_dscp { "copied" } else { "0" },
        c.ecn,
        if r.pmtu { "on" } else { "off" },
        if r.offload { "on" } else { "off" }
    )
}

fn run_endpoint(a: RunArgs) -> Result<ExitCode, CliError> {
    let check = a.check;
    // The file's text as read at start, and the same resolution for SIGHUP to validate.
    let running = a.config.as_ref().map(|p| std::fs::read_to_string(p).unwrap_or_default());
    let (control, mailbox) = sixgate_io::control::<crate::service::logging::Traced<SitTunnel>>();
    let pmtu_control = control.clone();
    let flags = a.clone();
    let r = resolve(a)?;
    let address = r.cfg.address;
    let fast = crate::fast_path::FastPath::<sixgate_bpf::SitFastPath>::off();
    let reload_fast = fast.clone();
    let reloader = flags.config.clone().zip(running).map(|(path, text)| {
        let validate: crate::service::reload::Validate = {
            let flags = flags.clone();
            // Every message names the file (a TOML error names its line too).
            let named = |name: &str, m: String| if m.starts_with(name) { m } else { format!("{name}: {m}") };
            Box::new(move |_, name| resolve(flags.clone()).map(drop).map_err(|e| vec![named(name, e.message)]))
        };
        // The file with the flags over it, as at start; the device's address stays
        // (`address` needs a restart: it is the TUN device's too).
        let apply: crate::service::reload::Apply = Box::new(move |_, _| {
            let mut cfg = resolve(flags.clone()).map_err(|e| vec![e.message])?.cfg;
            cfg.address = address;
            let for_worker = cfg.clone();
            let r = crate::service::reload::apply_to_workers(
                std::slice::from_ref(&control),
                move |e: &mut crate::service::logging::Traced<SitTunnel>, _| {
                    e.get_mut().reconfigure(for_worker.clone()).map_err(|e| e.to_string())
                },
            )?;
            // The maps follow the engine, in place: its configuration as it took it (it
            // keeps `local` and `mode` until a restart).
            let taken = control
                .send(|e: &mut crate::service::logging::Traced<SitTunnel>, _| e.get_mut().config().clone())
                .ok()
                .and_then(|r| r.wait(crate::service::reload::APPLY_WAIT).ok())
                .unwrap_or(cfg);
            reload_fast.reconfigure(&taken);
            Ok(r)
        });
        crate::service::Reloader::new(path, text, validate).live(crate::service::reload::TUNNEL_RESTART, apply)
    });
    for w in r.cfg.warnings() {
        log!("sixgate: warning: {w}");
    }
    let what = reloader.as_ref().map_or_else(|| "tunnel".to_owned(), crate::service::Reloader::name);
    let mut errs = crate::service::preflight::tunnel(&r.tun, check);
    if check {
        errs.extend(r.metrics_listen.map(sixgate_io::host::check_listen).unwrap_or_default());
    }
    crate::service::preflight::refuse(&what, errs)?;
    if check {
        println!("ok: {}", describe(&r));
        if let Some(m) = r.metrics_listen {
            println!("  metrics http://{m}/metrics");
        }
        if let Some(ifaces) = &r.fast_path {
            match sixgate_bpf::probe() {
                Ok(()) => println!("  fast path bpf on {}: this kernel loads and runs the programs", ifaces.join(", ")),
                Err(e) => println!(
                    "  fast path bpf on {}: not available ({e}): the TUN path alone would run",
                    ifaces.join(", ")
                ),
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    let signals = Signals::block().map_err(|e| CliError::failure(format!("cannot block signals: {e}")))?;
    let mut devs = TunDevice::open(
        &TunOptions::new(r.tun.clone()).mtu(r.cfg.tunnel_mtu()).ipv6(r.cfg.address, r.prefix_len).offload(r.offload),
    )
    .map_err(|e| CliError::os("cannot open the tunnel's device", &e, Needs::Tun))?;
    // A queue of an Ethernet device's default length between the kernel and this process,
    // so a few milliseconds without the CPU do not drop packets (the TUN default is 500).
    if let Err(e) = devs[0].set_tx_queue_len(1000) {
        log!("sixgate: warning: cannot set the TUN queue length: {e}");
    }
    let raw_err = |e: std::io::Error| CliError::os("cannot open the tunnel's socket", &e, Needs::RawSocket);
    let outer = RawIpv4::open(sixgate_6in4::PROTO_IPV6).map_err(raw_err)?;
    let icmp = if r.pmtu { Some(RawIpv4::open(1).map_err(raw_err)?) } else { None };
    let io = TunnelIo { tun: devs.remove(0), outer, icmp };
    // Each packet's outcome at `trace` (`--log-level trace`); nothing when off.
    let engine = crate::service::logging::Traced::new(SitTunnel::new(r.cfg.clone()).map_err(CliError::input)?);
    log!("sixgate: tunnel up: {}", describe(&r));
    let routes = tunnel_routes(&r);
    for rt in &routes {
        log!("  {}", rt.command());
    }
    let installed = crate::nat64::install_routes(r.routes, &routes)?;
    fast.start(r.fast_path.as_deref(), |ifs| {
        let mut f = sixgate_bpf::SitFastPath::load(&r.cfg)?;
        f.attach(ifs, &r.tun)?;
        Ok(f)
    });
    let stop = Arc::new(AtomicBool::new(false));
    if fast.is_on() {
        let (stop, fast) = (Arc::clone(&stop), fast.clone());
        std::thread::spawn(move || mirror_path_mtus(&pmtu_control, &fast, &stop));
    }
    let slot: Arc<Mutex<WorkerStats<Counters<SitDrop>>>> = Arc::new(Mutex::new(WorkerStats::default()));
    let tun_drops = crate::daemon::TunDrops::new(&io.tun);
    let final_read = tun_drops.clone();
    let snapshot = {
        let slot = Arc::clone(&slot);
        move || {
            slot.lock()
                .map(|s| vec![(s.received, s.write_errors, s.counters.clone(), s.gauges.clone())])
                .unwrap_or_default()
        }
    };
    let collectors = fast.collector("tunnel").into_iter().collect();
    crate::service::metrics::start_engine_with(
        "tunnel",
        r.metrics_listen,
        Box::new(snapshot),
        &stop,
        collectors,
        None,
    )?;
    if installed.is_some() && r.user.is_some() {
        log!("sixgate: warning: routes and user: once root is dropped the routes cannot be removed on exit");
    }
    crate::service::privilege::drop_to(r.user.as_deref(), "sixgate")?;
    let total = {
        let slot = Arc::clone(&slot);
        move || {
            let kernel = tun_drops.as_ref().map(|t| t.line()).unwrap_or_default();
            match slot.lock() {
                Ok(s) => format!(
                    "received={} {} write_errors={}{kernel}{}",
                    s.received,
                    s.counters,
                    s.write_errors,
                    fast.line()
                ),
                Err(_) => "counters unavailable".to_owned(),
            }
        }
    };
    let worker = {
        let stop = Arc::clone(&stop);
        let slot = Arc::clone(&slot);
        std::thread::spawn(move || {
            let res = run_controlled_tunnel(&io, engine, &stop, &slot, Some(&mailbox));
            if !stop.load(Ordering::Relaxed) {
                Signals::wake();
            }
            res
        })
    };
    crate::daemon::spawn_stats_log(&stop, r.stats_interval, total.clone());
    crate::daemon::wait_for_stop(&signals, "sixgate", &total, reloader.as_ref(), &|| worker.is_finished());
    crate::nat64::remove_routes(installed);
    // The device goes with the worker: its counters as it stops.
    if let Some(t) = &final_read {
        t.refresh();
    }
    stop.store(true, Ordering::Relaxed);
    let res = worker.join().unwrap_or_else(|_| Err(std::io::Error::other("worker panicked")));
    log!("sixgate: stopped; final counters: {}", total());
    res.map_err(|e| CliError::failure(format!("tunnel failed: {e}")))?;
    Ok(ExitCode::SUCCESS)
}

/// How often the engine's learned path MTUs are compared with the fast path's map.
const PMTU_MIRROR_INTERVAL: std::time::Duration = std::time::Duration::from_millis(100);

/// Mirrors the engine's learned path MTUs (RFC 4213 §3.2) into the encapsulation program's
/// map until `stop`: every [`PMTU_MIRROR_INTERVAL`], asks the worker for its table
/// ([`SitTunnel::path_mtus`]) and writes what changed, so that the kernel sends the packets
/// too big for a path to the engine, which answers Packet Too Big.
fn mirror_path_mtus(
    control: &sixgate_io::Control<crate::service::logging::Traced<SitTunnel>>,
    fast: &crate::fast_path::FastPath<sixgate_bpf::SitFastPath>,
    stop: &AtomicBool,
) {
    let mut last: Option<(u64, Vec<(Ipv4Addr, u16)>)> = None;
    while !stop.load(Ordering::Relaxed) && fast.is_on() {
        std::thread::sleep(PMTU_MIRROR_INTERVAL);
        let Ok(reply) = control.send(|e: &mut crate::service::logging::Traced<SitTunnel>, now| {
            let t = e.get_mut();
            let mut table: Vec<(Ipv4Addr, u16)> = t.path_mtus(now).collect();
            table.sort_unstable();
            (t.path_mtu_version(), table)
        }) else {
            return;
        };
        // A busy or stopping worker answers at the next round.
        let Ok(now) = reply.wait(std::time::Duration::from_secs(1)) else { continue };
        if last.as_ref() != Some(&now) {
            fast.set_path_mtus(&now.1);
            last = Some(now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(f: impl FnOnce(&mut RunArgs)) -> RunArgs {
        let mut a = RunArgs {
            tun: Some("sit1".into()),
            local: Some("192.0.2.1".parse().unwrap()),
            remote: Some("198.51.100.1".parse().unwrap()),
            address: Some("2001:db8:ffff::1/64".into()),
            ..RunArgs::default()
        };
        f(&mut a);
        a
    }

    #[test]
    fn flags_resolve() {
        let r = resolve(args(|a| a.link_mtu = Some(1400))).unwrap();
        assert_eq!((r.cfg.tunnel_mtu(), r.prefix_len), (1380, 64));
        assert!(resolve(args(|a| a.remote = None)).is_err());
        assert!(resolve(args(|a| a.mode = Some("gre".into()))).is_err());
        assert!(resolve(args(|a| a.mtu = Some(1000))).is_err(), "below 1280");
        let r = resolve(args(|a| {
            a.mode = Some("6to4".into());
            a.remote = None;
            a.local = Some("11.0.0.1".parse().unwrap());
            a.address = None;
            a.relay = Some("192.88.99.1".parse().unwrap());
        }))
        .unwrap();
        assert_eq!(r.cfg.address.to_string(), "2002:b00:1::1");
        assert!(r.cfg.warnings()[0].contains("RFC 7526"));
    }

    #[test]
    fn metrics_listen_and_user_keys_and_the_flags_win() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.toml");
        std::fs::write(
            &p,
            "tun = \"t0\"\nlocal = \"192.0.2.1\"\nremote = \"198.51.100.1\"\naddress = \"2001:db8::1/64\"\n\
             metrics_listen = \"127.0.0.1:9165\"\nuser = \"sixgate\"\n",
        )
        .unwrap();
        let r = resolve(RunArgs { config: Some(p.clone()), ..RunArgs::default() }).unwrap();
        assert_eq!(r.metrics_listen, Some("127.0.0.1:9165".parse().unwrap()));
        assert_eq!(r.user.as_deref(), Some("sixgate"));
        let r = resolve(RunArgs {
            config: Some(p),
            daemon: crate::service::DaemonArgs {
                metrics_listen: Some("[::1]:9999".parse().unwrap()),
                user: Some("nobody".into()),
                routes: false,
            },
            ..RunArgs::default()
        })
        .unwrap();
        assert_eq!(r.metrics_listen, Some("[::1]:9999".parse().unwrap()));
        assert_eq!(r.user.as_deref(), Some("nobody"));
    }

    #[test]
    fn toml_file_and_flags_win() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.toml");
        std::fs::write(
            &p,
            "tun = \"t0\"\nlocal = \"192.0.2.1\"\nremote = \"198.51.100.1\"\naddress = \"2001:db8::1/64\"\nttl = 9\n",
        )
        .unwrap();
        let r = resolve(RunArgs { config: Some(p.clone()), ttl: Some(3), ..RunArgs::default() }).unwrap();
        assert_eq!((r.tun.as_str(), r.cfg.ttl), ("t0", 3));
        assert!(r.offload, "offload is the default");
        std::fs::write(&p, "tun = \"t0\"\nlocal = \"192.0.2.1\"\nremote = \"198.51.100.1\"\naddress = \"2001:db8::1/64\"\noffload = false\n")
            .unwrap();
        assert!(!resolve(RunArgs { config: Some(p.clone()), ..RunArgs::default() }).unwrap().offload);
        std::fs::write(&p, "tun = \"t0\"\nbogus = 1\n").unwrap();
        assert!(resolve(RunArgs { config: Some(p), ..RunArgs::default() }).is_err(), "unknown keys are errors");
    }
}
