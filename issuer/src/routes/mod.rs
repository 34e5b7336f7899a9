//! The issuer's routes. [`ROUTES`] is the route table (matched by `common::router`), which the
//! OpenAPI document must match.

mod account;
mod health;
mod login;
mod passwords;
mod register;
mod sessions;
mod tokens;

use std::net::SocketAddr;
use std::sync::Arc;

use common::cors::AllowedOrigins;
use common::envelope::Response;
use common::error::{ApiError, ErrorCode};
use common::metrics::HttpMetrics;
use common::router::{Route as Row, Router};
use common::service::Service;
use http::{header, Request};
use hyper::body::Incoming;

use crate::metrics::{LoginOutcome, PasswordOperation};
use crate::state::AppState;

/// The OpenAPI 3.1 document of this API, served at `/openapi.json`.
pub const OPENAPI: &str = include_str!("../../openapi.json");

/// What answers each route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Register,
    VerifyEmail,
    ResendVerification,
    Login,
    Refresh,
    Logout,
    ValidateToken,
    Me,
    PasswordResetRequest,
    PasswordResetConfirm,
    PasswordChange,
    // Account lifecycle: sessions and account administration.
    LogoutAll,
    Sessions,
    DeleteSession,
    DeleteMe,
    Health,
    Live,
    Ready,
    Metrics,
    OpenApi,
}

/// Every route: method, path template, and what answers it. A path with several methods
/// lists them in `Allow` in this order.
pub static ROUTES: Router<Route> = Router::new(&[
    Row::new("POST", "/api/v1/auth/register", Route::Register),
    Row::new("POST", "/api/v1/auth/verify-email", Route::VerifyEmail),
    Row::new(
        "POST",
        "/api/v1/auth/resend-verification",
        Route::ResendVerification,
    ),
    Row::new("POST", "/api/v1/auth/login", Route::Login),
    Row::new("POST", "/api/v1/auth/refresh", Route::Refresh),
    Row::new("POST", "/api/v1/auth/logout", Route::Logout),
    Row::new("POST", "/api/v1/auth/validate-token", Route::ValidateToken),
    Row::new("GET", "/api/v1/auth/me", Route::Me),
    Row::new(
        "POST",
        "/api/v1/auth/password-reset/request",
        Route::PasswordResetRequest,
    ),
    Row::new(
        "POST",
        "/api/v1/auth/password-reset/confirm",
        Route::PasswordResetConfirm,
    ),
    Row::new(
        "POST",
        "/api/v1/auth/password/change",
        Route::PasswordChange,
    ),
    Row::new("POST", "/api/v1/auth/logout-all", Route::LogoutAll),
    Row::new("GET", "/api/v1/auth/sessions", Route::Sessions),
    Row::new(
        "DELETE",
        "/api/v1/auth/sessions/{session_id}",
        Route::DeleteSession,
    ),
    Row::new("DELETE", "/api/v1/auth/me", Route::DeleteMe),
    Row::new("GET", "/health", Route::Health),
    Row::new("GET", "/health/live", Route::Live),
    Row::new("GET", "/health/ready", Route::Ready),
    Row::new("GET", "/metrics", Route::Metrics),
    Row::new("GET", "/openapi.json", Route::OpenApi),
]);

impl Route {
    /// Browser API routes (CORS applies); not the health checks, metrics or the document.
    fn is_api(self) -> bool {
        !matches!(
            self,
            Route::Health | Route::Live | Route::Ready | Route::Metrics | Route::OpenApi
        )
    }
}

impl Service for AppState {
    type Route = Route;
    const ROUTER: &'static Router<Route> = &ROUTES;

    fn http_metrics(&self) -> &HttpMetrics {
        &self.metrics.http
    }

    fn allowed_origins(&self) -> Option<&AllowedOrigins> {
        Some(&self.config.common.http.allowed_origins)
    }

    fn answer(
        self: Arc<Self>,
        route: Route,
        req: Request<Incoming>,
        peer: SocketAddr,
    ) -> impl std::future::Future<Output = Result<Response, ApiError>> + Send {
        answer(self, route, req, peer)
    }
}

/// Answers one request the table resolved to `route`; errors become the envelope in
/// `common::request::handle_with`.
async fn answer(
    state: Arc<AppState>,
    route: Route,
    req: Request<Incoming>,
    peer: SocketAddr,
) -> Result<Response, ApiError> {
    if route.is_api() && !state.schema_ready() {
        return Err(ApiError::new(
            ErrorCode::ServiceUnavailable,
            "The database is not ready yet; retry later.",
        )
        .with_header(header::RETRY_AFTER, "5"));
    }
    let shared = Arc::clone(&state);
    let state = &*state;
    match route {
        Route::Register => {
            let result = register::register(state, req, peer).await;
            if result.is_ok() {
                state.metrics.registered();
            }
            result
        }
        Route::VerifyEmail => register::verify_email(state, req).await,
        Route::ResendVerification => register::resend_verification(state, req, peer).await,
        Route::Login => {
            let result = login::login(state, req, peer).await;
            state.metrics.login(LoginOutcome::of(&result));
            result
        }
        Route::Refresh => tokens::refresh(state, req).await,
        Route::Logout => tokens::logout(state, req).await,
        Route::ValidateToken => tokens::validate(state, req).await,
        Route::Me => account::me(state, req).await,
        Route::PasswordResetRequest => {
            let result = passwords::request_reset(&shared, req, peer).await;
            state
                .metrics
                .passwords
                .operation(PasswordOperation::ResetRequest, &result);
            result
        }
        Route::PasswordResetConfirm => {
            let result = passwords::confirm_reset(state, req).await;
            state
                .metrics
                .passwords
                .operation(PasswordOperation::ResetConfirm, &result);
            result
        }
        Route::PasswordChange => {
            let result = passwords::change(state, req).await;
            state
                .metrics
                .passwords
                .operation(PasswordOperation::Change, &result);
            result
        }
        Route::LogoutAll => sessions::logout_all(state, req).await,
        Route::Sessions => sessions::list(state, req).await,
        Route::DeleteSession => sessions::delete(state, req).await,
        Route::DeleteMe => sessions::delete_me(state, req).await,
        Route::Health => Ok(health::health(state).await),
        Route::Live => Ok(health::live(state)),
        Route::Ready => Ok(health::ready(state).await),
        Route::Metrics => state.metrics.render(state).await,
        Route::OpenApi => Ok(common::envelope::static_json(OPENAPI)),
    }
}

/// Reads the body as the request type `T` of the contract.
async fn json_body<T: serde::de::DeserializeOwned>(
    state: &AppState,
    req: Request<Incoming>,
) -> Result<T, ApiError> {
    common::http::read_json(req, state.config.common.body_limits()).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_path_resolves_to_its_template_whatever_the_id() {
        for id in ["3f1c2a4e-0000-4000-8000-000000000000", "x", "%2F"] {
            let path = format!("/api/v1/auth/sessions/{id}");
            assert_eq!(
                ROUTES.route_name(&path),
                "/api/v1/auth/sessions/{session_id}"
            );
        }
        for path in ["/api/v1/auth/sessions/", "/api/v1/auth/sessions/a/b"] {
            assert_eq!(ROUTES.route_name(path), common::metrics::UNKNOWN_ROUTE);
        }
    }

    #[test]
    fn the_browser_routes_are_the_ones_under_api() {
        for row in ROUTES.routes() {
            assert_eq!(
                row.handler.is_api(),
                row.path.starts_with("/api/"),
                "{}",
                row.path
            );
        }
    }
}
