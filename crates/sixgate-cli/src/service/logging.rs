//! The daemons' log: `tracing` events on standard error, filtered by `--log-level` (or
//! `RUST_LOG`, in `tracing-subscriber`'s `EnvFilter` syntax, when no flag is given; `info`
//! otherwise), as text or one JSON object per line (`--log-format json`). Under systemd
//! (`$JOURNAL_STREAM` set) the text lines carry no timestamp of their own: the journal
//! stamps them. Start-up, reload and stop summaries are at `info`, problems at `warn`,
//! per-packet detail only at `trace`.

use clap::{Args, ValueEnum};
use tracing_subscriber::EnvFilter;

/// The logging flags, valid on every subcommand.
#[derive(Args, Debug, Clone, Default)]
pub(crate) struct LogArgs {
    /// Log level of the daemons: error, warn, info, debug or trace, or a filter such as
    /// `sixgate=debug` [default: $RUST_LOG, else info].
    #[arg(long, value_name = "LEVEL", global = true)]
    pub(crate) log_level: Option<String>,
    /// Log line format of the daemons.
    #[arg(long, value_name = "FORMAT", global = true, value_enum, default_value_t = LogFormat::Text)]
    pub(crate) log_format: LogFormat,
}

/// How log lines look.
#[derive(ValueEnum, Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum LogFormat {
    /// `LEVEL message` (with a timestamp first unless `$JOURNAL_STREAM` is set).
    #[default]
    Text,
    /// One JSON object per line: `timestamp`, `level`, `fields.message`.
    Json,
}

/// The filter: the flag, else `$RUST_LOG`, else `info`.
pub(crate) fn filter(level: Option<&str>, rust_log: Option<&str>) -> Result<EnvFilter, String> {
    let spec = level.or(rust_log.filter(|s| !s.trim().is_empty())).unwrap_or("info");
    EnvFilter::builder().parse(spec).map_err(|e| format!("log level {spec:?}: {e}"))
}

/// Installs the subscriber for a daemon. Write errors are ignored (a daemon whose standard
/// error is gone keeps running), so are they in the subscriber itself.
pub(crate) fn init(a: &LogArgs) -> Result<(), crate::CliError> {
    let rust_log = std::env::var("RUST_LOG").ok();
    let filter = filter(a.log_level.as_deref(), rust_log.as_deref()).map_err(crate::CliError::input)?;
    let journal = std::env::var_os("JOURNAL_STREAM").is_some();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_target(false)
        .log_internal_errors(false);
    let r = match (a.log_format, journal) {
        (LogFormat::Json, _) => builder.json().try_init(),
        (LogFormat::Text, true) => builder.without_time().try_init(),
        (LogFormat::Text, false) => builder.try_init(),
    };
    r.map_err(|e| crate::CliError::failure(format!("cannot set up logging: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flag_wins_over_rust_log_and_info_is_the_default() {
        assert_eq!(filter(None, None).unwrap().to_string(), "info");
        assert_eq!(filter(None, Some("debug")).unwrap().to_string(), "debug");
        assert_eq!(filter(None, Some(" ")).unwrap().to_string(), "info");
        assert_eq!(filter(Some("warn"), Some("debug")).unwrap().to_string(), "warn");
        assert!(filter(Some("loud=="), None).is_err());
    }
}
