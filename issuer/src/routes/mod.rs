//! The router: match the path, then the method. An unknown path is 404 NOT_FOUND; a known
//! path with another method is 405 METHOD_NOT_ALLOWED with `Allow`. [`ROUTES`] is the route
//! table, which the OpenAPI document must match.

mod account;
mod health;
mod login;
mod passwords;
mod register;
mod sessions;
mod tokens;

use std::net::SocketAddr;
use std::sync::Arc;

use common::envelope::Response;
use common::error::{ApiError, ErrorCode};
use http::{header, Method, Request};
use hyper::body::Incoming;

use crate::metrics::{LoginOutcome, PasswordOperation};
use crate::state::AppState;

/// The OpenAPI 3.1 document of this API, served at `/openapi.json`.
pub const OPENAPI: &str = include_str!("../../openapi.json");

const PREFIX: &str = "/api/v1/auth";

/// Every route: path, method, and what answers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
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

/// Every route as (method, path template).
pub const ROUTES: [(&str, &str); Route::ALL.len()] = {
    let mut table = [("", ""); Route::ALL.len()];
    let mut i = 0;
    while i < Route::ALL.len() {
        table[i] = (Route::ALL[i].method(), Route::ALL[i].path());
        i += 1;
    }
    table
};

/// The route template `path` matches, for metrics labels; `unknown` when there is none.
pub fn route_name(path: &str) -> &'static str {
    Route::resolve(path).map_or(common::metrics::UNKNOWN_ROUTE, Route::path)
}

impl Route {
    const ALL: &[Route] = &[
        Route::Register,
        Route::VerifyEmail,
        Route::ResendVerification,
        Route::Login,
        Route::Refresh,
        Route::Logout,
        Route::ValidateToken,
        Route::Me,
        Route::PasswordResetRequest,
        Route::PasswordResetConfirm,
        Route::PasswordChange,
        Route::LogoutAll,
        Route::Sessions,
        Route::DeleteSession,
        Route::DeleteMe,
        Route::Health,
        Route::Live,
        Route::Ready,
        Route::Metrics,
        Route::OpenApi,
    ];

    fn resolve(path: &str) -> Option<Route> {
        if let Some(rest) = path.strip_prefix(PREFIX) {
            return match rest {
                "/register" => Some(Route::Register),
                "/verify-email" => Some(Route::VerifyEmail),
                "/resend-verification" => Some(Route::ResendVerification),
                "/login" => Some(Route::Login),
                "/refresh" => Some(Route::Refresh),
                "/logout" => Some(Route::Logout),
                "/validate-token" => Some(Route::ValidateToken),
                "/me" => Some(Route::Me),
                "/password-reset/request" => Some(Route::PasswordResetRequest),
                "/password-reset/confirm" => Some(Route::PasswordResetConfirm),
                "/password/change" => Some(Route::PasswordChange),
                "/logout-all" => Some(Route::LogoutAll),
                "/sessions" => Some(Route::Sessions),
                _ => match rest.strip_prefix("/sessions/") {
                    Some(id) if !id.is_empty() && !id.contains('/') => Some(Route::DeleteSession),
                    _ => None,
                },
            };
        }
        match path {
            "/health" => Some(Route::Health),
            "/health/live" => Some(Route::Live),
            "/health/ready" => Some(Route::Ready),
            "/metrics" => Some(Route::Metrics),
            "/openapi.json" => Some(Route::OpenApi),
            _ => None,
        }
    }

    /// Browser API routes (CORS applies); not the health checks, metrics or the document.
    fn is_api(self) -> bool {
        !matches!(
            self,
            Route::Health | Route::Live | Route::Ready | Route::Metrics | Route::OpenApi
        )
    }

    /// The path as written in the route table (and the `route` label).
    const fn path(self) -> &'static str {
        match self {
            Route::Register => "/api/v1/auth/register",
            Route::VerifyEmail => "/api/v1/auth/verify-email",
            Route::ResendVerification => "/api/v1/auth/resend-verification",
            Route::Login => "/api/v1/auth/login",
            Route::Refresh => "/api/v1/auth/refresh",
            Route::Logout => "/api/v1/auth/logout",
            Route::ValidateToken => "/api/v1/auth/validate-token",
            Route::Me | Route::DeleteMe => "/api/v1/auth/me",
            Route::PasswordResetRequest => "/api/v1/auth/password-reset/request",
            Route::PasswordResetConfirm => "/api/v1/auth/password-reset/confirm",
            Route::PasswordChange => "/api/v1/auth/password/change",
            Route::LogoutAll => "/api/v1/auth/logout-all",
            Route::Sessions => "/api/v1/auth/sessions",
            Route::DeleteSession => "/api/v1/auth/sessions/{session_id}",
            Route::Health => "/health",
            Route::Live => "/health/live",
            Route::Ready => "/health/ready",
            Route::Metrics => "/metrics",
            Route::OpenApi => "/openapi.json",
        }
    }

    /// The one method the route answers, as it is written in `Allow`.
    const fn method(self) -> &'static str {
        match self {
            Route::Me
            | Route::Sessions
            | Route::Health
            | Route::Live
            | Route::Ready
            | Route::Metrics
            | Route::OpenApi => "GET",
            Route::DeleteSession | Route::DeleteMe => "DELETE",
            Route::Register
            | Route::VerifyEmail
            | Route::ResendVerification
            | Route::Login
            | Route::Refresh
            | Route::Logout
            | Route::ValidateToken
            | Route::LogoutAll
            | Route::PasswordResetRequest
            | Route::PasswordResetConfirm
            | Route::PasswordChange => "POST",
        }
    }

    /// Every method the route's path answers, as `Allow` lists them.
    const fn allow(self) -> &'static str {
        match self {
            Route::Me | Route::DeleteMe => "GET, DELETE",
            _ => self.method(),
        }
    }

    /// The route of the same path that answers `method`, if one does.
    fn with_method(self, method: &Method) -> Option<Route> {
        Route::ALL
            .iter()
            .copied()
            .find(|r| r.path() == self.path() && r.method() == method.as_str())
    }
}

/// Answers one request; errors become the envelope in `common::request::handle`.
pub async fn route(
    state: Arc<AppState>,
    req: Request<Incoming>,
    peer: SocketAddr,
) -> Result<Response, ApiError> {
    common::http::require_one_host(&req)?;
    let route = Route::resolve(req.uri().path())
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound, "No such route."))?;
    if req.method() == Method::OPTIONS && route.is_api() {
        let cors = &state.config.common.settings.allowed_origins;
        return Ok(cors.preflight(req.headers(), route.allow()));
    }
    let route = route.with_method(req.method()).ok_or_else(|| {
        ApiError::new(
            ErrorCode::MethodNotAllowed,
            "This route does not accept that method.",
        )
        .with_header(header::ALLOW, route.allow())
    })?;
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
    fn allow_lists_every_method_of_the_path_in_table_order() {
        for route in Route::ALL {
            let methods: Vec<&str> = Route::ALL
                .iter()
                .filter(|r| r.path() == route.path())
                .map(|r| r.method())
                .collect();
            assert_eq!(route.allow(), methods.join(", "), "{route:?}");
        }
    }

    #[test]
    fn the_session_path_resolves_to_its_template_whatever_the_id() {
        for id in ["3f1c2a4e-0000-4000-8000-000000000000", "x", "%2F"] {
            let path = format!("/api/v1/auth/sessions/{id}");
            assert_eq!(route_name(&path), "/api/v1/auth/sessions/{session_id}");
        }
        for path in ["/api/v1/auth/sessions/", "/api/v1/auth/sessions/a/b"] {
            assert_eq!(route_name(path), common::metrics::UNKNOWN_ROUTE);
        }
    }
}
