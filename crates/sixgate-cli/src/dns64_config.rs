//! The configuration file of `sixgate dns64` (TOML; unknown keys are errors; a flag given
//! on the command line wins over its key):
//!
//! ```toml
//! listen = "[::]:53"
//! upstream = "127.0.0.1:5353"          # or upstreams = ["127.0.0.1:5353", "[::1]:5353"]
//! prefix = "64:ff9b::/96"
//! exclude_aaaa = ["::ffff:0:0/96"]
//! exclude_a = ["10.0.0.0/8"]
//! ptr = true
//! timeout_ms = 2000
//! max_tcp = 1024
//! max_tcp_per_client = 16
//! workers = 2
//! cache_size = 100000
//! max_ttl = 86400
//! max_negative_ttl = 3600
//! metrics_listen = "127.0.0.1:9164"
//! ```
//!
//! On SIGHUP `prefix`, `exclude_aaaa`, `exclude_a`, `ptr`, `timeout_ms` and `upstream` /
//! `upstreams` change live (the cache is kept; its whole answers are forgotten when a DNS64
//! setting changes); `listen`, `workers`, the TCP caps, the cache's size and TTL caps and
//! `metrics_listen` need a restart.

use std::net::SocketAddr;
use std::time::Duration;

use ipnet::{Ipv4Net, Ipv6Net};
use serde::Deserialize;
use sixgate_core::rfc6052::Pool6;
use sixgate_nat64::dns64::{CacheConfig, Dns64, Dns64Config};
use toml::Spanned;

use crate::dns64::{dns_socket_addr, Dns64Args};

/// The keys that only a restart changes: the listening sockets, the thread and
/// connection counts (fixed when the server starts) and the metrics address.
pub(crate) const DNS64_RESTART: &[&str] = &[
    "listen",
    "workers",
    "max_tcp",
    "max_tcp_per_client",
    "cache_size",
    "max_ttl",
    "max_negative_ttl",
    "metrics_listen",
];

/// The TOML file. Unknown keys are errors.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<Spanned<String>>,
    upstream: Option<Spanned<String>>,
    upstreams: Option<Vec<Spanned<String>>>,
    prefix: Option<Spanned<String>>,
    exclude_aaaa: Option<Vec<Spanned<String>>>,
    exclude_a: Option<Vec<Spanned<String>>>,
    ptr: Option<bool>,
    timeout_ms: Option<Spanned<u64>>,
    max_tcp: Option<Spanned<usize>>,
    max_tcp_per_client: Option<Spanned<usize>>,
    workers: Option<Spanned<usize>>,
    cache_size: Option<usize>,
    max_ttl: Option<u32>,
    max_negative_ttl: Option<u32>,
    metrics_listen: Option<Spanned<String>>,
}

/// A `sixgate dns64` configuration, flags over file, checked.
#[derive(Debug, Clone)]
pub(crate) struct Resolved {
    /// The DNS64 engine's settings (already accepted by [`Dns64::new`]).
    pub(crate) dns64: Dns64Config,
    pub(crate) listen: SocketAddr,
    /// The upstream resolvers, in order.
    pub(crate) upstreams: Vec<SocketAddr>,
    pub(crate) max_tcp: usize,
    pub(crate) max_tcp_per_client: usize,
    pub(crate) workers: usize,
    pub(crate) cache: CacheConfig,
    pub(crate) metrics_listen: Option<SocketAddr>,
}

/// Resolves the flags `a` over the file text `file` (`(text, name)`), as at start and on
/// SIGHUP: the configuration, or one message per problem, `FILE:LINE: key: why` for a
/// value of the file.
pub(crate) fn resolve(a: &Dns64Args, file: Option<(&str, &str)>) -> Result<Resolved, Vec<String>> {
    let (f, text, name) = match file {
        Some((text, name)) => {
            let f: FileConfig =
                toml::from_str(text).map_err(|e| vec![crate::nat64_config::toml_error(text, name, &e).message])?;
            (f, text, name)
        }
        None => (FileConfig::default(), "", ""),
    };
    let line = |start: usize| text.as_bytes()[..start.min(text.len())].iter().filter(|&&b| b == b'\n').count() + 1;
    let (mut errs, mut flag_errs) = (Vec::new(), Vec::new());
    let mut at = |start: usize, key: &str, why: String| errs.push(format!("{name}:{}: {key}: {why}", line(start)));
    let addr = |v: &Option<Spanned<String>>, key: &str, at: &mut dyn FnMut(usize, &str, String)| {
        v.as_ref().and_then(|s| {
            dns_socket_addr(s.get_ref()).map_err(|e| at(s.span().start, key, format!("{:?}: {e}", s.get_ref()))).ok()
        })
    };
    let f_listen = addr(&f.listen, "listen", &mut at);
    let mut f_upstreams: Vec<SocketAddr> = addr(&f.upstream, "upstream", &mut at).into_iter().collect();
    for u in f.upstreams.iter().flatten() {
        match dns_socket_addr(u.get_ref()) {
            Ok(a) => f_upstreams.push(a),
            Err(e) => at(u.span().start, "upstreams", format!("{:?}: {e}", u.get_ref())),
        }
    }
    let f_metrics = f.metrics_listen.as_ref().and_then(|s| {
        s.get_ref()
            .parse::<SocketAddr>()
            .map_err(|e| at(s.span().start, "metrics_listen", format!("{:?}: {e} (ADDR:PORT)", s.get_ref())))
            .ok()
    });
    let prefix_text = a.prefix.clone();
    let prefix: Option<Pool6> = match (&prefix_text, &f.prefix) {
        (Some(p), _) => match p.parse() {
            Ok(p) => Some(p),
            Err(e) => {
                flag_errs.push(format!("--prefix {p}: {e}"));
                None
            }
        },
        (None, Some(s)) => match s.get_ref().parse() {
            Ok(p) => Some(p),
            Err(e) => {
                at(s.span().start, "prefix", format!("{:?}: {e}", s.get_ref()));
                None
            }
        },
        (None, None) => Some("64:ff9b::/96".parse().expect("the well-known prefix")),
    };
    fn list<T: std::str::FromStr>(
        v: &Option<Vec<Spanned<String>>>,
        key: &str,
        at: &mut dyn FnMut(usize, &str, String),
    ) -> Vec<T>
    where
        T::Err: std::fmt::Display,
    {
        let parse = |s: &Spanned<String>| {
            s.get_ref().parse().map_err(|e| at(s.span().start, key, format!("{:?}: {e}", s.get_ref()))).ok()
        };
        v.iter().flatten().filter_map(parse).collect()
    }
    let f_aaaa: Vec<Ipv6Net> = list(&f.exclude_aaaa, "exclude_aaaa", &mut at);
    let f_a: Vec<Ipv4Net> = list(&f.exclude_a, "exclude_a", &mut at);
    let positive = |v: &Option<Spanned<usize>>, key: &str, at: &mut dyn FnMut(usize, &str, String)| {
        v.as_ref().and_then(|s| {
            if *s.get_ref() == 0 {
                at(s.span().start, key, "must be at least 1".to_owned());
                None
            } else {
                Some(*s.get_ref())
            }
        })
    };
    let f_max_tcp = positive(&f.max_tcp, "max_tcp", &mut at);
    let f_per_client = positive(&f.max_tcp_per_client, "max_tcp_per_client", &mut at);
    let f_workers = positive(&f.workers, "workers", &mut at);
    if let Some(t) = &f.timeout_ms {
        if *t.get_ref() == 0 {
            at(t.span().start, "timeout_ms", "must be at least 1".to_owned());
        }
    }
    let listen = a.listen.or(f_listen);
    let upstreams = if a.upstream.is_empty() { f_upstreams } else { a.upstream.clone() };
    if listen.is_none() && f.listen.is_none() {
        flag_errs.push("--listen (or `listen`) is missing".to_owned());
    }
    if upstreams.is_empty() && f.upstream.is_none() && f.upstreams.is_none() {
        flag_errs.push("--upstream (or `upstream`/`upstreams`) is missing".to_owned());
    }
    if let Some(l) = listen {
        for u in upstreams.iter().filter(|u| asks_itself(l, **u)) {
            flag_errs.push(format!(
                "upstream {u} is this server's own address (listen {l}): it would ask itself in a loop; \
                 give the address of the recursive resolver it forwards to"
            ));
        }
    }
    errs.extend(flag_errs);
    let (Some(listen), Some(prefix), true) = (listen, prefix, errs.is_empty() && !upstreams.is_empty()) else {
        return Err(errs);
    };
    let mut cfg = Dns64Config::new(prefix);
    // The flags replace the default when given; the file's key replaces it even when it
    // is an empty list (no AAAA range excluded).
    if !a.exclude_aaaa.is_empty() {
        cfg.exclude_aaaa = a.exclude_aaaa.clone();
    } else if f.exclude_aaaa.is_some() {
        cfg.exclude_aaaa = f_aaaa;
    }
    cfg.exclude_a = if a.exclude_a.is_empty() { f_a } else { a.exclude_a.clone() };
    cfg.synthesize_ptr = !a.no_ptr && f.ptr.unwrap_or(true);
    cfg.upstream_timeout = Duration::from_millis(a.timeout_ms.or(f.timeout_ms.map(|t| t.into_inner())).unwrap_or(2000));
    Dns64::new(cfg.clone())
        .map_err(|e| vec![format!("{}{e}", if name.is_empty() { String::new() } else { format!("{name}: ") })])?;
    let mut cache = CacheConfig::new(a.cache_size.or(f.cache_size).unwrap_or(CacheConfig::default().max_entries));
    cache.max_ttl = a.max_ttl.or(f.max_ttl).unwrap_or(cache.max_ttl);
    cache.max_negative_ttl = a.max_negative_ttl.or(f.max_negative_ttl).unwrap_or(cache.max_negative_ttl);
    let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
    Ok(Resolved {
        dns64: cfg,
        listen,
        upstreams,
        max_tcp: a.max_tcp.or(f_max_tcp).unwrap_or(1024).max(1),
        max_tcp_per_client: a.max_tcp_per_client.or(f_per_client).unwrap_or(16).max(1),
        workers: a.workers.or(f_workers).unwrap_or(cpus).max(1),
        cache,
        metrics_listen: a.metrics_listen.or(f_metrics),
    })
}

/// Whether a server listening on `listen` would be its own upstream `up`: the same
/// address and port, or a wildcard listener on the upstream's port of a loopback or
/// wildcard address.
fn asks_itself(listen: SocketAddr, up: SocketAddr) -> bool {
    listen.port() == up.port()
        && (listen.ip() == up.ip()
            || (listen.ip().is_unspecified() && (up.ip().is_loopback() || up.ip().is_unspecified())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct T {
        #[command(flatten)]
        a: Dns64Args,
    }

    fn args(flags: &[&str]) -> Dns64Args {
        T::parse_from(std::iter::once("t").chain(flags.iter().copied())).a
    }

    #[test]
    fn every_key_and_flags_win() {
        let text = "listen = \"127.0.0.1:5300\"\nupstream = \"127.0.0.1\"\nprefix = \"2001:db8:64::/96\"\n\
                    exclude_aaaa = [\"2001:db8:bad::/48\"]\nexclude_a = [\"10.0.0.0/8\"]\nptr = false\n\
                    timeout_ms = 700\nmax_tcp = 3\nworkers = 2\nmetrics_listen = \"127.0.0.1:9164\"\n";
        let r = resolve(&args(&[]), Some((text, "d.toml"))).unwrap();
        assert_eq!(r.listen, "127.0.0.1:5300".parse().unwrap());
        assert_eq!(r.upstreams, ["127.0.0.1:53".parse().unwrap()]);
        assert_eq!(r.dns64.prefix, "2001:db8:64::/96".parse().unwrap());
        assert_eq!(r.dns64.exclude_aaaa, ["2001:db8:bad::/48".parse::<Ipv6Net>().unwrap()]);
        assert_eq!(r.dns64.exclude_a, ["10.0.0.0/8".parse::<Ipv4Net>().unwrap()]);
        assert!(!r.dns64.synthesize_ptr);
        assert_eq!(r.dns64.upstream_timeout, Duration::from_millis(700));
        assert_eq!((r.max_tcp, r.workers), (3, 2));
        assert_eq!(r.metrics_listen, Some("127.0.0.1:9164".parse().unwrap()));
        let r = resolve(
            &args(&["--prefix", "64:ff9b::/96", "--upstream", "127.0.0.2:54", "--workers", "5"]),
            Some((text, "d.toml")),
        )
        .unwrap();
        assert_eq!(r.dns64.prefix, "64:ff9b::/96".parse().unwrap());
        assert_eq!(r.upstreams, ["127.0.0.2:54".parse().unwrap()]);
        assert_eq!(r.workers, 5);
    }

    #[test]
    fn several_upstreams_cache_keys_and_a_loop_is_refused() {
        let text = "listen = \"127.0.0.1:5300\"\nupstreams = [\"127.0.0.1:5301\", \"[::1]:5302\"]\n\
                    cache_size = 0\nmax_ttl = 60\nmax_negative_ttl = 5\nmax_tcp_per_client = 2\n";
        let r = resolve(&args(&[]), Some((text, "d.toml"))).unwrap();
        assert_eq!(r.upstreams, ["127.0.0.1:5301".parse().unwrap(), "[::1]:5302".parse().unwrap()]);
        assert_eq!((r.cache.max_entries, r.cache.max_ttl, r.cache.max_negative_ttl), (0, 60, 5));
        assert_eq!(r.max_tcp_per_client, 2);
        let r = resolve(
            &args(&["--upstream", "127.0.0.9:53", "--upstream", "127.0.0.8", "--cache-size", "7"]),
            Some((text, "d.toml")),
        )
        .unwrap();
        assert_eq!(r.upstreams, ["127.0.0.9:53".parse().unwrap(), "127.0.0.8:53".parse().unwrap()]);
        assert_eq!(r.cache.max_entries, 7);
        for (listen, up) in [("127.0.0.1:5300", "127.0.0.1:5300"), ("[::]:53", "127.0.0.1"), ("0.0.0.0:53", "[::1]:53")]
        {
            let errs = resolve(&args(&["--listen", listen, "--upstream", up]), None).unwrap_err();
            assert!(errs[0].contains("ask itself in a loop"), "{errs:?}");
        }
        assert!(resolve(&args(&["--listen", "[::]:53", "--upstream", "192.0.2.1"]), None).is_ok());
        assert!(resolve(&args(&["--listen", "127.0.0.1:53", "--upstream", "127.0.0.1:5353"]), None).is_ok());
    }

    #[test]
    fn the_shipped_example_is_valid() {
        let text = include_str!("../../../dist/sixgate/dns64.toml");
        let r = resolve(&args(&[]), Some((text, "dns64.toml"))).unwrap();
        assert_eq!(r.dns64.prefix, "64:ff9b::/96".parse().unwrap());
    }

    #[test]
    fn bad_values_name_their_line_and_unknown_keys_are_refused() {
        let text = "listen = \"127.0.0.1:5300\"\nupstream = \"127.0.0.1\"\nprefix = \"64:ff9b::/95\"\nworkers = 0\n";
        let errs = resolve(&args(&[]), Some((text, "d.toml"))).unwrap_err();
        assert!(errs[0].starts_with("d.toml:3: prefix:"), "{errs:?}");
        assert!(errs[1].starts_with("d.toml:4: workers:"), "{errs:?}");
        let errs = resolve(&args(&[]), Some(("listen = \"127.0.0.1\"\n\nbogus = 1\n", "d.toml"))).unwrap_err();
        assert!(errs[0].starts_with("d.toml:3:"), "{errs:?}");
        let none = "listen = \"127.0.0.1\"\nupstream = \"127.0.0.2\"\nexclude_aaaa = []\n";
        assert!(resolve(&args(&[]), Some((none, "d.toml"))).unwrap().dns64.exclude_aaaa.is_empty());
        let errs = resolve(&args(&[]), Some(("listen = \"127.0.0.1\"\n", "d.toml"))).unwrap_err();
        assert!(errs[0].contains("upstream"), "{errs:?}");
    }
}
