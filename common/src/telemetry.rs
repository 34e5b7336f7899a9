//! Logging and tracing set-up: one `tracing` subscriber for the process, which also exports
//! spans over OTLP when an `OTEL_EXPORTER_OTLP_*ENDPOINT` is set ([`export`]), and the W3C
//! trace context carried in and out of the services ([`trace_context`]).

mod export;
pub mod trace_context;

use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::settings::{FromSetting, Kind};

pub(crate) use export::{endpoint, headers};
pub use export::{ExportSetupError, Sampler, TraceExport, Tracing};

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

impl FromSetting for LogFormat {
    fn from_setting(text: &str, _: &Kind) -> Result<Self, String> {
        match text.to_ascii_lowercase().as_str() {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            _ => Err("must be text or json".to_owned()),
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

/// [`init_with_format`], plus the OTLP span export when `traces` asks for it; `service` names
/// the process in traces when `OTEL_SERVICE_NAME` is unset. Without `traces` this is exactly
/// [`init_with_format`]: no layer, no exporter, no thread. The returned [`Tracing`] flushes the
/// spans still queued when the service stops.
pub fn init_with_traces(
    filter: &str,
    format: LogFormat,
    traces: Option<&TraceExport>,
    service: &str,
) -> Result<Tracing, ExportSetupError> {
    let Some(traces) = traces else {
        init_with_format(filter, format);
        return Ok(Tracing::off());
    };
    let env_filter =
        EnvFilter::try_new(capped_filter(filter)).unwrap_or_else(|_| EnvFilter::new("info"));
    let lines = match format {
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_target(false)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .with_target(false)
            .json()
            .with_ansi(false)
            .with_current_span(true)
            .with_span_list(true)
            .boxed(),
    };
    let (tracing, spans) = export::start(traces, service)?;
    // Each layer has its own filter: LOG_LEVEL governs the log lines only, and spans are
    // exported from our own crates at `info` whatever it says.
    let installed = tracing_subscriber::registry()
        .with(lines.with_filter(env_filter))
        .with(spans.with_filter(export::span_filter()))
        .try_init();
    if installed.is_ok() {
        trace_context::set_exporting();
    }
    Ok(tracing)
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

/// The samplers `OTEL_TRACES_SAMPLER` accepts, as its error says them.
pub(crate) const SAMPLERS: &str =
    "must be always_on, always_off, traceidratio, parentbased_always_on, \
                        parentbased_always_off or parentbased_traceidratio";

/// `OTEL_EXPORTER_OTLP_PROTOCOL`: only `http/protobuf` is built in.
pub fn http_protobuf_only(value: &str) -> Result<(), &'static str> {
    match value {
        "http/protobuf" => Ok(()),
        _ => Err("must be http/protobuf (grpc and http/json are not built in)"),
    }
}

/// `OTEL_TRACES_SAMPLER`: one of the samplers [`Sampler::parse`] knows.
pub fn sampler_name(value: &str) -> Result<(), &'static str> {
    Sampler::parse(value, 1.0).map(|_| ()).ok_or(SAMPLERS)
}

/// `OTEL_TRACES_SAMPLER_ARG`: a ratio from 0 to 1.
pub fn sampler_ratio(value: &str) -> Result<(), &'static str> {
    let ratio = value.parse::<f64>().ok();
    ratio
        .filter(|r| (0.0..=1.0).contains(r))
        .map(|_| ())
        .ok_or("must be a number from 0 to 1")
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
