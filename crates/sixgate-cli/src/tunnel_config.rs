//! `sixgate tunnel-config`: argument parsing and output only; the configuration is rendered
//! by `sixgate_6to4::tunnel`, the reverse zones of a routed prefix planned by
//! `sixgate_rdns::plan`.

use std::fmt::Write as _;
use std::process::ExitCode;

use clap::{Args, Subcommand, ValueEnum};
use ipnet::IpNet;
use sixgate_6to4::tunnel::{Format, Kind, TunnelSpec};
use sixgate_6to4::Error;
use sixgate_6to4::{Scope, DEPRECATION_NOTE};

use crate::sixto4::{emit, lib_err, parse_v4, parse_v6, parse_v6_net};
use crate::CliError;

/// Output formats of `tunnel-config`.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum FormatArg {
    /// Every format below.
    All,
    /// ifupdown `/etc/network/interfaces`.
    Ifupdown,
    /// iproute2 commands.
    Iproute2,
    /// systemd-networkd files.
    Networkd,
    /// netplan YAML.
    Netplan,
    /// OpenWrt `/etc/config/network` and `/etc/config/firewall` sections.
    Uci,
    /// An nftables firewall for the tunnel (with the MSS clamp).
    Nftables,
    /// The same firewall for iptables-restore and ip6tables-restore.
    Iptables,
    /// radvd.conf announcing the routed prefix on the LAN (needs --routed).
    Radvd,
}

const AFTER_HELP: &str = "\
TTL: every format sets the outer TTL to 64, the IPv4 default, as `sixgate tunnel run` does:
RFC 4213 §3.3 leaves the encapsulating header's TTL implementation dependent and points at
the suggested default of the Assigned Numbers registry (64). Any fixed TTL keeps DF set and
path MTU discovery on under Linux; the 255 of some brokers' examples adds nothing.

Firewall (--format nftables / iptables / uci): protocol 41 only from the remote endpoint
(6in4) or from any global IPv4 source (6to4, with the RFC 3964 checks a filter can make),
from the tunnel only established/related traffic and the ICMPv6 of RFC 4890 §4.3.1, the MSS
clamp; the host's other rules are left alone.";

/// Options shared by both tunnel kinds.
#[derive(Args)]
pub(crate) struct TunnelCommon {
    /// The MTU of the IPv4 link under the tunnel (1500 Ethernet, 1492 PPPoE).
    #[arg(long, default_value_t = 1500)]
    link_mtu: u32,
    /// Which configuration to print.
    #[arg(long, value_enum, default_value_t = FormatArg::All)]
    format: FormatArg,
}

/// `sixgate tunnel-config` kinds.
#[derive(Subcommand)]
pub(crate) enum TunnelConfigCmd {
    /// A 6to4 tunnel (RFC 3056; deprecated for new deployments by RFC 7526).
    #[command(name = "6to4", after_help = AFTER_HELP)]
    SixToFour {
        /// The local global IPv4 address.
        #[arg(long)]
        local: String,
        /// The tunnel interface name.
        #[arg(long, default_value = "tun6to4")]
        name: String,
        /// Accept a non-global local address for lab use.
        #[arg(long)]
        allow_non_global: bool,
        #[command(flatten)]
        common: TunnelCommon,
    },
    /// A static 6in4 tunnel to a tunnel broker (RFC 4213).
    #[command(name = "6in4", after_help = AFTER_HELP)]
    SixInFour(Box<SixInFourArgs>),
}

/// Arguments of `sixgate tunnel-config 6in4`.
#[derive(Args)]
pub(crate) struct SixInFourArgs {
    /// The local IPv4 address: this host's address on the uplink (the private one behind NAT,
    /// with --allow-non-global).
    #[arg(long)]
    local: String,
    /// The broker's IPv4 address.
    #[arg(long)]
    remote: String,
    /// The client's IPv6 address with its prefix length, e.g. 2001:db8:1::2/64.
    #[arg(long)]
    client: String,
    /// The server's IPv6 address (the default gateway), e.g. 2001:db8:1::1.
    #[arg(long)]
    server: String,
    /// The tunnel interface name.
    #[arg(long, default_value = "sit6in4")]
    name: String,
    /// Accept non-global addresses: a private --local behind NAT (what tunnel brokers
    /// support: the broker is told the NAT's public address), or documentation and private
    /// addresses in a lab. Loopback, multicast, broadcast and the like are refused anyway.
    #[arg(long)]
    allow_non_global: bool,
    /// A prefix the broker routes to you (its "routed /64" or "/48"): adds the LAN side,
    /// its first /64 with the router at ::1 and announced by router advertisements, and the
    /// reverse zones to ask the broker to delegate.
    #[arg(long, value_name = "PREFIX")]
    routed: Option<String>,
    /// The LAN interface for --routed [default: lan for uci (OpenWrt's logical LAN
    /// interface), eth1 for the others (the second port of a two-port router)].
    #[arg(long, value_name = "IF", requires = "routed")]
    lan_if: Option<String>,
    /// The broker's tunnel id (OpenWrt updates the endpoint with it at each start).
    #[arg(long, value_name = "ID")]
    tunnel_id: Option<String>,
    /// The broker account's user name (with --tunnel-id).
    #[arg(long, value_name = "NAME", requires = "tunnel_id")]
    username: Option<String>,
    #[command(flatten)]
    common: TunnelCommon,
}

/// A library error as a CLI error, with the flag that overrides a non-global refusal.
fn tunnel_err(e: Error) -> CliError {
    match e {
        Error::SpecialAddress { overridable: true, .. } => CliError::input(format!("{e} (--allow-non-global)")),
        e => lib_err(e),
    }
}

fn scope(allow: bool) -> Scope {
    if allow {
        Scope::AllowNonGlobal
    } else {
        Scope::GlobalOnly
    }
}

/// The reverse zones of the routed prefix, as comment lines.
fn reverse_plan(spec: &TunnelSpec) -> String {
    let mut o = String::new();
    let Some(lan) = &spec.lan else { return o };
    let zones = sixgate_rdns::plan::plan(IpNet::V6(lan.routed));
    let _ = writeln!(
        o,
        "\n# Reverse DNS for {}: ask the broker to delegate {} to your name servers",
        lan.routed,
        if zones.len() == 1 { "this zone" } else { "these zones" }
    );
    for z in &zones {
        let _ = writeln!(o, "#   {}", z.origin());
    }
    let _ = writeln!(o, "# and write it with: sixgate rdns zone {} --ns NS --hostmaster EMAIL", lan.routed);
    o
}

pub(crate) fn run(c: TunnelConfigCmd) -> Result<ExitCode, CliError> {
    let (spec, format) = match c {
        TunnelConfigCmd::SixToFour { local, name, allow_non_global, common } => {
            let local = parse_v4(&local, "--local")?;
            let spec =
                TunnelSpec::six_to_four(&name, local, common.link_mtu, scope(allow_non_global)).map_err(tunnel_err)?;
            (spec, common.format)
        }
        TunnelConfigCmd::SixInFour(a) => {
            let local = parse_v4(&a.local, "--local")?;
            let remote = parse_v4(&a.remote, "--remote")?;
            let client = parse_v6_net(&a.client, "--client")?;
            let server = parse_v6(&a.server, "--server")?;
            let sc = scope(a.allow_non_global);
            let mut spec = TunnelSpec::six_in_four(&a.name, local, remote, client, server, a.common.link_mtu, sc)
                .map_err(tunnel_err)?;
            if let Some(r) = &a.routed {
                let routed = parse_v6_net(r, "--routed")?;
                spec = spec.with_routed(routed, a.lan_if.as_deref(), sc).map_err(tunnel_err)?;
            }
            if let Some(id) = &a.tunnel_id {
                spec = spec.with_broker(id, a.username.as_deref()).map_err(tunnel_err)?;
            }
            (spec, a.common.format)
        }
    };
    if format == FormatArg::Radvd && spec.lan.is_none() {
        return Err(CliError::input("--format radvd announces a routed prefix: give it with --routed PREFIX"));
    }
    // render_all() carries the RFC 7526 notice for 6to4 once; a single format gets it here.
    let note = match (&spec.kind, format) {
        (Kind::SixToFour { .. }, f) if f != FormatArg::All => format!("# note: {DEPRECATION_NOTE}\n\n"),
        _ => String::new(),
    };
    let one = |f| spec.render(f);
    let text =
        note + &match format {
            FormatArg::All => spec.render_all(),
            FormatArg::Ifupdown => one(Format::Ifupdown),
            FormatArg::Iproute2 => one(Format::Iproute2),
            FormatArg::Networkd => one(Format::Networkd),
            FormatArg::Netplan => one(Format::Netplan),
            FormatArg::Uci => one(Format::Uci),
            FormatArg::Nftables => one(Format::Nftables),
            FormatArg::Iptables => one(Format::Iptables),
            FormatArg::Radvd => one(Format::Radvd),
        } + &reverse_plan(&spec);
    emit(text.trim_end())
}
