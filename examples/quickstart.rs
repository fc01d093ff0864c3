//! A short tour of sixgate on a built-in default address.
//!
//! ```text
//! cargo run --example quickstart            # uses 74.207.254.16
//! cargo run --example quickstart 192.0.2.1  # any IPv4 address
//! ```

use std::net::Ipv4Addr;

use sixgate::core::{class, rfc6052};
use sixgate::sixto4::explain::explain_str;
use sixgate::sixto4::teredo;
use sixgate::sixto4::{six_to_four, Scope};

fn main() {
    let v4: Ipv4Addr = match std::env::args().nth(1).map(|s| s.parse()) {
        None => Ipv4Addr::new(74, 207, 254, 16),
        Some(Ok(a)) => a,
        Some(Err(_)) => {
            eprintln!("quickstart: expected an IPv4 address");
            std::process::exit(2);
        }
    };

    // 1. Classification against the IANA special-purpose registry.
    let c = class::classify_v4(v4);
    println!("== classification");
    println!("{v4} is {c}{}", if c.global { "" } else { ": not globally reachable" });

    // 2. The 6to4 /48 and its reverse zone (RFC 3056; deprecated by RFC 7526). A
    //    non-global address is refused; the tour carries on with the lab override.
    println!("\n== 6to4");
    let s = match six_to_four(v4, Scope::GlobalOnly) {
        Ok(s) => s,
        Err(e) => {
            println!("refused: {e}");
            match six_to_four(v4, Scope::AllowNonGlobal) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("quickstart: {e}");
                    std::process::exit(1);
                }
            }
        }
    };
    println!("{s}");

    // 3. The RFC 6052 embedding under the NAT64 well-known prefix, and back.
    println!("\n== RFC 6052");
    let wkp = rfc6052::Pool6::well_known();
    let v6 = rfc6052::embed(&wkp, v4);
    println!("{v4} under {wkp} is {v6}; extracted again: {:?}", rfc6052::extract(&wkp, v6).map(|a| a.to_string()));

    // 4. An `addr` explanation of a Teredo address whose client is this address.
    println!("\n== addr (Teredo)");
    let t = teredo::Teredo { server: Ipv4Addr::new(65, 54, 227, 120), flags: 0, cone: false, port: 40000, client: v4 };
    let addr = teredo::encode(&t);
    match explain_str(&addr.to_string()) {
        Ok(e) => println!("{e}"),
        Err(e) => eprintln!("quickstart: {e}"),
    }
}
