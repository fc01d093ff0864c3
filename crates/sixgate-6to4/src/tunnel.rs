//! Ready-to-paste configuration for a 6to4 tunnel and for a static 6in4 tunnel to a
//! broker: ifupdown, iproute2 commands, systemd-networkd, netplan, and the nftables rule
//! that clamps TCP MSS to the tunnel.
//!
//! ```
//! use sixgate_6to4::tunnel::{link_mtu, TunnelSpec, Format};
//! let m = link_mtu(1492).unwrap(); // PPPoE
//! assert_eq!((m.tunnel, m.mss), (1472, 1412));
//! let spec = TunnelSpec::six_in_four(
//!     "he-ipv6", "74.207.254.16".parse().unwrap(), "216.66.80.26".parse().unwrap(),
//!     "2001:470:1f0a:1234::2/64".parse().unwrap(), "2001:470:1f0a:1234::1".parse().unwrap(), 1500,
//! ).unwrap();
//! let text = spec.render(Format::Iproute2);
//! assert!(text.contains("ip tunnel add he-ipv6 mode sit remote 216.66.80.26 local 74.207.254.16 ttl 255"));
//! ```

use std::fmt::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::Ipv6Net;
#[cfg(feature = "serde")]
use serde::Serialize;

use crate::error::Error;
use crate::sixto4::{six_to_four, Scope, DEPRECATION_NOTE};

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
    /// The nftables MSS clamp.
    Nftables,
}

impl Format {
    /// Every format, in the order [`TunnelSpec::render_all`] prints them.
    pub const ALL: [Self; 5] = [Self::Ifupdown, Self::Iproute2, Self::Networkd, Self::Netplan, Self::Nftables];
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

impl TunnelSpec {
    /// A 6to4 tunnel from `local`, which must be global unless `scope` allows otherwise.
    pub fn six_to_four(name: &str, local: Ipv4Addr, link: u32, scope: Scope) -> Result<Self, Error> {
        check_name(name)?;
        let s = six_to_four(local, scope)?;
        Ok(Self { name: name.to_owned(), kind: Kind::SixToFour { local, address: s.first_host }, mtu: link_mtu(link)? })
    }

    /// A static 6in4 tunnel: `local` and `remote` IPv4, the client's IPv6 address with
    /// its prefix length, and the server's IPv6 address, which must be inside it.
    pub fn six_in_four(
        name: &str,
        local: Ipv4Addr,
        remote: Ipv4Addr,
        client: Ipv6Net,
        server: Ipv6Addr,
        link: u32,
    ) -> Result<Self, Error> {
        check_name(name)?;
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
        Ok(Self {
            name: name.to_owned(),
            kind: Kind::SixInFour { local, remote, client, server },
            mtu: link_mtu(link)?,
        })
    }

    fn header(&self, out: &mut String, c: &str) {
        let m = self.mtu;
        let _ =
            writeln!(out, "{c} MTU {}: link MTU {} minus the 20-byte IPv4 header (RFC 4213 §3.2).", m.tunnel, m.link);
        let _ =
            writeln!(out, "{c} TCP MSS {}: tunnel MTU {} minus 40 (IPv6 header) and 20 (TCP header).", m.mss, m.tunnel);
        let _ = writeln!(
            out,
            "{c} TTL 255 is fixed, so Linux sets DF on the outer IPv4 header and runs path MTU discovery (ip-tunnel(8))."
        );
    }

    /// The configuration in one format, with explaining comments.
    pub fn render(&self, format: Format) -> String {
        let mut o = String::new();
        let n = &self.name;
        let m = self.mtu;
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
                let _ = writeln!(o, "    ttl 255\n    mtu {}", m.tunnel);
            }
            (Format::Iproute2, kind) => {
                let _ = writeln!(o, "# iproute2 commands (run as root)");
                self.header(&mut o, "#");
                match kind {
                    Kind::SixToFour { local, address } => {
                        let _ = writeln!(o, "ip tunnel add {n} mode sit remote any local {local} ttl 255");
                        let _ = writeln!(o, "ip link set dev {n} mtu {} up", m.tunnel);
                        let _ = writeln!(o, "ip -6 addr add {address}/16 dev {n}");
                        let _ = writeln!(o, "ip -6 route add 2000::/3 via ::{RELAY_ANYCAST} dev {n} metric 1");
                    }
                    Kind::SixInFour { local, remote, client, server } => {
                        let _ = writeln!(o, "ip tunnel add {n} mode sit remote {remote} local {local} ttl 255");
                        let _ = writeln!(o, "ip link set dev {n} mtu {} up", m.tunnel);
                        let _ = writeln!(o, "ip -6 addr add {client} dev {n}");
                        let _ = writeln!(o, "ip -6 route add ::/0 via {server} dev {n}");
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
                let _ = writeln!(o, "TTL=255");
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
                let _ = writeln!(o, "network:\n  version: 2\n  tunnels:\n    {n}:\n      mode: sit");
                let _ = writeln!(
                    o,
                    "      local: {local}\n      remote: {remote}\n      ttl: 255\n      mtu: {}",
                    m.tunnel
                );
                let _ = writeln!(o, "      addresses:\n        - \"{client}\"");
                let _ = writeln!(o, "      routes:\n        - to: default\n          via: \"{server}\"");
            }
            (Format::Nftables, _) => {
                let _ = writeln!(o, "# nftables: clamp the MSS of TCP over the tunnel (nft -f FILE)");
                let _ = writeln!(
                    o,
                    "# MSS {} = tunnel MTU {} - 40 (IPv6) - 20 (TCP), so forwarded TCP never needs a too-big\n\
                     # IPv6 packet when ICMPv6 Packet Too Big is filtered on the way.",
                    m.mss, m.tunnel
                );
                // nft identifiers are letters, digits, '_', '-', '.' and '/'; an interface
                // name may hold other characters, which become '_' in the table name.
                let table: String =
                    n.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect();
                let _ = writeln!(o, "table inet sixgate_mss_{table} {{\n    chain forward {{");
                let _ = writeln!(o, "        type filter hook forward priority mangle; policy accept;");
                for dir in ["oifname", "iifname"] {
                    let _ = writeln!(
                        o,
                        "        {dir} \"{n}\" tcp flags & (syn | rst) == syn tcp option maxseg size set {}",
                        m.mss
                    );
                }
                let _ = writeln!(o, "    }}\n}}");
            }
        }
        o
    }

    /// Every format, one after the other, with the 6to4 deprecation notice once at the top
    /// for a 6to4 tunnel.
    pub fn render_all(&self) -> String {
        let mut o = String::new();
        if matches!(self.kind, Kind::SixToFour { .. }) {
            let _ = writeln!(o, "# note: {DEPRECATION_NOTE}\n");
        }
        for (i, f) in Format::ALL.into_iter().enumerate() {
            if i > 0 {
                o.push('\n');
            }
            o.push_str(&self.render(f));
        }
        o
    }
}

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
            "ip tunnel add he-ipv6 mode sit remote 216.66.80.26 local 74.207.254.16 ttl 255",
            "ip -6 route add ::/0 via 2001:470:1f0a:1234::1 dev he-ipv6",
            "Kind=sit\nMTUBytes=1480",
            "Local=74.207.254.16\nRemote=216.66.80.26\nTTL=255",
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
            "ip tunnel add tun6to4 mode sit remote any local 74.207.254.16 ttl 255",
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
        assert!(TunnelSpec::six_in_four("x", v4, v4, c, s, 1500).is_err());
        assert!(TunnelSpec::six_in_four("x", v4, Ipv4Addr::new(1, 1, 1, 1), c, "2001:db9::1".parse().unwrap(), 1500)
            .is_err());
        assert!(TunnelSpec::six_in_four("x", v4, Ipv4Addr::new(1, 1, 1, 1), "2001:db8::/64".parse().unwrap(), s, 1500)
            .is_err());
        for bad in ["", "a/b", "sixteen-chars-xx", "has space"] {
            assert!(matches!(
                TunnelSpec::six_in_four(bad, v4, Ipv4Addr::new(1, 1, 1, 1), c, s, 1500),
                Err(Error::InterfaceName(_))
            ));
        }
    }
}
