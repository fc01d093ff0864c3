//! Differential test against the real `ipv6calc` (Debian package `ipv6calc`): 6to4
//! prefixes of random global IPv4 addresses, 6rd delegated prefixes, and the IPv4
//! addresses `ipv6calc --showinfo` finds inside IPv6 addresses. the 6to4
//! comparison runs ipv6calc once in pipe mode (addresses on stdin), not once per address. Skips, saying
//! why, when `ipv6calc` is not installed.

use std::io::Write;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::process::{Command, Stdio};

use sixgate::core::class::is_global_v4;
use sixgate::sixto4::explain::{explain, Carrier};
use sixgate::sixto4::sixrd::SixRd;
use sixgate::sixto4::{batch, six_to_four, Scope};

fn have_ipv6calc() -> bool {
    match Command::new("ipv6calc").arg("-v").stdout(Stdio::null()).stderr(Stdio::null()).status() {
        Ok(_) => true,
        Err(e) => {
            println!("SKIPPED: ipv6calc is not installed ({e}); install the Debian package ipv6calc");
            false
        }
    }
}

/// A deterministic stream of global IPv4 addresses (SplitMix-style), plus edge cases.
fn global_addresses(n: usize, seed: u64) -> Vec<Ipv4Addr> {
    let mut v: Vec<Ipv4Addr> = ["1.0.0.1", "74.207.254.16", "8.8.0.0", "223.255.255.255", "172.32.0.0", "100.128.0.1"]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
    let mut x = seed;
    while v.len() < n {
        x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        let a = Ipv4Addr::from((z >> 32) as u32);
        if is_global_v4(a) {
            v.push(a);
        }
    }
    v
}

/// Runs ipv6calc with `args`, feeding `input` on stdin; returns its stdout lines.
fn ipv6calc_pipe(args: &[&str], input: &str) -> Vec<String> {
    let mut child = Command::new("ipv6calc")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ipv6calc");
    let mut stdin = child.stdin.take().expect("stdin");
    let input = input.to_owned();
    // Write from a thread so a full stdout pipe cannot deadlock us.
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output().expect("ipv6calc output");
    writer.join().expect("writer thread").expect("write to ipv6calc");
    assert!(out.status.success(), "ipv6calc {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("UTF-8").lines().map(str::to_owned).collect()
}

#[test]
fn sixtofour_prefixes_agree_with_ipv6calc() {
    if !have_ipv6calc() {
        return;
    }
    let addrs = global_addresses(2000, 0x5157_6174_6500_0001);
    let input: String = addrs.iter().map(|a| format!("{a}\n")).collect();
    // `ipv6calc -q --action conv6to4 --in ipv4 --out ipv6 ADDR`, in pipe mode.
    let theirs = ipv6calc_pipe(&["-q", "--action", "conv6to4", "--in", "ipv4", "--out", "ipv6"], &input);
    assert_eq!(theirs.len(), addrs.len(), "ipv6calc gave {} lines for {} addresses", theirs.len(), addrs.len());

    // Ours, through batch mode (what `sixgate 6to4 -` runs) and the library call.
    let mut ours = Vec::new();
    batch(input.as_bytes(), &mut ours, Scope::GlobalOnly).expect("batch");
    let ours = String::from_utf8(ours).expect("UTF-8");
    let ours: Vec<&str> = ours.lines().collect();
    assert_eq!(ours.len(), addrs.len());

    for ((a, theirs), ours) in addrs.iter().zip(&theirs).zip(&ours) {
        let lib = six_to_four(*a, Scope::GlobalOnly).expect("global");
        // ipv6calc prints the network address without the length, in the same RFC 5952 form.
        assert_eq!(format!("{theirs}/48"), *ours, "{a}");
        assert_eq!(theirs.parse::<Ipv6Addr>().ok(), Some(lib.prefix.addr()), "{a}");
    }
}

#[test]
fn sixrd_prefixes_agree_with_ipv6calc() {
    if !have_ipv6calc() {
        return;
    }
    // (6rd prefix, IPv4MaskLen, relay prefix): aligned, unaligned, mask 0 and mask 16.
    let domains =
        [("2001:db8::/32", 8u8, "10.0.0.0"), ("2a01:79c::/30", 0, "0.0.0.0"), ("2001:db8:f00::/40", 16, "0.0.0.0")];
    for (prefix, mask, relay) in domains {
        let relay: Ipv4Addr = relay.parse().unwrap();
        let dom = SixRd::new(prefix.parse().unwrap(), mask).unwrap().with_relay(relay);
        let r = dom.relay_prefix().unwrap();
        // CE addresses inside the relay prefix.
        let ces: Vec<Ipv4Addr> = global_addresses(30, u64::from(mask) + 7)
            .into_iter()
            .map(|a| Ipv4Addr::from((u32::from(a) & !u32::from(r.netmask())) | u32::from(r.network())))
            .collect();
        let relay_arg = format!("{}/{}", r.network(), mask);
        for ce in ces {
            // One process per CE: ipv6calc 1.0.0's 6rd_local_prefix carries the previous
            // result's length into the next line in pipe mode ("Length of local prefix >
            // 64"), so pipe mode cannot be used here. Each run takes a few milliseconds.
            let out = Command::new("ipv6calc")
                .args(["-q", "--action", "6rd_local_prefix", "--6rd_prefix", prefix, "--6rd_relay_prefix", &relay_arg])
                .arg(ce.to_string())
                .output()
                .expect("run ipv6calc");
            assert!(out.status.success(), "ipv6calc failed on {ce}: {}", String::from_utf8_lossy(&out.stderr));
            let theirs = String::from_utf8(out.stdout).expect("UTF-8");
            let ours = dom.delegated_prefix(ce).unwrap();
            assert_eq!(theirs.trim(), ours.to_string(), "{prefix} IPv4MaskLen {mask} CE {ce}");
            assert_eq!(dom.ce_ipv4_from_prefix(ours).unwrap(), ce);
        }
    }
}

/// What ipv6calc says about one address: (IPv4 address, source kind) pairs, Teredo port.
type Record = (Vec<(String, String)>, Option<u16>);

/// `sixgate addr` finds the same embedded IPv4 addresses (and Teredo port) as
/// `ipv6calc --showinfo --machine_readable`, run once in pipe mode over a few hundred
/// addresses of every kind and some plain global unicast ones.
#[test]
fn embedded_ipv4_agrees_with_ipv6calc_showinfo() {
    if !have_ipv6calc() {
        return;
    }
    let mut x: u64 = 0x0123_4567_89ab_cdef;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut addrs: Vec<Ipv6Addr> = Vec::new();
    for i in 0..60u32 {
        let r = u128::from(next()) << 64 | u128::from(next());
        let v4 = global_addresses(1, u64::from(i) * 31 + 1)[0];
        let v4b = u128::from(u32::from(v4));
        addrs.push(Ipv6Addr::from((0x2001_0000u128 << 96) | (r & ((1u128 << 96) - 1)))); // Teredo
        addrs.push(Ipv6Addr::from((0x2002u128 << 112) | (v4b << 80) | (r & ((1u128 << 80) - 1)))); // 6to4
        let u = if i % 2 == 0 { 0x0200_5efe_u128 } else { 0x5efe };
        // ISATAP on a 2000::/3 or link-local /64 (ipv6calc does not look at interface
        // identifiers in reserved space).
        let p64 = if i % 3 == 0 { 0xfe80u128 << 112 } else { (1u128 << 125) | ((r >> 3) & !((1u128 << 64) - 1)) };
        addrs.push(Ipv6Addr::from(p64 | (u << 32) | v4b));
        addrs.push(Ipv6Addr::from((0x2002u128 << 112) | (v4b << 80) | (0x0200_5efe_u128 << 32) | v4b)); // both
        addrs.push(Ipv6Addr::from((0x0064_ff9b_u128 << 96) | v4b)); // RFC 6052 well-known prefix
        addrs.push(v4.to_ipv6_mapped());
        addrs.push(v4.to_ipv6_compatible());
        addrs.push(Ipv6Addr::from((1u128 << 125) | (r >> 3))); // 2000::/3
    }
    let input: String = addrs.iter().map(|a| format!("{a}\n")).collect();
    let lines = ipv6calc_pipe(&["-q", "--showinfo", "--machine_readable"], &input);

    // One record per address, each starting with IPV6=.
    let mut records: Vec<Record> = Vec::new();
    for l in &lines {
        if l.starts_with("IPV6=") {
            records.push((Vec::new(), None));
        } else if let (Some(rec), Some(rest)) = (records.last_mut(), l.strip_prefix("IPV4_SOURCE[")) {
            if let Some((v4, kind)) = rest.split_once("]=") {
                rec.0.push((v4.to_owned(), kind.to_owned()));
            }
        } else if let (Some(rec), Some(p)) = (records.last_mut(), l.strip_prefix("TEREDO_PORT_CLIENT=")) {
            rec.1 = p.parse().ok();
        }
    }
    assert_eq!(records.len(), addrs.len(), "one ipv6calc record per address");

    for (a, (mut theirs, their_port)) in addrs.iter().zip(records) {
        let e = explain((*a).into());
        let mut ours: Vec<(String, String)> = e
            .embedded
            .iter()
            .map(|m| {
                let kind = match m.carrier {
                    Carrier::SixToFour => "6TO4",
                    Carrier::Nat64WellKnown => "NAT64",
                    Carrier::Ipv4Mapped | Carrier::Ipv4Compatible => "COMPAT/MAPPED",
                    Carrier::Isatap => "ISATAP",
                    Carrier::TeredoServer => "TEREDO-SERVER",
                    Carrier::TeredoClient => "TEREDO-CLIENT",
                    _ => "other",
                };
                (m.ipv4.to_string(), kind.to_owned())
            })
            .collect();
        ours.sort();
        theirs.sort();
        assert_eq!(ours, theirs, "embedded IPv4 of {a}");
        assert_eq!(e.teredo.map(|t| t.port), their_port, "Teredo port of {a}");
    }
}
