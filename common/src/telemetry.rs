//! Logging set-up: one `tracing` subscriber for the process.

use std::str::FromStr;

use tracing_subscriber::EnvFilter;

/// How log lines are written to stdout (`LOG_FORMAT`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line (`timestamp`, `level`, `fields` with `message`, `span`,
    /// `spans`), for log shippers.
    Json,
}

impl FromStr for LogFormat {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s.to_ascii_lowercase().as_str() {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            _ => Err(()),
        }
    }
}

/// Installs the global subscriber with a `tracing` filter such as `info` or
/// `issuer=debug,tower=warn`, writing text lines. A second call (tests) leaves the first
/// subscriber in place.
pub fn init(filter: &str) {
    init_with_format(filter, LogFormat::Text);
}

/// [`init`] with a choice of line format.
pub fn init_with_format(filter: &str, format: LogFormat) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    let _ = match format {
        LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
            .try_init(),
        LogFormat::Json => builder
            .json()
            .with_ansi(false)
            .with_current_span(true)
            .with_span_list(true)
            .try_init(),
    };
}

/// Checks a filter string so a bad LOG_LEVEL is a configuration error, not a silent default.
pub fn is_valid_filter(filter: &str) -> bool {
    EnvFilter::try_new(filter).is_ok()
}
