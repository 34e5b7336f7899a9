//! The mailer's HTTP routes: health and metrics, nothing else. Bare JSON, no envelope.

use std::sync::Arc;

use common::envelope::{self, Response};
use common::error::{ApiError, ErrorCode};
use http::{header, Method, Request};
use hyper::body::Incoming;
use serde_json::json;

use crate::state::AppState;

const HEALTH: &str = "/health";
const LIVE: &str = "/health/live";
const READY: &str = "/health/ready";
const METRICS: &str = "/metrics";

/// Every route; all answer GET only.
pub const ROUTES: [&str; 4] = [HEALTH, LIVE, READY, METRICS];

/// The route template `path` matches, for metrics labels; `unknown` when there is none.
pub fn route_name(path: &str) -> &'static str {
    ROUTES
        .iter()
        .find(|route| **route == path)
        .copied()
        .unwrap_or(common::metrics::UNKNOWN_ROUTE)
}

/// (method, path) of each route, for the latency series created at start.
pub fn metric_routes() -> Vec<(&'static str, &'static str)> {
    ROUTES.iter().map(|path| ("GET", *path)).collect()
}

pub async fn route(state: Arc<AppState>, req: Request<Incoming>) -> Result<Response, ApiError> {
    let path = route_name(req.uri().path());
    if path == common::metrics::UNKNOWN_ROUTE {
        return Err(ApiError::new(ErrorCode::NotFound, "No such route."));
    }
    if req.method() != Method::GET {
        return Err(ApiError::new(
            ErrorCode::MethodNotAllowed,
            "This route does not accept that method.",
        )
        .with_header(header::ALLOW, "GET"));
    }
    let config = &state.config;
    match path {
        LIVE => Ok(envelope::liveness(
            &config.service_name,
            &config.service_version,
        )),
        READY => Ok(envelope::readiness(
            &config.service_name,
            &config.service_version,
            state.not_ready(),
            json!({"nats": nats_word(&state), "stream": config.nats_stream}),
        )),
        HEALTH => Ok(envelope::bare_json(
            http::StatusCode::OK,
            &json!({
                "status": "healthy",
                "service": config.service_name,
                "version": config.service_version,
                "nats": nats_word(&state),
                "consumer": if state.not_ready().is_none() { "following" } else { "waiting" },
                "timestamp": envelope::timestamp(),
            }),
        )),
        _ => {
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
