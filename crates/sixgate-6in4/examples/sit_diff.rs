//! Differential check for optimisations of the engine: runs a fixed, seeded stream of
//! mutated packets (the fuzz seeds and corpus, with byte flips, cuts, repaired lengths and
//! checksums, planted addresses) through the four fuzz configurations and writes one line
//! per packet (verdict, length, hash of the output) plus the final counters. Run it on the
//! build before and after a change, with the same corpus (the stream depends on it), and
//! compare the files:
//!
//! ```sh
//! cargo run --release -p sixgate-6in4 --example sit_diff -- /tmp/before.txt 3000000
//! # ... change the engine ...
//! cargo run --release -p sixgate-6in4 --example sit_diff -- /tmp/after.txt 3000000
//! cmp /tmp/before.txt /tmp/after.txt
//! ```
use std::io::Write;
use std::time::Instant;

use sixgate_6in4::SitTunnel;
use sixgate_core::buf::PacketBuf;
use sixgate_core::engine::Engine;
use sixgate_testkit::fuzz::sit::{config, seeds};

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn fnv(h: &mut u64, b: &[u8]) {
    for x in b {
        *h ^= u64::from(*x);
        *h = h.wrapping_mul(0x100000001b3);
    }
}

fn naive(data: &[u8]) -> u16 {
    let mut s: u64 = 0;
    for (i, b) in data.iter().enumerate() {
        s += if i % 2 == 0 { u64::from(*b) << 8 } else { u64::from(*b) };
    }
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

fn main() {
    let out_path = std::env::args().nth(1).unwrap();
    let n: usize = std::env::args().nth(2).and_then(|s| s.parse().ok()).unwrap_or(2_000_000);
    let mut f = std::io::BufWriter::new(std::fs::File::create(out_path).unwrap());
    let mut base: Vec<Vec<u8>> = seeds();
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fuzz/corpus/sit_decap");
    let mut paths: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    paths.sort();
    for p in paths {
        base.push(std::fs::read(p).unwrap());
    }
    let mut engines: Vec<SitTunnel> = (0..4).map(|i| SitTunnel::new(config(i)).unwrap()).collect();
    let now = Instant::now();
    let mut rng = Rng(0x1234_5678_9abc_def1);
    let mut total = 0xcbf29ce484222325u64;
    for i in 0..n {
        let b = &base[i % base.len()];
        let mut pkt = if b.len() > 1 { b[1..].to_vec() } else { vec![0x45] };
        let r = rng.next();
        let cfg = (r & 3) as usize;
        // Mutations: 0-3 byte flips (biased to the headers).
        let flips = (r >> 2) & 3;
        for k in 0..flips {
            let x = rng.next();
            if pkt.is_empty() {
                break;
            }
            let lim = if k % 2 == 0 { pkt.len().min(64) } else { pkt.len() };
            let at = (x as usize >> 8) % lim;
            pkt[at] ^= (x & 0xff) as u8;
        }
        if (r >> 4) & 1 == 1 && rng.next().is_multiple_of(7) {
            let cut = (rng.next() as usize) % (pkt.len() + 1);
            pkt.truncate(cut);
        }
        let encap = (r >> 5) & 7 == 0;
        if let Some(x) = pkt.first_mut() {
            *x = (*x & 0x0f)
                | if encap {
                    0x60
                } else if (r >> 8) & 31 == 0 {
                    0x50
                } else {
                    0x40
                };
        }
        if (r >> 13) & 3 != 0 {
            if encap && pkt.len() >= 40 {
                let l = (pkt.len() - 40).min(0xffff) as u16;
                pkt[4..6].copy_from_slice(&l.to_be_bytes());
            } else if !encap && pkt.len() >= 20 {
                let l = pkt.len().min(0xffff) as u16;
                pkt[2..4].copy_from_slice(&l.to_be_bytes());
            }
        }
        if !encap && pkt.len() >= 20 && (r >> 21) & 1 == 1 {
            let local = config(cfg as u8).local.octets();
            pkt[16..20].copy_from_slice(&local);
        }
        if !encap && pkt.len() >= 60 && (r >> 22) & 3 == 0 {
            let srcs: [[u8; 16]; 8] = [
                [0; 16],
                [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
                [0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
                [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 1, 2, 3, 4],
                [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4],
                [0x20, 2, 12, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
                [0x20, 2, 10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
                [0x20, 2, 13, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
            ];
            let ihl = usize::from(pkt[0] & 15) * 4;
            if ihl >= 20 && pkt.len() >= ihl + 40 {
                let k = (rng.next() % 8) as usize;
                pkt[ihl + 8..ihl + 24].copy_from_slice(&srcs[k]);
                if rng.next().is_multiple_of(2) {
                    pkt[ihl + 24..ihl + 26].copy_from_slice(&[0x20, 2]);
                    pkt[ihl + 26..ihl + 30].copy_from_slice(&[11, 0, 0, 1]);
                }
            }
        }
        if (r >> 15) & 7 != 0 && !encap && pkt.len() >= 20 {
            if (r >> 18) & 7 != 0 {
                pkt[0] = 0x45;
            }
            let ihl = (usize::from(pkt[0] & 15) * 4).clamp(20, pkt.len());
            pkt[10] = 0;
            pkt[11] = 0;
            let c = naive(&pkt[..ihl]);
            pkt[10..12].copy_from_slice(&c.to_be_bytes());
        }
        let mut buf = PacketBuf::from_slice(&pkt);
        let v = engines[cfg].process(&mut buf, now);
        let line = format!("{i} {cfg} {v:?} {}", buf.len());
        let mut h = 0xcbf29ce484222325u64;
        fnv(&mut h, line.as_bytes());
        fnv(&mut h, buf.as_slice());
        fnv(&mut total, &h.to_le_bytes());
        writeln!(f, "{line} {h:016x}").unwrap();
    }
    for (i, e) in engines.iter().enumerate() {
        writeln!(f, "engine {i}: {}", e.counters()).unwrap();
    }
    println!("total {total:016x}");
}
