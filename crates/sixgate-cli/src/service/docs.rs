//! `sixgate completions SHELL` and `sixgate man [DIR]`: shell completion scripts
//! (clap_complete) and roff manual pages (clap_mangen) for every subcommand, generated
//! from the same argument definitions the binary parses.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use clap_complete::Shell;

use crate::CliError;

/// Arguments of `sixgate completions`.
#[derive(Args)]
pub(crate) struct CompletionsArgs {
    /// The shell to complete for (bash, zsh, fish, elvish, powershell).
    #[arg(value_name = "SHELL")]
    shell: Shell,
}

/// Arguments of `sixgate man`.
#[derive(Args)]
pub(crate) struct ManArgs {
    /// Write one page per command (`sixgate.1`, `sixgate-nat64-run.1`, ...) into this
    /// directory; without it, the `sixgate(1)` page goes to standard output.
    #[arg(value_name = "DIR")]
    dir: Option<PathBuf>,
}

/// Writes the completion script for `a.shell` to standard output.
pub(crate) fn completions(a: &CompletionsArgs, mut cmd: clap::Command) -> Result<ExitCode, CliError> {
    let mut out = Vec::new();
    clap_complete::generate(a.shell, &mut cmd, "sixgate", &mut out);
    write_stdout(&out)
}

/// Writes the manual pages.
pub(crate) fn man(a: &ManArgs, cmd: clap::Command) -> Result<ExitCode, CliError> {
    match &a.dir {
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .and_then(|()| clap_mangen::generate_to(cmd, dir))
                .map_err(|e| CliError::failure(format!("cannot write manual pages into {}: {e}", dir.display())))?;
            Ok(ExitCode::SUCCESS)
        }
        None => {
            let mut out = Vec::new();
            clap_mangen::Man::new(cmd).render(&mut out)?;
            write_stdout(&out)
        }
    }
}

fn write_stdout(bytes: &[u8]) -> Result<ExitCode, CliError> {
    use std::io::Write;
    let mut o = std::io::stdout().lock();
    o.write_all(bytes).and_then(|()| o.flush())?;
    Ok(ExitCode::SUCCESS)
}
