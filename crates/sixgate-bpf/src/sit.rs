//! The 6in4 fast path (RFC 4213): `bpf/sit.bpf.c` and its loader.
//!
//! Encapsulates IPv6 packets leaving through the tunnel and decapsulates the protocol-41
//! packets that pass the engine's outer checks (RFC 4213 §3.6, RFC 3964 in 6to4 mode); hands
//! everything else to the engine.
//!
//! Two programs, one object:
//! - `sixgate_sit_decap`, at the ingress of the IPv4 interfaces (Ethernet): a protocol-41
//!   packet with a 20-byte outer header that passes every check of
//!   [`SitTunnel`](sixgate_6in4::SitTunnel)'s decapsulation, in its order, loses its outer
//!   header and is redirected into the ingress of the tunnel's TUN device. What it does not
//!   take goes on unchanged (`TC_ACT_OK`) to the kernel, which delivers protocol 41 and
//!   ICMPv4 to the engine's raw sockets.
//! - `sixgate_sit_encap`, at the egress of the TUN device: an IPv6 packet within the tunnel
//!   MTU (and the learned path MTU, which the daemon mirrors with
//!   [`SitFastPath::set_path_mtus`]) gets the engine's outer header after a FIB lookup and
//!   is redirected to the IPv4 interface the FIB names. What it does not take (too big,
//!   no route, an unresolved neighbour...) goes on unchanged to the TUN device, to the engine.
//!
//! The ECN rule of decapsulation (RFC 6040 §4.2) is the engine's table
//! ([`sixgate_6in4::ecn_decap`]), written into the configuration map; the non-global IPv4
//! blocks of RFC 3964 §5.1 are [`sixgate_core::class::non_global_v4_ranges`], written into
//! an LPM map. Each punted packet is counted under one of [`SIT_PUNT_REASONS`].

use std::net::Ipv4Addr;

use sixgate_6in4::{ecn_decap, EcnMode, Mode, SitConfig};

use crate::{BpfError, Direction, FastPathCounters, TestOutcome};

/// Why the programs hand a packet to the engine (or, for `dropped`, lost it after a change
/// the kernel refused), in the order of the counter map's indices from 1. The engine's drop
/// reason names where one applies, in snake_case.
pub const SIT_PUNT_REASONS: &[&str] = &[
    // Decapsulation (ingress of the IPv4 interfaces).
    "not_ipv4",
    "malformed",
    "ipv4_options",
    "ipv4_header_checksum",
    "outer_fragment",
    "wrong_outer_destination",
    "icmpv4",
    "not_protocol_41",
    "wrong_outer_source",
    "inner_malformed",
    "length_mismatch",
    "forbidden_inner_source",
    "non_global_6to4",
    "spoofed_6to4",
    "not_from_relay",
    "inner_destination_not_ours",
    "ecn_ce_on_not_ect",
    // Encapsulation (egress of the TUN device); `malformed`, `length_mismatch` and
    // `non_global_6to4` are shared.
    "not_ipv6",
    "no_relay",
    "too_big",
    "outer_fragmentation",
    "gso_unsupported",
    "no_route",
    "no_neighbour",
    "route_mtu",
    // Either program.
    "adjust_failed",
    "dropped",
];

/// The most path-MTU entries the program's map holds (`sit_pmtu` in `bpf/sit.bpf.c`).
pub const MAX_PATH_MTUS: usize = 65536;

/// Size of `struct sit_cfg` in `bpf/sit.bpf.c`.
const CFG_LEN: usize = 44;

/// The configuration map's value for `cfg`: `struct sit_cfg` in `bpf/sit.bpf.c`, byte for
/// byte (little-endian numbers, addresses in network order). Refuses what the programs
/// cannot encode.
fn encode(cfg: &SitConfig, tun_ifindex: u32, test_id: Option<u16>) -> Result<[u8; CFG_LEN], BpfError> {
    cfg.validate().map_err(|e| BpfError::Config(e.to_string()))?;
    if cfg.pmtu_entries > MAX_PATH_MTUS {
        return Err(BpfError::Config(format!(
            "pmtu_entries {} is more than the fast path's map holds ({MAX_PATH_MTUS}); lower it",
            cfg.pmtu_entries
        )));
    }
    let mut b = [0u8; CFG_LEN];
    b[0..4].copy_from_slice(&cfg.local.octets());
    let (mode, remote, relay) = match cfg.mode {
        Mode::Static { remote } => (0u8, Some(remote), None),
        Mode::SixToFour { relay } => (1u8, None, relay),
    };
    b[4..8].copy_from_slice(&remote.unwrap_or(Ipv4Addr::UNSPECIFIED).octets());
    b[8..12].copy_from_slice(&relay.unwrap_or(Ipv4Addr::UNSPECIFIED).octets());
    b[12..16].copy_from_slice(&tun_ifindex.to_le_bytes());
    b[16..18].copy_from_slice(&cfg.tunnel_mtu().to_le_bytes());
    b[18..20].copy_from_slice(&cfg.link_mtu.to_le_bytes());
    b[20..22].copy_from_slice(&test_id.unwrap_or(0).to_le_bytes());
    b[22] = mode;
    b[23] = cfg.ttl;
    b[24] = u8::from(cfg.copy_dscp);
    b[25] = u8::from(cfg.ecn == EcnMode::Normal);
    b[26] = u8::from(test_id.is_some());
    b[27] = u8::from(relay.is_some());
    // RFC 6040 §4.2: the engine's own table, [inner * 4 + outer], 0xff where it drops.
    for inner in 0..4u8 {
        for outer in 0..4u8 {
            b[28 + usize::from(inner * 4 + outer)] = ecn_decap(inner, outer).unwrap_or(0xff);
        }
    }
    Ok(b)
}

/// The inclusive range `lo..=hi` as the fewest CIDR prefixes (network, length).
#[cfg_attr(not(all(feature = "programs", target_os = "linux")), allow(dead_code))]
fn prefixes(lo: u32, hi: u32) -> Vec<(u32, u8)> {
    let mut out = Vec::new();
    let (mut lo, hi) = (u64::from(lo), u64::from(hi));
    while lo <= hi {
        // The largest block aligned at `lo` that stays within the range.
        let mut len = 32u8;
        while len > 0 {
            let size = 1u64 << (33 - u32::from(len));
            if lo % size != 0 || lo + size - 1 > hi {
                break;
            }
            len -= 1;
        }
        out.push((lo as u32, len));
        lo += 1u64 << (32 - u32::from(len));
    }
    out
}

#[cfg_attr(not(all(feature = "programs", target_os = "linux")), allow(dead_code))]
/// The non-global IPv4 blocks (RFC 3964 §5.1: a 6to4 address embeds a global one) as
/// prefixes, from the one registry [`sixgate_core::class::non_global_v4_ranges`].
fn non_global_prefixes() -> Vec<(Ipv4Addr, u8)> {
    sixgate_core::class::non_global_v4_ranges()
        .into_iter()
        .flat_map(|(a, b)| prefixes(u32::from(a), u32::from(b)))
        .map(|(n, l)| (Ipv4Addr::from(n), l))
        .collect()
}

#[cfg(all(feature = "programs", target_os = "linux"))]
mod imp {
    use super::*;
    use crate::loader;
    use aya::maps::lpm_trie::{Key, LpmTrie};
    use aya::maps::HashMap as BpfHashMap;
    use aya::Ebpf;
    use std::collections::HashMap;

    /// The compiled programs.
    static SIT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/sit.bpf.o"));

    pub(super) const DECAP: &str = "sixgate_sit_decap";
    pub(super) const ENCAP: &str = "sixgate_sit_encap";

    fn map_err(map: &str) -> impl Fn(String) -> BpfError + '_ {
        move |detail| BpfError::Map { map: map.to_string(), detail }
    }

    /// The loaded object and what the loader keeps to rewrite the configuration.
    pub(super) struct Loaded {
        pub(super) ebpf: Ebpf,
        pub(super) cfg: SitConfig,
        pub(super) tun_ifindex: u32,
        pub(super) test_id: Option<u16>,
        /// The path MTUs in the map, as last written.
        pub(super) pmtu: HashMap<Ipv4Addr, u16>,
    }

    impl Loaded {
        pub(super) fn load(cfg: &SitConfig) -> Result<Self, BpfError> {
            let value = encode(cfg, 0, None)?;
            let unsupported = |e: BpfError| BpfError::Unsupported(e.to_string());
            let mut ebpf = loader::load_object("sixgate_sit", SIT).map_err(unsupported)?;
            loader::classifier(&mut ebpf, DECAP)?;
            loader::classifier(&mut ebpf, ENCAP)?;
            loader::set_array(&mut ebpf, "sit_cfg", 0, value)?;
            fill_non_global(&mut ebpf)?;
            Ok(Self { ebpf, cfg: cfg.clone(), tun_ifindex: 0, test_id: None, pmtu: HashMap::new() })
        }

        pub(super) fn write_cfg(&mut self) -> Result<(), BpfError> {
            let value = encode(&self.cfg, self.tun_ifindex, self.test_id)?;
            loader::set_array(&mut self.ebpf, "sit_cfg", 0, value)
        }

        pub(super) fn set_path_mtu(&mut self, dst: Ipv4Addr, mtu: Option<u16>) -> Result<(), BpfError> {
            let err = map_err("sit_pmtu");
            let map = self.ebpf.map_mut("sit_pmtu").ok_or_else(|| err("no such map in the object".to_string()))?;
            let mut m: BpfHashMap<_, [u8; 4], u32> = BpfHashMap::try_from(map).map_err(|e| err(e.to_string()))?;
            match mtu {
                Some(v) => {
                    m.insert(dst.octets(), u32::from(v), 0).map_err(|e| err(e.to_string()))?;
                    self.pmtu.insert(dst, v);
                }
                None => {
                    // Absent already is as good as removed.
                    let _ = m.remove(&dst.octets());
                    self.pmtu.remove(&dst);
                }
            }
            Ok(())
        }
    }

    fn fill_non_global(ebpf: &mut Ebpf) -> Result<(), BpfError> {
        let err = map_err("sit_nonglobal");
        let map = ebpf.map_mut("sit_nonglobal").ok_or_else(|| err("no such map in the object".to_string()))?;
        let mut trie: LpmTrie<_, [u8; 4], u8> = LpmTrie::try_from(map).map_err(|e| err(e.to_string()))?;
        for (net, len) in non_global_prefixes() {
            trie.insert(&Key::new(u32::from(len), net.octets()), 1, 0).map_err(|e| err(e.to_string()))?;
        }
        Ok(())
    }

    /// Turns IPv4 forwarding on for the TUN device `name` alone: the FIB lookup helper
    /// (`bpf_fib_lookup`) answers "forwarding disabled" for a lookup from a device without
    /// it. The device carries IPv6 only (the engine writes no IPv4 to it), so no IPv4
    /// packet is forwarded from it either way; it goes with the device.
    pub(super) fn enable_forwarding(name: &str) -> Result<(), BpfError> {
        let path = format!("/proc/sys/net/ipv4/conf/{name}/forwarding");
        match std::fs::read_to_string(&path) {
            Ok(v) if v.trim() == "1" => Ok(()),
            _ => std::fs::write(&path, "1").map_err(|e| BpfError::Attach {
                iface: name.to_string(),
                detail: format!("turning IPv4 forwarding on for the FIB lookup ({path}): {e}"),
            }),
        }
    }

    /// The interface index of `name`, from sysfs.
    pub(super) fn ifindex(name: &str) -> Result<u32, BpfError> {
        let attach_err = |detail: String| BpfError::Attach { iface: name.to_string(), detail };
        if name.is_empty() || name.contains('/') || name.contains("..") {
            return Err(attach_err("not an interface name".to_string()));
        }
        let text = std::fs::read_to_string(format!("/sys/class/net/{name}/ifindex"))
            .map_err(|e| attach_err(format!("no such interface ({e})")))?;
        text.trim().parse().map_err(|e| attach_err(format!("ifindex {text:?}: {e}")))
    }
}

/// The 6in4 TC programs, loaded, with its maps filled from a [`SitConfig`].
pub struct SitFastPath {
    #[cfg(all(feature = "programs", target_os = "linux"))]
    inner: imp::Loaded,
}

impl std::fmt::Debug for SitFastPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SitFastPath").finish_non_exhaustive()
    }
}

impl SitFastPath {
    /// Checks that `cfg` is one the fast path handles (otherwise [`BpfError::Config`]),
    /// loads the program through the verifier and fills its maps from `cfg`.
    pub fn load(cfg: &SitConfig) -> Result<Self, BpfError> {
        #[cfg(all(feature = "programs", target_os = "linux"))]
        {
            Ok(Self { inner: imp::Loaded::load(cfg)? })
        }
        #[cfg(not(all(feature = "programs", target_os = "linux")))]
        {
            encode(cfg, 0, None)?;
            Err(BpfError::NotBuilt)
        }
    }

    /// Attaches the decapsulation program to the ingress hook of each IPv4 interface in
    /// `ifaces` and the encapsulation program to the egress hook of `tunnel` (the engine's
    /// TUN device, which stays the tunnel interface: decapsulated packets enter the stack
    /// through it, and what the programs do not handle reaches the engine through it).
    ///
    /// Turns on IPv4 forwarding (`net.ipv4.conf.TUNNEL.forwarding`) for the TUN device
    /// alone, which the kernel's FIB lookup helper requires of the device it looks up from.
    pub fn attach(&mut self, ifaces: &[&str], tunnel: &str) -> Result<(), BpfError> {
        #[cfg(all(feature = "programs", target_os = "linux"))]
        {
            let l = &mut self.inner;
            l.tun_ifindex = imp::ifindex(tunnel)?;
            imp::enable_forwarding(tunnel)?;
            l.write_cfg()?;
            for iface in ifaces {
                crate::loader::attach_tc(&mut l.ebpf, imp::DECAP, iface, Direction::Ingress)?;
            }
            crate::loader::attach_tc(&mut l.ebpf, imp::ENCAP, tunnel, Direction::Egress)
        }
        #[cfg(not(all(feature = "programs", target_os = "linux")))]
        {
            let _ = (ifaces, tunnel);
            Err(BpfError::NotBuilt)
        }
    }

    /// Replaces the maps' contents with `cfg`'s, in place (SIGHUP reload): the attachment
    /// stays, no packet is lost. The path MTUs stay until the daemon mirrors the engine's
    /// again ([`SitFastPath::set_path_mtus`]).
    pub fn reconfigure(&mut self, cfg: &SitConfig) -> Result<(), BpfError> {
        #[cfg(all(feature = "programs", target_os = "linux"))]
        {
            let l = &mut self.inner;
            encode(cfg, l.tun_ifindex, l.test_id)?;
            l.cfg = cfg.clone();
            l.write_cfg()
        }
        #[cfg(not(all(feature = "programs", target_os = "linux")))]
        {
            let _ = cfg;
            Err(BpfError::NotBuilt)
        }
    }

    /// The counters since load: forwarded, and punted by [`SIT_PUNT_REASONS`].
    pub fn counters(&self) -> Result<FastPathCounters, BpfError> {
        #[cfg(all(feature = "programs", target_os = "linux"))]
        {
            crate::loader::read_counters(&self.inner.ebpf, "sit_counters", SIT_PUNT_REASONS)
        }
        #[cfg(not(all(feature = "programs", target_os = "linux")))]
        {
            Err(BpfError::NotBuilt)
        }
    }

    /// Sets the path MTU (outer, IPv4 terms, as [`SitTunnel::path_mtu`] answers) the
    /// encapsulation program uses for `dst`; `None` forgets it.
    ///
    /// [`SitTunnel::path_mtu`]: sixgate_6in4::SitTunnel::path_mtu
    pub fn set_path_mtu(&mut self, dst: Ipv4Addr, mtu: Option<u16>) -> Result<(), BpfError> {
        #[cfg(all(feature = "programs", target_os = "linux"))]
        {
            self.inner.set_path_mtu(dst, mtu)
        }
        #[cfg(not(all(feature = "programs", target_os = "linux")))]
        {
            let _ = (dst, mtu);
            Err(BpfError::NotBuilt)
        }
    }

    /// Makes the path-MTU map hold exactly `entries` (the engine's
    /// [`SitTunnel::path_mtus`](sixgate_6in4::SitTunnel::path_mtus)), writing only what
    /// changed since the last call.
    pub fn set_path_mtus(&mut self, entries: &[(Ipv4Addr, u16)]) -> Result<(), BpfError> {
        #[cfg(all(feature = "programs", target_os = "linux"))]
        {
            let l = &mut self.inner;
            let gone: Vec<Ipv4Addr> =
                l.pmtu.keys().filter(|k| !entries.iter().any(|(d, _)| d == *k)).copied().collect();
            for dst in gone {
                l.set_path_mtu(dst, None)?;
            }
            for &(dst, mtu) in entries {
                if l.pmtu.get(&dst) != Some(&mtu) {
                    l.set_path_mtu(dst, Some(mtu))?;
                }
            }
            Ok(())
        }
        #[cfg(not(all(feature = "programs", target_os = "linux")))]
        {
            let _ = entries;
            Err(BpfError::NotBuilt)
        }
    }

    /// Test mode: every encapsulated packet carries outer Identification `id` (`None`:
    /// the per-CPU counter, the default), so tests compare whole packets.
    pub fn set_test_id(&mut self, id: Option<u16>) -> Result<(), BpfError> {
        #[cfg(all(feature = "programs", target_os = "linux"))]
        {
            self.inner.test_id = id;
            self.inner.write_cfg()
        }
        #[cfg(not(all(feature = "programs", target_os = "linux")))]
        {
            let _ = id;
            Err(BpfError::NotBuilt)
        }
    }

    /// Runs the decapsulation (`Direction::Ingress`, an Ethernet frame) or encapsulation
    /// (`Direction::Egress`, the frame as the tunnel's TUN device holds it) program once by
    /// `BPF_PROG_TEST_RUN`.
    ///
    /// A test run gives every program an Ethernet frame; the encapsulation program reads
    /// one in a test run (it tells the TUN device by its interface index), so `frame` is an
    /// Ethernet header and the IPv6 packet. Its FIB lookup runs in the caller's network
    /// namespace.
    pub fn test_run(&mut self, direction: Direction, frame: &[u8]) -> Result<TestOutcome, BpfError> {
        #[cfg(all(feature = "programs", target_os = "linux"))]
        {
            let prog = match direction {
                Direction::Ingress => imp::DECAP,
                Direction::Egress => imp::ENCAP,
            };
            crate::loader::test_run(&mut self.inner.ebpf, prog, frame)
        }
        #[cfg(not(all(feature = "programs", target_os = "linux")))]
        {
            let _ = (direction, frame);
            Err(BpfError::NotBuilt)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_cover_exactly_the_range() {
        assert_eq!(prefixes(0, u32::MAX), vec![(0, 0)]);
        assert_eq!(prefixes(10 << 24, (11 << 24) - 1), vec![(10 << 24, 8)]);
        assert_eq!(prefixes(1, 2), vec![(1, 32), (2, 32)]);
        assert_eq!(prefixes(0, 2), vec![(0, 31), (2, 32)]);
        // Every non-global range: the prefixes classify each edge as the registry does.
        for (net, len) in non_global_prefixes() {
            let n = u32::from(net);
            let last = n | (u32::MAX.checked_shr(u32::from(len)).unwrap_or(0));
            for a in [n, last] {
                assert!(!sixgate_core::class::is_global_v4(Ipv4Addr::from(a)), "{net}/{len}: {}", Ipv4Addr::from(a));
            }
            for a in [n.wrapping_sub(1), last.wrapping_add(1)] {
                let inside = non_global_prefixes().iter().any(|(m, l)| {
                    let mask = u32::MAX.checked_shl(32 - u32::from(*l)).unwrap_or(0);
                    a & mask == u32::from(*m)
                });
                assert_eq!(inside, !sixgate_core::class::is_global_v4(Ipv4Addr::from(a)), "{}", Ipv4Addr::from(a));
            }
        }
    }

    #[test]
    fn the_configuration_is_laid_out_as_the_program_reads_it() {
        let mut c = SitConfig::new_static(
            "192.0.2.1".parse().unwrap(),
            "198.51.100.1".parse().unwrap(),
            "2001:db8::1".parse().unwrap(),
        );
        c.ttl = 9;
        let b = encode(&c, 7, Some(0x1234)).unwrap();
        assert_eq!(&b[0..8], &[192, 0, 2, 1, 198, 51, 100, 1]);
        assert_eq!(&b[12..22], &[7, 0, 0, 0, 0xc8, 0x05, 0xdc, 0x05, 0x34, 0x12]);
        assert_eq!(&b[22..28], &[0, 9, 0, 1, 1, 0]);
        // RFC 6040 §4.2: outer CE on Not-ECT drops; ECT(0) with outer ECT(1) becomes ECT(1).
        assert_eq!((b[28 + 3], b[28 + 2 * 4 + 1]), (0xff, 1));
        c.pmtu_entries = MAX_PATH_MTUS + 1;
        assert!(matches!(encode(&c, 0, None), Err(BpfError::Config(_))));
        c.pmtu_entries = 10;
        c.ttl = 0;
        assert!(matches!(encode(&c, 0, None), Err(BpfError::Config(_))));
    }
}
