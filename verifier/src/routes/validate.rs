//! POST /api/v1/auth/validate-token: the issuer's answer, from the keys alone.

use common::envelope::{self, Response};
use common::error::ApiError;
use http::{Request, StatusCode};
use hyper::body::Incoming;
use serde_json::json;

use crate::state::AppState;

pub async fn validate(state: &AppState, req: Request<Incoming>) -> Result<Response, ApiError> {
    let body =
        common::http::read_json_object(req, state.config.common.max_body_bytes, &["token"]).await?;
    let claims = state
        .tokens
        .verify_access(body.required_str("token")?, state.clock.now().timestamp())?;
    let expires_at = chrono::DateTime::from_timestamp(claims.exp, 0);
    Ok(envelope::success(
        StatusCode::OK,
        &json!({
            "is_valid": true,
            "user_id": claims.sub,
            "email": claims.email,
            "expires_at": expires_at,
        }),
    ))
}
