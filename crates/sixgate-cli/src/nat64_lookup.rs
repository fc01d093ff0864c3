//! `sixgate nat64 lookup`: the abuse desk's question answered from the gateway's file
//! alone, under the RFC 7422 deterministic mapping (`deterministic = true`): which
//! subscriber held a pool4 address and port, and which address and ports a subscriber has.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use sixgate_nat64::{Allocation, DeterministicMap, Share};

use crate::nat64_config::{EngineOpts, FileConfig};
use crate::CliError;

/// Arguments of `sixgate nat64 lookup`.
#[derive(Args)]
pub(crate) struct LookupArgs {
    /// The gateway's TOML file, with `mode = "stateful"`, `deterministic = true`,
    /// `port_block`, `block_prefix_len` and `subscribers` (the mapping is computed from
    /// these and pool4: use the file that was in force at the time asked about).
    #[arg(long)]
    config: PathBuf,
    /// A pool4 address (with --port): which subscriber prefix held it.
    #[arg(long, requires = "port", required_unless_present = "ipv6", conflicts_with = "ipv6")]
    ipv4: Option<Ipv4Addr>,
    /// The port (or ICMP identifier) on --ipv4.
    #[arg(long, requires = "ipv4")]
    port: Option<u16>,
    /// An IPv6 address: its subscriber prefix, pool4 address and port range.
    #[arg(long)]
    ipv6: Option<Ipv6Addr>,
    /// One JSON object instead of the line of text.
    #[arg(long)]
    json: bool,
}

/// Runs the lookup: one line on standard output, or an error naming the value.
pub(crate) fn lookup(a: LookupArgs) -> Result<ExitCode, CliError> {
    let name = a.config.display().to_string();
    let text = std::fs::read_to_string(&a.config).map_err(|e| CliError::input(format!("cannot read {name}: {e}")))?;
    let mut file = FileConfig::parse(&text, &name)?;
    let stateful = file.take_stateful().map_err(|e| CliError::input(format!("{name}: {}", e.message)))?;
    let mut opts = EngineOpts::default();
    file.merge_into(&mut opts)?;
    let xlate = opts.to_config().map_err(|e| CliError::input(format!("{name}: {e}")))?;
    let cfg = match stateful {
        Some(st) => st.to_config(xlate).map_err(|e| CliError::input(format!("{name}: {}", e.message)))?,
        None => {
            return Err(CliError::input(format!("{name}: lookup needs mode = \"stateful\" with deterministic = true")))
        }
    };
    let Allocation::Deterministic(d) = cfg.allocation else {
        return Err(CliError::input(format!(
            "{name}: lookup needs deterministic = true; without it ports are not fixed per subscriber \
             (with port_block, the block log names the subscriber)"
        )));
    };
    let map = DeterministicMap::new(&d, &cfg.pool4).map_err(|e| CliError::input(format!("{name}: {e}")))?;
    let (share, asked) = match (a.ipv4, a.port, a.ipv6) {
        (Some(addr), Some(port), _) => (map.holder_of(addr, port), format!("{addr} port {port}")),
        (_, _, Some(v6)) => (map.share_of(v6), v6.to_string()),
        // clap requires one of the two forms.
        _ => return Err(CliError::input("give --ipv4 A --port P, or --ipv6 X")),
    };
    let s = share.map_err(|e| CliError::input(e.to_string()))?;
    println!("{}", if a.json { json(&asked, &s) } else { line(&asked, &s) });
    Ok(ExitCode::SUCCESS)
}

fn line(asked: &str, s: &Share) -> String {
    format!("{asked}: subscriber {} holds {} ports {}-{}", s.subscriber, s.ipv4, s.ports.start(), s.ports.end())
}

fn json(asked: &str, s: &Share) -> String {
    serde_json::json!({
        "query": asked,
        "subscriber": s.subscriber.to_string(),
        "ipv4": s.ipv4.to_string(),
        "first_port": s.ports.start(),
        "last_port": s.ports.end(),
    })
    .to_string()
}
