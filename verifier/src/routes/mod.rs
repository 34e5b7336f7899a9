//! The verifier's routes. `/forward-auth` answers any method; the rest match path, then
//! method (`common::router`). [`ROUTES`] is the route table, which the OpenAPI document must
//! match.

mod forward_auth;
mod health;
mod validate;

use std::net::SocketAddr;
use std::sync::Arc;

use common::cors::AllowedOrigins;
use common::envelope::Response;
use common::error::{ApiError, ErrorCode};
use common::metrics::HttpMetrics;
use common::request::AccessLog;
use common::router::{Route as Row, Router};
use common::service::Service;
use http::Request;
use hyper::body::Incoming;

use crate::state::AppState;

pub const FORWARD_AUTH: &str = "/forward-auth";

/// What answers each route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    ForwardAuth,
    ValidateToken,
    Health,
    Live,
    Ready,
    Metrics,
    OpenApi,
}

/// Every route: method (forward-auth answers any), path template, and what answers it.
pub static ROUTES: Router<Route> = Router::new(&[
    Row::any(FORWARD_AUTH, Route::ForwardAuth),
    Row::new("POST", "/api/v1/auth/validate-token", Route::ValidateToken),
    Row::new("GET", "/health", Route::Health),
    Row::new("GET", "/health/live", Route::Live),
    Row::new("GET", "/health/ready", Route::Ready),
    Row::new("GET", "/metrics", Route::Metrics),
    Row::new("GET", "/openapi.json", Route::OpenApi),
]);

/// The OpenAPI 3.1 document of this API, served at `/openapi.json`.
pub const OPENAPI: &str = include_str!("../../openapi.json");

impl Service for AppState {
    type Route = Route;
    const ROUTER: &'static Router<Route> = &ROUTES;

    fn http_metrics(&self) -> &HttpMetrics {
        &self.metrics.http
    }

    fn allowed_origins(&self) -> Option<&AllowedOrigins> {
        Some(&self.config.common.http.allowed_origins)
    }

    /// Forward-auth is asked on every request of a whole system: its successes log at debug.
    fn access_log(&self, route: &'static str) -> AccessLog {
        if route == FORWARD_AUTH {
            AccessLog::QuietSuccess
        } else {
            AccessLog::Info
        }
    }

    fn answer(
        self: Arc<Self>,
        route: Route,
        req: Request<Incoming>,
        _peer: SocketAddr,
    ) -> impl std::future::Future<Output = Result<Response, ApiError>> + Send {
        answer(self, route, req)
    }
}

async fn answer(
    state: Arc<AppState>,
    route: Route,
    req: Request<Incoming>,
) -> Result<Response, ApiError> {
    let state = &*state;
    match route {
        Route::ForwardAuth => {
            // Forward-auth answers only 200, 401 or 403 (nginx turns anything else into a
            // 500), so a request without exactly one Host is refused as a rule that is not met.
            common::http::require_one_host(&req).map_err(|err| {
                let issue = err
                    .details
                    .map_or_else(|| "one Host header is required".to_owned(), |d| d.issue);
                ApiError::new(ErrorCode::Forbidden, "The request is not well formed.")
                    .with_details(Some("host".to_owned()), issue)
            })?;
            // The one answer besides 200/401/403, and not one a client can cause.
            state.ready()?;
            forward_auth::forward_auth(state, &req)
        }
        // Boxed: its body-reading future is large, and every request's future, forward-auth's
        // included, would otherwise be sized (and moved) for it.
        Route::ValidateToken => {
            state.ready()?;
            Box::pin(validate::validate(state, req)).await
        }
        Route::Live => Ok(health::live(state)),
        Route::Ready => Ok(health::ready(state)),
        Route::Health => Ok(health::health(state)),
        Route::Metrics => state.metrics.render(state),
        Route::OpenApi => Ok(common::envelope::static_json(OPENAPI)),
    }
}
