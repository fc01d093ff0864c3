//! Test support for sixgate, kept out of the library crates: packet builders, the checks
//! the fuzz targets run, and the replay of the fuzz corpora by `cargo test`.
//!
//! This crate is not published (`publish = false`). The libraries never depend on it;
//! their tests, benchmarks and examples do (as a dev-dependency), and so does `fuzz/`.
//!
//! * [`packets`]: IPv4/IPv6 TCP, UDP and ICMP packets with correct lengths and checksums,
//!   and their fragments; [`packets::sit`] for 6in4 (protocol 41) packets.
//! * [`fuzz`]: one module per library crate; each function takes arbitrary bytes, runs them
//!   through the library and **panics when a property fails**, which is how a fuzzer
//!   reports a finding. The fuzz targets in `fuzz/fuzz_targets/` and the corpus replay
//!   tests call the same functions, so `cargo test` re-checks every kept input.
//! * [`corpus`]: finding, replaying and seeding `fuzz/corpus/TARGET/`.
//! * [`dns`]: real DNS servers in tests: free ports, processes killed on drop, `dig`.
//!
//! A library's own unit tests (`#[cfg(test)]`) may use this crate too, for bytes only: the
//! library a unit test is compiled in is a different copy from the one this crate links,
//! so its types do not cross. [`sit_configs!`] gives such a test the 6in4 fuzz
//! configurations built against its own copy.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod corpus;
pub mod dns;
pub mod fuzz;
pub mod packets;
