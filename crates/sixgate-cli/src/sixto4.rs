//! `sixgate 6to4`, `6rd`, `addr` and `tunnel-config` (being built).

use std::process::ExitCode;

use clap::{Args, Subcommand};

use crate::CliError;

/// Arguments of `sixgate 6to4`.
#[derive(Args)]
pub(crate) struct SixToFourArgs {}
/// Arguments of `sixgate 6rd`.
#[derive(Args)]
pub(crate) struct SixRdArgs {}
/// Arguments of `sixgate addr`.
#[derive(Args)]
pub(crate) struct AddrArgs {}
/// `sixgate tunnel-config` kinds.
#[derive(Subcommand)]
pub(crate) enum TunnelConfigCmd {}

pub(crate) fn run_6to4(_a: SixToFourArgs) -> Result<ExitCode, CliError> {
    Err(CliError::failure("not built yet"))
}
pub(crate) fn run_6rd(_a: SixRdArgs) -> Result<ExitCode, CliError> {
    Err(CliError::failure("not built yet"))
}
pub(crate) fn run_addr(_a: AddrArgs) -> Result<ExitCode, CliError> {
    Err(CliError::failure("not built yet"))
}
pub(crate) fn run_tunnel_config(c: TunnelConfigCmd) -> Result<ExitCode, CliError> {
    match c {}
}
