//! `sixgate nat64` subcommands: their flags, and the gateway (`nat64 run`) with its routes;
//! `nat64 translate` over captures and standard input is in [`crate::nat64_translate`].

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::{Args, Subcommand};
use sixgate_core::engine::Engine;
use sixgate_io::routes::Route;
use sixgate_nat64::Siit;

use crate::daemon::log;
use crate::error::Needs;
use crate::nat64_config::{EngineOpts, FileConfig};
use crate::nat64_translate::translate;
use crate::CliError;

/// `sixgate nat64` subcommands.
#[derive(Subcommand)]
pub(crate) enum Nat64Cmd {
    /// Translate packets with the stateless translator (RFC 7915): a pcap/pcapng file
    /// into another, or one bare IP packet from standard input to standard output.
    Translate(Box<TranslateArgs>),
    /// Run the translator as a gateway on a TUN device, in the foreground, until SIGINT or
    /// SIGTERM. SIGUSR1 prints the counters line (also every `stats_interval` seconds, and
    /// at the end): packets received, forwarded, replied to and dropped by reason, write
    /// errors, super-packets translated whole, and the kernel's own counts on the TUN
    /// device since the start — `tun_tx_dropped` (dropped on their way to the gateway: its
    /// queue was full), `tun_rx_dropped` (written by the gateway, dropped by the kernel) —
    /// and the queue length `tun_txqueuelen`.
    ///
    /// Routes are left to the operator; the gateway prints the `ip route` commands at start.
    /// With `routes = true` (or `--routes`) it adds them itself through rtnetlink and on exit
    /// removes exactly the ones it added; a route already present is left in place.
    /// They belong to the device: a device the gateway creates goes away when it exits
    /// (kill -9 included), its routes with it, and a restart needs them again. A persistent
    /// device made once with `ip tuntap add dev NAME mode tun multi_queue` (and routed
    /// once) stays: a restarted gateway attaches to it and traffic flows again.
    ///
    /// SIGHUP re-reads and validates the file: a bad one is refused with its line and the
    /// running configuration stays; a valid one is applied to the running workers at once
    /// (EAM entries, pool6 in stateless mode, denylists, MTUs, ICMP rate, timers, limits,
    /// filtering, pool4; sessions and BIB entries stay, except those on pool4 addresses
    /// or ports the file removed; the fast path's maps too), except `tun`, `queues`, `mode`,
    /// `offload`, `routes`, `stats_interval`, `fast_path`, `fast_path_interfaces` and, in
    /// stateful mode, pool6 (and, with several queues, a pool4 that
    /// grows): those are reported as needing a restart and not applied.
    Run(Box<RunArgs>),
    /// Which subscriber held a pool4 address and port, or which address and ports a
    /// subscriber has, under the RFC 7422 deterministic mapping of a gateway's file.
    Lookup(Box<crate::nat64_lookup::LookupArgs>),
}

/// Arguments of `sixgate nat64 run`.
#[derive(Args)]
pub(crate) struct RunArgs {
    /// TOML configuration (see `sixgate nat64 translate --help` for the keys, plus `tun`,
    /// `mode`, `queues`, `stats_interval`, `routes`, `metrics_listen`, `user`, and in stateless
    /// mode `fast_path = "bpf"` with `fast_path_interfaces`, the kernel fast path; with `mode = "stateful"` (RFC 6146; with
    /// several queues the tables are cut into one shard per queue, each owning a slice of
    /// the pool4 ports, and a TCP simultaneous open or the client's own port is kept only
    /// within its shard's slice) also `pool4 = ["PREFIX [FIRST-LAST]"]`, `filtering`, `max_sessions`,
    /// `max_sessions_per_source`, `{udp,icmp,tcp_est,tcp_trans,tcp_incoming_syn}_timeout` in
    /// seconds, `max_held_syns`, `fragment_timeout`, `max_fragment_flows`, `max_fragment_bytes`).
    /// Two keys only `--check` and `sixgate doctor` read: `dns64_prefix`, the prefix the network's DNS64 synthesizes
    /// under (RFC 6147), and `pref64`, the prefix its routers announce (RFC 8781); each must be
    /// an RFC 6052 prefix without host bits, and `--check` warns unless it equals pool6.
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
    /// Validate the file, name every bad line, and exit.
    #[arg(long)]
    check: bool,
    /// TUN device name (overrides `tun` in the file).
    #[arg(long, value_name = "NAME")]
    tun: Option<String>,
    /// Worker threads, one TUN queue each (overrides `queues`) [default: 1].
    #[arg(long, value_name = "N")]
    queues: Option<usize>,
    #[command(flatten)]
    daemon: crate::service::DaemonArgs,
}

/// Arguments of `sixgate nat64 translate`.
#[derive(Args)]
pub(crate) struct TranslateArgs {
    #[command(flatten)]
    pub(crate) engine: EngineOpts,
    /// TOML file with the same options as keys (flags win).
    #[arg(long, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
    /// Input capture (pcap or pcapng; raw IP, Ethernet, Linux cooked or loopback links).
    #[arg(long = "in", value_name = "IN.pcap", requires = "output")]
    pub(crate) input: Option<PathBuf>,
    /// Output capture (pcap, raw IP link type): translated packets and, unless
    /// --replies is given, the ICMP replies the translator generated, in order. Written to a
    /// temporary file beside it and renamed over it at the end (a failed run leaves OUT as
    /// it was); never the input file, by any name or link. A truncated or corrupt input
    /// capture is translated up to the frame that cannot be read, which is named, and the
    /// run exits with status 2.
    #[arg(long = "out", value_name = "OUT.pcap", requires = "input")]
    pub(crate) output: Option<PathBuf>,
    /// Write generated ICMP replies to this capture instead of OUT.
    #[arg(long, value_name = "FILE", requires = "input")]
    pub(crate) replies: Option<PathBuf>,
    /// Standard input/output mode: read and write hexadecimal text instead of bytes.
    #[arg(long, conflicts_with = "input")]
    pub(crate) hex: bool,
    /// With --in: print one line per frame: what became of it and, for a packet dropped or
    /// answered with an ICMP error, the reason and the RFC section behind it.
    #[arg(long, requires = "input")]
    pub(crate) explain: bool,
}

pub(crate) fn run(cmd: Nat64Cmd) -> Result<ExitCode, CliError> {
    match cmd {
        Nat64Cmd::Translate(a) => translate(*a),
        Nat64Cmd::Run(a) => run_gateway(*a),
        Nat64Cmd::Lookup(a) => crate::nat64_lookup::lookup(*a),
    }
}

fn run_gateway(a: RunArgs) -> Result<ExitCode, CliError> {
    // Each packet's outcome at `trace` (`--log-level trace`); nothing when off.
    use crate::service::logging::Traced;
    use sixgate_io::natlog::Logged;
    use sixgate_io::signals::Signals;
    use sixgate_io::{TunDevice, TunOptions};

    let name = a.config.display().to_string();
    let text = std::fs::read_to_string(&a.config).map_err(|e| CliError::input(format!("cannot read {name}: {e}")))?;
    let mut file = FileConfig::parse(&text, &name)?;
    let errs = file.check(&text, &name);
    if !errs.is_empty() {
        for e in &errs[..errs.len() - 1] {
            log!("sixgate: {e}");
        }
        return Err(CliError::input(errs[errs.len() - 1].clone()));
    }
    let tun = a.tun.clone().or_else(|| file.tun.clone());
    let queues = a.queues.or(file.queues).unwrap_or(1);
    sixgate_io::host::check_queues(queues).map_err(|e| CliError::input(format!("{name}: {e}")))?;
    let interval = file.stats_interval.unwrap_or(10);
    let offload = file.offload.unwrap_or(true);
    let crate::service::DaemonArgs { metrics_listen, user, routes: want_routes } =
        a.daemon.clone().over_file(file.metrics_listen, file.user.clone(), file.routes);
    let prefix_warnings = file.prefix_warnings();
    let stateful = file.take_stateful().map_err(|e| CliError::input(format!("{name}: {}", e.message)))?;
    // After the stateful keys, which take the event level from it.
    let log_table = file.log.take();
    // Checked with the file's other lines above.
    let fast_choice = crate::fast_path::choice(file.fast_path.as_deref(), &file.fast_path_interfaces)
        .map_err(|e| CliError::input(format!("{name}: {e}")))?;
    let log_line = log_table.as_ref().map(|l| l.describe()).transpose()?.flatten();
    let mut opts = EngineOpts::default();
    file.merge_into(&mut opts)?;
    let cfg = opts.to_config().map_err(|e| CliError::input(format!("{name}: {e}")))?;
    let stateful = match stateful {
        Some(st) => Some(st.to_config(cfg.clone()).map_err(|e| CliError::input(format!("{name}: {}", e.message)))?),
        None => None,
    };
    // With several queues the stateful tables are cut into one shard per queue, each
    // owning a slice of every pool4 port range (`Nat64Shards`).
    let shards = match &stateful {
        Some(st) if queues > 1 => Some(
            sixgate_nat64::Nat64Shards::new(st.clone(), queues)
                .map_err(|e| CliError::input(format!("{name}: queues: {e}")))?,
        ),
        _ => None,
    };
    let Some(tun) = tun else {
        return Err(CliError::input(format!("{name}: tun: the TUN device name is missing")));
    };
    let mut errs = crate::service::preflight::nat64(&tun, queues, a.check);
    if a.check {
        errs.extend(metrics_listen.map(sixgate_io::host::check_listen).unwrap_or_default());
    }
    crate::service::preflight::refuse(&name, errs)?;
    if a.check {
        println!("{name}: ok");
        println!(
            "  tun {tun}, {queues} queue(s), offload {}, MTU IPv4 {} / IPv6 {}",
            if offload { "on" } else { "off" },
            cfg.ipv4_mtu,
            cfg.ipv6_mtu
        );
        if let Some(p) = &cfg.pool6 {
            println!(
                "  pool6 {p}{}",
                if p.is_well_known() { " (well-known prefix: non-global IPv4 refused, RFC 6052 §3.1)" } else { "" }
            );
        }
        for e in cfg.eamt.entries() {
            println!("  eam {} = {}", e.v6(), e.v4());
        }
        println!("  own addresses {} / {}", cfg.own_ipv4, cfg.own_ipv6);
        if let Some(m) = metrics_listen {
            println!("  metrics http://{m}/metrics");
        }
        for w in &prefix_warnings {
            println!("  warning: {w}");
        }
        if let Some(st) = &stateful {
            println!(
                "  stateful NAT64 (RFC 6146): {:?} filtering, at most {} sessions ({} per source)",
                st.filtering, st.max_sessions, st.max_sessions_per_source
            );
            for r in &st.pool4 {
                println!("  pool4 {} ports {}-{}", r.prefix, r.first, r.last);
            }
        }
        if let Some(l) = &log_line {
            println!("  {l}");
        }
        if let Some(ifaces) = &fast_choice {
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
    let mtu = cfg.ipv4_mtu.max(cfg.ipv6_mtu);
    let devs = TunDevice::open(&TunOptions::new(tun.clone()).mtu(mtu).queues(queues).offload(offload))
        .map_err(|e| CliError::os("cannot open the translator's device", &e, Needs::Tun))?;
    let pool4: &[sixgate_nat64::Pool4Range] = stateful.as_ref().map_or(&[], |st| &st.pool4);
    // One event: the commands stay together, one per line, in every log format.
    let route_list = gateway_routes(&tun, &cfg, pool4);
    let routes: String = route_list.iter().map(|r| format!("\n  {}", r.command())).collect();
    log!(
        "sixgate: translating on {tun} ({queues} queue(s)); it needs these routes (they go with the device: \
         after a restart on a new device, add them again; a persistent device made once with \
         `ip tuntap add dev {tun} mode tun multi_queue` keeps them):{routes}"
    );
    let installed = install_routes(want_routes, &route_list)?;
    let tun_drops = crate::daemon::TunDrops::new(&devs[0]);
    let reloader =
        crate::service::Reloader::new(a.config.clone(), text, crate::service::reload::validate_nat64(queues));
    if installed.is_some() && user.is_some() {
        log!("sixgate: warning: routes and user: once root is dropped the routes cannot be removed on exit (they go with a device the gateway created)");
    }
    let extras = crate::nat64_log::Extras::open(log_table.as_ref(), &tun, queues)?;
    let level = extras.level();
    let reloader = reloader.on_hup(extras.reopener());
    // Stateless mode only (`--check` refuses it in stateful mode): the programs translate
    // what they can in the kernel and hand the rest to the TUN device, unchanged.
    let fast = crate::fast_path::FastPath::off();
    if stateful.is_none() {
        fast.start(fast_choice.as_deref(), |ifs| {
            let mut f = sixgate_bpf::SiitFastPath::load(&cfg)?;
            f.attach(ifs, &tun)?;
            Ok(f)
        });
    }
    let s = Serve {
        queues,
        interval,
        signals: &signals,
        tun_drops,
        reloader,
        metrics_listen,
        routes: installed,
        user,
        fast: fast.clone(),
    };
    use crate::service::reload::{apply_to_workers, nat64_configs, Apply};
    use sixgate_core::reload::ReloadReport;
    // A file that switches between stateless and stateful mode needs a restart: nothing
    // of it is applied.
    let mode_change = || {
        let mut r = ReloadReport::default();
        r.mark_restart("mode");
        r
    };
    let refused = |name: &str, e: &dyn std::fmt::Display| vec![format!("{name}: {e}")];
    let hint = RouteHint { tun: tun.clone(), known: std::sync::Mutex::new(route_list.clone()) };
    match (stateful, shards) {
        (_, Some(shards)) => {
            // The shards are shared by the workers' handles: reconfigured once, all at once.
            let live = shards.clone();
            let mut handles: Vec<_> = shards.into_handles().into_iter().map(Some).collect();
            let apply = move |_| -> Apply {
                Box::new(move |text, name| match nat64_configs(text, name, queues)? {
                    (_, Some(mut st)) => {
                        // The event level goes with the log's sink, opened at start.
                        st.events = level;
                        let r = live.reconfigure(st.clone(), queues, Instant::now()).map_err(|e| refused(name, &e))?;
                        hint.note(&st.xlate, &st.pool4);
                        Ok(r)
                    }
                    (_, None) => Ok(mode_change()),
                })
            };
            serve(
                devs,
                s,
                extras,
                move |x, k| Traced::new(x.wrap(k, handles[k].take().expect("one handle per queue"))),
                apply,
            )
        }
        (Some(st), None) => {
            type Engine = Traced<Logged<sixgate_nat64::Nat64>>;
            let apply = move |workers: Vec<sixgate_io::Control<Engine>>| -> Apply {
                Box::new(move |text, name| match nat64_configs(text, name, queues)? {
                    (_, Some(mut st)) => {
                        st.events = level;
                        let (xlate, pool4) = (st.xlate.clone(), st.pool4.clone());
                        let r = apply_to_workers(&workers, move |e: &mut Engine, now| {
                            e.get_mut().get_mut().reconfigure(st.clone(), now).map_err(|e| e.to_string())
                        })?;
                        hint.note(&xlate, &pool4);
                        Ok(r)
                    }
                    (_, None) => Ok(mode_change()),
                })
            };
            serve(
                devs,
                s,
                extras,
                move |x, k| {
                    Traced::new(x.wrap(k, sixgate_nat64::Nat64::new(st.clone()).expect("validated configuration")))
                },
                apply,
            )
        }
        (None, None) => {
            let apply = move |workers: Vec<sixgate_io::Control<Traced<Logged<Siit>>>>| -> Apply {
                Box::new(move |text, name| match nat64_configs(text, name, queues)? {
                    (cfg, None) => {
                        hint.note(&cfg, &[]);
                        let for_workers = cfg.clone();
                        let r = apply_to_workers(&workers, move |e: &mut Traced<Logged<Siit>>, _| {
                            e.get_mut().get_mut().reconfigure(for_workers.clone()).map_err(|e| e.to_string())
                        })?;
                        // The maps follow the engine, in place.
                        fast.reconfigure(&cfg);
                        Ok(r)
                    }
                    (_, Some(_)) => Ok(mode_change()),
                })
            };
            serve(
                devs,
                s,
                extras,
                move |x, k| Traced::new(x.wrap(k, Siit::new(cfg.clone()).expect("validated configuration"))),
                apply,
            )
        }
    }
}

/// The routes that send the gateway its traffic: the IPv6 prefixes standing for IPv4
/// hosts (pool6), the IPv4 prefixes standing for IPv6 hosts (pool4 in stateful mode), each
/// EAM entry on the side that stands for the other one, and the translator's own addresses
/// where no prefix above covers them. The daemon prints them, installs them with `routes =
/// true`, and `sixgate doctor` checks them: one list for all three.
pub(crate) fn gateway_routes(
    tun: &str,
    cfg: &sixgate_nat64::SiitConfig,
    pool4: &[sixgate_nat64::Pool4Range],
) -> Vec<Route> {
    let mut v = Vec::new();
    if let Some(p) = &cfg.pool6 {
        let n = p.net();
        v.push(Route::new(n.network().into(), n.prefix_len(), tun, "pool6"));
    }
    for r in pool4 {
        v.push(Route::new(r.prefix.network().into(), r.prefix.prefix_len(), tun, "pool4"));
    }
    // An EAM entry maps both ways (RFC 7757 §3); which side holds the hosts is the
    // network's, not the file's: the IPv4 prefix is routed here when the IPv6 side holds
    // them, the IPv6 prefix when the IPv4 side does. The first is installed, the second is
    // only printed.
    for e in cfg.eamt.entries() {
        let (v4, v6) = (e.v4(), e.v6());
        v.push(Route::new(
            v4.network().into(),
            v4.prefix_len(),
            tun,
            format!("EAM {v6} = {v4}: hosts on the IPv6 side"),
        ));
        v.push(Route::new(v6.network().into(), v6.prefix_len(), tun, "or, hosts on the IPv4 side").alternative());
    }
    if !pool4.iter().any(|r| r.prefix.contains(&cfg.own_ipv4)) {
        v.push(Route::new(cfg.own_ipv4.into(), 32, tun, "own address"));
    }
    if !cfg.pool6.as_ref().is_some_and(|p| p.contains(cfg.own_ipv6)) {
        v.push(Route::new(cfg.own_ipv6.into(), 128, tun, "own address"));
    }
    v
}

/// The `ip route` commands for [`gateway_routes`].
#[cfg(test)]
fn route_commands(tun: &str, cfg: &sixgate_nat64::SiitConfig, pool4: &[sixgate_nat64::Pool4Range]) -> Vec<String> {
    gateway_routes(tun, cfg, pool4).iter().map(Route::command).collect()
}

/// Installs `routes` when asked (`routes = true`), logging what was added and what was
/// already there (and so stays on exit).
pub(crate) fn install_routes(
    want: bool,
    routes: &[Route],
) -> Result<Option<sixgate_io::routes::InstalledRoutes>, CliError> {
    use sixgate_io::routes::Outcome;
    if !want {
        return Ok(None);
    }
    let set =
        sixgate_io::routes::install(routes).map_err(|e| CliError::os("cannot install the routes", &e, Needs::Tun))?;
    for (r, o) in &set.report {
        match o {
            Outcome::Added => log!("sixgate: route {r} added (removed on exit)"),
            Outcome::Existed => log!("sixgate: route {r} already present: left in place, not removed on exit"),
            Outcome::Skipped => log!("sixgate: route {r} not installed ({}): add it by hand if it applies", r.note),
        }
    }
    Ok(Some(set))
}

/// Removes the routes [`install_routes`] added, logging each.
pub(crate) fn remove_routes(set: Option<sixgate_io::routes::InstalledRoutes>) {
    for (r, res) in set.map(|s| s.remove()).unwrap_or_default() {
        match res {
            Ok(true) => log!("sixgate: route {r} removed"),
            Ok(false) => log!("sixgate: route {r} already gone"),
            Err(e) => log!("sixgate: route {r} not removed: {e}"),
        }
    }
}

/// The routes a reloaded configuration needs that the running one did not (a new EAM
/// entry, pool6 or pool4): logged once each for the operator to add, since the device
/// only has the routes of the start (`routes = true` installs those alone).
struct RouteHint {
    tun: String,
    /// The routes logged so far, at start included.
    known: std::sync::Mutex<Vec<Route>>,
}

impl RouteHint {
    /// Logs the routes of `cfg` and `pool4` not logged before.
    fn note(&self, cfg: &sixgate_nat64::SiitConfig, pool4: &[sixgate_nat64::Pool4Range]) {
        let mut known = self.known.lock().unwrap_or_else(|e| e.into_inner());
        let new: Vec<Route> =
            gateway_routes(&self.tun, cfg, pool4).into_iter().filter(|r| !known.contains(r)).collect();
        if new.is_empty() {
            return;
        }
        let lines: String = new.iter().map(|r| format!("\n  {}", r.command())).collect();
        log!("sixgate: SIGHUP: the new configuration also needs these routes (not installed):{lines}");
        known.extend(new);
    }
}

/// How [`serve`] runs.
struct Serve<'a> {
    queues: usize,
    /// Seconds between counter lines (0: none).
    interval: u64,
    signals: &'a sixgate_io::signals::Signals,
    /// The TUN device's own drop counters, for the counters line.
    tun_drops: Option<crate::daemon::TunDrops>,
    /// Re-reads the configuration file on SIGHUP.
    reloader: crate::service::Reloader,
    /// Where to serve Prometheus metrics.
    metrics_listen: Option<std::net::SocketAddr>,
    /// The routes installed at start (`routes = true`), removed before the device goes.
    routes: Option<sixgate_io::routes::InstalledRoutes>,
    /// The user to become once the device and the metrics socket are open (`user`).
    user: Option<String>,
    /// The kernel fast path (stateless mode, `fast_path = "bpf"`), for the counters.
    fast: crate::fast_path::FastPath<sixgate_bpf::SiitFastPath>,
}

/// Runs one engine per queue until a signal asks to stop, logging counters; on SIGHUP
/// applies the file through `apply`, given a control handle to every worker.
fn serve<E, F, A>(
    devs: Vec<sixgate_io::TunDevice>,
    s: Serve<'_>,
    extras: crate::nat64_log::Extras,
    mut make: F,
    apply: A,
) -> Result<ExitCode, CliError>
where
    E: Engine + Send + 'static,
    F: FnMut(&crate::nat64_log::Extras, usize) -> E + Send + 'static,
    A: FnOnce(Vec<sixgate_io::Control<E>>) -> crate::service::reload::Apply,
{
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};

    use sixgate_core::engine::Counters;
    use sixgate_io::signals::Signals;
    use sixgate_io::{run_controlled_workers, WorkerStats};

    let stop = Arc::new(AtomicBool::new(false));
    let Serve { queues, interval, signals, tun_drops, reloader, metrics_listen, routes, user, fast } = s;
    let (controls, mailboxes): (Vec<_>, Vec<_>) = (0..queues).map(|_| sixgate_io::control::<E>()).unzip();
    let reloader = reloader.live(crate::service::reload::NAT64_RESTART, apply(controls));
    let published: sixgate_io::Published<E::Reason> =
        Arc::new((0..queues).map(|_| Mutex::new(WorkerStats::default())).collect());
    let final_read = tun_drops.clone();
    let snapshot = {
        let published = Arc::clone(&published);
        move || {
            let q = |s: &WorkerStats<Counters<E::Reason>>| {
                (s.received, s.write_errors, s.counters.clone(), s.gauges.clone())
            };
            published.iter().filter_map(|s| s.lock().ok().map(|s| q(&s))).collect()
        }
    };
    let (health, log_line) = (Some(extras.health()), extras.line());
    let collectors = extras.collector().into_iter().chain(fast.collector("nat64")).collect();
    crate::service::metrics::start_engine_with("nat64", metrics_listen, Box::new(snapshot), &stop, collectors, health)?;
    crate::service::privilege::drop_to(user.as_deref(), "sixgate")?;
    let total = {
        let published = Arc::clone(&published);
        move || {
            let mut sum = WorkerStats::<Counters<E::Reason>>::default();
            let mut per_queue = Vec::new();
            for s in published.iter() {
                if let Ok(s) = s.lock() {
                    sum.counters.merge(&s.counters);
                    sum.received += s.received;
                    sum.write_errors += s.write_errors;
                    sum.whole += s.whole;
                    per_queue.push(s.received.to_string());
                }
            }
            // With several queues, how the kernel spread the packets over them.
            let spread = if per_queue.len() > 1 {
                format!(" received_per_queue={}", per_queue.join("/"))
            } else {
                String::new()
            };
            let kernel = tun_drops.as_ref().map(|t| t.line()).unwrap_or_default();
            format!(
                "received={} {} write_errors={} gso_whole={}{kernel}{spread}{}{}",
                sum.received,
                sum.counters,
                sum.write_errors,
                sum.whole,
                fast.line(),
                log_line()
            )
        }
    };
    let workers = {
        let stop = Arc::clone(&stop);
        let published = Arc::clone(&published);
        std::thread::spawn(move || {
            let r = run_controlled_workers(devs, |k| make(&extras, k), &stop, &published, mailboxes);
            // Every worker's sender has gone: what the log holds is written.
            extras.finish();
            // If the workers ended on their own (device error), wake the signal wait.
            if !stop.load(Ordering::Relaxed) {
                Signals::wake();
            }
            r
        })
    };
    crate::daemon::spawn_stats_log(&stop, interval, total.clone());
    crate::daemon::wait_for_stop(signals, "sixgate", &total, Some(&reloader), &|| workers.is_finished());
    remove_routes(routes);
    // The device goes with the workers: its counters as they stop.
    if let Some(t) = &final_read {
        t.refresh();
    }
    stop.store(true, Ordering::Relaxed);
    let results = workers.join().unwrap_or_default();
    log!("sixgate: stopped; final counters: {}", total());
    for r in results {
        r.map_err(|e| CliError::failure(format!("worker failed: {e}")))?;
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::route_commands;
    use sixgate_nat64::{Pool4Range, SiitConfig};

    #[test]
    fn route_commands_cover_the_configuration() {
        let mut c = SiitConfig::new("192.0.2.1".parse().unwrap(), "2001:db8:64::c000:201".parse().unwrap());
        c.pool6 = Some("2001:db8:64::/96".parse().unwrap());
        c.add_eam("2001:db8:6::/120", "203.0.113.0/24").unwrap();
        let pool4 = [Pool4Range::new("198.51.100.0/28".parse().unwrap(), 1024, 65535)];
        let cmds: Vec<String> = route_commands("nat64", &c, &pool4)
            .into_iter()
            .map(|l| l.split('#').next().unwrap_or_default().trim().to_owned())
            .collect();
        assert_eq!(
            cmds,
            [
                "ip -6 route add 2001:db8:64::/96 dev nat64",
                "ip route add 198.51.100.0/28 dev nat64",
                "ip route add 203.0.113.0/24 dev nat64",
                "ip -6 route add 2001:db8:6::/120 dev nat64",
                // The own IPv6 address is under pool6 already.
                "ip route add 192.0.2.1/32 dev nat64",
            ]
        );
        // Without pool6 the own IPv6 address needs its own route; an own IPv4 address in
        // pool4 does not.
        c.pool6 = None;
        let pool4 = [Pool4Range::new("192.0.2.0/24".parse().unwrap(), 1024, 65535)];
        let all = route_commands("t", &c, &pool4).join("\n");
        assert!(all.contains("ip -6 route add 2001:db8:64::c000:201/128 dev t"), "{all}");
        assert!(!all.contains("192.0.2.1/32"), "{all}");
    }
}
