//! Logging set-up: one `tracing` subscriber for the process.

use std::str::FromStr;

use tracing_subscriber::filter::LevelFilter;
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

/// The crates whose logs we write ourselves and have reviewed for secrets.
const OWN_TARGETS: &[&str] = &["issuer", "verifier", "mailer", "common", "bench"];

/// Installs the global subscriber with a `tracing` filter such as `info` or
/// `issuer=debug,tower=warn`, writing text lines. A second call (tests) leaves the first
/// subscriber in place.
pub fn init(filter: &str) {
    init_with_format(filter, LogFormat::Text);
}

/// [`init`] with a choice of line format.
pub fn init_with_format(filter: &str, format: LogFormat) {
    let filter =
        EnvFilter::try_new(capped_filter(filter)).unwrap_or_else(|_| EnvFilter::new("info"));
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

/// The filter actually installed for LOG_LEVEL `filter`.
///
/// At `debug` or `trace`, dependencies (hyper, h2, rustls, tokio-postgres, async-nats, …) log
/// request bytes, headers and SQL parameters: passwords and tokens. So a bare level above
/// `info` applies to our own crates only, and everything else stays at `info`. A directive
/// that names a dependency (`trace,hyper=trace`) is the operator's explicit choice and is kept,
/// because it is more specific than the default it overrides.
pub fn capped_filter(filter: &str) -> String {
    let directives: Vec<&str> = filter
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .collect();
    let verbose = directives
        .iter()
        .filter_map(|d| d.parse::<LevelFilter>().ok())
        .filter(|level| *level > LevelFilter::INFO)
        .max();
    let Some(level) = verbose else {
        return filter.to_owned();
    };
    let mut capped: Vec<String> = directives
        .iter()
        .map(|d| match d.parse::<LevelFilter>() {
            Ok(l) if l > LevelFilter::INFO => "info".to_owned(),
            _ => (*d).to_owned(),
        })
        .collect();
    for target in OWN_TARGETS {
        let named = directives
            .iter()
            .any(|d| d.split(['=', '[']).next().is_some_and(|t| t == *target));
        if !named {
            capped.push(format!("{target}={level}"));
        }
    }
    capped.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_and_quieter_filters_are_left_alone() {
        for filter in ["info", "warn", "error,issuer=info", "off", "issuer=debug"] {
            assert_eq!(capped_filter(filter), filter);
        }
    }

    #[test]
    fn a_verbose_default_applies_to_our_crates_only() {
        assert_eq!(
            capped_filter("trace"),
            "info,issuer=trace,verifier=trace,mailer=trace,common=trace,bench=trace"
        );
        assert_eq!(
            capped_filter("DEBUG,issuer=warn"),
            "info,issuer=warn,verifier=debug,mailer=debug,common=debug,bench=debug"
        );
    }

    #[test]
    fn an_explicit_dependency_directive_is_kept() {
        let filter = capped_filter("trace,hyper=trace,tokio_postgres=debug");
        assert!(filter.starts_with("info,hyper=trace,tokio_postgres=debug,"));
        assert!(is_valid_filter(&filter));
    }
}
