//! Ready-to-paste configuration for a 6to4 tunnel and for a static 6in4 tunnel to a
//! broker: ifupdown, iproute2 commands, systemd-networkd, netplan, OpenWrt UCI, and a
//! firewall for it (nftables, or iptables/ip6tables) that admits protocol 41 only from the
//! tunnel's far end, lets through the ICMPv6 RFC 4890 says must pass, opens nothing else
//! from the tunnel and clamps the TCP MSS. With a routed prefix (a broker's routed /64 or
//! /48), the LAN side too: its address, and its router advertisements (radvd or networkd).
//!
//! ```
//! use sixgate_6to4::Scope;
//! use sixgate_6to4::tunnel::{link_mtu, TunnelSpec, Format};
//! let m = link_mtu(1492).unwrap(); // PPPoE
//! assert_eq!((m.tunnel, m.mss), (1472, 1412));
//! let spec = TunnelSpec::six_in_four(
//!     "he-ipv6", "74.207.254.16".parse().unwrap(), "216.66.80.26".parse().unwrap(),
//!     "2001:470:1f0a:1234::2/64".parse().unwrap(), "2001:470:1f0a:1234::1".parse().unwrap(), 1500,
//!     Scope::GlobalOnly,
//! ).unwrap();
//! let text = spec.render(Format::Iproute2);
//! assert!(text.contains("ip tunnel add he-ipv6 mode sit remote 216.66.80.26 local 74.207.254.16 ttl 64"));
//! ```

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::Ipv6Net;
#[cfg(feature = "serde")]
use serde::Serialize;
use sixgate_core::class::{classify_v4, classify_v6, is_forbidden_v4, AddrClass};

use crate::error::Error;
use crate::sixto4::{six_to_four, Scope, DEPRECATION_NOTE};

mod firewall;
mod openwrt;

pub use firewall::ICMPV6_MUST_PASS;
pub use openwrt::uci_name;

/// The IPv4 header a 6in4/6to4 packet is wrapped in (RFC 4213 §3.2: 20 bytes, no options).
pub const IPV4_HEADER: u16 = 20;
/// IPv6 header plus TCP header without options: what MSS leaves out of the MTU.
pub const IPV6_TCP_HEADERS: u16 = 40 + 20;
/// IPv6's minimum link MTU (RFC 8200 §5).
pub const IPV6_MIN_MTU: u16 = 1280;
/// The deprecated 6to4 relay anycast address (RFC 3068, deprecated by RFC 7526).
pub const RELAY_ANYCAST: Ipv4Addr = Ipv4Addr::new(192, 88, 99, 1);

/// MTUs of a tunnel over a given link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize))]
pub struct Mtu {
    /// The underlying IPv4 link's MTU.
    pub link: u16,
    /// The tunnel MTU: link MTU minus the 20-byte IPv4 header (RFC 4213 §3.2).
    pub tunnel: u16,
    /// The TCP MSS over the tunnel: tunnel MTU minus 40 (IPv6) and 20 (TCP).
    pub mss: u16,
}

/// The tunnel MTU and MSS for a link MTU: 1500 gives 1480 and 1420, PPPoE's 1492 gives
/// 1472 and 1412. The tunnel MTU must be at least 1280 (RFC 8200 §5).
pub fn link_mtu(link: u32) -> Result<Mtu, Error> {
    let Ok(l) = u16::try_from(link) else {
        return Err(Error::LinkMtu(link));
    };
    if l < IPV6_MIN_MTU + IPV4_HEADER {
        return Err(Error::LinkMtu(link));
    }
    let tunnel = l - IPV4_HEADER;
    Ok(Mtu { link: l, tunnel, mss: tunnel - IPV6_TCP_HEADERS })
}

/// Which kind of tunnel.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize))]
#[cfg_attr(feature = "serde", serde(tag = "kind", rename_all = "kebab-case"))]
#[non_exhaustive]
pub enum Kind {
    /// 6to4 (RFC 3056): no fixed remote; the router address is `2002:V4ADDR::1/16`.
    SixToFour {
        /// The local (global) IPv4 address.
        local: Ipv4Addr,
        /// The local 6to4 address, `2002:V4ADDR::1`.
        address: Ipv6Addr,
    },
    /// A configured 6in4 tunnel (RFC 4213 §3) to a broker.
    SixInFour {
        /// The local IPv4 address (may be a private one behind NAT, if the broker allows).
        local: Ipv4Addr,
        /// The broker's IPv4 address.
        remote: Ipv4Addr,
        /// The client's IPv6 address with its prefix length.
        #[cfg_attr(feature = "serde", serde(serialize_with = "crate::ser::display"))]
        client: Ipv6Net,
        /// The server's IPv6 address: the default gateway.
        server: Ipv6Addr,
    },
}

/// The outer TTL every rendered tunnel gets: the IPv4 default, 64, the value `sixgate
/// tunnel run` uses too (`sixgate_core::router::DEFAULT_IPV4_TTL`). RFC 4213 §3.3 leaves
/// the encapsulating header's TTL implementation dependent and points at the suggested
/// default of the Assigned Numbers registry, which is 64; OpenWrt's 6in4/6to4 scripts
/// default to 64 as well. The 255 of some brokers' examples buys nothing here: no broker
/// checks the arriving TTL (RFC 5082-style), and on Linux any fixed TTL, 64 included, keeps
/// DF set on the outer header and path MTU discovery on (ip-tunnel(8)).
pub const TUNNEL_TTL: u8 = sixgate_core::router::DEFAULT_IPV4_TTL;

/// The LAN side of a prefix the broker routes through the tunnel.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize))]
pub struct Lan {
    /// The routed prefix as the broker gives it (a /64 or /48, say).
    #[cfg_attr(feature = "serde", serde(serialize_with = "crate::ser::display"))]
    pub routed: Ipv6Net,
    /// The /64 announced on the LAN: the first /64 of the routed prefix.
    #[cfg_attr(feature = "serde", serde(serialize_with = "crate::ser::display"))]
    pub subnet: Ipv6Net,
    /// The router's address on the LAN: `::1` in that /64.
    pub address: Ipv6Addr,
    /// The LAN interface; `None` means each format's usual one (`lan` for OpenWrt's
    /// logical interface, `eth1` for a Linux device).
    pub interface: Option<String>,
}

/// A tunnel broker account, for OpenWrt's endpoint update at each start.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize))]
pub struct Broker {
    /// The tunnel's id at the broker.
    pub tunnel_id: String,
    /// The account's user name.
    pub username: Option<String>,
}

/// A tunnel to render.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize))]
pub struct TunnelSpec {
    /// The interface name.
    pub name: String,
    /// What tunnel.
    pub kind: Kind,
    /// Its MTUs.
    pub mtu: Mtu,
    /// The outer TTL ([`TUNNEL_TTL`]).
    pub ttl: u8,
    /// The LAN side of a routed prefix (6in4 only).
    pub lan: Option<Lan>,
    /// The broker account (OpenWrt only uses it).
    pub broker: Option<Broker>,
    /// Explanations every format starts with (a private local address behind NAT, say).
    pub notes: Vec<String>,
}

/// The output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Format {
    /// Debian ifupdown `/etc/network/interfaces` (`inet6 v4tunnel`).
    Ifupdown,
    /// iproute2 commands.
    Iproute2,
    /// systemd-networkd `.netdev` and `.network` files.
    Networkd,
    /// netplan YAML.
    Netplan,
    /// OpenWrt `/etc/config/network` and `/etc/config/firewall` sections.
    Uci,
    /// An nftables firewall for the tunnel, with the MSS clamp.
    Nftables,
    /// The same firewall for `iptables-restore` and `ip6tables-restore`.
    Iptables,
    /// `/etc/radvd.conf` announcing the routed prefix on the LAN.
    Radvd,
}

impl Format {
    /// Every format, in the order [`TunnelSpec::render_all`] prints them ([`Format::Radvd`]
    /// last, and only with a routed prefix).
    pub const ALL: [Self; 8] = [
        Self::Ifupdown,
        Self::Iproute2,
        Self::Networkd,
        Self::Netplan,
        Self::Uci,
        Self::Nftables,
        Self::Iptables,
        Self::Radvd,
    ];
}

fn check_name(name: &str) -> Result<(), Error> {
    // Linux IFNAMSIZ is 16 with the NUL; '/' and whitespace are refused by the kernel, and
    // ':' would be read as an alias.
    let ok = !name.is_empty()
        && name.len() <= 15
        && name != "."
        && name != ".."
        && name.bytes().all(|b| b.is_ascii_graphic() && !b"/:\"'\\".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(Error::InterfaceName(name.to_owned()))
    }
}

/// The rule for a tunnel endpoint (outer IPv4 address): a unicast address a router forwards
/// (RFC 1812 §5.3.7, `is_forbidden_v4`) always; a global one unless `scope` allows otherwise.
/// `Ok(Some(class))` for an allowed non-global address.
fn check_endpoint(
    what: &'static str,
    a: Ipv4Addr,
    scope: Scope,
    fix_forbidden: &'static str,
    rule_non_global: &'static str,
    fix_non_global: &'static str,
) -> Result<Option<sixgate_core::class::Classification>, Error> {
    let class = classify_v4(a);
    if is_forbidden_v4(a) || class.class == AddrClass::LimitedBroadcast {
        return Err(Error::SpecialAddress {
            what,
            addr: IpAddr::V4(a),
            class,
            rule: "a tunnel endpoint must be a unicast address that routers forward (RFC 1812 §5.3.7)",
            fix: fix_forbidden,
            overridable: false,
        });
    }
    if class.global {
        return Ok(None);
    }
    if scope == Scope::GlobalOnly {
        return Err(Error::SpecialAddress {
            what,
            addr: IpAddr::V4(a),
            class,
            rule: rule_non_global,
            fix: fix_non_global,
            overridable: true,
        });
    }
    Ok(Some(class))
}

/// The rule for an IPv6 address of the tunnel or the LAN: unicast beyond the link always
/// (no ::, ::1, multicast, link-local, IPv4-mapped or -compatible: RFC 4291 §2.4, §2.5);
/// global unless `scope` allows otherwise.
fn check_v6(what: &'static str, a: Ipv6Addr, scope: Scope) -> Result<(), Error> {
    let class = classify_v6(a);
    let hard = matches!(
        class.class,
        AddrClass::Unspecified
            | AddrClass::Loopback
            | AddrClass::Multicast
            | AddrClass::LinkLocal
            | AddrClass::Ipv4Mapped
            | AddrClass::Ipv4Compatible
    );
    if hard {
        return Err(Error::SpecialAddress {
            what,
            addr: IpAddr::V6(a),
            class,
            rule: "the tunnel's IPv6 addresses must be unicast addresses routed beyond the link (RFC 4291 §2.4, §2.5)",
            fix: "give the addresses from the broker's tunnel details (e.g. client 2001:470:1f0a:1234::2/64, \
                  server 2001:470:1f0a:1234::1)",
            overridable: false,
        });
    }
    if !class.global && scope == Scope::GlobalOnly {
        return Err(Error::SpecialAddress {
            what,
            addr: IpAddr::V6(a),
            class,
            rule: "not a global IPv6 address, so nothing on the Internet routes replies back to it",
            fix: "give the broker's global addresses; for a lab, allow non-global addresses",
            overridable: true,
        });
    }
    Ok(())
}

impl TunnelSpec {
    fn new(name: &str, kind: Kind, link: u32) -> Result<Self, Error> {
        Ok(Self {
            name: name.to_owned(),
            kind,
            mtu: link_mtu(link)?,
            ttl: TUNNEL_TTL,
            lan: None,
            broker: None,
            notes: Vec::new(),
        })
    }

    /// A 6to4 tunnel from `local`, which must be global unless `scope` allows otherwise
    /// (and never loopback, multicast, broadcast or "this network").
    pub fn six_to_four(name: &str, local: Ipv4Addr, link: u32, scope: Scope) -> Result<Self, Error> {
        check_name(name)?;
        // The hard rule first: --allow-non-global never makes 127.0.0.1 a 6to4 router.
        check_endpoint("local IPv4 address", local, Scope::AllowNonGlobal, FIX_LOCAL, "", "")?;
        let s = six_to_four(local, scope)?;
        Self::new(name, Kind::SixToFour { local, address: s.first_host }, link)
    }

    /// A static 6in4 tunnel: `local` and `remote` IPv4, the client's IPv6 address with
    /// its prefix length, and the server's IPv6 address, which must be inside it.
    ///
    /// Every address is checked against the IANA special-purpose registries: loopback,
    /// multicast, broadcast, "this network", link-local IPv6 and the like are refused;
    /// non-global ones (a private `local` behind NAT, documentation addresses in a lab) only
    /// with [`Scope::AllowNonGlobal`], and a private `local` then gets a note explaining the
    /// NAT case in every format.
    pub fn six_in_four(
        name: &str,
        local: Ipv4Addr,
        remote: Ipv4Addr,
        client: Ipv6Net,
        server: Ipv6Addr,
        link: u32,
        scope: Scope,
    ) -> Result<Self, Error> {
        check_name(name)?;
        let local_class = check_endpoint(
            "local IPv4 address",
            local,
            scope,
            FIX_LOCAL,
            "not a global IPv4 address, so the broker cannot send protocol 41 to it directly",
            "behind NAT this private address is the right one (the broker is given the NAT's public address): \
             allow non-global addresses",
        )?;
        let remote_class = check_endpoint(
            "remote IPv4 address",
            remote,
            scope,
            "give the broker's tunnel server IPv4 address (on its tunnel details page)",
            "a tunnel broker's server has a global IPv4 address",
            "give the broker's server address; for a lab or a tunnel across a private network, allow non-global \
             addresses",
        )?;
        check_v6("client IPv6 address", client.addr(), scope)?;
        check_v6("server IPv6 address", server, scope)?;
        if local == remote {
            return Err(Error::TunnelAddresses(format!("local and remote IPv4 are both {local}")));
        }
        if client.addr() == server {
            return Err(Error::TunnelAddresses(format!("client and server IPv6 are both {server}")));
        }
        if !client.contains(&server) {
            return Err(Error::TunnelAddresses(format!(
                "server IPv6 {server} is not inside the client prefix {}: the default route needs it on-link",
                client.trunc()
            )));
        }
        if client.addr() == client.network() && client.prefix_len() < 127 {
            return Err(Error::TunnelAddresses(format!(
                "client IPv6 {client} is the subnet-router anycast address of its prefix (RFC 4291 §2.6.1): \
                 give the client's own address, e.g. {}/{}",
                Ipv6Addr::from(u128::from(client.network()) | 2),
                client.prefix_len()
            )));
        }
        let mut spec = Self::new(name, Kind::SixInFour { local, remote, client, server }, link)?;
        if let Some(c) = local_class {
            spec.notes.push(format!(
                "The local address {local} is {c}: this is the NAT case. The outer packets leave with \
                 {local} and the NAT rewrites it to its public address; tell the broker that public address \
                 (not {local}), and make the NAT pass protocol 41 to this host (a \"DMZ host\" setting: \
                 protocol 41 has no ports to forward). If the public address changes, the broker must be told \
                 again (OpenWrt does it at each start with the tunnel id and user name)."
            ));
        }
        if let Some(c) = remote_class {
            spec.notes.push(format!(
                "The remote address {remote} is {c}: fine for a lab or a private network, never a broker."
            ));
        }
        Ok(spec)
    }

    /// Adds the LAN side of a routed prefix: the first /64 of `routed` on `interface` (each
    /// format's usual LAN interface when `None`), announced by router advertisements. 6in4
    /// only; the prefix must have no host bits, be /64 or shorter (SLAAC needs a /64 on the
    /// LAN: RFC 4862 §5.5.3 with RFC 4291's 64-bit interface identifiers), pass the same
    /// address checks as the tunnel's, and not overlap the tunnel's own prefix.
    pub fn with_routed(mut self, routed: Ipv6Net, interface: Option<&str>, scope: Scope) -> Result<Self, Error> {
        let Kind::SixInFour { client, .. } = &self.kind else {
            return Err(Error::TunnelAddresses(
                "a routed prefix is for 6in4: a 6to4 site's prefix is its 2002:V4ADDR::/48 already".into(),
            ));
        };
        if routed.addr() != routed.network() {
            return Err(Error::TunnelAddresses(format!(
                "routed prefix {routed} has host bits set (did you mean {}?)",
                routed.trunc()
            )));
        }
        if routed.prefix_len() > 64 {
            return Err(Error::TunnelAddresses(format!(
                "routed prefix {routed} is longer than /64: hosts on the LAN configure addresses from a /64 \
                 (RFC 4862 §5.5.3, RFC 4291 §2.5.1); give the routed /64 or /48 from the broker's page"
            )));
        }
        check_v6("routed prefix", routed.network(), scope)?;
        let tunnel_net = client.trunc();
        if routed.contains(&tunnel_net.network()) || tunnel_net.contains(&routed.network()) {
            return Err(Error::TunnelAddresses(format!(
                "routed prefix {routed} overlaps the tunnel's own prefix {tunnel_net}: the broker routes a \
                 separate prefix to the client address; give the \"routed /64\" or \"/48\" from its page"
            )));
        }
        if let Some(i) = interface {
            check_name(i)?;
        }
        let subnet = Ipv6Net::new(routed.network(), 64).map_err(|_| Error::TunnelAddresses(routed.to_string()))?;
        self.lan = Some(Lan {
            routed,
            subnet,
            address: Ipv6Addr::from(u128::from(subnet.network()) | 1),
            interface: interface.map(str::to_owned),
        });
        Ok(self)
    }

    /// Adds the broker account OpenWrt uses to tell the broker the current endpoint. Each
    /// value is 1 to 64 printable ASCII characters without quotes or backslashes (it is
    /// written inside a quoted UCI value).
    pub fn with_broker(mut self, tunnel_id: &str, username: Option<&str>) -> Result<Self, Error> {
        for (what, v) in [("tunnel id", Some(tunnel_id)), ("user name", username)] {
            let Some(v) = v else { continue };
            let ok = (1..=64).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_graphic() && !b"'\"\\".contains(&b));
            if !ok {
                return Err(Error::TunnelAddresses(format!(
                    "{what} {v:?}: expected 1 to 64 printable characters without quotes, backslashes or spaces, \
                     as on the broker's tunnel details page"
                )));
            }
        }
        self.broker = Some(Broker { tunnel_id: tunnel_id.to_owned(), username: username.map(str::to_owned) });
        Ok(self)
    }

    /// The LAN interface for `format`: the one given, else `lan` (OpenWrt's logical LAN
    /// interface, there on every install) for UCI and `eth1` (the second port of a
    /// two-port router, the first being the uplink) for the Linux formats.
    pub fn lan_interface(&self, format: Format) -> &str {
        match (self.lan.as_ref().and_then(|l| l.interface.as_deref()), format) {
            (Some(i), _) => i,
            (None, Format::Uci) => "lan",
            (None, _) => "eth1",
        }
    }

    fn header(&self, out: &mut String, c: &str) {
        let m = self.mtu;
        for n in &self.notes {
            let _ = writeln!(out, "{c} note: {n}");
        }
        let _ =
            writeln!(out, "{c} MTU {}: link MTU {} minus the 20-byte IPv4 header (RFC 4213 §3.2).", m.tunnel, m.link);
        let _ =
            writeln!(out, "{c} TCP MSS {}: tunnel MTU {} minus 40 (IPv6 header) and 20 (TCP header).", m.mss, m.tunnel);
        let _ = writeln!(
            out,
            "{c} TTL {}: the IPv4 default (RFC 4213 §3.3), as `sixgate tunnel run`; a fixed TTL makes Linux set DF\n\
             {c} on the outer IPv4 header and run path MTU discovery (ip-tunnel(8)).",
            self.ttl
        );
    }

    fn radvd(&self, o: &mut String, lan: &Lan) {
        let i = self.lan_interface(Format::Radvd);
        let _ =
            writeln!(o, "# /etc/radvd.conf (radvd): announce {} on {i} (SLAAC, RFC 4861 §6.2, RFC 4862)", lan.subnet);
        let _ = writeln!(o, "interface {i} {{\n    AdvSendAdvert on;\n    prefix {} {{", lan.subnet);
        let _ = writeln!(o, "        AdvOnLink on;\n        AdvAutonomous on;\n    }};\n}};");
    }

    fn lan_comment(&self, o: &mut String, lan: &Lan, format: Format) {
        let i = self.lan_interface(format);
        let rest = if lan.routed.prefix_len() < 64 {
            format!("; the other /64s of {} are yours for more LANs", lan.routed)
        } else {
            String::new()
        };
        let _ = writeln!(o, "# LAN side: {} (the first /64 of the routed {}) on {i}{rest}.", lan.subnet, lan.routed);
    }

    /// The configuration in one format, with explaining comments. [`Format::Radvd`] without
    /// a routed prefix says there is nothing to announce.
    pub fn render(&self, format: Format) -> String {
        self.render_inner(format, true)
    }

    fn render_inner(&self, format: Format, inline_radvd: bool) -> String {
        let mut o = String::new();
        let n = &self.name;
        let m = self.mtu;
        let t = self.ttl;
        let lan = self.lan.as_ref();
        match (format, &self.kind) {
            (Format::Ifupdown, kind) => {
                let _ = writeln!(o, "# /etc/network/interfaces (ifupdown)");
                self.header(&mut o, "#");
                let _ = writeln!(o, "auto {n}\niface {n} inet6 v4tunnel");
                match kind {
                    Kind::SixToFour { local, address } => {
                        let _ = writeln!(o, "    address {address}\n    netmask 16");
                        let _ = writeln!(o, "    endpoint any\n    local {local}");
                        let _ = writeln!(o, "    gateway ::{RELAY_ANYCAST}");
                    }
                    Kind::SixInFour { local, remote, client, server } => {
                        let _ = writeln!(o, "    address {}\n    netmask {}", client.addr(), client.prefix_len());
                        let _ = writeln!(o, "    endpoint {remote}\n    local {local}");
                        let _ = writeln!(o, "    gateway {server}");
                    }
                }
                let _ = writeln!(o, "    ttl {t}\n    mtu {}", m.tunnel);
                if let Some(l) = lan {
                    let i = self.lan_interface(format);
                    o.push('\n');
                    self.lan_comment(&mut o, l, format);
                    let _ = writeln!(o, "# Forwarding: net.ipv6.conf.all.forwarding = 1 in /etc/sysctl.d/.");
                    let _ = writeln!(o, "iface {i} inet6 static\n    address {}\n    netmask 64", l.address);
                    if inline_radvd {
                        o.push('\n');
                        self.radvd(&mut o, l);
                    }
                }
            }
            (Format::Iproute2, kind) => {
                let _ = writeln!(o, "# iproute2 commands (run as root)");
                self.header(&mut o, "#");
                match kind {
                    Kind::SixToFour { local, address } => {
                        let _ = writeln!(o, "ip tunnel add {n} mode sit remote any local {local} ttl {t}");
                        let _ = writeln!(o, "ip link set dev {n} mtu {} up", m.tunnel);
                        let _ = writeln!(o, "ip -6 addr add {address}/16 dev {n}");
                        let _ = writeln!(o, "ip -6 route add 2000::/3 via ::{RELAY_ANYCAST} dev {n} metric 1");
                    }
                    Kind::SixInFour { local, remote, client, server } => {
                        let _ = writeln!(o, "ip tunnel add {n} mode sit remote {remote} local {local} ttl {t}");
                        let _ = writeln!(o, "ip link set dev {n} mtu {} up", m.tunnel);
                        let _ = writeln!(o, "ip -6 addr add {client} dev {n}");
                        let _ = writeln!(o, "ip -6 route add ::/0 via {server} dev {n}");
                    }
                }
                if let Some(l) = lan {
                    let i = self.lan_interface(format);
                    self.lan_comment(&mut o, l, format);
                    let _ = writeln!(o, "sysctl -w net.ipv6.conf.all.forwarding=1");
                    let _ = writeln!(o, "ip -6 addr add {}/64 dev {i}", l.address);
                    if inline_radvd {
                        o.push('\n');
                        self.radvd(&mut o, l);
                    }
                }
            }
            (Format::Networkd, kind) => {
                let _ = writeln!(o, "# /etc/systemd/network/{n}.netdev (systemd-networkd)");
                self.header(&mut o, "#");
                let _ = writeln!(o, "[NetDev]\nName={n}\nKind=sit\nMTUBytes={}\n", m.tunnel);
                let _ = writeln!(o, "[Tunnel]");
                match kind {
                    Kind::SixToFour { local, .. } => {
                        let _ = writeln!(o, "Local={local}\nRemote=any");
                    }
                    Kind::SixInFour { local, remote, .. } => {
                        let _ = writeln!(o, "Local={local}\nRemote={remote}");
                    }
                }
                let _ = writeln!(o, "TTL={t}");
                let _ = writeln!(
                    o,
                    "# Independent=yes: not tied to an uplink (systemd 248 and later); on older systemd, drop it\n\
                     # and add Tunnel={n} to the [Network] section of the uplink's .network file instead."
                );
                let _ = writeln!(o, "Independent=yes\n");
                let _ = writeln!(o, "# /etc/systemd/network/{n}.network\n[Match]\nName={n}\n\n[Network]");
                match kind {
                    Kind::SixToFour { address, .. } => {
                        let _ = writeln!(o, "Address={address}/16\n\n[Route]\nDestination=2000::/3");
                        let _ = writeln!(o, "Gateway=::{RELAY_ANYCAST}\nGatewayOnLink=yes");
                    }
                    Kind::SixInFour { client, server, .. } => {
                        let _ = writeln!(o, "Address={client}\nGateway={server}");
                    }
                }
                if let Some(l) = lan {
                    let i = self.lan_interface(format);
                    o.push('\n');
                    let _ = writeln!(o, "# /etc/systemd/network/{i}.network (merge into the LAN's own file)");
                    self.lan_comment(&mut o, l, format);
                    let _ = writeln!(
                        o,
                        "# IPv6Forwarding= is systemd 256 and later; older systemd spells it IPForward=ipv6."
                    );
                    let _ = writeln!(o, "[Match]\nName={i}\n\n[Network]\nAddress={}/64", l.address);
                    let _ = writeln!(o, "IPv6Forwarding=yes\nIPv6SendRA=yes\n\n[IPv6Prefix]\nPrefix={}", l.subnet);
                }
            }
            (Format::Netplan, Kind::SixToFour { .. }) => {
                let _ = writeln!(o, "# netplan: not available for 6to4");
                let _ = writeln!(
                    o,
                    "# A netplan tunnel needs a fixed remote address and 6to4 has none (\"remote any\");\n\
                     # use the systemd-networkd files above (netplan's own backend) instead."
                );
            }
            (Format::Netplan, Kind::SixInFour { local, remote, client, server }) => {
                let _ = writeln!(o, "# /etc/netplan/60-{n}.yaml (netplan)");
                self.header(&mut o, "#");
                if let Some(l) = lan {
                    self.lan_comment(&mut o, l, format);
                    let _ = writeln!(o, "# netplan sends no router advertisements: radvd announces the prefix.");
                }
                let _ = writeln!(o, "network:\n  version: 2");
                if let Some(l) = lan {
                    let i = self.lan_interface(format);
                    let _ = writeln!(o, "  ethernets:\n    {i}:\n      addresses:\n        - \"{}/64\"", l.address);
                }
                let _ = writeln!(o, "  tunnels:\n    {n}:\n      mode: sit");
                let _ = writeln!(
                    o,
                    "      local: {local}\n      remote: {remote}\n      ttl: {t}\n      mtu: {}",
                    m.tunnel
                );
                let _ = writeln!(o, "      addresses:\n        - \"{client}\"");
                let _ = writeln!(o, "      routes:\n        - to: default\n          via: \"{server}\"");
                if let (Some(l), true) = (lan, inline_radvd) {
                    o.push('\n');
                    self.radvd(&mut o, l);
                }
            }
            (Format::Uci, _) => openwrt::uci(self, &mut o),
            (Format::Nftables, _) => firewall::nftables(self, &mut o),
            (Format::Iptables, _) => firewall::iptables(self, &mut o),
            (Format::Radvd, _) => match lan {
                Some(l) => self.radvd(&mut o, l),
                None => {
                    let _ = writeln!(o, "# radvd: nothing to announce without a routed prefix (--routed)");
                }
            },
        }
        o
    }

    /// Every format, one after the other, with the 6to4 deprecation notice once at the top
    /// for a 6to4 tunnel, and radvd.conf once at the end with a routed prefix.
    pub fn render_all(&self) -> String {
        let mut o = String::new();
        if matches!(self.kind, Kind::SixToFour { .. }) {
            let _ = writeln!(o, "# note: {DEPRECATION_NOTE}\n");
        }
        for (i, f) in Format::ALL.into_iter().enumerate() {
            if f == Format::Radvd && self.lan.is_none() {
                continue;
            }
            if i > 0 {
                o.push('\n');
            }
            o.push_str(&self.render_inner(f, false));
        }
        o
    }
}

/// The advice for a local address no tunnel can use.
const FIX_LOCAL: &str = "give this host's own IPv4 address on the uplink (ip -4 addr), the private one if behind NAT";

#[cfg(test)]
mod tests {
    use super::*;

    fn he() -> TunnelSpec {
        TunnelSpec::six_in_four(
            "he-ipv6",
            Ipv4Addr::new(74, 207, 254, 16),
            Ipv4Addr::new(216, 66, 80, 26),
            "2001:470:1f0a:1234::2/64".parse().unwrap(),
            "2001:470:1f0a:1234::1".parse().unwrap(),
            1500,
            Scope::GlobalOnly,
        )
        .unwrap()
    }

    #[test]
    fn mtu() {
        assert_eq!(link_mtu(1500).unwrap(), Mtu { link: 1500, tunnel: 1480, mss: 1420 });
        assert_eq!(link_mtu(1492).unwrap(), Mtu { link: 1492, tunnel: 1472, mss: 1412 });
        assert_eq!(link_mtu(1300).unwrap().tunnel, 1280);
        assert!(matches!(link_mtu(1299), Err(Error::LinkMtu(1299))));
        assert!(matches!(link_mtu(70000), Err(Error::LinkMtu(70000))));
    }

    #[test]
    fn six_in_four_every_format() {
        let all = he().render_all();
        for want in [
            "iface he-ipv6 inet6 v4tunnel",
            "    endpoint 216.66.80.26",
            "    address 2001:470:1f0a:1234::2\n    netmask 64",
            "    mtu 1480",
            "ip tunnel add he-ipv6 mode sit remote 216.66.80.26 local 74.207.254.16 ttl 64",
            "ip -6 route add ::/0 via 2001:470:1f0a:1234::1 dev he-ipv6",
            "Kind=sit\nMTUBytes=1480",
            "Local=74.207.254.16\nRemote=216.66.80.26\nTTL=64",
            "Address=2001:470:1f0a:1234::2/64\nGateway=2001:470:1f0a:1234::1",
            "      mode: sit\n      local: 74.207.254.16\n      remote: 216.66.80.26",
            "tcp option maxseg size set 1420",
            "DF",
        ] {
            assert!(all.contains(want), "missing {want:?} in\n{all}");
        }
        assert!(!all.contains("RFC 7526"));
    }

    #[test]
    fn six_to_four_pppoe() {
        let s = TunnelSpec::six_to_four("tun6to4", Ipv4Addr::new(74, 207, 254, 16), 1492, Scope::GlobalOnly).unwrap();
        let all = s.render_all();
        assert_eq!(all.matches("RFC 7526").count(), 1, "{all}");
        for want in [
            "ip tunnel add tun6to4 mode sit remote any local 74.207.254.16 ttl 64",
            "ip -6 addr add 2002:4acf:fe10::1/16 dev tun6to4",
            "    address 2002:4acf:fe10::1\n    netmask 16",
            "mtu 1472",
            "MSS 1412",
            "link MTU 1492",
        ] {
            assert!(all.contains(want), "missing {want:?} in\n{all}");
        }
        let e = TunnelSpec::six_to_four("tun6to4", Ipv4Addr::new(10, 1, 2, 3), 1500, Scope::GlobalOnly).unwrap_err();
        assert!(e.to_string().contains("RFC 1918"));
    }

    #[test]
    fn refusals() {
        let v4 = Ipv4Addr::new(74, 207, 254, 16);
        let c: Ipv6Net = "2001:db8::2/64".parse().unwrap();
        let s: Ipv6Addr = "2001:db8::1".parse().unwrap();
        assert!(TunnelSpec::six_in_four("x", v4, v4, c, s, 1500, Scope::GlobalOnly).is_err());
        assert!(TunnelSpec::six_in_four(
            "x",
            v4,
            Ipv4Addr::new(1, 1, 1, 1),
            c,
            "2001:db9::1".parse().unwrap(),
            1500,
            Scope::GlobalOnly
        )
        .is_err());
        assert!(TunnelSpec::six_in_four(
            "x",
            v4,
            Ipv4Addr::new(1, 1, 1, 1),
            "2001:db8::/64".parse().unwrap(),
            s,
            1500,
            Scope::GlobalOnly
        )
        .is_err());
        for bad in ["", "a/b", "sixteen-chars-xx", "has space"] {
            assert!(matches!(
                TunnelSpec::six_in_four(bad, v4, Ipv4Addr::new(1, 1, 1, 1), c, s, 1500, Scope::GlobalOnly),
                Err(Error::InterfaceName(_))
            ));
        }
    }
}
