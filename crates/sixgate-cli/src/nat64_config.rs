//! The translator's options as command-line flags and as TOML keys, one set of names.
//!
//! ```toml
//! pool6 = "2001:db8:64::/96"
//! ipv4 = "192.0.2.1"          # own addresses: sources of the ICMP errors it generates
//! ipv6 = "2001:db8::1"
//! mtu = 1500                  # both sides, unless ipv4_mtu / ipv6_mtu say otherwise
//! lowest_ipv6_mtu = 1280
//! rfc6791_v4 = "192.0.2.192/28"
//! rfc6791_v6 = "2001:db8:ffff::/64"
//! amend_udp_checksum_zero = false
//! traffic_class = "copy"      # IPv4 TOS → IPv6 traffic class: copy, zero or 0-255
//! tos = "copy"                # IPv6 traffic class → IPv4 TOS
//! denylist4 = ["203.0.113.0/24"]
//! icmp_rate = 1000            # generated ICMP errors per second (0: unlimited)
//! icmp_burst = 100
//! answer_pings = true
//! dns64_prefix = "2001:db8:64::/96"  # the prefix the network's DNS64 synthesizes under
//!                                    # (RFC 6147); `nat64 run --check` warns unless it is pool6
//! pref64 = "2001:db8:64::/96"        # the prefix the routers announce (RFC 8781 PREF64);
//!                                    # ditto. Both: /32, /40, /48, /56, /64 or /96, no host
//!                                    # bits (RFC 6052 §2.2); they do not change translation
//! [[eam]]
//! ipv6 = "2001:db8:1::/120"
//! ipv4 = "198.51.100.0/24"
//! [[eam]]                     # the IPv6 suffix may be longer than the IPv4 suffix (RFC 7757 §3.2):
//! ipv6 = "2001:db8:1c6:3364::/72"   # 198.18.0.7 = 2001:db8:1c6:3364:7::
//! ipv4 = "198.18.0.0/24"
//! ```
//!
//! The gateway in stateless mode also takes the kernel fast path (a binary built with the
//! `bpf` feature; without it, or on a kernel that cannot, one line says so and the TUN path
//! carries everything):
//!
//! ```toml
//! fast_path = "bpf"                 # or "none" (the default); a restart changes it
//! fast_path_interfaces = ["eth0", "eth1"]  # where the packets to translate arrive
//! ```
//!
//! The gateway (`sixgate nat64 run`) also takes, with `mode = "stateful"` (RFC 6146):
//!
//! ```toml
//! mode = "stateful"
//! pool4 = ["198.51.100.0/30", "203.0.113.7/32 20000-29999"]  # prefix [first-last port]
//! filtering = "address-dependent"   # or "endpoint-independent"
//! max_sessions = 1000000
//! max_sessions_per_source = 4096
//! udp_timeout = 300                 # seconds
//! icmp_timeout = 60
//! tcp_est_timeout = 7440
//! tcp_trans_timeout = 240
//! tcp_incoming_syn_timeout = 6      # an unsolicited IPv4 SYN is held this long (RFC 6146 §3.5.2.2)
//! max_held_syns = 64
//! fragment_timeout = 2              # RFC 6146 §3.4 FRAGMENT_MIN
//! max_fragment_flows = 4096
//! max_fragment_bytes = 262144
//! new_sessions_per_second = 100000  # session-creation budget (0: none); new flows over it
//! new_sessions_burst = 10000        # are dropped silently (`new-flow-budget`) so that a
//!                                   # flood of new flows leaves established ones room
//! instance = "1/2"                  # gateway 1 of 2 serving one pool6: keeps part 1 of
//!                                   # pool4's addresses (docs/scaling-out.md)
//!
//! [log]                             # BIB and session events (off by default; a restart
//! events = "bib"                    # changes this table): "off", "bib" or "session"
//! file = "/var/log/sixgate/nat64.jsonl"  # JSON Lines, reopened on SIGHUP; or
//! # syslog = true                   # RFC 5424 to /dev/log; or
//! # syslog_server = "192.0.2.9:514" # RFC 5424 over UDP
//! # ipfix = "192.0.2.9:4739"        # and/or IPFIX NAT events (RFC 8158) over UDP
//! # ipfix_domain = 1                # its observation domain: one per instance
//! # queue = 65536                   # events waiting for the log thread; more are dropped
//! ```
//!
//! and, for carriers, port blocks per subscriber (one log line per block) or the RFC 7422
//! deterministic mapping (no log; `sixgate nat64 lookup` answers from the file):
//!
//! ```toml
//! port_block = 2016                 # ports per block; must divide every pool4 port range
//! block_prefix_len = 56             # a subscriber: sources sharing this prefix (56-128)
//! max_blocks_per_subscriber = 8     # then new flows are dropped (`block-limit`)
//! block_hold = "120s"               # a block stays this long after its last session ("2m", 120)
//! # or instead, deterministic (RFC 7422): each /56 of `subscribers` gets port_block ports
//! # deterministic = true
//! # subscribers = "2001:db8:100::/40"
//! ```

use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::time::Duration;

use clap::Args;
use ipnet::{Ipv4Net, Ipv6Net};
use serde::Deserialize;
use sixgate_core::rfc6052::{self, Pool6};
use sixgate_nat64::{
    Allocation, Deterministic, EventLevel, Filtering, IcmpRateLimit, Instance, Nat64Config, Pool4Range, PortBlocks,
    SiitConfig, Timers, TosPolicy,
};
use toml::Spanned;

use crate::CliError;

/// Engine options as flags (every key of the TOML file has a flag).
#[derive(Args, Debug, Default, Clone)]
pub(crate) struct EngineOpts {
    /// RFC 6052 translation prefix (/32, /40, /48, /56, /64 or /96), e.g. 64:ff9b::/96.
    #[arg(long, value_name = "PREFIX")]
    pub(crate) pool6: Option<String>,
    /// Explicit address mapping V6PREFIX=V4PREFIX (RFC 7757); repeat for more. The IPv4
    /// suffix goes right after the IPv6 prefix, so the IPv6 suffix may be longer (e.g.
    /// 2001:db8:1c6:3364::/72=198.51.100.0/24), never shorter (RFC 7757 §3.2).
    #[arg(long, value_name = "V6PREFIX=V4PREFIX")]
    pub(crate) eam: Vec<String>,
    /// The translator's own IPv4 address (source of the ICMPv4 errors it sends)
    /// [default: 192.0.0.8, the RFC 7600 IPv4 dummy address].
    #[arg(long, value_name = "ADDR")]
    pub(crate) own_ipv4: Option<Ipv4Addr>,
    /// The translator's own IPv6 address (source of the ICMPv6 errors it sends)
    /// [default: 192.0.0.8 under pool6].
    #[arg(long, value_name = "ADDR")]
    pub(crate) own_ipv6: Option<Ipv6Addr>,
    /// RFC 6791 pool of IPv4 sources for ICMPv6 errors from untranslatable routers.
    #[arg(long, value_name = "PREFIX")]
    pub(crate) rfc6791_v4: Option<String>,
    /// Pool of IPv6 sources for ICMPv4 errors from untranslatable routers.
    #[arg(long, value_name = "PREFIX")]
    pub(crate) rfc6791_v6: Option<String>,
    /// MTU of the IPv4 side [default: 1500].
    #[arg(long, value_name = "BYTES")]
    pub(crate) ipv4_mtu: Option<u16>,
    /// MTU of the IPv6 side [default: 1500].
    #[arg(long, value_name = "BYTES")]
    pub(crate) ipv6_mtu: Option<u16>,
    /// Lowest MTU of the IPv6 domain; DF-clear IPv4 packets are fragmented to fit it
    /// (RFC 7915 §4.1) [default: 1280].
    #[arg(long, value_name = "BYTES")]
    pub(crate) lowest_ipv6_mtu: Option<u16>,
    /// Compute missing checksums of unfragmented IPv4 UDP packets instead of refusing them.
    #[arg(long)]
    pub(crate) amend_udp_checksum_zero: bool,
    /// IPv4 TOS → IPv6 traffic class: copy, zero, or a value 0-255 [default: copy].
    #[arg(long, value_name = "POLICY")]
    pub(crate) traffic_class: Option<String>,
    /// IPv6 traffic class → IPv4 TOS: copy, zero, or a value 0-255 [default: copy].
    #[arg(long, value_name = "POLICY")]
    pub(crate) tos: Option<String>,
    /// IPv4 prefix never translated through pool6; repeat for more.
    #[arg(long, value_name = "PREFIX")]
    pub(crate) denylist4: Vec<String>,
    /// ICMP errors the translator generates per second, 0 for no limit [default: 1000].
    #[arg(long, value_name = "N")]
    pub(crate) icmp_rate: Option<u32>,
    /// Burst of generated ICMP errors [default: 100].
    #[arg(long, value_name = "N")]
    pub(crate) icmp_burst: Option<u32>,
    /// Do not answer pings addressed to the translator's own addresses.
    #[arg(long)]
    pub(crate) no_answer_pings: bool,
}

/// One `[[eam]]` table.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct EamToml {
    ipv6: Spanned<String>,
    ipv4: Spanned<String>,
}

/// The TOML file. Unknown keys are errors.
#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileConfig {
    /// TUN device name (used by the gateway).
    pub(crate) tun: Option<String>,
    /// Operating mode (the gateway): "stateless" (SIIT, the default) or "stateful" (NAT64).
    pub(crate) mode: Option<String>,
    /// Stateful mode: IPv4 pool entries, `"PREFIX"` or `"PREFIX FIRST-LAST"`.
    #[serde(default)]
    pool4: Vec<Spanned<String>>,
    /// Stateful mode: "address-dependent" or "endpoint-independent".
    filtering: Option<Spanned<String>>,
    /// Stateful mode: session limits.
    max_sessions: Option<usize>,
    max_sessions_per_source: Option<usize>,
    /// Stateful mode: lifetimes in seconds.
    udp_timeout: Option<u64>,
    icmp_timeout: Option<u64>,
    tcp_est_timeout: Option<u64>,
    tcp_trans_timeout: Option<u64>,
    tcp_incoming_syn_timeout: Option<u64>,
    /// Stateful mode: held unsolicited SYNs and waiting fragments.
    max_held_syns: Option<usize>,
    fragment_timeout: Option<u64>,
    max_fragment_flows: Option<usize>,
    max_fragment_bytes: Option<usize>,
    /// Stateful mode: the session-creation budget (a rate and a burst; rate 0: none).
    new_sessions_per_second: Option<u32>,
    new_sessions_burst: Option<u32>,
    /// Stateful mode: ports per block (port-block mode) or per subscriber (deterministic).
    port_block: Option<u16>,
    /// Stateful mode: a subscriber's prefix length (port blocks, deterministic).
    block_prefix_len: Option<u8>,
    /// Stateful mode: blocks a subscriber holds at most.
    max_blocks_per_subscriber: Option<u16>,
    /// Stateful mode: how long a block stays after its last session (seconds or "120s").
    block_hold: Option<Spanned<TomlHold>>,
    /// Stateful mode: the RFC 7422 deterministic mapping.
    deterministic: Option<bool>,
    /// Stateful mode, deterministic: the prefix the subscriber prefixes are cut from.
    subscribers: Option<Spanned<String>>,
    /// Stateful mode: this gateway's part of pool4, `"k/n"`.
    instance: Option<Spanned<String>>,
    /// The event log (stateful mode).
    pub(crate) log: Option<crate::nat64_log::LogToml>,
    pool6: Option<Spanned<String>>,
    ipv4: Option<Ipv4Addr>,
    ipv6: Option<Ipv6Addr>,
    mtu: Option<u16>,
    ipv4_mtu: Option<u16>,
    ipv6_mtu: Option<u16>,
    lowest_ipv6_mtu: Option<u16>,
    rfc6791_v4: Option<Spanned<String>>,
    rfc6791_v6: Option<Spanned<String>>,
    amend_udp_checksum_zero: Option<bool>,
    traffic_class: Option<Spanned<TomlTos>>,
    tos: Option<Spanned<TomlTos>>,
    #[serde(default)]
    denylist4: Vec<Spanned<String>>,
    icmp_rate: Option<u32>,
    icmp_burst: Option<u32>,
    answer_pings: Option<bool>,
    /// The prefix the network's DNS64 synthesizes under; `--check` warns if it is not pool6.
    pub(crate) dns64_prefix: Option<Spanned<String>>,
    /// The prefix the routers announce in PREF64 (RFC 8781); `--check` warns if it is not
    /// pool6.
    pub(crate) pref64: Option<Spanned<String>>,
    /// Worker threads, one TUN queue each (the gateway).
    pub(crate) queues: Option<usize>,
    /// Seconds between counter log lines (the gateway); 0 turns them off.
    pub(crate) stats_interval: Option<u64>,
    /// virtio-net GSO/GRO offload on the TUN device (the gateway) [default: true].
    pub(crate) offload: Option<bool>,
    /// Install the printed routes through rtnetlink, remove them on exit (the gateway).
    pub(crate) routes: Option<bool>,
    /// Where to serve Prometheus metrics (the gateway; `--metrics-listen` wins).
    pub(crate) metrics_listen: Option<std::net::SocketAddr>,
    /// The user to run as after setup when started as root (the gateway; `--user` wins).
    pub(crate) user: Option<String>,
    /// The kernel fast path (the gateway, stateless mode): `"bpf"` or `"none"` (the default).
    pub(crate) fast_path: Option<String>,
    /// The interfaces the fast path's programs attach to: where the packets to translate
    /// arrive.
    #[serde(default)]
    pub(crate) fast_path_interfaces: Vec<String>,
    #[serde(default)]
    eam: Vec<EamToml>,
}

/// `block_hold`: seconds, or text such as `"120s"`.
#[derive(Deserialize, Debug, Clone)]
#[serde(untagged)]
enum TomlHold {
    Num(u64),
    Text(String),
}

/// `"copy"`, `"zero"` or a number.
#[derive(Deserialize, Debug, Clone)]
#[serde(untagged)]
enum TomlTos {
    Num(u8),
    Text(String),
}

impl TomlTos {
    fn to_text(&self) -> String {
        match self {
            Self::Num(n) => n.to_string(),
            Self::Text(t) => t.clone(),
        }
    }
}

impl FileConfig {
    /// Reads and parses a TOML file; errors name the file, line and column.
    pub(crate) fn load(path: &Path) -> Result<Self, CliError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| CliError::input(format!("cannot read config {}: {e}", path.display())))?;
        Self::parse(&text, &path.display().to_string())
    }

    pub(crate) fn parse(text: &str, name: &str) -> Result<Self, CliError> {
        toml::from_str(text).map_err(|e| toml_error(text, name, &e))
    }

    /// Checks every value on its own and returns one message per bad line
    /// (`FILE:LINE: key: why`), so `--check` can name them all at once.
    pub(crate) fn check(&self, text: &str, name: &str) -> Vec<String> {
        let line = |start: usize| text.as_bytes()[..start.min(text.len())].iter().filter(|&&b| b == b'\n').count() + 1;
        let mut errs = Vec::new();
        let mut bad = |start: usize, key: &str, why: String| errs.push(format!("{name}:{}: {key}: {why}", line(start)));
        if let Some(p) = &self.pool6 {
            if let Err(e) = p.get_ref().parse::<Pool6>() {
                bad(p.span().start, "pool6", format!("{:?}: {e}", p.get_ref()));
            }
        }
        for (key, v) in [("rfc6791_v4", &self.rfc6791_v4)] {
            if let Some(p) = v {
                if p.get_ref().parse::<Ipv4Net>().map_or(true, |n| n.trunc() != n) {
                    bad(p.span().start, key, format!("{:?} is not an IPv4 prefix without host bits", p.get_ref()));
                }
            }
        }
        if let Some(p) = &self.rfc6791_v6 {
            if p.get_ref().parse::<Ipv6Net>().map_or(true, |n| n.trunc() != n) {
                bad(p.span().start, "rfc6791_v6", format!("{:?} is not an IPv6 prefix without host bits", p.get_ref()));
            }
        }
        for (key, v) in [("traffic_class", &self.traffic_class), ("tos", &self.tos)] {
            if let Some(t) = v {
                if let Err(e) = t.get_ref().to_text().parse::<TosPolicy>() {
                    bad(t.span().start, key, e.to_string());
                }
            }
        }
        for d in &self.denylist4 {
            if d.get_ref().parse::<Ipv4Net>().is_err() {
                bad(d.span().start, "denylist4", format!("{:?} is not an IPv4 prefix", d.get_ref()));
            }
        }
        for e in &self.eam {
            let v6 = e.ipv6.get_ref().parse::<Ipv6Net>();
            let v4 = e.ipv4.get_ref().parse::<Ipv4Net>();
            match (v6, v4) {
                (Err(_), _) => {
                    bad(e.ipv6.span().start, "eam.ipv6", format!("{:?} is not an IPv6 prefix", e.ipv6.get_ref()))
                }
                (_, Err(_)) => {
                    bad(e.ipv4.span().start, "eam.ipv4", format!("{:?} is not an IPv4 prefix", e.ipv4.get_ref()))
                }
                (Ok(a), Ok(b)) => {
                    if let Err(err) = sixgate_nat64::eamt::Eam::new(a, b) {
                        bad(e.ipv6.span().start, "eam", err.to_string());
                    }
                }
            }
        }
        if let Some(p) = &self.dns64_prefix {
            if let Err(e) = p.get_ref().parse::<Pool6>() {
                bad(p.span().start, "dns64_prefix", format!("{:?}: {e}", p.get_ref()));
            }
        }
        if let Some(p) = &self.pref64 {
            // RFC 8781 §4 PLC lengths are RFC 6052 §2.2's; a prefix with host bits is refused
            // (rather than announced truncated) like any other RFC 6052 prefix.
            let ok =
                p.get_ref().parse::<Pool6>().map_err(|e| e.to_string()).and_then(|n| {
                    sixgate_nat64::pref64::Pref64::new(n.net(), 0).map_err(|e| e.to_string()).map(|_| ())
                });
            if let Err(e) = ok {
                bad(p.span().start, "pref64", format!("{:?}: {e}", p.get_ref()));
            }
        }
        if let Some(m) = self.lowest_ipv6_mtu.filter(|&m| m < 1280) {
            errs.push(format!("{name}: lowest_ipv6_mtu: {m} is below 1280"));
        }
        if self.queues == Some(0) {
            errs.push(format!("{name}: queues: must be at least 1"));
        }
        if let Err(e) = crate::fast_path::choice(self.fast_path.as_deref(), &self.fast_path_interfaces) {
            errs.push(format!("{name}: {e}"));
        } else if self.fast_path.as_deref() == Some("bpf") && self.mode.as_deref() == Some("stateful") {
            errs.push(format!(
                "{name}: fast_path: the BPF fast path translates in stateless mode (SIIT) only; remove it or \
                 set fast_path = \"none\" (stateful NAT64 keeps its sessions in the engine)"
            ));
        }
        errs
    }

    /// Warnings for `--check`: the DNS64 prefix and the announced PREF64, where given, that
    /// differ from the file's pool6 (clients would get addresses nothing translates).
    pub(crate) fn prefix_warnings(&self) -> Vec<String> {
        let get = |v: &Option<Spanned<String>>| v.as_ref().and_then(|p| p.get_ref().parse::<Ipv6Net>().ok());
        let (dns64, pref64) = (get(&self.dns64_prefix), get(&self.pref64));
        match self.pool6.as_ref().and_then(|p| p.get_ref().parse::<Pool6>().ok()) {
            Some(p) => {
                sixgate_nat64::pref64::check_agreement(pref64, dns64, p.net()).iter().map(ToString::to_string).collect()
            }
            None => [("DNS64 prefix", dns64), ("announced PREF64", pref64)]
                .into_iter()
                .filter_map(|(what, n)| n.map(|n| format!("{what} {n} is set but the translator has no pool6")))
                .collect(),
        }
    }

    /// The stateful part of the file, taken out before [`FileConfig::merge_into`]:
    /// `None` in stateless mode (where the stateful keys are refused).
    pub(crate) fn take_stateful(&mut self) -> Result<Option<StatefulOpts>, CliError> {
        let stateful = match self.mode.as_deref() {
            None | Some("stateless") => false,
            Some("stateful") => true,
            Some(m) => {
                return Err(CliError::input(format!("mode {m:?}: \"stateless\" or \"stateful\"")));
            }
        };
        let any = !self.pool4.is_empty()
            || self.filtering.is_some()
            || self.max_sessions.is_some()
            || self.max_sessions_per_source.is_some()
            || self.udp_timeout.is_some()
            || self.icmp_timeout.is_some()
            || self.tcp_est_timeout.is_some()
            || self.tcp_trans_timeout.is_some()
            || self.tcp_incoming_syn_timeout.is_some()
            || self.max_held_syns.is_some()
            || self.fragment_timeout.is_some()
            || self.max_fragment_flows.is_some()
            || self.max_fragment_bytes.is_some()
            || self.new_sessions_per_second.is_some()
            || self.new_sessions_burst.is_some()
            || self.port_block.is_some()
            || self.block_prefix_len.is_some()
            || self.max_blocks_per_subscriber.is_some()
            || self.block_hold.is_some()
            || self.deterministic.is_some()
            || self.subscribers.is_some()
            || self.instance.is_some()
            || self.log.as_ref().is_some_and(|l| l.level().is_ok_and(|l| l != EventLevel::Off));
        if !stateful {
            return if any {
                Err(CliError::input(
                    "pool4, filtering, session limits, timeouts, port blocks, instance and [log] events need mode = \"stateful\"",
                ))
            } else {
                Ok(None)
            };
        }
        let mut pool4 = Vec::new();
        for p in std::mem::take(&mut self.pool4) {
            pool4.push(pool4_entry(p.get_ref())?);
        }
        if pool4.is_empty() {
            return Err(CliError::input("mode = \"stateful\" needs pool4"));
        }
        let filtering = match self.filtering.take().map(Spanned::into_inner).as_deref() {
            None | Some("address-dependent") => Filtering::AddressDependent,
            Some("endpoint-independent") => Filtering::EndpointIndependent,
            Some(f) => {
                return Err(CliError::input(format!(
                    "filtering {f:?}: \"address-dependent\" or \"endpoint-independent\""
                )))
            }
        };
        let instance = match self.instance.take() {
            Some(i) => Some(i.get_ref().parse::<Instance>().map_err(|e| CliError::input(e.to_string()))?),
            None => None,
        };
        let events = match &self.log {
            Some(l) => l.level()?,
            None => EventLevel::Off,
        };
        let mut timers = Timers::default();
        let secs = |v: Option<u64>, dflt: Duration| v.map_or(dflt, Duration::from_secs);
        timers.udp = secs(self.udp_timeout, timers.udp);
        timers.icmp = secs(self.icmp_timeout, timers.icmp);
        timers.tcp_est = secs(self.tcp_est_timeout, timers.tcp_est);
        timers.tcp_trans = secs(self.tcp_trans_timeout, timers.tcp_trans);
        timers.tcp_incoming_syn = secs(self.tcp_incoming_syn_timeout, timers.tcp_incoming_syn);
        let allocation = self.allocation()?;
        Ok(Some(StatefulOpts {
            allocation,
            pool4,
            filtering,
            max_sessions: self.max_sessions,
            max_sessions_per_source: self.max_sessions_per_source,
            timers,
            max_held_syns: self.max_held_syns,
            fragment_timeout: self.fragment_timeout.map(Duration::from_secs),
            max_fragment_flows: self.max_fragment_flows,
            max_fragment_bytes: self.max_fragment_bytes,
            new_sessions_per_second: self.new_sessions_per_second,
            new_sessions_burst: self.new_sessions_burst,
            instance,
            events,
        }))
    }

    /// The allocation keys: port blocks, deterministic, or neither (dynamic). Each
    /// refusal names the key, what is wrong and what to write.
    fn allocation(&mut self) -> Result<Allocation, CliError> {
        let det = self.deterministic.unwrap_or(false);
        let Some(size) = self.port_block else {
            if det {
                return Err(CliError::input(
                    "deterministic = true needs port_block = N (the ports each subscriber gets)",
                ));
            }
            for (key, set) in [
                ("block_prefix_len", self.block_prefix_len.is_some()),
                ("max_blocks_per_subscriber", self.max_blocks_per_subscriber.is_some()),
                ("block_hold", self.block_hold.is_some()),
                ("subscribers", self.subscribers.is_some()),
            ] {
                if set {
                    return Err(CliError::input(format!("{key} needs port_block = N (ports per block)")));
                }
            }
            return Ok(Allocation::Dynamic);
        };
        let len = self.block_prefix_len.unwrap_or(56);
        if det {
            for (key, set) in [
                ("max_blocks_per_subscriber", self.max_blocks_per_subscriber.is_some()),
                ("block_hold", self.block_hold.is_some()),
            ] {
                if set {
                    return Err(CliError::input(format!(
                        "{key}: only for port blocks; deterministic = true gives each subscriber one fixed range"
                    )));
                }
            }
            let subs = self
                .subscribers
                .take()
                .ok_or_else(|| CliError::input(sixgate_nat64::ConfigError::SubscribersMissing.to_string()))?;
            let subs = prefix6("subscribers", subs.get_ref())?;
            return Ok(Allocation::Deterministic(Deterministic::new(subs, len, size)));
        }
        if self.subscribers.is_some() {
            return Err(CliError::input("subscribers: only with deterministic = true; port blocks take any source"));
        }
        let mut b = PortBlocks::new(size);
        b.prefix_len = len;
        if let Some(n) = self.max_blocks_per_subscriber {
            b.max_per_subscriber = n;
        }
        if let Some(h) = self.block_hold.take() {
            b.hold = hold(&h.into_inner())?;
        }
        Ok(Allocation::Blocks(b))
    }

    /// Turns the file into flag values (flags given on the command line win).
    pub(crate) fn merge_into(self, o: &mut EngineOpts) -> Result<(), CliError> {
        match self.mode.as_deref() {
            None | Some("stateless") | Some("stateful") => {}
            Some(m) => return Err(CliError::input(format!("mode {m:?}: \"stateless\" or \"stateful\""))),
        }
        // The device name matters to the gateway only.
        let _ = self.tun;
        o.pool6 = o.pool6.take().or(self.pool6.map(Spanned::into_inner));
        o.own_ipv4 = o.own_ipv4.or(self.ipv4);
        o.own_ipv6 = o.own_ipv6.or(self.ipv6);
        o.ipv4_mtu = o.ipv4_mtu.or(self.ipv4_mtu).or(self.mtu);
        o.ipv6_mtu = o.ipv6_mtu.or(self.ipv6_mtu).or(self.mtu);
        o.lowest_ipv6_mtu = o.lowest_ipv6_mtu.or(self.lowest_ipv6_mtu);
        o.rfc6791_v4 = o.rfc6791_v4.take().or(self.rfc6791_v4.map(Spanned::into_inner));
        o.rfc6791_v6 = o.rfc6791_v6.take().or(self.rfc6791_v6.map(Spanned::into_inner));
        o.amend_udp_checksum_zero |= self.amend_udp_checksum_zero.unwrap_or(false);
        o.traffic_class = o.traffic_class.take().or(self.traffic_class.map(|t| t.get_ref().to_text()));
        o.tos = o.tos.take().or(self.tos.map(|t| t.get_ref().to_text()));
        o.denylist4.extend(self.denylist4.into_iter().map(Spanned::into_inner));
        o.icmp_rate = o.icmp_rate.or(self.icmp_rate);
        o.icmp_burst = o.icmp_burst.or(self.icmp_burst);
        o.no_answer_pings |= self.answer_pings == Some(false);
        o.eam.extend(self.eam.into_iter().map(|e| format!("{}={}", e.ipv6.get_ref(), e.ipv4.get_ref())));
        Ok(())
    }
}

/// `block_hold`: seconds, or a number with `s`, `m` or `h`.
fn hold(v: &TomlHold) -> Result<Duration, CliError> {
    let t = match v {
        TomlHold::Num(n) => return Ok(Duration::from_secs(*n)),
        TomlHold::Text(t) => t,
    };
    let bad = || CliError::input(format!("block_hold {t:?}: expected seconds, e.g. 120 or \"120s\", \"2m\", \"1h\""));
    let (num, unit) = match t.trim().strip_suffix(['s', 'm', 'h']) {
        Some(n) => (n, t.trim().chars().last().unwrap_or('s')),
        None => (t.trim(), 's'),
    };
    let n: u64 = num.trim().parse().map_err(|_| bad())?;
    let mul = match unit {
        'h' => 3600,
        'm' => 60,
        _ => 1,
    };
    n.checked_mul(mul).map(Duration::from_secs).ok_or_else(bad)
}

/// The stateful keys of the gateway's file.
#[derive(Debug, Clone)]
pub(crate) struct StatefulOpts {
    pub(crate) allocation: Allocation,
    pool4: Vec<Pool4Range>,
    filtering: Filtering,
    max_sessions: Option<usize>,
    max_sessions_per_source: Option<usize>,
    timers: Timers,
    max_held_syns: Option<usize>,
    fragment_timeout: Option<Duration>,
    max_fragment_flows: Option<usize>,
    max_fragment_bytes: Option<usize>,
    new_sessions_per_second: Option<u32>,
    new_sessions_burst: Option<u32>,
    instance: Option<Instance>,
    events: EventLevel,
}

impl StatefulOpts {
    /// The engine configuration, with the header translation settings of `xlate`.
    pub(crate) fn to_config(&self, xlate: SiitConfig) -> Result<Nat64Config, CliError> {
        let Some(pool6) = xlate.pool6 else {
            return Err(CliError::input("mode = \"stateful\" needs pool6"));
        };
        let mut c = Nat64Config::new(pool6, self.pool4.clone(), xlate.own_ipv4, xlate.own_ipv6);
        c.xlate = xlate;
        c.filtering = self.filtering;
        c.timers = self.timers;
        if let Some(n) = self.max_sessions {
            c.max_sessions = n;
        }
        if let Some(n) = self.max_sessions_per_source {
            c.max_sessions_per_source = n;
        }
        if let Some(n) = self.max_held_syns {
            c.max_held_syns = n;
        }
        if let Some(t) = self.fragment_timeout {
            c.fragment_timeout = t;
        }
        if let Some(n) = self.max_fragment_flows {
            c.max_fragment_flows = n;
        }
        if let Some(n) = self.max_fragment_bytes {
            c.max_fragment_bytes = n;
        }
        if let Some(n) = self.new_sessions_per_second {
            c.max_new_sessions_per_second = n;
        }
        if let Some(n) = self.new_sessions_burst {
            c.new_sessions_burst = n;
        }
        c.allocation = self.allocation;
        c.events = self.events;
        c.validate().map_err(|e| CliError::input(e.to_string()))?;
        if let Some(i) = self.instance {
            c = c.instance(i).map_err(|e| CliError::input(e.to_string()))?;
        }
        Ok(c)
    }
}

/// `"198.51.100.0/30"` (ports 1024-65535) or `"198.51.100.0/30 20000-29999"`. Every
/// refusal names the entry, the part that is wrong, and the form expected.
fn pool4_entry(s: &str) -> Result<Pool4Range, CliError> {
    const FORM: &str = "expected \"PREFIX\" or \"PREFIX FIRST-LAST\", e.g. \"198.51.100.0/30 20000-29999\"";
    let bad = |why: String| CliError::input(format!("pool4 {s:?}: {why} ({FORM})"));
    let mut it = s.split_whitespace();
    let p = it.next().ok_or_else(|| bad("empty entry".into()))?;
    let net: Ipv4Net = p.parse().map_err(|_| bad(format!("{p:?} is not an IPv4 prefix")))?;
    let (first, last) = match it.next() {
        None => (1024, 65535),
        Some(r) => {
            let (a, b) = r.split_once('-').ok_or_else(|| bad(format!("{r:?} is not a port range FIRST-LAST")))?;
            let port = |which: &str, v: &str| {
                v.parse::<u16>().map_err(|_| bad(format!("the {which} port {v:?} is not a number from 0 to 65535")))
            };
            (port("first", a)?, port("last", b)?)
        }
    };
    if let Some(extra) = it.next() {
        return Err(bad(format!("{extra:?} after the port range")));
    }
    if first > last {
        return Err(bad(format!(
            "the first port {first} is after the last port {last} (first > last); write {last}-{first}"
        )));
    }
    Ok(Pool4Range::new(net, first, last))
}

/// A TOML parse error as `FILE:LINE: key: message`, with the range spelled out where the
/// TOML library says only the type ("expected u8").
pub(crate) fn toml_error(text: &str, name: &str, e: &toml::de::Error) -> CliError {
    let line_no =
        e.span().map(|s| text.as_bytes()[..s.start.min(text.len())].iter().filter(|&&b| b == b'\n').count() + 1);
    let key = line_no
        .and_then(|l| text.lines().nth(l - 1))
        .and_then(|l| l.split_once('='))
        .map(|(k, _)| k.trim().trim_matches('"').to_owned())
        .filter(|k| !k.is_empty() && !k.starts_with('['));
    let mut msg = e.message().trim().to_owned();
    // Keys whose range is narrower than their type's.
    let narrower = match key.as_deref() {
        Some("ttl") => Some("an integer from 1 to 255 (the outer IPv4 TTL, RFC 791)"),
        _ => None,
    };
    for (ty, range) in [
        ("u8", "an integer from 0 to 255"),
        ("u16", "an integer from 0 to 65535"),
        ("u32", "an integer from 0 to 4294967295"),
        ("u64", "a non-negative integer"),
        ("usize", "a non-negative integer"),
    ] {
        if let Some(head) = msg.strip_suffix(&format!("expected {ty}")) {
            msg = format!("{head}expected {}", narrower.unwrap_or(range));
        }
    }
    let key = key.map(|k| format!("{k}: ")).unwrap_or_default();
    match line_no {
        Some(l) => CliError::input(format!("{name}:{l}: {key}{msg}")),
        None => CliError::input(format!("{name}: {key}{msg}")),
    }
}

fn prefix6(key: &str, s: &str) -> Result<Ipv6Net, CliError> {
    s.trim().parse().map_err(|_| CliError::input(format!("{key}: {s:?} is not an IPv6 prefix")))
}

fn prefix4(key: &str, s: &str) -> Result<Ipv4Net, CliError> {
    s.trim().parse().map_err(|_| CliError::input(format!("{key}: {s:?} is not an IPv4 prefix")))
}

impl EngineOpts {
    /// Builds and validates the engine configuration; every error names the option.
    pub(crate) fn to_config(&self) -> Result<SiitConfig, CliError> {
        if self.pool6.is_none() && self.eam.is_empty() {
            return Err(CliError::input("nothing to translate: give a pool6 prefix or at least one EAM entry"));
        }
        let pool6 = match &self.pool6 {
            None => None,
            Some(p) => Some(p.parse::<Pool6>().map_err(|e| CliError::input(format!("pool6 {p:?}: {e}")))?),
        };
        let own_ipv4 = self.own_ipv4.unwrap_or(Ipv4Addr::new(192, 0, 0, 8));
        let own_ipv6 = match (self.own_ipv6, &pool6) {
            (Some(a), _) => a,
            (None, Some(p)) => rfc6052::embed(p, Ipv4Addr::new(192, 0, 0, 8)),
            (None, None) => return Err(CliError::input("own-ipv6 is required when there is no pool6")),
        };
        let mut c = SiitConfig::new(own_ipv4, own_ipv6);
        c.pool6 = pool6;
        for e in &self.eam {
            let (v6, v4) =
                e.split_once('=').ok_or_else(|| CliError::input(format!("eam {e:?}: expected V6PREFIX=V4PREFIX")))?;
            c.add_eam(v6, v4).map_err(|err| CliError::input(format!("eam {e:?}: {err}")))?;
        }
        c.rfc6791_v4 = self.rfc6791_v4.as_deref().map(|s| prefix4("rfc6791-v4", s)).transpose()?;
        c.rfc6791_v6 = self.rfc6791_v6.as_deref().map(|s| prefix6("rfc6791-v6", s)).transpose()?;
        if let Some(m) = self.ipv4_mtu {
            c.ipv4_mtu = m;
        }
        if let Some(m) = self.ipv6_mtu {
            c.ipv6_mtu = m;
        }
        if let Some(m) = self.lowest_ipv6_mtu {
            c.lowest_ipv6_mtu = m;
        }
        c.amend_udp_checksum_zero = self.amend_udp_checksum_zero;
        if let Some(t) = &self.traffic_class {
            c.traffic_class = t.parse::<TosPolicy>().map_err(|e| CliError::input(format!("traffic-class: {e}")))?;
        }
        if let Some(t) = &self.tos {
            c.tos = t.parse::<TosPolicy>().map_err(|e| CliError::input(format!("tos: {e}")))?;
        }
        for d in &self.denylist4 {
            c.denylist4.push(prefix4("denylist4", d)?);
        }
        c.icmp_rate = IcmpRateLimit::new(
            self.icmp_rate.unwrap_or(c.icmp_rate.per_second),
            self.icmp_burst.unwrap_or(c.icmp_rate.burst),
        );
        c.answer_pings = !self.no_answer_pings;
        c.validate().map_err(CliError::input)?;
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_with_every_key() {
        let text = r#"
tun = "nat64"
pool6 = "2001:db8:64::/96"
ipv4 = "192.0.2.1"
ipv6 = "2001:db8::1"
mtu = 1400
ipv6_mtu = 1500
lowest_ipv6_mtu = 1400
rfc6791_v4 = "192.0.2.192/28"
rfc6791_v6 = "2001:db8:ffff::/64"
amend_udp_checksum_zero = true
traffic_class = "zero"
tos = 32
denylist4 = ["203.0.113.0/24"]
icmp_rate = 10
icmp_burst = 5
answer_pings = false
[[eam]]
ipv6 = "2001:db8:1::/120"
ipv4 = "198.51.100.0/24"
[[eam]]
ipv6 = "2001:db8:1c6:3364::/72"
ipv4 = "203.0.113.0/24"
"#;
        let f = FileConfig::parse(text, "t.toml").unwrap();
        let mut o = EngineOpts::default();
        f.merge_into(&mut o).unwrap();
        let c = o.to_config().unwrap();
        assert_eq!(c.ipv4_mtu, 1400);
        assert_eq!(c.ipv6_mtu, 1500);
        assert_eq!(c.lowest_ipv6_mtu, 1400);
        assert_eq!(c.own_ipv4, "192.0.2.1".parse::<Ipv4Addr>().unwrap());
        assert!(c.amend_udp_checksum_zero);
        assert_eq!(c.traffic_class, TosPolicy::Zero);
        assert_eq!(c.tos, TosPolicy::Force(32));
        assert_eq!(c.eamt.len(), 2);
        assert_eq!(c.denylist4.len(), 1);
        assert_eq!(c.icmp_rate, IcmpRateLimit::new(10, 5));
        assert!(!c.answer_pings);
    }

    #[test]
    fn port_block_keys() {
        let base = "mode = \"stateful\"\npool6 = \"2001:db8:64::/96\"\npool4 = [\"198.51.100.0/30\"]\n";
        let config = |extra: &str| -> Result<Nat64Config, CliError> {
            let mut f = FileConfig::parse(&format!("{base}{extra}"), "t.toml").unwrap();
            let st = f.take_stateful()?.unwrap();
            let mut o = EngineOpts::default();
            f.merge_into(&mut o).unwrap();
            st.to_config(o.to_config().unwrap())
        };
        assert_eq!(config("").unwrap().allocation, Allocation::Dynamic);
        for (hold, secs) in [("block_hold = 300", 300), ("block_hold = \"2m\"", 120), ("block_hold = \"45s\"", 45)] {
            let c =
                config(&format!("port_block = 2016\nblock_prefix_len = 64\nmax_blocks_per_subscriber = 3\n{hold}\n"));
            let Allocation::Blocks(b) = c.unwrap().allocation else { panic!("{hold}: not blocks") };
            assert_eq!((b.size, b.prefix_len, b.max_per_subscriber, b.hold), (2016, 64, 3, Duration::from_secs(secs)));
        }
        let c = config("port_block = 1008\ndeterministic = true\nsubscribers = \"2001:db8:100::/50\"\n").unwrap();
        let Allocation::Deterministic(d) = c.allocation else { panic!("not deterministic") };
        assert_eq!((d.subscribers, d.prefix_len, d.ports), ("2001:db8:100::/50".parse().unwrap(), 56, 1008));
        for (extra, says) in [
            ("port_block = 1000\n", "does not divide"),
            ("port_block = 2016\nblock_hold = \"soon\"\n", "block_hold \"soon\""),
            ("block_hold = 5\n", "needs port_block"),
            ("deterministic = true\n", "needs port_block"),
            ("port_block = 1008\ndeterministic = true\n", "needs subscribers"),
            ("port_block = 2016\nblock_prefix_len = 40\n", "56 to 128"),
        ] {
            let e = config(extra).unwrap_err().message;
            assert!(e.contains(says), "{extra:?}: {e}");
        }
    }

    #[test]
    fn stateful_keys() {
        let text = r#"
mode = "stateful"
pool6 = "2001:db8:64::/96"
pool4 = ["198.51.100.0/30", "203.0.113.7/32 20000-29999"]
filtering = "endpoint-independent"
max_sessions = 1000
max_sessions_per_source = 10
udp_timeout = 600
tcp_trans_timeout = 300
tcp_incoming_syn_timeout = 8
max_held_syns = 5
fragment_timeout = 3
max_fragment_flows = 7
max_fragment_bytes = 9000
new_sessions_per_second = 2000
new_sessions_burst = 50
"#;
        let mut f = FileConfig::parse(text, "t.toml").unwrap();
        let st = f.take_stateful().unwrap().unwrap();
        let mut o = EngineOpts::default();
        f.merge_into(&mut o).unwrap();
        let c = st.to_config(o.to_config().unwrap()).unwrap();
        assert_eq!(c.pool4.len(), 2);
        assert_eq!((c.pool4[0].first, c.pool4[0].last), (1024, 65535));
        assert_eq!((c.pool4[1].first, c.pool4[1].last), (20000, 29999));
        assert_eq!(c.filtering, Filtering::EndpointIndependent);
        assert_eq!((c.max_sessions, c.max_sessions_per_source), (1000, 10));
        assert_eq!(c.timers.udp, Duration::from_secs(600));
        assert_eq!(c.timers.tcp_trans, Duration::from_secs(300));
        assert_eq!(c.timers.icmp, Duration::from_secs(60));
        assert_eq!(c.timers.tcp_incoming_syn, Duration::from_secs(8));
        assert_eq!((c.max_held_syns, c.max_fragment_flows, c.max_fragment_bytes), (5, 7, 9000));
        assert_eq!(c.fragment_timeout, Duration::from_secs(3));
        assert_eq!((c.max_new_sessions_per_second, c.new_sessions_burst), (2000, 50));
        // The budget's default, and 0 turning it off.
        let base = "mode = \"stateful\"\npool6 = \"2001:db8:64::/96\"\npool4 = [\"198.51.100.0/30\"]\n";
        for (extra, want) in [("", (100_000, 10_000)), ("new_sessions_per_second = 0\n", (0, 10_000))] {
            let mut f = FileConfig::parse(&format!("{base}{extra}"), "t.toml").unwrap();
            let st = f.take_stateful().unwrap().unwrap();
            let mut o = EngineOpts::default();
            f.merge_into(&mut o).unwrap();
            let c = st.to_config(o.to_config().unwrap()).unwrap();
            assert_eq!((c.max_new_sessions_per_second, c.new_sessions_burst), want, "{extra:?}");
        }
        // Stateful keys without the mode, a bad entry, a missing pool.
        let mut f = FileConfig::parse("pool4 = [\"198.51.100.0/30\"]\n", "t.toml").unwrap();
        assert!(f.take_stateful().is_err());
        let mut f = FileConfig::parse("mode = \"stateful\"\npool4 = [\"198.51.100.0/30 9-1\"]\n", "t.toml").unwrap();
        assert!(f.take_stateful().is_err());
        let mut f = FileConfig::parse("mode = \"stateful\"\n", "t.toml").unwrap();
        assert!(f.take_stateful().is_err());
    }

    #[test]
    fn toml_errors_name_the_line() {
        let e = FileConfig::parse("pool6 = \"64:ff9b::/96\"\nmtu = \"big\"\n", "gw.toml").unwrap_err();
        assert!(e.message.starts_with("gw.toml:2:"), "{}", e.message);
        let e = FileConfig::parse("pool6 = \"64:ff9b::/96\"\n\nbogus = 1\n", "gw.toml").unwrap_err();
        assert!(e.message.starts_with("gw.toml:3:"), "{}", e.message);
        let mut o = EngineOpts { pool6: Some("2001:db8::/33".into()), ..Default::default() };
        let e = o.to_config().unwrap_err();
        assert!(e.message.contains("pool6") && e.message.contains("/33"), "{}", e.message);
        o.pool6 = Some("2001:db8::/96".into());
        // RFC 7757 §3.2: an IPv4 suffix longer than the IPv6 suffix is refused ...
        o.eam = vec!["2001:db8:1::/121=198.51.100.0/24".into()];
        let e = o.to_config().unwrap_err();
        assert!(e.message.contains("eam") && e.message.contains("RFC 7757"), "{}", e.message);
        // ... a shorter one is legal.
        o.eam = vec!["2001:db8:1::/120=198.51.100.0/25".into(), "2001:db8:1c6:3364::/72=203.0.113.0/24".into()];
        let c = o.to_config().unwrap();
        assert_eq!(c.eamt.v4_to_v6("203.0.113.7".parse().unwrap()), Some("2001:db8:1c6:3364:7::".parse().unwrap()));
        assert_eq!(c.eamt.v4_to_v6("198.51.100.9".parse().unwrap()), Some("2001:db8:1::12".parse().unwrap()));
    }
}
