//! `sixgate nat64` subcommands (being built).

use std::process::ExitCode;

use clap::Subcommand;

use crate::CliError;

/// `sixgate nat64` subcommands.
#[derive(Subcommand)]
pub(crate) enum Nat64Cmd {}

pub(crate) fn run(cmd: Nat64Cmd) -> Result<ExitCode, CliError> {
    match cmd {}
}
