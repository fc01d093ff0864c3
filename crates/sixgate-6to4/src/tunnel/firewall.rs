//! The tunnel's firewall, for nftables and for iptables/ip6tables: protocol 41 only from
//! the far end, from the tunnel only replies and the ICMPv6 that must pass, and the MSS
//! clamp. Everything the tunnel does not bring in is left alone (the host's own IPv4
//! policy, SSH included, is not this file's business), so loading it cannot lock anyone out.

use std::fmt::Write as _;
use std::net::Ipv6Addr;

use ipnet::{Ipv4Net, Ipv4Subnets, Ipv6Net};
use sixgate_core::class::non_global_v4_ranges;

use super::{Format, Kind, TunnelSpec};

/// The ICMPv6 messages RFC 4890 §4.3.1 says a firewall must not drop ("Traffic That Must
/// Not Be Dropped"): Destination Unreachable (all codes), Packet Too Big, Time Exceeded
/// code 0, Parameter Problem codes 1 and 2, Echo Request and Echo Reply. Type, code (`None`:
/// every code), and the nftables/iptables name of the type.
pub const ICMPV6_MUST_PASS: [(u8, Option<u8>, &str); 7] = [
    (1, None, "destination-unreachable"),
    (2, None, "packet-too-big"),
    (3, Some(0), "time-exceeded"),
    (4, Some(1), "parameter-problem"),
    (4, Some(2), "parameter-problem"),
    (128, None, "echo-request"),
    (129, None, "echo-reply"),
];

/// The non-global IPv4 space as prefixes (the IANA registry, longest match).
fn non_global_v4_nets() -> Vec<Ipv4Net> {
    non_global_v4_ranges().into_iter().flat_map(|(lo, hi)| Ipv4Subnets::new(lo, hi, 0)).collect()
}

/// The 6to4 prefixes (`2002:V4ADDR::/16+len`) of the non-global IPv4 space.
fn non_global_6to4_nets() -> Vec<Ipv6Net> {
    non_global_v4_nets()
        .into_iter()
        .filter_map(|n| {
            let a = (0x2002_u128 << 112) | (u128::from(u32::from(n.network())) << 80);
            Ipv6Net::new(Ipv6Addr::from(a), 16 + n.prefix_len()).ok()
        })
        .collect()
}

fn join<T: std::fmt::Display>(v: &[T]) -> String {
    v.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
}

/// The tunnel name as an identifier: letters, digits and '-', anything else '_'.
fn ident(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect()
}

const SIXTOFOUR_PROTO41: &str = "\
6to4 (RFC 3056): any 6to4 router or relay may send protocol 41, so its source cannot be
pinned to one address. What can be checked here (RFC 3964 §5.1, the checks of a 6to4
router): no protocol 41 from a non-global IPv4 source (private, loopback, link-local,
multicast, broadcast, reserved: the IANA special-purpose registry), and none to another
address than the local one.";

const SIXTOFOUR_INNER: &str = "\
RFC 3964 §5.1, inside the tunnel: a 6to4 source embedding a non-global IPv4 address
(2002:0a00::/24 for 10.0.0.0/8, ...) is spoofed, as is an IPv4-compatible or -mapped
source (RFC 4213 §3.6). RFC 3964 also wants the embedded IPv4 address of a 6to4 source to
be the outer IPv4 source it came from; after the kernel decapsulated the packet a filter no
longer sees the outer header: `sixgate tunnel run --mode 6to4` applies that check itself.";

fn comment_block(o: &mut String, indent: &str, text: &str) {
    for l in text.lines() {
        let _ = writeln!(o, "{indent}# {l}");
    }
}

/// nftables: one `inet` table of its own, replaced whole on each load.
pub(super) fn nftables(spec: &TunnelSpec, o: &mut String) {
    let n = &spec.name;
    let m = spec.mtu;
    let table = format!("sixgate_{}", ident(n));
    let _ = writeln!(o, "# nftables firewall for the tunnel {n} (nft -f FILE): only its own table, replaced");
    let _ = writeln!(o, "# on each load; every other rule of the host stays as it is.");
    spec.header(o, "#");
    let _ = writeln!(o, "table inet {table}\ndelete table inet {table}\ntable inet {table} {{");
    let _ = writeln!(o, "    chain input {{\n        type filter hook input priority filter; policy accept;");
    match &spec.kind {
        Kind::SixInFour { local, remote, .. } => {
            let _ = writeln!(o, "        # Protocol 41 (RFC 4213 §3) only from the broker's server, to this host.");
            let _ = writeln!(o, "        ip protocol 41 ip saddr {remote} ip daddr {local} accept");
            let _ = writeln!(o, "        ip protocol 41 counter drop comment \"protocol 41 not from {remote}\"");
        }
        Kind::SixToFour { local, .. } => {
            comment_block(o, "        ", SIXTOFOUR_PROTO41);
            let _ = writeln!(
                o,
                "        ip protocol 41 ip saddr {{ {} }} counter drop comment \"non-global source\"",
                join(&non_global_v4_nets())
            );
            let _ = writeln!(o, "        ip protocol 41 ip daddr != {local} counter drop");
            let _ = writeln!(o, "        ip protocol 41 accept");
        }
    }
    let _ = writeln!(o, "        iifname \"{n}\" jump from_tunnel\n    }}\n");
    let _ = writeln!(o, "    chain forward {{\n        type filter hook forward priority filter; policy accept;");
    if let Some(l) = &spec.lan {
        let i = spec.lan_interface(Format::Nftables);
        let _ = writeln!(o, "        # BCP 38 (RFC 2827): from the LAN into the tunnel only sources in {}.", l.routed);
        let _ = writeln!(
            o,
            "        iifname \"{i}\" oifname \"{n}\" ip6 saddr != {} counter drop comment \"spoofed LAN source\"",
            l.routed
        );
    }
    let _ = writeln!(o, "        iifname \"{n}\" jump from_tunnel\n    }}\n");
    let _ = writeln!(o, "    # What the tunnel may bring in, to this host or forwarded: nothing else.");
    let _ = writeln!(o, "    chain from_tunnel {{");
    if matches!(spec.kind, Kind::SixToFour { .. }) {
        comment_block(o, "        ", SIXTOFOUR_INNER);
        let _ = writeln!(
            o,
            "        ip6 saddr {{ {}, ::/96, ::ffff:0:0/96 }} counter drop comment \"spoofed source\"",
            join(&non_global_6to4_nets())
        );
    }
    let _ = writeln!(o, "        ct state established,related accept");
    let _ =
        writeln!(o, "        # RFC 4890 §4.3.1: ICMPv6 that must not be dropped (also when conntrack knows no flow).");
    let _ = writeln!(
        o,
        "        icmpv6 type {{ destination-unreachable, packet-too-big, echo-request, echo-reply }} accept"
    );
    let _ = writeln!(o, "        icmpv6 type time-exceeded icmpv6 code 0 accept");
    let _ = writeln!(o, "        icmpv6 type parameter-problem icmpv6 code {{ 1, 2 }} accept");
    let _ = writeln!(o, "        counter drop comment \"nothing else is open from {n}\"\n    }}\n");
    let _ = writeln!(
        o,
        "    # MSS {} = tunnel MTU {} - 40 (IPv6) - 20 (TCP), so forwarded TCP never needs a too-big\n    \
         # IPv6 packet when ICMPv6 Packet Too Big is filtered on the way.",
        m.mss, m.tunnel
    );
    let _ = writeln!(o, "    chain mss {{\n        type filter hook forward priority mangle; policy accept;");
    for dir in ["oifname", "iifname"] {
        let _ =
            writeln!(o, "        {dir} \"{n}\" tcp flags & (syn | rst) == syn tcp option maxseg size set {}", m.mss);
    }
    let _ = writeln!(o, "    }}\n}}");
}

/// iptables-restore (IPv4: protocol 41) and ip6tables-restore (IPv6: the tunnel), each
/// with chains of its own, loaded with `--noflush` so the host's rules stay.
pub(super) fn iptables(spec: &TunnelSpec, o: &mut String) {
    let n = &spec.name;
    let m = spec.mtu;
    let id = ident(n);
    let (c41, cin) = (format!("sixgate-{id}-41"), format!("sixgate-{id}-in"));
    let _ = writeln!(o, "# iptables firewall for the tunnel {n}: two files, for iptables-restore --noflush (IPv4)");
    let _ = writeln!(o, "# and ip6tables-restore --noflush (IPv6); --noflush keeps the host's other rules, and -I puts\n# these first. Load once");
    let _ = writeln!(o, "# per boot (netfilter-persistent: append to /etc/iptables/rules.v4 and rules.v6).");
    spec.header(o, "#");
    let _ = writeln!(o, "\n# /etc/iptables/sixgate-{id}.v4 (iptables-restore --noflush)\n*filter\n:{c41} - [0:0]");
    let _ = writeln!(o, "-I INPUT -p 41 -j {c41}");
    match &spec.kind {
        Kind::SixInFour { local, remote, .. } => {
            let _ = writeln!(o, "# Protocol 41 (RFC 4213 §3) only from the broker's server, to this host.");
            let _ = writeln!(o, "-A {c41} -s {remote}/32 -d {local}/32 -j ACCEPT");
        }
        Kind::SixToFour { local, .. } => {
            comment_block(o, "", SIXTOFOUR_PROTO41);
            for net in non_global_v4_nets() {
                let _ = writeln!(o, "-A {c41} -s {net} -j DROP");
            }
            let _ = writeln!(o, "-A {c41} -d {local}/32 -j ACCEPT");
        }
    }
    let _ = writeln!(o, "-A {c41} -j DROP\nCOMMIT");
    let _ = writeln!(o, "\n# /etc/iptables/sixgate-{id}.v6 (ip6tables-restore --noflush)\n*filter\n:{cin} - [0:0]");
    let _ = writeln!(o, "# What the tunnel may bring in, to this host or forwarded: nothing else.");
    let _ = writeln!(o, "-I INPUT -i {n} -j {cin}");
    let _ = writeln!(o, "-I FORWARD -i {n} -j {cin}");
    if let Some(l) = &spec.lan {
        let i = spec.lan_interface(Format::Iptables);
        let _ = writeln!(o, "# BCP 38 (RFC 2827): from the LAN into the tunnel only sources in {}.", l.routed);
        let _ = writeln!(o, "-I FORWARD -i {i} -o {n} ! -s {} -j DROP", l.routed);
    }
    if matches!(spec.kind, Kind::SixToFour { .. }) {
        comment_block(o, "", SIXTOFOUR_INNER);
        for net in non_global_6to4_nets() {
            let _ = writeln!(o, "-A {cin} -s {net} -j DROP");
        }
        let _ = writeln!(o, "-A {cin} -s ::/96 -j DROP\n-A {cin} -s ::ffff:0:0/96 -j DROP");
    }
    let _ = writeln!(o, "-A {cin} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT");
    let _ = writeln!(o, "# RFC 4890 §4.3.1: ICMPv6 that must not be dropped (also when conntrack knows no flow).");
    for (t, c, _) in ICMPV6_MUST_PASS {
        let code = c.map(|c| format!("/{c}")).unwrap_or_default();
        let _ = writeln!(o, "-A {cin} -p ipv6-icmp -m icmp6 --icmpv6-type {t}{code} -j ACCEPT");
    }
    let _ = writeln!(o, "-A {cin} -j DROP\nCOMMIT");
    let _ = writeln!(o, "*mangle");
    let _ = writeln!(o, "# MSS {} = tunnel MTU {} - 40 (IPv6) - 20 (TCP).", m.mss, m.tunnel);
    for dir in ["-o", "-i"] {
        let _ = writeln!(o, "-A FORWARD {dir} {n} -p tcp -m tcp --tcp-flags SYN,RST SYN -j TCPMSS --set-mss {}", m.mss);
    }
    let _ = writeln!(o, "COMMIT");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sixtofour_prefixes_of_non_global_space() {
        let v6 = non_global_6to4_nets();
        for want in ["2002:a00::/24", "2002:7f00::/24", "2002:c0a8::/32", "2002:e000::/19"] {
            assert!(v6.iter().any(|n| n.to_string() == want), "{want} missing from {v6:?}");
        }
        // 192.0.0.9 (PCP anycast) is global: its 6to4 prefix is not in the list.
        let pcp: Ipv6Addr = "2002:c000:9::1".parse().unwrap();
        assert!(!v6.iter().any(|n| n.contains(&pcp)));
        assert_eq!(ICMPV6_MUST_PASS.len(), 7);
    }
}
