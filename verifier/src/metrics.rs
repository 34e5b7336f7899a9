//! The verifier's metrics: the shared HTTP and token-validation families, the revoked-session
//! set and NATS. The validation counters are created at start, so forward-auth records its
//! verdict with one atomic add.

use common::envelope::Response;
use common::error::ApiError;
use common::metrics::{self as shared, EndpointValidations, HttpMetrics, TokenValidations};
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::state::AppState;

#[derive(Debug)]
pub struct VerifierMetrics {
    registry: Registry,
    pub http: HttpMetrics,
    pub forward_auth: EndpointValidations,
    pub validate_token: EndpointValidations,
    revoked_sessions: Gauge,
    nats_connected: Gauge,
}

impl VerifierMetrics {
    /// `routes` (method, path template) are the router's routes.
    pub fn new(routes: &[(&'static str, &'static str)]) -> Self {
        let mut registry = Registry::default();
        let http = HttpMetrics::register(&mut registry, routes);
        let validations = TokenValidations::register(&mut registry);
        VerifierMetrics {
            forward_auth: validations.endpoint("forward-auth"),
            validate_token: validations.endpoint("validate-token"),
            revoked_sessions: shared::gauge(
                &mut registry,
                "revoked_sessions",
                "Revoked sessions held in memory (until their last access token expires)",
            ),
            nats_connected: shared::nats_connected(&mut registry),
            registry,
            http,
        }
    }

    /// `GET /metrics`: refreshes the gauges, then encodes everything.
    pub fn render(&self, state: &AppState) -> Result<Response, ApiError> {
        self.revoked_sessions
            .set(i64::try_from(state.revocations.len()).unwrap_or(i64::MAX));
        self.nats_connected.set(i64::from(
            crate::revocations::nats_state(&state.nats) == "connected",
        ));
        shared::response(&self.registry)
    }
}
