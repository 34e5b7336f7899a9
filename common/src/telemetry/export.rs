//! The OTLP span pipeline: the settings [`crate::config::TraceSettings::export`] builds from the shared table's
//! `OTEL_*` rows, checked, and the tracer provider, batch processor and exporter built from
//! them.
//!
//! Spans go over OTLP/HTTP with protobuf bodies through a blocking reqwest client (our rustls
//! reqwest; no gRPC stack). The SDK's batch processor runs on a thread of its own and exports
//! when its queue holds a batch or every `OTEL_BSP_SCHEDULE_DELAY`; a full queue drops new
//! spans rather than slowing requests down.

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry::KeyValue;
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::trace::{BatchConfigBuilder, BatchSpanProcessor, SdkTracerProvider};
use opentelemetry_sdk::Resource;
use tracing::Level;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::registry::LookupSpan;

use crate::settings::ConfigError;

/// Where and how spans are exported. `Debug` shows neither the headers' values nor anything of
/// the endpoint beyond its scheme, host and path: both may carry credentials.
#[derive(Clone, PartialEq)]
pub struct TraceExport {
    /// The full URL spans are POSTed to.
    pub endpoint: String,
    /// Sent with every export request (`OTEL_EXPORTER_OTLP_HEADERS`).
    pub headers: Vec<(String, String)>,
    pub timeout: Duration,
    /// `OTEL_SERVICE_NAME`; the process's own name when `None`.
    pub service_name: Option<String>,
    pub sampler: Sampler,
    pub schedule_delay: Duration,
    pub max_queue_size: usize,
}

impl fmt::Debug for TraceExport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(name, _)| name.as_str()).collect();
        f.debug_struct("TraceExport")
            .field("endpoint", &self.shown_endpoint())
            .field("header_names", &names)
            .field("timeout", &self.timeout)
            .field("service_name", &self.service_name)
            .field("sampler", &self.sampler)
            .field("schedule_delay", &self.schedule_delay)
            .field("max_queue_size", &self.max_queue_size)
            .finish()
    }
}

impl TraceExport {
    /// The endpoint as it may be printed: scheme, host, port and path; no user, no query.
    pub fn shown_endpoint(&self) -> String {
        match self.endpoint.parse::<http::Uri>() {
            Ok(uri) => {
                let port = uri.port().map(|p| format!(":{p}")).unwrap_or_default();
                let scheme = uri.scheme_str().unwrap_or("?");
                format!(
                    "{scheme}://{}{port}{}",
                    uri.host().unwrap_or("?"),
                    uri.path()
                )
            }
            Err(_) => "(unreadable)".to_owned(),
        }
    }
}

/// `OTEL_TRACES_SAMPLER` with its ratio. A parent-based sampler follows the sampled flag of an
/// incoming `traceparent` and applies its own rule only to traces that start here.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Sampler {
    AlwaysOn,
    AlwaysOff,
    TraceIdRatio(f64),
    ParentBasedAlwaysOn,
    ParentBasedAlwaysOff,
    ParentBasedTraceIdRatio(f64),
}

impl Sampler {
    /// The sampler a variable's value names, with `ratio` for the ratio samplers.
    pub fn parse(name: &str, ratio: f64) -> Option<Sampler> {
        Some(match name.to_ascii_lowercase().as_str() {
            "always_on" => Sampler::AlwaysOn,
            "always_off" => Sampler::AlwaysOff,
            "traceidratio" => Sampler::TraceIdRatio(ratio),
            "parentbased_always_on" => Sampler::ParentBasedAlwaysOn,
            "parentbased_always_off" => Sampler::ParentBasedAlwaysOff,
            "parentbased_traceidratio" => Sampler::ParentBasedTraceIdRatio(ratio),
            _ => return None,
        })
    }

    fn sdk(self) -> opentelemetry_sdk::trace::Sampler {
        use opentelemetry_sdk::trace::Sampler as Sdk;
        match self {
            Sampler::AlwaysOn => Sdk::AlwaysOn,
            Sampler::AlwaysOff => Sdk::AlwaysOff,
            Sampler::TraceIdRatio(ratio) => Sdk::TraceIdRatioBased(ratio),
            Sampler::ParentBasedAlwaysOn => Sdk::ParentBased(Box::new(Sdk::AlwaysOn)),
            Sampler::ParentBasedAlwaysOff => Sdk::ParentBased(Box::new(Sdk::AlwaysOff)),
            Sampler::ParentBasedTraceIdRatio(ratio) => {
                Sdk::ParentBased(Box::new(Sdk::TraceIdRatioBased(ratio)))
            }
        }
    }
}

/// `value` as an http(s) URL, with `path` appended (the signal path after a base endpoint).
pub(crate) fn endpoint(variable: &str, value: &str, path: &str) -> Result<String, ConfigError> {
    let value = value.trim();
    let url = match path {
        "" => value.to_owned(),
        path => format!("{}{path}", value.trim_end_matches('/')),
    };
    match url.parse::<http::Uri>() {
        Ok(uri)
            if matches!(uri.scheme_str(), Some("http" | "https"))
                && uri.host().is_some_and(|host| !host.is_empty()) =>
        {
            Ok(url)
        }
        _ => Err(ConfigError::new(
            variable,
            "must be an http:// or https:// URL with a host",
        )),
    }
}

/// `name=value,name2=value2`, values percent-decoded (the OTLP exporter convention). Errors
/// name the variable and never show the value.
pub(crate) fn headers(
    variable: &str,
    value: Option<String>,
) -> Result<Vec<(String, String)>, ConfigError> {
    let Some(value) = value else {
        return Ok(Vec::new());
    };
    let bad = || ConfigError::new(variable, "must be a list of name=value (header fields)");
    let mut headers = Vec::new();
    for pair in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, raw) = pair.split_once('=').ok_or_else(bad)?;
        let name = name.trim();
        let decoded = percent_decoded(raw.trim()).ok_or_else(bad)?;
        let valid = http::HeaderName::from_bytes(name.as_bytes()).is_ok()
            && http::HeaderValue::from_str(&decoded).is_ok();
        if !valid {
            return Err(bad());
        }
        headers.push((name.to_ascii_lowercase(), decoded));
    }
    Ok(headers)
}

fn percent_decoded(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The spans exported: our own crates' at `info` and above, whatever LOG_LEVEL says. Debug
/// spans (the verifier's forward-auth successes) stay out, as they do of the logs.
pub(super) fn span_filter() -> Targets {
    Targets::new()
        .with_target("issuer", Level::INFO)
        .with_target("verifier", Level::INFO)
        .with_target("mailer", Level::INFO)
        .with_target("common", Level::INFO)
}

/// The span exporter could not be built. It never shows the endpoint, which may carry
/// credentials.
#[derive(Debug, thiserror::Error)]
#[error("the OTLP span exporter could not be set up: {0}")]
pub struct ExportSetupError(String);

impl From<opentelemetry_otlp::ExporterBuildError> for ExportSetupError {
    fn from(err: opentelemetry_otlp::ExporterBuildError) -> Self {
        use opentelemetry_otlp::ExporterBuildError as Build;
        ExportSetupError(match err {
            Build::InvalidUri(..) => "the endpoint is not a URL the HTTP client takes".to_owned(),
            other => other.to_string(),
        })
    }
}

/// The running export; [`Tracing::shutdown`] sends the spans still queued.
#[must_use = "call shutdown when the service stops, or queued spans are lost"]
pub struct Tracing {
    provider: Option<SdkTracerProvider>,
}

impl Tracing {
    pub(super) fn off() -> Self {
        Tracing { provider: None }
    }

    /// Whether spans are exported.
    pub fn is_on(&self) -> bool {
        self.provider.is_some()
    }

    /// Exports the queued spans and stops the exporter, on the blocking pool (it waits for the
    /// export, at most its timeout). Called once the service has drained.
    pub async fn shutdown(self) {
        let Some(provider) = self.provider else {
            return;
        };
        match tokio::task::spawn_blocking(move || provider.shutdown()).await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => {
                tracing::warn!(error = %err, "queued spans could not all be exported at shutdown")
            }
            Err(err) => tracing::warn!(error = %err, "the span exporter did not shut down"),
        }
    }
}

/// Builds the exporter and provider, and the layer that feeds `tracing` spans to them.
pub(super) fn start<S>(
    settings: &TraceExport,
    service: &str,
) -> Result<(Tracing, impl tracing_subscriber::Layer<S>), ExportSetupError>
where
    S: tracing::Subscriber + for<'span> LookupSpan<'span>,
{
    let headers: HashMap<String, String> = settings.headers.iter().cloned().collect();
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(settings.endpoint.as_str())
        .with_timeout(settings.timeout)
        .with_headers(headers)
        .build()
        .map_err(ExportSetupError::from)?;
    let batch = BatchConfigBuilder::default()
        .with_scheduled_delay(settings.schedule_delay)
        .with_max_queue_size(settings.max_queue_size)
        .build();
    let processor = BatchSpanProcessor::builder(exporter)
        .with_batch_config(batch)
        .build();
    let name = settings
        .service_name
        .as_deref()
        .unwrap_or(service)
        .to_owned();
    let resource = Resource::builder_empty()
        .with_service_name(name)
        .with_attribute(KeyValue::new(
            "service.version",
            env!("CARGO_PKG_VERSION").to_owned(),
        ))
        .build();
    let provider = SdkTracerProvider::builder()
        .with_span_processor(processor)
        .with_sampler(settings.sampler.sdk())
        .with_resource(resource)
        .build();
    let layer = tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("auth-service"))
        .with_threads(false)
        .with_location(false);
    Ok((
        Tracing {
            provider: Some(provider),
        },
        layer,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_decoded_and_a_bad_list_names_its_variable_only() {
        let parsed = headers("H", Some("api-key=s%3Dcret, X-Team = ops".into()));
        assert_eq!(
            parsed,
            Ok(vec![
                ("api-key".to_owned(), "s=cret".to_owned()),
                ("x-team".to_owned(), "ops".to_owned())
            ])
        );
        for bad in ["novalue", "a b=c", "k=%zz", "k=line\nbreak"] {
            let err = headers("H", Some(bad.into())).err();
            assert_eq!(
                err.as_ref().map(|e| e.variable.as_str()),
                Some("H"),
                "{bad}"
            );
            assert!(!err.map(|e| e.to_string()).unwrap_or_default().contains(bad));
        }
    }

    #[test]
    fn debug_shows_no_header_value_and_no_credentials_of_the_endpoint() {
        let export = TraceExport {
            endpoint: "https://user:hunter2@otel.example:4318/v1/traces?token=hunter3".into(),
            headers: vec![("api-key".into(), "hunter4".into())],
            timeout: Duration::from_secs(1),
            service_name: None,
            sampler: Sampler::AlwaysOn,
            schedule_delay: Duration::from_secs(1),
            max_queue_size: 1,
        };
        let shown = format!("{export:?}");
        assert!(!shown.contains("hunter"), "{shown}");
        assert!(
            shown.contains("https://otel.example:4318/v1/traces"),
            "{shown}"
        );
        assert!(shown.contains("api-key"), "{shown}");
    }

    #[test]
    fn endpoints_must_be_http_urls_with_a_host() {
        assert_eq!(
            endpoint("E", "http://collector:4318/", "/v1/traces").as_deref(),
            Ok("http://collector:4318/v1/traces")
        );
        for bad in ["collector:4318", "grpc://collector", "http://", "not a url"] {
            assert!(endpoint("E", bad, "").is_err(), "{bad}");
        }
    }
}
