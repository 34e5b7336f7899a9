//! Logging set-up: one `tracing` subscriber for the process.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber with a `tracing` filter such as `info` or
/// `issuer=debug,tower=warn`. A second call (tests) leaves the first subscriber in place.
pub fn init(filter: &str) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .try_init();
}

/// Checks a filter string so a bad LOG_LEVEL is a configuration error, not a silent default.
pub fn is_valid_filter(filter: &str) -> bool {
    EnvFilter::try_new(filter).is_ok()
}
