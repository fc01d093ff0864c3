//! The SIIT fast path (RFC 7915 for the common classes): `bpf/siit.bpf.c` and its loader.
//!
//! Handles, both ways, unfragmented TCP, UDP and ICMP echo between addresses that pool6
//! (RFC 6052, every length) or the EAM table (RFC 7757) map; hands everything else to the
//! engine, unchanged, through its TUN device, counted under one of [`SIIT_PUNT_REASONS`].
//!
//! The program's tables are filled from the same [`SiitConfig`] and the same address rules
//! as the engine's: the forbidden addresses from `sixgate_core::class::is_forbidden_v4`, the
//! non-global ones (for the well-known prefix, RFC 6052 §3.1) from
//! `sixgate_core::class::non_global_v4_ranges`, the denylist and the EAM entries from the
//! configuration.

use sixgate_nat64::SiitConfig;

use crate::{BpfError, FastPathCounters, TestOutcome};

/// The reasons the SIIT program punts a packet to the engine, in the order of its counter
/// map (index `i + 1` counts `SIIT_PUNT_REASONS[i]`; index 0 the packets forwarded).
pub const SIIT_PUNT_REASONS: &[&str] = &[
    "malformed",
    "ipv4_header_checksum",
    "ipv4_options",
    "fragment",
    "extension_header",
    "to_translator",
    "ttl_exceeded",
    "hop_limit_exceeded",
    "link_local",
    "forbidden_address",
    "untranslatable_source",
    "untranslatable_destination",
    "denylisted_address",
    "wkp_non_global",
    "hairpin",
    "icmp_not_echo",
    "unknown_protocol",
    "udp_zero_checksum",
    "udp6_zero_checksum",
    "too_big",
    "no_route",
    "helper_failed",
    "reconfiguring",
    "gso_short_tail",
];

/// The SIIT TC program, loaded, with its maps filled from a [`SiitConfig`].
#[derive(Debug)]
pub struct SiitFastPath {
    #[cfg(all(feature = "programs", target_os = "linux"))]
    inner: imp::Loaded,
    #[cfg(not(all(feature = "programs", target_os = "linux")))]
    _private: (),
}

#[cfg(not(all(feature = "programs", target_os = "linux")))]
impl SiitFastPath {
    /// Checks that `cfg` is one the fast path handles (otherwise [`BpfError::Config`]),
    /// loads the program through the verifier and fills its maps from `cfg`.
    pub fn load(cfg: &SiitConfig) -> Result<Self, BpfError> {
        let _ = cfg;
        Err(BpfError::NotBuilt)
    }

    /// Like [`SiitFastPath::load`], in test mode: see the `programs` build.
    pub fn load_test(cfg: &SiitConfig) -> Result<Self, BpfError> {
        let _ = cfg;
        Err(BpfError::NotBuilt)
    }

    /// Attaches the program to the ingress hook of each interface in `ifaces` (where the
    /// packets to translate arrive). Packets the program does not handle go to `punt_to`
    /// (the engine's TUN device) unchanged.
    pub fn attach(&mut self, ifaces: &[&str], punt_to: &str) -> Result<(), BpfError> {
        let _ = (ifaces, punt_to);
        Err(BpfError::NotBuilt)
    }

    /// Replaces the maps' contents with `cfg`'s, in place (SIGHUP reload): the attachment
    /// stays, no packet is lost.
    pub fn reconfigure(&mut self, cfg: &SiitConfig) -> Result<(), BpfError> {
        let _ = cfg;
        Err(BpfError::NotBuilt)
    }

    /// The counters since load.
    pub fn counters(&self) -> Result<FastPathCounters, BpfError> {
        Err(BpfError::NotBuilt)
    }

    /// Sets the IPv4 Identification the next IPv6 → IPv4 translation uses, on every CPU.
    pub fn set_next_ipv4_id(&mut self, id: u16) -> Result<(), BpfError> {
        let _ = id;
        Err(BpfError::NotBuilt)
    }

    /// Runs the program once over an Ethernet `frame` by `BPF_PROG_TEST_RUN`.
    pub fn test_run(&mut self, frame: &[u8]) -> Result<TestOutcome, BpfError> {
        let _ = frame;
        Err(BpfError::NotBuilt)
    }
}

#[cfg(all(feature = "programs", target_os = "linux"))]
impl SiitFastPath {
    /// Checks that `cfg` is one the fast path handles (otherwise [`BpfError::Config`]),
    /// loads the program through the verifier and fills its maps from `cfg`. Until
    /// [`SiitFastPath::attach`] names the engine's device, the program lets every packet
    /// through untouched.
    pub fn load(cfg: &SiitConfig) -> Result<Self, BpfError> {
        Ok(Self { inner: imp::Loaded::new(cfg, false)? })
    }

    /// Like [`SiitFastPath::load`], in test mode, for `BPF_PROG_TEST_RUN`: no FIB lookup
    /// (every packet counts as routed to the engine, and a translated one as routed out), a
    /// translated frame comes back with `TC_ACT_OK` (its EtherType changed, its MAC
    /// addresses not), a punted one with `TC_ACT_REDIRECT` to the loopback device.
    pub fn load_test(cfg: &SiitConfig) -> Result<Self, BpfError> {
        Ok(Self { inner: imp::Loaded::new(cfg, true)? })
    }

    /// Attaches the program to the ingress hook of each interface in `ifaces` (where the
    /// packets to translate arrive). Packets the program does not handle go to `punt_to`
    /// (the engine's TUN device) unchanged.
    pub fn attach(&mut self, ifaces: &[&str], punt_to: &str) -> Result<(), BpfError> {
        self.inner.attach(ifaces, punt_to)
    }

    /// Replaces the maps' contents with `cfg`'s, in place (SIGHUP reload): the attachment
    /// stays, no packet is lost (while the tables change, every packet goes to the engine).
    pub fn reconfigure(&mut self, cfg: &SiitConfig) -> Result<(), BpfError> {
        self.inner.reconfigure(cfg)
    }

    /// The counters since load.
    pub fn counters(&self) -> Result<FastPathCounters, BpfError> {
        crate::loader::read_counters(&self.inner.ebpf, "siit_counters", SIIT_PUNT_REASONS)
    }

    /// Sets the IPv4 Identification the next IPv6 → IPv4 translation uses, on every CPU
    /// (for tests that compare whole headers with the engine's, whose sequence they know).
    pub fn set_next_ipv4_id(&mut self, id: u16) -> Result<(), BpfError> {
        let n = aya::util::nr_cpus().map_err(|(_, e)| map_err("siit_ids", e))?;
        crate::loader::set_percpu_u32(&mut self.inner.ebpf, "siit_ids", 0, vec![u32::from(id.wrapping_sub(1)); n])
    }

    /// Runs the program once over an Ethernet `frame` by `BPF_PROG_TEST_RUN`.
    pub fn test_run(&mut self, frame: &[u8]) -> Result<TestOutcome, BpfError> {
        crate::loader::test_run(&mut self.inner.ebpf, imp::PROGRAM, frame)
    }
}

#[cfg(all(feature = "programs", target_os = "linux"))]
fn map_err(map: &str, e: impl std::fmt::Display) -> BpfError {
    BpfError::Map { map: map.to_string(), detail: e.to_string() }
}

#[cfg(all(feature = "programs", target_os = "linux"))]
mod imp {
    use std::net::Ipv4Addr;

    use aya::maps::lpm_trie::{Key, LpmTrie};
    use aya::Ebpf;
    use sixgate_core::class::{is_forbidden_v4, non_global_v4_ranges};
    use sixgate_nat64::{SiitConfig, TosPolicy};

    use super::map_err;
    use crate::{BpfError, Direction};

    /// The program's name in the object.
    pub(super) const PROGRAM: &str = "sixgate_siit";

    static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/siit.bpf.o"));

    /// The size of `struct siit_cfg`.
    const CFG_LEN: usize = 64;
    /// The LPM tries' `max_entries`.
    const MAX_ENTRIES: usize = 4096;
    /// The loopback device's index, where test mode punts.
    const LOOPBACK: u32 = 1;

    /// `siit_v4class` flags (see `bpf/siit.bpf.c`).
    const V4_FORBIDDEN: u32 = 1;
    const V4_NON_GLOBAL: u32 = 2;
    const V4_DENYLISTED: u32 = 4;

    /// The tables of one configuration, as the program's maps hold them.
    struct Tables {
        cfg: [u8; CFG_LEN],
        v4class: Vec<(u32, [u8; 4], [u8; 4])>,
        eam6: Vec<(u32, [u8; 16], [u8; 16])>,
        eam4: Vec<(u32, [u8; 4], [u8; 24])>,
    }

    #[derive(Debug)]
    pub(super) struct Loaded {
        pub(super) ebpf: Ebpf,
        test_mode: bool,
        punt_ifindex: u32,
    }

    impl Loaded {
        pub(super) fn new(cfg: &SiitConfig, test_mode: bool) -> Result<Self, BpfError> {
            let tables = tables(cfg, test_mode, if test_mode { LOOPBACK } else { 0 })?;
            let mut ebpf = crate::loader::load_object(PROGRAM, OBJECT)?;
            crate::loader::classifier(&mut ebpf, PROGRAM)?;
            let mut me = Self { ebpf, test_mode, punt_ifindex: if test_mode { LOOPBACK } else { 0 } };
            me.write(&tables)?;
            // Identification sequences that start apart on each CPU, so that two CPUs do not
            // send the same run of values at once.
            let n = aya::util::nr_cpus().map_err(|(_, e)| map_err("siit_ids", e))?;
            let ids = (0..n).map(|i| (i * 65536 / n.max(1)) as u32).collect();
            crate::loader::set_percpu_u32(&mut me.ebpf, "siit_ids", 0, ids)?;
            Ok(me)
        }

        pub(super) fn attach(&mut self, ifaces: &[&str], punt_to: &str) -> Result<(), BpfError> {
            let index = std::fs::read_to_string(format!("/sys/class/net/{punt_to}/ifindex"))
                .ok()
                .and_then(|s| s.trim().parse::<u32>().ok())
                .ok_or_else(|| BpfError::Attach { iface: punt_to.to_string(), detail: "no such device".to_string() })?;
            // The device first: an attached program with no device would let packets by.
            self.punt_ifindex = index;
            let mut cfg = crate::loader::get_array::<CFG_LEN>(&self.ebpf, "siit_cfg", 0)?;
            cfg[16..20].copy_from_slice(&index.to_ne_bytes());
            crate::loader::set_array(&mut self.ebpf, "siit_cfg", 0, cfg)?;
            for iface in ifaces {
                crate::loader::attach_tc(&mut self.ebpf, PROGRAM, iface, Direction::Ingress)?;
            }
            Ok(())
        }

        pub(super) fn reconfigure(&mut self, cfg: &SiitConfig) -> Result<(), BpfError> {
            let tables = tables(cfg, self.test_mode, self.punt_ifindex)?;
            // While the tables change, every packet goes to the engine (which has the new
            // configuration already): no packet sees half of each.
            crate::loader::set_array(&mut self.ebpf, "siit_pause", 0, 1u32.to_ne_bytes())?;
            // Packets already past the check finish within microseconds.
            std::thread::sleep(std::time::Duration::from_millis(2));
            let written = self.write(&tables);
            crate::loader::set_array(&mut self.ebpf, "siit_pause", 0, 0u32.to_ne_bytes())?;
            written
        }

        /// Writes `t` into the maps: entries the new tables lack are removed, the others
        /// inserted or overwritten.
        fn write(&mut self, t: &Tables) -> Result<(), BpfError> {
            sync_lpm(&mut self.ebpf, "siit_v4class", &t.v4class)?;
            sync_lpm(&mut self.ebpf, "siit_eam6", &t.eam6)?;
            sync_lpm(&mut self.ebpf, "siit_eam4", &t.eam4)?;
            crate::loader::set_array(&mut self.ebpf, "siit_cfg", 0, t.cfg)
        }
    }

    fn sync_lpm<const K: usize, const V: usize>(
        ebpf: &mut Ebpf,
        name: &str,
        entries: &[(u32, [u8; K], [u8; V])],
    ) -> Result<(), BpfError> {
        let map = ebpf.map_mut(name).ok_or_else(|| map_err(name, "no such map in the object"))?;
        let mut trie: LpmTrie<_, [u8; K], [u8; V]> = LpmTrie::try_from(map).map_err(|e| map_err(name, e))?;
        let old: Vec<Key<[u8; K]>> = trie.keys().filter_map(Result::ok).collect();
        for k in old {
            let (len, data) = (k.prefix_len(), k.data());
            if !entries.iter().any(|(l, d, _)| *l == len && *d == data) {
                trie.remove(&k).map_err(|e| map_err(name, e))?;
            }
        }
        for (len, data, value) in entries {
            trie.insert(&Key::new(*len, *data), value, 0).map_err(|e| map_err(name, e))?;
        }
        Ok(())
    }

    /// A TOS / traffic class policy as `(keep, set)`: the program writes `(v & keep) | set`.
    fn tos_bits(p: TosPolicy, field: &str) -> Result<(u8, u8), BpfError> {
        match p {
            TosPolicy::Copy => Ok((0xff, 0)),
            TosPolicy::Zero => Ok((0, 0)),
            TosPolicy::Force(x) => Ok((0, x)),
            other => Err(BpfError::Config(format!("{field} policy {other:?} is not one the fast path encodes"))),
        }
    }

    fn mask4(len: u8) -> u32 {
        if len == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(len))
        }
    }

    /// Encodes `cfg` as the program's tables, or says why it cannot.
    fn tables(cfg: &SiitConfig, test_mode: bool, punt_ifindex: u32) -> Result<Tables, BpfError> {
        cfg.validate().map_err(|e| BpfError::Config(e.to_string()))?;
        let mut c = [0u8; CFG_LEN];
        if let Some(p) = cfg.pool6 {
            c[0] = p.prefix_len();
            c[1] = u8::from(p.is_well_known());
            c[24..40].copy_from_slice(&p.net().network().octets());
        }
        let (tk, ts) = tos_bits(cfg.traffic_class, "traffic_class")?;
        let (ok, os) = tos_bits(cfg.tos, "tos")?;
        c[2] = tk;
        c[3] = ts;
        c[4] = ok;
        c[5] = os;
        c[6] = u8::from(!cfg.eamt.is_empty());
        c[7] = u8::from(test_mode);
        c[8..10].copy_from_slice(&cfg.ipv4_mtu.to_ne_bytes());
        c[10..12].copy_from_slice(&cfg.ipv6_mtu.to_ne_bytes());
        c[12..14].copy_from_slice(&cfg.lowest_ipv6_mtu.to_ne_bytes());
        c[16..20].copy_from_slice(&punt_ifindex.to_ne_bytes());
        c[20..24].copy_from_slice(&cfg.own_ipv4.octets());
        c[40..56].copy_from_slice(&cfg.own_ipv6.octets());

        let v4class = v4class(cfg);
        if v4class.len() > MAX_ENTRIES {
            return Err(BpfError::Config(format!(
                "the denylist makes {} IPv4 ranges; the fast path holds {MAX_ENTRIES}",
                v4class.len()
            )));
        }
        let entries = cfg.eamt.entries();
        if entries.len() > MAX_ENTRIES {
            return Err(BpfError::Config(format!("{} EAM entries; the fast path holds {MAX_ENTRIES}", entries.len())));
        }
        let mut eam6 = Vec::with_capacity(entries.len());
        let mut eam4 = Vec::with_capacity(entries.len());
        for e in entries {
            let (v6, v4) = (e.v6(), e.v4());
            let bits6 = 128 - u32::from(v6.prefix_len());
            let bits4 = 32 - u32::from(v4.prefix_len());
            // RFC 7757 §3.2: the IPv4 suffix lands right after the IPv6 prefix, `pad` bits
            // above the end of the address (Eam::new refuses bits4 > bits6).
            let pad = bits6 - bits4;
            let m4 = mask4(v4.prefix_len());
            let n4 = u32::from(v4.network());
            let mut val6 = [0u8; 16];
            val6[0..4].copy_from_slice(&n4.to_ne_bytes());
            val6[4..8].copy_from_slice(&m4.to_ne_bytes());
            val6[8..12].copy_from_slice(&pad.to_ne_bytes());
            val6[12..16].copy_from_slice(&u32::from(v6.prefix_len()).to_ne_bytes());
            eam6.push((u32::from(v6.prefix_len()), v6.network().octets(), val6));
            let mut val4 = [0u8; 24];
            val4[0..16].copy_from_slice(&v6.network().octets());
            val4[16..20].copy_from_slice(&m4.to_ne_bytes());
            val4[20..24].copy_from_slice(&pad.to_ne_bytes());
            eam4.push((u32::from(v4.prefix_len()), v4.network().octets(), val4));
        }
        Ok(Tables { cfg: c, v4class, eam6, eam4 })
    }

    /// Disjoint IPv4 prefixes with their flags: forbidden (`is_forbidden_v4`, whose blocks
    /// are /16 or shorter, so each /16 decides), not global (`non_global_v4_ranges`),
    /// denylisted (the configuration). One longest-prefix lookup gives an address's flags.
    fn v4class(cfg: &SiitConfig) -> Vec<(u32, [u8; 4], [u8; 4])> {
        let mut forbidden: Vec<(u64, u64)> = Vec::new();
        for i in 0..=0xffffu32 {
            if is_forbidden_v4(Ipv4Addr::from(i << 16)) {
                let (lo, hi) = (u64::from(i) << 16, (u64::from(i) << 16) | 0xffff);
                match forbidden.last_mut() {
                    Some(last) if last.1 + 1 == lo => last.1 = hi,
                    _ => forbidden.push((lo, hi)),
                }
            }
        }
        let non_global: Vec<(u64, u64)> = non_global_v4_ranges()
            .into_iter()
            .map(|(a, b)| (u64::from(u32::from(a)), u64::from(u32::from(b))))
            .collect();
        let deny: Vec<(u64, u64)> = cfg
            .denylist4
            .iter()
            .map(|n| (u64::from(u32::from(n.network())), u64::from(u32::from(n.broadcast()))))
            .collect();
        let mut edges: Vec<u64> = vec![0, 1 << 32];
        for (lo, hi) in forbidden.iter().chain(&non_global).chain(&deny) {
            edges.push(*lo);
            edges.push(hi + 1);
        }
        edges.sort_unstable();
        edges.dedup();
        let inside = |set: &[(u64, u64)], x: u64| set.iter().any(|(lo, hi)| (*lo..=*hi).contains(&x));
        // Merged runs of equal flags.
        let mut runs: Vec<(u64, u64, u32)> = Vec::new();
        for w in edges.windows(2) {
            let (lo, hi) = (w[0], w[1] - 1);
            let flags = if inside(&forbidden, lo) { V4_FORBIDDEN } else { 0 }
                | if inside(&non_global, lo) { V4_NON_GLOBAL } else { 0 }
                | if inside(&deny, lo) { V4_DENYLISTED } else { 0 };
            if flags == 0 {
                continue;
            }
            match runs.last_mut() {
                Some(last) if last.1 + 1 == lo && last.2 == flags => last.1 = hi,
                _ => runs.push((lo, hi, flags)),
            }
        }
        let mut out = Vec::new();
        for (mut lo, hi, flags) in runs {
            // The largest aligned blocks that cover the run.
            while lo <= hi {
                let mut size = if lo == 0 { 1u64 << 32 } else { 1u64 << lo.trailing_zeros().min(32) };
                while lo + size - 1 > hi {
                    size >>= 1;
                }
                let len = 32 - size.trailing_zeros();
                out.push((len, (lo as u32).to_be_bytes(), flags.to_ne_bytes()));
                lo += size;
            }
        }
        out
    }
}
