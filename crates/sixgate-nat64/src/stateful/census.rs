//! The engine's state for reporting (`Engine::gauges`): sessions by protocol and TCP
//! state, BIB entries, pool4 ports in use and free per address and protocol, held SYNs,
//! waiting fragments. Walks the session and BIB slabs once; drivers call it about once a
//! second, never per packet.

use std::net::Ipv4Addr;

use sixgate_core::engine::Gauge;

use super::tables::{ICMP, TCP, UDP};
use super::{Nat64, TcpState};

/// Pools of more addresses than this are reported per pool4 range, not per address (a
/// series per address of a /16 would be 65,536 of them).
pub(super) const MAX_ADDRESS_SERIES: u32 = 256;

const PROTOS: [u8; 3] = [TCP, UDP, ICMP];

fn proto_index(p: u8) -> usize {
    match p {
        TCP => 0,
        UDP => 1,
        _ => 2,
    }
}

fn proto_name(p: u8) -> &'static str {
    match p {
        TCP => "tcp",
        UDP => "udp",
        _ => "icmp",
    }
}

/// The RFC 6146 §3.5.2.2 state names, as the series' `state` label.
pub(super) fn state_name(s: TcpState) -> &'static str {
    match s {
        TcpState::Open => "open",
        TcpState::V6Init => "v6_init",
        TcpState::V4Init => "v4_init",
        TcpState::Established => "established",
        TcpState::V4FinRcv => "v4_fin_rcv",
        TcpState::V6FinRcv => "v6_fin_rcv",
        TcpState::V4FinV6FinRcv => "v4_fin_v6_fin_rcv",
        TcpState::Trans => "trans",
    }
}

const STATES: [TcpState; 8] = [
    TcpState::Open,
    TcpState::V6Init,
    TcpState::V4Init,
    TcpState::Established,
    TcpState::V4FinRcv,
    TcpState::V6FinRcv,
    TcpState::V4FinV6FinRcv,
    TcpState::Trans,
];

impl Nat64 {
    /// See the module docs.
    pub(super) fn census(&self, out: &mut Vec<Gauge>) {
        // Sessions by protocol and state: plain arrays, no hashing (about a nanosecond per
        // slot on the worker's thread).
        let mut sessions = [[0u64; STATES.len()]; 3];
        for chunk in &self.t.sess.chunks {
            for e in chunk.iter().filter(|e| e.proto != 0) {
                sessions[proto_index(e.proto)][usize::from(e.state as u8) % STATES.len()] += 1;
            }
        }
        for p in PROTOS {
            let states: &[TcpState] = if p == TCP { &STATES[1..] } else { &STATES[..1] };
            for &st in states {
                let n = sessions[proto_index(p)][usize::from(st as u8)];
                out.push(
                    Gauge::new("sessions", "Sessions by protocol and TCP state (RFC 6146 3.5.2.2)", n)
                        .label("protocol", proto_name(p))
                        .label("state", state_name(st)),
                );
            }
        }
        // BIB entries by pool address index and protocol.
        let n_addrs: u32 = self.pool.ranges.iter().map(|r| 1u32 << (32 - r.prefix.prefix_len())).sum();
        let mut bib = vec![[0u64; 3]; n_addrs as usize];
        for chunk in &self.t.bib.chunks {
            for e in chunk.iter().filter(|e| e.proto != 0) {
                if let Some(a) = bib.get_mut(usize::from(e.a4)) {
                    a[proto_index(e.proto)] += 1;
                }
            }
        }
        for p in PROTOS {
            let n = bib.iter().map(|a| a[proto_index(p)]).sum();
            out.push(Gauge::new("bib_entries", "BIB entries by protocol", n).label("protocol", proto_name(p)));
        }
        let mut base = 0u32;
        for r in &self.pool.ranges {
            let n = 1u32 << (32 - r.prefix.prefix_len());
            let ports = u64::from(r.last - r.first) + 1;
            let per_address = n_addrs <= MAX_ADDRESS_SERIES;
            for p in PROTOS {
                let used_of = |i: u32| bib.get((base + i) as usize).map_or(0, |a| a[proto_index(p)]);
                let rows: Vec<(String, u64, u64)> = if per_address {
                    (0..n)
                        .map(|i| {
                            let used = used_of(i);
                            let a = Ipv4Addr::from(u32::from(r.prefix.network()) + i);
                            (a.to_string(), used, ports.saturating_sub(used))
                        })
                        .collect()
                } else {
                    let used: u64 = (0..n).map(used_of).sum();
                    vec![(r.prefix.to_string(), used, (ports * u64::from(n)).saturating_sub(used))]
                };
                for (addr, used, free) in rows {
                    out.push(
                        Gauge::new("pool4_ports_used", "Pool4 ports (ICMP identifiers) bound, by address", used)
                            .label("address", addr.clone())
                            .label("protocol", proto_name(p)),
                    );
                    out.push(
                        Gauge::new("pool4_ports_free", "Pool4 ports (ICMP identifiers) free, by address", free)
                            .label("address", addr)
                            .label("protocol", proto_name(p)),
                    );
                }
            }
            base += n;
        }
        out.push(Gauge::new("held_syns", "Unsolicited IPv4 SYNs held (RFC 6146 3.5.2.2)", self.held.len() as u64));
        out.push(Gauge::new(
            "fragments_waiting",
            "Fragments waiting for their first fragment (RFC 6146 3.4)",
            self.frags.wait_n as u64,
        ));
        out.push(Gauge::new(
            "fragment_flows",
            "Fragmented datagrams whose first fragment was translated",
            self.frags.flows.len() as u64,
        ));
    }
}
