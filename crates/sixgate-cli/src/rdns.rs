//! `sixgate rdns` subcommands (being built).

use std::process::ExitCode;

use clap::Subcommand;

use crate::CliError;

/// `sixgate rdns` subcommands.
#[derive(Subcommand)]
pub(crate) enum RdnsCmd {}

pub(crate) fn run(cmd: RdnsCmd) -> Result<ExitCode, CliError> {
    match cmd {}
}
