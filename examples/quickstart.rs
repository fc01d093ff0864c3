//! A short tour of sixgate on a built-in default address.
//!
//! ```text
//! cargo run --example quickstart            # uses 74.207.254.16
//! cargo run --example quickstart 192.0.2.1  # any IPv4 address
//! ```

use std::net::Ipv4Addr;

use sixgate::core::{class, rfc6052};

fn main() {
    let v4: Ipv4Addr = match std::env::args().nth(1).map(|s| s.parse()) {
        None => Ipv4Addr::new(74, 207, 254, 16),
        Some(Ok(a)) => a,
        Some(Err(_)) => {
            eprintln!("quickstart: expected an IPv4 address");
            std::process::exit(2);
        }
    };
    let c = class::classify_v4(v4);
    println!("IPv4 address      {v4}");
    println!("class             {c}{}", if c.global { "" } else { "  (not globally reachable)" });
    println!("6to4 prefix       {}", rfc6052::sixtofour_prefix(v4));
    let wkp = rfc6052::Pool6::well_known();
    println!("NAT64 (64:ff9b::/96) {}", rfc6052::embed(&wkp, v4));
}
