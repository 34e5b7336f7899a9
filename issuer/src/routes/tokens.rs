//! POST /refresh, /logout, /validate-token.

use common::api::{RefreshTokenRequest, TokenRequest};
use common::envelope::{self, Response};
use common::error::ApiError;
use common::metrics::Validation;
use http::{Request, StatusCode};
use hyper::body::Incoming;
use serde_json::json;

use super::json_body;
use crate::auth::{refresh as sessions, whoami};
use crate::db;
use crate::error::IssuerError;
use crate::state::AppState;

pub async fn refresh(state: &AppState, req: Request<Incoming>) -> Result<Response, ApiError> {
    let body: RefreshTokenRequest = json_body(state, req).await?;
    let refreshed =
        db::deadline(&state.pool, sessions::refresh(state, &body.refresh_token)).await?;
    let mut data = json!({
        "access_token": refreshed.access_token,
        "token_type": "bearer",
        "expires_in": refreshed.expires_in,
    });
    if let Some(refresh_token) = refreshed.refresh_token {
        data["refresh_token"] = json!(refresh_token);
    }
    Ok(envelope::success(StatusCode::OK, &data))
}

pub async fn logout(state: &AppState, req: Request<Incoming>) -> Result<Response, ApiError> {
    let body: RefreshTokenRequest = json_body(state, req).await?;
    db::deadline(&state.pool, sessions::logout(state, &body.refresh_token)).await?;
    Ok(envelope::success(
        StatusCode::OK,
        &json!({"message": "Logged out; the session is revoked."}),
    ))
}

pub async fn validate(state: &AppState, req: Request<Incoming>) -> Result<Response, ApiError> {
    let body: TokenRequest = json_body(state, req).await?;
    let result = db::deadline(&state.pool, whoami::validate(state, &body.token)).await;
    match &result {
        Ok(_) => state.metrics.validations.record(Validation::Valid),
        Err(IssuerError::Token(err)) => state.metrics.validations.record(Validation::of_error(err)),
        // Postgres trouble: no verdict on the token.
        Err(_) => {}
    }
    let claims = result?;
    Ok(envelope::success(StatusCode::OK, &claims.validation_data()))
}
