//! What the 6in4 fast-path tests share: a network namespace for the encapsulation
//! program's FIB lookup, the loaded programs, and both paths run on the same bytes.
#![allow(dead_code)] // each test file uses part of it

use std::net::Ipv4Addr;
use std::process::Command;
use std::time::Instant;

use sixgate_6in4::{Mode, SitConfig, SitTunnel};
use sixgate_bpf::sit::SIT_PUNT_REASONS;
use sixgate_bpf::{BpfError, Direction, SitFastPath, TestOutcome, TC_ACT_OK, TC_ACT_REDIRECT};
use sixgate_core::buf::PacketBuf;
use sixgate_core::engine::{Engine, Side, Verdict};

/// Our MAC in the namespace, and the gateway's.
pub(crate) const OUR_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
pub(crate) const GW_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0xfe];
/// The Ethernet addresses of the frames given to the decapsulation program.
pub(crate) const FRAME_DST: [u8; 6] = [0x02, 0x11, 0x11, 0x11, 0x11, 0x11];
pub(crate) const FRAME_SRC: [u8; 6] = [0x02, 0x22, 0x22, 0x22, 0x22, 0x22];

/// A static remote with no route (blackhole), one on the link with no neighbour, and one
/// behind a 1300-byte route.
pub(crate) const NO_ROUTE: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 5);
pub(crate) const NO_NEIGH: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 77);
pub(crate) const ROUTE_1300: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 5);

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("Uid:")).map(|l| l.split_whitespace().nth(1) == Some("0")))
        .unwrap_or(false)
}

fn ip(args: &[&str]) -> Result<(), String> {
    let o = Command::new("ip").args(args).output().map_err(|e| format!("ip: {e}"))?;
    if o.status.success() {
        Ok(())
    } else {
        Err(format!("ip {}: {}", args.join(" "), String::from_utf8_lossy(&o.stderr)))
    }
}

/// Moves this thread into a new network namespace (it goes with the thread) with a dummy
/// interface holding the test's local addresses, a default route through a gateway with a
/// permanent neighbour entry, and the special routes above; IPv4 forwarding on (the FIB
/// lookup helper asks it of the interface it looks up from). `Err`: why the test skips.
pub(crate) fn enter_netns() -> Result<(), String> {
    if !is_root() {
        return Err("needs root (network namespace, CAP_BPF)".to_string());
    }
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).map_err(|e| format!("unshare(CLONE_NEWNET): {e}"))?;
    if Command::new("ip").arg("-V").output().is_err() {
        return Err("ip (iproute2) not installed".to_string());
    }
    let mac = |m: [u8; 6]| m.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":");
    ip(&["link", "set", "lo", "up"])?;
    // A veth pair (a dummy device needs a module this kernel may not have).
    ip(&["link", "add", "d0", "address", &mac(OUR_MAC), "type", "veth", "peer", "name", "d1"])?;
    ip(&["link", "set", "d0", "up"])?;
    ip(&["link", "set", "d1", "up"])?;
    for a in ["192.0.2.1/24", "11.0.0.1/32"] {
        ip(&["addr", "add", a, "dev", "d0"])?;
    }
    ip(&["neigh", "add", "192.0.2.254", "lladdr", &mac(GW_MAC), "dev", "d0", "nud", "permanent"])?;
    ip(&["route", "add", "default", "via", "192.0.2.254", "dev", "d0"])?;
    ip(&["route", "add", "blackhole", &format!("{NO_ROUTE}/32")])?;
    ip(&["route", "add", &format!("{ROUTE_1300}/32"), "via", "192.0.2.254", "dev", "d0", "mtu", "lock", "1300"])?;
    std::fs::write("/proc/sys/net/ipv4/conf/all/forwarding", "1").map_err(|e| format!("forwarding: {e}"))?;
    std::fs::write("/proc/sys/net/ipv4/conf/lo/forwarding", "1").map_err(|e| format!("forwarding: {e}"))?;
    Ok(())
}

/// Loads the programs for `cfg` in test mode (outer Identification 1, as a new engine's
/// first packet); `Err`: why the test skips (the kernel refused BPF); a verifier refusal
/// fails the test.
pub(crate) fn load(cfg: &SitConfig) -> Result<SitFastPath, String> {
    match SitFastPath::load(cfg) {
        Ok(mut f) => {
            f.set_test_id(Some(1)).expect("test mode");
            Ok(f)
        }
        Err(BpfError::Unsupported(why)) => Err(format!("the kernel refused BPF: {why}")),
        Err(e) => panic!("{e}"),
    }
}

fn enter_netns_done() -> Result<(), String> {
    if is_root() {
        Ok(())
    } else {
        Err("needs root (network namespace, CAP_BPF)".to_string())
    }
}

/// Enters the namespace and loads, or prints why the test skips and returns `None`.
pub(crate) fn setup(cfg: &SitConfig) -> Option<SitFastPath> {
    if let Err(why) = enter_netns() {
        // Root with iproute2 sets the namespace up, or the test fails.
        assert!(!is_root() || why.starts_with("ip (iproute2)"), "{why}");
    }
    match enter_netns_done().and_then(|()| load(cfg)) {
        Ok(f) => Some(f),
        Err(why) => {
            eprintln!("skipped: {why}");
            None
        }
    }
}

pub(crate) fn frame(ethertype: u16, pkt: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(14 + pkt.len());
    f.extend_from_slice(&FRAME_DST);
    f.extend_from_slice(&FRAME_SRC);
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(pkt);
    f
}

/// What the engine did with one packet.
#[derive(Debug)]
pub(crate) enum EngineOut {
    /// Sent on, to `side`, these bytes; `more`: further packets (outer fragments) followed.
    Forward { side: Side, bytes: Vec<u8>, more: bool },
    /// Anything else (a reply, a drop).
    Other(String),
}

pub(crate) fn engine_run(e: &mut SitTunnel, pkt: &[u8], now: Instant) -> EngineOut {
    let mut b = PacketBuf::from_slice(pkt);
    match e.process(&mut b, now) {
        Verdict::Forward(side) => {
            let bytes = b.to_vec();
            let mut more = false;
            while e.poll_transmit(&mut b).is_some() {
                more = true;
            }
            EngineOut::Forward { side, bytes, more }
        }
        v => EngineOut::Other(format!("{v:?}")),
    }
}

/// The configuration's far end for path-MTU learning: the static remote, or the relay.
pub(crate) fn far_end(cfg: &SitConfig) -> Option<Ipv4Addr> {
    match cfg.mode {
        Mode::Static { remote } => Some(remote),
        Mode::SixToFour { relay } => relay,
    }
}

/// Teaches `e` a path MTU of `mtu` to `far` with a Fragmentation Needed quoting one of
/// its packets, as a router would send it.
pub(crate) fn teach_path_mtu(e: &mut SitTunnel, far: Ipv4Addr, mtu: u16, now: Instant) {
    use sixgate_testkit::packets::sit::{frag_needed, ipv4_header, udp6};
    let local = e.config().local;
    let mut q = ipv4_header(local, far, 41, 1400, 0, true).to_vec();
    q.extend_from_slice(&udp6("2001:db8:a::2", "2001:db8:b::2", &[0; 1300])[..40]);
    let fne = frag_needed("203.0.113.9", &local.to_string(), mtu, &q, q.len());
    let _ = engine_run(e, &fne, now);
}

/// Runs the decapsulation program on `pkt` (an outer IPv4 packet, or anything) in a frame
/// and the engine on `pkt`, and checks: a redirect is the engine's forward to the inner
/// side, byte for byte, in the same frame (ethertype IPv6); otherwise the frame is
/// unchanged. `must_take`: the engine forwarding means the program must take it too.
/// Returns whether the program took it.
pub(crate) fn check_decap(fp: &mut SitFastPath, e: &mut SitTunnel, pkt: &[u8], must_take: bool, now: Instant) -> bool {
    let f = frame(0x0800, pkt);
    let before = fp.counters().expect("counters");
    let out = match fp.test_run(Direction::Ingress, &f) {
        Ok(o) => o,
        // BPF_PROG_TEST_RUN refuses some frames shorter than an IP header (no traffic
        // reaches a program so).
        Err(_) if pkt.len() < 20 => return false,
        Err(e) => panic!("test run of {} bytes: {e}", f.len()),
    };
    let what = format!("decap ({})", moved(&before, &fp.counters().expect("counters")));
    let eng = engine_run(e, pkt, now);
    compare(&f, &out, &eng, Side::V6, 0x86dd, must_take, &FRAME_DST, &FRAME_SRC, &what)
}

/// The same for the encapsulation program: the engine's outer packet in a frame from our
/// MAC to the gateway's.
pub(crate) fn check_encap(fp: &mut SitFastPath, e: &mut SitTunnel, pkt: &[u8], must_take: bool, now: Instant) -> bool {
    let f = frame(0x86dd, pkt);
    let before = fp.counters().expect("counters");
    let out = match fp.test_run(Direction::Egress, &f) {
        Ok(o) => o,
        // BPF_PROG_TEST_RUN refuses some frames shorter than an IP header (no traffic
        // reaches a program so).
        Err(_) if pkt.len() < 40 => return false,
        Err(e) => panic!("test run of {} bytes: {e}", f.len()),
    };
    let what = format!("encap ({})", moved(&before, &fp.counters().expect("counters")));
    let eng = engine_run(e, pkt, now);
    compare(&f, &out, &eng, Side::V4, 0x0800, must_take, &GW_MAC, &OUR_MAC, &what)
}

/// The counters that moved between two readings, by name.
fn moved(a: &sixgate_bpf::FastPathCounters, b: &sixgate_bpf::FastPathCounters) -> String {
    let mut out: Vec<String> = Vec::new();
    if b.forwarded != a.forwarded {
        out.push(format!("forwarded+{}", b.forwarded - a.forwarded));
    }
    for ((r, x), (_, y)) in a.punted.iter().zip(&b.punted) {
        if x != y {
            out.push(format!("{r}+{}", y - x));
        }
    }
    out.join(" ")
}

/// The first bytes of a frame, for messages.
fn head(f: &[u8]) -> String {
    format!("{:02x?}{}", &f[..f.len().min(80)], if f.len() > 80 { " ..." } else { "" })
}

#[allow(clippy::too_many_arguments)]
fn compare(
    f: &[u8],
    out: &TestOutcome,
    eng: &EngineOut,
    side: Side,
    ethertype: u16,
    must_take: bool,
    dst: &[u8; 6],
    src: &[u8; 6],
    what: &str,
) -> bool {
    match out.action {
        TC_ACT_REDIRECT => {
            let EngineOut::Forward { side: s, bytes, more } = eng else {
                panic!("{what}: the program sent on what the engine does not ({eng:?}): {}", head(f))
            };
            assert_eq!(*s, side, "{what}: wrong side");
            assert!(!more, "{what}: the engine fragmented what the program sent whole");
            assert_eq!(&out.data[..6], dst, "{what}: destination MAC");
            assert_eq!(&out.data[6..12], src, "{what}: source MAC");
            assert_eq!(&out.data[12..14], &ethertype.to_be_bytes(), "{what}: ethertype");
            assert_eq!(
                &out.data[14..],
                &bytes[..],
                "{what}: not the engine's bytes, input {}\nprogram {}",
                head(f),
                head(&out.data)
            );
            true
        }
        TC_ACT_OK => {
            assert_eq!(&out.data[..], f, "{what}: a punted frame was changed");
            if let (true, EngineOut::Forward { side: s, more: false, bytes }) = (must_take, eng) {
                // An outer packet without DF (a path MTU below 1300) is the engine's.
                let df_clear = side == Side::V4 && bytes.get(6).is_some_and(|b| b & 0x40 == 0);
                assert!(*s != side || df_clear, "{what}: the program punted what it handles: {}", head(f));
            }
            false
        }
        a => panic!("{what}: action {a}, neither redirect nor pass: {}", head(f)),
    }
}

/// The counter of `reason` (or `forwarded`).
pub(crate) fn counter(fp: &SitFastPath, reason: &str) -> u64 {
    let c = fp.counters().expect("counters");
    if reason == "forwarded" {
        return c.forwarded;
    }
    assert!(SIT_PUNT_REASONS.contains(&reason), "no reason {reason}");
    c.punted.iter().find(|(r, _)| *r == reason).map_or(0, |(_, n)| *n)
}
