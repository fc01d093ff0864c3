//! The CLI's one error type: one clear line and an exit status.

use std::fmt;

/// An error the CLI prints as one line before exiting with `code`.
#[derive(Debug)]
pub(crate) struct CliError {
    pub(crate) message: String,
    pub(crate) code: u8,
}

impl CliError {
    /// Bad input from the user (exit status 2, as for usage errors).
    pub(crate) fn input(message: impl fmt::Display) -> Self {
        Self { message: message.to_string(), code: 2 }
    }

    /// A failure while doing the work (exit status 1).
    pub(crate) fn failure(message: impl fmt::Display) -> Self {
        Self { message: message.to_string(), code: 1 }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<std::io::Error> for CliError {
    fn from(e: std::io::Error) -> Self {
        Self::failure(format!("I/O error: {e}"))
    }
}
