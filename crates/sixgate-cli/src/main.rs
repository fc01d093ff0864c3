//! `sixgate`: the command-line front end. Argument parsing and output formatting only;
//! every subcommand is a thin call into a library crate.

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

mod daemon;
mod dns64;
mod dns64_config;
mod doctor;
mod error;
mod fast_path;
mod fmt;
mod nat64;
mod nat64_config;
mod nat64_log;
mod nat64_lookup;
mod nat64_translate;
mod proxy;
mod rdns;
mod rdns_serve;
mod service;
mod sixto4;
mod tunnel;
mod tunnel_config;

pub(crate) use error::CliError;

/// IPv4→IPv6 transition toolkit: 6to4/6rd, address explanation, tunnel configuration,
/// NAT64 translation, reverse DNS.
#[derive(Parser)]
#[command(name = "sixgate", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
    #[command(flatten)]
    log: service::logging::LogArgs,
}

#[derive(Subcommand)]
enum Cmd {
    /// The 6to4 prefix of an IPv4 address (RFC 3056); `-` reads addresses from stdin.
    #[command(name = "6to4")]
    SixToFour(sixto4::SixToFourArgs),
    /// 6rd delegated prefix of a CE (RFC 5969), or the CE's IPv4 from a delegated prefix.
    #[command(name = "6rd")]
    SixRd(sixto4::SixRdArgs),
    /// Explain an IPv6 (or IPv4) address: class, and any IPv4 address it carries.
    Addr(sixto4::AddrArgs),
    /// An address in the forms configurations need: [v6]:port, URL, nginx, HAProxy, munin,
    /// Postfix, RFC 5952, expanded, reverse name.
    Fmt(fmt::FmtArgs),
    /// Ready-to-paste tunnel configuration (ifupdown, iproute2, systemd-networkd, netplan,
    /// OpenWrt UCI) and its firewall (nftables, iptables).
    #[command(name = "tunnel-config", subcommand)]
    TunnelConfig(tunnel_config::TunnelConfigCmd),
    /// Reverse DNS: names, zone planning, zone files.
    #[command(subcommand)]
    Rdns(rdns::RdnsCmd),
    /// NAT64 / SIIT translation.
    #[command(subcommand)]
    Nat64(nat64::Nat64Cmd),
    /// 6in4 (sit) tunnel endpoints.
    #[command(subcommand)]
    Tunnel(tunnel::TunnelCmd),
    /// DNS64 server (RFC 6147) in front of an upstream resolver, UDP and TCP.
    Dns64(Box<dns64::Dns64Args>),
    /// IPv4 clients to IPv6-only web servers: TLS routed by SNI, HTTP by Host, the
    /// client's address in a PROXY header or a NAT46 source.
    Proxy(Box<proxy::ProxyArgs>),
    /// Shell completion script on standard output (e.g. `sixgate completions bash`).
    Completions(service::docs::CompletionsArgs),
    /// Manual pages: every command's into DIR, or sixgate(1) on standard output.
    Man(service::docs::ManArgs),
    /// Check the host against a gateway or tunnel configuration: forwarding, routes, MTU,
    /// rp_filter and, given a resolver, DNS64; each failure with its fix.
    Doctor(doctor::DoctorArgs),
}

impl Cmd {
    /// The long-running subcommands, which log through `tracing`.
    fn is_daemon(&self) -> bool {
        matches!(
            self,
            Self::Nat64(nat64::Nat64Cmd::Run(_))
                | Self::Tunnel(_)
                | Self::Dns64(_)
                | Self::Rdns(rdns::RdnsCmd::Serve(_))
                | Self::Proxy(_)
        )
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.cmd.is_daemon() {
        if let Err(e) = service::logging::init(&cli.log) {
            daemon::log_error(&e);
            return ExitCode::from(e.code);
        }
    }
    let r = match cli.cmd {
        Cmd::SixToFour(a) => sixto4::run_6to4(a),
        Cmd::SixRd(a) => sixto4::run_6rd(a),
        Cmd::Addr(a) => sixto4::run_addr(a),
        Cmd::Fmt(a) => fmt::run(a),
        Cmd::TunnelConfig(c) => tunnel_config::run(c),
        Cmd::Rdns(c) => rdns::run(c),
        Cmd::Nat64(c) => nat64::run(c),
        Cmd::Tunnel(c) => tunnel::run(c),
        Cmd::Dns64(a) => dns64::run(*a),
        Cmd::Proxy(a) => proxy::run(*a),
        Cmd::Completions(a) => service::docs::completions(&a, Cli::command()),
        Cmd::Man(a) => service::docs::man(&a, Cli::command()),
        Cmd::Doctor(a) => doctor::run(a),
    };
    match r {
        Ok(code) => code,
        Err(e) => {
            daemon::log_error(&e);
            ExitCode::from(e.code)
        }
    }
}
