//! Prometheus metrics both services expose, and the `/metrics` response.
//!
//! Every label value is a `&'static str` or an integer, chosen from a fixed set (route
//! templates, a closed list of methods, the statuses the services answer with), so recording
//! never allocates and the number of series stays bounded whatever clients send. Series a hot
//! path touches are created once, up front, and kept as handles: recording them is one atomic
//! add.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderValue, Method, StatusCode};
use http_body_util::Full;
use prometheus_client::encoding::{prometheus_text, EncodeLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::envelope::Response;
use crate::error::ApiError;
use crate::jwt::TokenError;

/// The `route` label of a request whose path matches no route.
pub const UNKNOWN_ROUTE: &str = "unknown";

/// Upper bounds of the latency buckets, in seconds: from a forward-auth check (well under a
/// millisecond) to a login that waits for a password hash.
const LATENCY_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// A route's success counter and latency histogram, once looked up.
type SuccessSeries = OnceLock<(Counter, Histogram)>;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: &'static str,
    method: &'static str,
    status: u16,
}

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

/// `http_requests_total{route,method,status}` and
/// `http_request_duration_seconds{route,method,status}`.
#[derive(Clone, Debug)]
pub struct HttpMetrics {
    requests: Family<RequestLabels, Counter>,
    duration: Family<RequestLabels, Histogram, fn() -> Histogram>,
    /// The series of each registered route's 200 under its own method, looked up in the
    /// families once, on first use, and kept as handles: the answer nearly every request gets
    /// skips the per-request hash and lock of the families. Filled lazily so that `/metrics`
    /// shows a counter only once it has counted something, as before.
    successes: Arc<[(RequestLabels, SuccessSeries)]>,
}

impl HttpMetrics {
    /// Registers both families. `routes` (method, path template) get their latency series for
    /// a 200 created now, so dashboards see every route from the first scrape.
    pub fn register(registry: &mut Registry, routes: &[(&'static str, &'static str)]) -> Self {
        let requests = Family::<RequestLabels, Counter>::default();
        let duration = Family::<RequestLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            latency_histogram,
        );
        registry.register(
            "http_requests",
            "HTTP requests answered, by route template, method and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time from receiving a request to having its response, by route template, method and status",
            duration.clone(),
        );
        let mut successes = Vec::with_capacity(routes.len());
        for &(method, route) in routes {
            let labels = RequestLabels {
                route,
                method,
                status: StatusCode::OK.as_u16(),
            };
            let _ = duration.get_or_create(&labels);
            successes.push((labels, OnceLock::new()));
        }
        HttpMetrics {
            requests,
            duration,
            successes: successes.into(),
        }
    }

    /// The recorder the request wrapper uses for one request on `route` (a template, or
    /// [`UNKNOWN_ROUTE`]).
    pub fn endpoint(&self, route: &'static str) -> Endpoint<'_> {
        Endpoint {
            metrics: self,
            route,
        }
    }

    fn record(&self, route: &'static str, method: &Method, status: StatusCode, elapsed: Duration) {
        let labels = RequestLabels {
            route,
            method: method_label(method),
            status: status.as_u16(),
        };
        let known = self.successes.iter().find(|(known, _)| *known == labels);
        if let Some((_, series)) = known {
            let (count, duration) = series.get_or_init(|| {
                (
                    self.requests.get_or_create_owned(&labels),
                    self.duration.get_or_create_owned(&labels),
                )
            });
            count.inc();
            duration.observe(elapsed.as_secs_f64());
            return;
        }
        self.requests.get_or_create(&labels).inc();
        self.duration
            .get_or_create(&labels)
            .observe(elapsed.as_secs_f64());
    }
}

/// Where a request is recorded: the metrics and the route template it matched.
#[derive(Clone, Copy, Debug)]
pub struct Endpoint<'a> {
    metrics: &'a HttpMetrics,
    route: &'static str,
}

impl Endpoint<'_> {
    /// The route template (or [`UNKNOWN_ROUTE`]), as logged and labelled.
    pub fn route(&self) -> &'static str {
        self.route
    }

    pub fn record(&self, method: &Method, status: StatusCode, elapsed: Duration) {
        self.metrics.record(self.route, method, status, elapsed);
    }
}

/// The method as a label: the standard ones by name, anything else as `other`, so a client
/// cannot mint new series with made-up methods.
pub fn method_label(method: &Method) -> &'static str {
    match method.as_str() {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "OPTIONS" => "OPTIONS",
        "CONNECT" => "CONNECT",
        "TRACE" => "TRACE",
        _ => "other",
    }
}

/// How a token check ended, as `token_validations_total` counts it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Validation {
    Valid,
    /// Missing, malformed, badly signed, of the wrong type: anything but expired or revoked.
    Invalid,
    Expired,
    Revoked,
}

impl Validation {
    pub fn of_error(err: &TokenError) -> Validation {
        match err {
            TokenError::Expired => Validation::Expired,
            TokenError::Revoked => Validation::Revoked,
            TokenError::Missing
            | TokenError::Ambiguous
            | TokenError::TooLarge
            | TokenError::Malformed
            | TokenError::UnsupportedAlgorithm
            | TokenError::ForbiddenHeader
            | TokenError::UnknownKey
            | TokenError::BadSignature
            | TokenError::WrongType
            | TokenError::WrongIssuer
            | TokenError::Audience
            | TokenError::NotYetValid => Validation::Invalid,
        }
    }

    pub fn of<T>(result: &Result<T, TokenError>) -> Validation {
        match result {
            Ok(_) => Validation::Valid,
            Err(err) => Validation::of_error(err),
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ValidationLabels {
    endpoint: &'static str,
    outcome: &'static str,
}

/// `token_validations_total{endpoint,outcome}`.
#[derive(Clone, Debug)]
pub struct TokenValidations {
    family: Family<ValidationLabels, Counter>,
}

impl TokenValidations {
    pub fn register(registry: &mut Registry) -> Self {
        let family = Family::default();
        registry.register(
            "token_validations",
            "Access-token checks, by endpoint and outcome (valid, invalid, expired, revoked)",
            family.clone(),
        );
        TokenValidations { family }
    }

    /// The four counters of one endpoint, created now.
    pub fn endpoint(&self, endpoint: &'static str) -> EndpointValidations {
        let counter = |outcome| {
            self.family
                .get_or_create_owned(&ValidationLabels { endpoint, outcome })
        };
        EndpointValidations {
            valid: counter("valid"),
            invalid: counter("invalid"),
            expired: counter("expired"),
            revoked: counter("revoked"),
        }
    }
}

/// The validation counters of one endpoint; recording is one atomic add.
#[derive(Clone, Debug)]
pub struct EndpointValidations {
    valid: Counter,
    invalid: Counter,
    expired: Counter,
    revoked: Counter,
}

impl EndpointValidations {
    pub fn record(&self, outcome: Validation) {
        match outcome {
            Validation::Valid => self.valid.inc(),
            Validation::Invalid => self.invalid.inc(),
            Validation::Expired => self.expired.inc(),
            Validation::Revoked => self.revoked.inc(),
        };
    }
}

/// Registers a gauge (an integer set at scrape time or kept current by its owner).
pub fn gauge(registry: &mut Registry, name: &str, help: &str) -> Gauge {
    let gauge = Gauge::default();
    registry.register(name, help, gauge.clone());
    gauge
}

/// Registers `nats_connected`, which every service sets to 1 while its NATS connection is up.
pub fn nats_connected(registry: &mut Registry) -> Gauge {
    gauge(
        registry,
        "nats_connected",
        "1 when the NATS connection is up, else 0",
    )
}

/// Registers a counter without labels; `name` is given without the `_total` suffix.
pub fn counter(registry: &mut Registry, name: &str, help: &str) -> Counter {
    let counter = Counter::default();
    registry.register(name, help, counter.clone());
    counter
}

/// `GET /metrics`: the registry in the Prometheus text format (0.0.4).
pub fn response(registry: &Registry) -> Result<Response, ApiError> {
    let mut body = String::new();
    prometheus_text::encode(&mut body, registry).map_err(ApiError::internal)?;
    let mut response = http::Response::new(Full::new(Bytes::from(body)));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(prometheus_text::CONTENT_TYPE),
    );
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(registry: &Registry) -> String {
        let mut body = String::new();
        prometheus_text::encode(&mut body, registry).unwrap();
        body
    }

    #[test]
    fn a_routes_success_counter_appears_with_its_first_request_and_is_shared_by_clones() {
        let mut registry = Registry::default();
        let http = HttpMetrics::register(&mut registry, &[("GET", "/health")]);
        assert!(!text(&registry).contains("http_requests_total{"));
        let clone = http.clone();
        http.endpoint("/health")
            .record(&Method::GET, StatusCode::OK, Duration::ZERO);
        clone
            .endpoint("/health")
            .record(&Method::GET, StatusCode::OK, Duration::ZERO);
        // The same route under another method or status is its own series.
        http.endpoint("/health")
            .record(&Method::HEAD, StatusCode::OK, Duration::ZERO);
        let body = text(&registry);
        assert!(
            body.contains(r#"http_requests_total{route="/health",method="GET",status="200"} 2"#),
            "{body}"
        );
        assert!(
            body.contains(r#"http_requests_total{route="/health",method="HEAD",status="200"} 1"#),
            "{body}"
        );
    }

    #[test]
    fn requests_are_counted_by_route_method_and_status() {
        let mut registry = Registry::default();
        let http = HttpMetrics::register(&mut registry, &[("GET", "/health")]);
        let health = http.endpoint("/health");
        health.record(&Method::GET, StatusCode::OK, Duration::from_millis(2));
        health.record(&Method::GET, StatusCode::OK, Duration::from_millis(3));
        http.endpoint(UNKNOWN_ROUTE).record(
            &Method::from_bytes(b"BREW").unwrap(),
            StatusCode::NOT_FOUND,
            Duration::ZERO,
        );
        let body = text(&registry);
        assert!(
            body.contains(r#"http_requests_total{route="/health",method="GET",status="200"} 2"#),
            "{body}"
        );
        assert!(
            body.contains(r#"http_requests_total{route="unknown",method="other",status="404"} 1"#),
            "{body}"
        );
        assert!(
            body.contains(
                r#"http_request_duration_seconds_bucket{route="/health",method="GET",status="200",le="0.0025"} 1"#
            ),
            "{body}"
        );
        assert!(
            body.contains(r#"http_request_duration_seconds_count{route="/health",method="GET",status="200"} 2"#),
            "{body}"
        );
    }

    #[test]
    fn validation_outcomes_have_their_own_counters() {
        let mut registry = Registry::default();
        let validations = TokenValidations::register(&mut registry);
        let forward_auth = validations.endpoint("forward-auth");
        forward_auth.record(Validation::of::<()>(&Ok(())));
        forward_auth.record(Validation::of::<()>(&Err(TokenError::Expired)));
        forward_auth.record(Validation::of::<()>(&Err(TokenError::Revoked)));
        forward_auth.record(Validation::of::<()>(&Err(TokenError::BadSignature)));
        forward_auth.record(Validation::of::<()>(&Err(TokenError::Missing)));
        let body = text(&registry);
        for (outcome, count) in [("valid", 1), ("expired", 1), ("revoked", 1), ("invalid", 2)] {
            let line = format!(
                r#"token_validations_total{{endpoint="forward-auth",outcome="{outcome}"}} {count}"#
            );
            assert!(body.contains(&line), "{line} in {body}");
        }
    }
}
