//! The router. `/forward-auth` answers any method; the rest match path, then method.

mod forward_auth;
mod health;
mod validate;

use std::sync::Arc;

use common::envelope::Response;
use common::error::{ApiError, ErrorCode};
use http::{header, Method, Request};
use hyper::body::Incoming;

use crate::state::AppState;

pub async fn route(state: Arc<AppState>, req: Request<Incoming>) -> Result<Response, ApiError> {
    let (allowed, state) = (
        match req.uri().path() {
            "/forward-auth" => return forward_auth::forward_auth(&state, &req),
            "/api/v1/auth/validate-token" => "POST",
            "/health" | "/health/live" => "GET",
            _ => return Err(ApiError::new(ErrorCode::NotFound, "No such route.")),
        },
        &*state,
    );
    if req.method() == Method::OPTIONS && req.uri().path().starts_with("/api/") {
        let cors = &state.config.common.allowed_origins;
        return Ok(cors.preflight(req.headers(), allowed));
    }
    if req.method().as_str() != allowed {
        return Err(ApiError::new(
            ErrorCode::MethodNotAllowed,
            "This route does not accept that method.",
        )
        .with_header(header::ALLOW, allowed));
    }
    match req.uri().path() {
        "/api/v1/auth/validate-token" => validate::validate(state, req).await,
        "/health/live" => Ok(health::live(state)),
        _ => Ok(health::health(state)),
    }
}
