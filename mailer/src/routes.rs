//! The mailer's HTTP routes: health and metrics, nothing else. Bare JSON, no envelope.

use std::net::SocketAddr;
use std::sync::Arc;

use common::cors::AllowedOrigins;
use common::envelope::{self, Response};
use common::error::ApiError;
use common::metrics::HttpMetrics;
use common::request::AccessLog;
use common::router::{Route as Row, Router};
use common::service::Service;
use http::Request;
use hyper::body::Incoming;
use serde_json::json;

use crate::state::AppState;

/// What answers each route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Health,
    Live,
    Ready,
    Metrics,
}

/// Every route; all answer GET only, whatever the `Host`.
pub static ROUTES: Router<Route> = Router::any_host(&[
    Row::new("GET", "/health", Route::Health),
    Row::new("GET", "/health/live", Route::Live),
    Row::new("GET", "/health/ready", Route::Ready),
    Row::new("GET", "/metrics", Route::Metrics),
]);

impl Service for AppState {
    type Route = Route;
    const ROUTER: &'static Router<Route> = &ROUTES;

    fn http_metrics(&self) -> &HttpMetrics {
        &self.metrics.http
    }

    /// No browser routes: no CORS header on any answer.
    fn allowed_origins(&self) -> Option<&AllowedOrigins> {
        None
    }

    /// Only probes and scrapers call it: successes log at debug.
    fn access_log(&self, _route: &'static str) -> AccessLog {
        AccessLog::QuietSuccess
    }

    fn answer(
        self: Arc<Self>,
        route: Route,
        _req: Request<Incoming>,
        _peer: SocketAddr,
    ) -> impl std::future::Future<Output = Result<Response, ApiError>> + Send {
        answer(self, route)
    }
}

async fn answer(state: Arc<AppState>, route: Route) -> Result<Response, ApiError> {
    let config = &state.config;
    match route {
        Route::Live => Ok(envelope::liveness(
            &config.shared.service.service_name,
            &config.shared.version,
        )),
        Route::Ready => Ok(envelope::readiness(
            &config.shared.service.service_name,
            &config.shared.version,
            state.not_ready(),
            json!({"nats": nats_word(&state), "stream": config.shared.events.nats_stream}),
        )),
        Route::Health => Ok(envelope::bare_json(
            http::StatusCode::OK,
            &json!({
                "status": "healthy",
                "service": config.shared.service.service_name,
                "version": config.shared.version,
                "nats": nats_word(&state),
                "consumer": if state.not_ready().is_none() { "following" } else { "waiting" },
                "timestamp": envelope::timestamp(),
            }),
        )),
        Route::Metrics => {
            let pending = state.pending().await;
            state.metrics.render(state.nats_connected(), pending)
        }
    }
}

fn nats_word(state: &AppState) -> &'static str {
    if state.nats_health.refusal().is_some() {
        "refused"
    } else if state.nats_connected() {
        "connected"
    } else {
        "disconnected"
    }
}
