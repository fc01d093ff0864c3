//! OpenWrt: the `/etc/config/network` interface (netifd's `6in4` and `6to4` protocols) and
//! the `/etc/config/firewall` zone, forwarding and rules, in UCI file syntax.

use std::fmt::Write as _;

use super::firewall::ICMPV6_MUST_PASS;
use super::{Format, Kind, TunnelSpec};

/// A UCI section name from the interface name: letters, digits and '_' (UCI allows no
/// other), at most 10 characters, so that netifd's device `6in4-NAME` fits Linux's 15
/// and the firewall zone name its 11.
pub fn uci_name(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).take(10).collect()
}

/// fw4's names for the ICMPv6 types and codes of [`ICMPV6_MUST_PASS`].
fn fw4_icmp_name(t: u8, c: Option<u8>) -> &'static str {
    match (t, c) {
        (1, _) => "destination-unreachable",
        (2, _) => "packet-too-big",
        (3, _) => "ttl-zero-during-transit",
        (4, Some(1)) => "unknown-header-type",
        (4, _) => "unknown-option",
        (128, _) => "echo-request",
        _ => "echo-reply",
    }
}

pub(super) fn uci(spec: &TunnelSpec, o: &mut String) {
    let sec = uci_name(&spec.name);
    let m = spec.mtu;
    let _ = writeln!(o, "# OpenWrt UCI: add to /etc/config/network, then /etc/init.d/network reload.");
    spec.header(o, "#");
    if sec != spec.name {
        let _ = writeln!(
            o,
            "# The interface is '{sec}' (UCI names are letters, digits and '_', at most 10 here so that the\n\
             # device name {}-{sec} fits Linux's 15 characters).",
            if matches!(spec.kind, Kind::SixToFour { .. }) { "6to4" } else { "6in4" }
        );
    }
    let _ = writeln!(o, "config interface '{sec}'");
    match &spec.kind {
        Kind::SixInFour { local, remote, client, .. } => {
            let _ = writeln!(o, "\toption proto '6in4'\n\toption ipaddr '{local}'\n\toption peeraddr '{remote}'");
            let _ = writeln!(o, "\toption ip6addr '{client}'");
            if let Some(l) = &spec.lan {
                let _ = writeln!(o, "\tlist ip6prefix '{}'", l.routed);
            }
            if let Some(b) = &spec.broker {
                let _ = writeln!(o, "\toption tunnelid '{}'", b.tunnel_id);
                if let Some(u) = &b.username {
                    let _ = writeln!(o, "\toption username '{u}'");
                }
            }
        }
        Kind::SixToFour { local, .. } => {
            let _ = writeln!(o, "\toption proto '6to4'\n\toption ipaddr '{local}'");
        }
    }
    let _ = writeln!(o, "\toption mtu '{}'\n\toption ttl '{}'", m.tunnel, spec.ttl);
    if spec.broker.is_some() {
        let _ = writeln!(
            o,
            "# For the endpoint update at each start, add the update key from the broker's\n\
             # \"Advanced\" tab as: option updatekey 'KEY' (it is a secret: not printed here)."
        );
    }
    if let Some(l) = &spec.lan {
        let lan = spec.lan_interface(Format::Uci);
        let _ = writeln!(
            o,
            "\n# LAN side: netifd hands out /64s of the routed {} ({} first) to the interfaces\n\
             # that ask with ip6assign, and odhcpd announces them (SLAAC). Add to the existing section\n\
             # config interface '{lan}' the line below, in place of OpenWrt's default '60', which a routed /64\n\
             # cannot give (or run: uci set network.{lan}.ip6assign='64'):\n\
             #\toption ip6assign '64'",
            l.routed, l.subnet
        );
    }
    let _ = writeln!(o, "\n# /etc/config/firewall: add, then /etc/init.d/firewall reload.");
    let _ = writeln!(
        o,
        "# A zone of its own: nothing from the tunnel is open (input and forward DROP) but replies\n\
         # (fw4 admits established and related flows in every zone) and the rules below; mtu_fix is\n\
         # the MSS clamp ({}).",
        m.mss
    );
    let _ = writeln!(o, "config zone\n\toption name '{sec}'\n\tlist network '{sec}'\n\toption family 'ipv6'");
    let _ =
        writeln!(o, "\toption input 'DROP'\n\toption output 'ACCEPT'\n\toption forward 'DROP'\n\toption mtu_fix '1'");
    let _ = writeln!(o, "\nconfig forwarding\n\toption src 'lan'\n\toption dest '{sec}'");
    match &spec.kind {
        Kind::SixInFour { remote, .. } => {
            let _ = writeln!(o, "\n# Protocol 41 (RFC 4213 §3) only from the broker's server, on the WAN.");
            let _ = writeln!(o, "config rule\n\toption name 'Allow-6in4-{sec}'\n\toption src 'wan'");
            let _ = writeln!(o, "\toption family 'ipv4'\n\toption proto '41'\n\toption src_ip '{remote}'");
        }
        Kind::SixToFour { .. } => {
            let _ = writeln!(
                o,
                "\n# 6to4 (RFC 3056): protocol 41 from any 6to4 router or relay, so no source can be pinned.\n\
                 # The RFC 3964 §5.1 checks (no non-global IPv4 source, a 6to4 source embedding the outer\n\
                 # one) are not expressible as UCI rules: see the nftables output for the first."
            );
            let _ = writeln!(o, "config rule\n\toption name 'Allow-6to4-{sec}'\n\toption src 'wan'");
            let _ = writeln!(o, "\toption family 'ipv4'\n\toption proto '41'");
        }
    }
    let _ = writeln!(o, "\toption target 'ACCEPT'");
    for (what, dest) in [("input", None), ("forward", Some("*"))] {
        let _ = writeln!(o, "\n# RFC 4890 §4.3.1: ICMPv6 that must not be dropped ({what}).");
        let _ = writeln!(o, "config rule\n\toption name '{sec}-ICMPv6-{what}'\n\toption src '{sec}'");
        if let Some(d) = dest {
            let _ = writeln!(o, "\toption dest '{d}'");
        }
        let _ = writeln!(o, "\toption family 'ipv6'\n\toption proto 'icmp'");
        for (t, c, _) in ICMPV6_MUST_PASS {
            let _ = writeln!(o, "\tlist icmp_type '{}'", fw4_icmp_name(t, c));
        }
        let _ = writeln!(o, "\toption target 'ACCEPT'");
    }
}
