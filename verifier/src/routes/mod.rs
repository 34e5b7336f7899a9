//! The router. `/forward-auth` answers any method; the rest match path, then method.
//! [`ROUTES`] is the route table, which the OpenAPI document must match.

mod forward_auth;
mod health;
mod validate;

use std::sync::Arc;

use common::envelope::Response;
use common::error::{ApiError, ErrorCode};
use http::{header, Method, Request};
use hyper::body::Incoming;

use crate::state::AppState;

pub const FORWARD_AUTH: &str = "/forward-auth";
const VALIDATE_TOKEN: &str = "/api/v1/auth/validate-token";
const HEALTH: &str = "/health";
const LIVE: &str = "/health/live";
const READY: &str = "/health/ready";
const METRICS: &str = "/metrics";
const OPENAPI_JSON: &str = "/openapi.json";

/// Every route as (path template, method); `None` means any method.
pub const ROUTES: [(&str, Option<&str>); 7] = [
    (FORWARD_AUTH, None),
    (VALIDATE_TOKEN, Some("POST")),
    (HEALTH, Some("GET")),
    (LIVE, Some("GET")),
    (READY, Some("GET")),
    (METRICS, Some("GET")),
    (OPENAPI_JSON, Some("GET")),
];

/// The OpenAPI 3.1 document of this API, served at `/openapi.json`.
pub const OPENAPI: &str = include_str!("../../openapi.json");

/// The route template `path` matches, for metrics labels; `unknown` when there is none.
pub fn route_name(path: &str) -> &'static str {
    ROUTES
        .iter()
        .find(|(template, _)| *template == path)
        .map_or(common::metrics::UNKNOWN_ROUTE, |(template, _)| template)
}

/// (method, path) of each route, for the latency series created at start; forward-auth is
/// listed under GET, the method proxies use.
pub fn metric_routes() -> Vec<(&'static str, &'static str)> {
    ROUTES
        .iter()
        .map(|(path, method)| (method.unwrap_or("GET"), *path))
        .collect()
}

pub async fn route(state: Arc<AppState>, req: Request<Incoming>) -> Result<Response, ApiError> {
    let state = &*state;
    let path = route_name(req.uri().path());
    if path == FORWARD_AUTH {
        // Forward-auth answers only 200, 401 or 403 (nginx turns anything else into a 500), so a
        // request without exactly one Host is refused as a rule that is not met.
        common::http::require_one_host(&req).map_err(|err| {
            let issue = err
                .details
                .map_or_else(|| "one Host header is required".to_owned(), |d| d.issue);
            ApiError::new(ErrorCode::Forbidden, "The request is not well formed.")
                .with_details(Some("host".to_owned()), issue)
        })?;
        // The one answer besides 200/401/403, and not one a client can cause.
        state.ready()?;
        return forward_auth::forward_auth(state, &req);
    }
    common::http::require_one_host(&req)?;
    let allowed = ROUTES
        .iter()
        .find(|(template, _)| *template == path)
        .and_then(|(_, method)| *method)
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound, "No such route."))?;
    if req.method() == Method::OPTIONS && path == VALIDATE_TOKEN {
        let cors = &state.config.common.settings.allowed_origins;
        return Ok(cors.preflight(req.headers(), allowed));
    }
    if req.method().as_str() != allowed {
        return Err(ApiError::new(
            ErrorCode::MethodNotAllowed,
            "This route does not accept that method.",
        )
        .with_header(header::ALLOW, allowed));
    }
    match path {
        // Boxed: its body-reading future is large, and every request's future, forward-auth's
        // included, would otherwise be sized (and moved) for it.
        VALIDATE_TOKEN => {
            state.ready()?;
            Box::pin(validate::validate(state, req)).await
        }
        LIVE => Ok(health::live(state)),
        READY => Ok(health::ready(state)),
        HEALTH => Ok(health::health(state)),
        METRICS => state.metrics.render(state),
        OPENAPI_JSON => Ok(common::envelope::static_json(OPENAPI)),
        _ => Err(ApiError::new(ErrorCode::NotFound, "No such route.")),
    }
}
