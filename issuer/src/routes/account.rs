//! GET /me.

use common::envelope::{self, Response};
use common::error::ApiError;
use common::jwt::TokenError;
use http::{Request, StatusCode};
use hyper::body::Incoming;
use serde_json::json;

use crate::auth::whoami;
use crate::db;
use crate::state::AppState;

pub async fn me(state: &AppState, req: Request<Incoming>) -> Result<Response, ApiError> {
    let token = common::http::bearer_token(req.headers())?.ok_or(TokenError::Missing)?;
    let user = db::deadline(&state.pool, whoami::me(state, token)).await?;
    Ok(envelope::success(
        StatusCode::OK,
        &json!({
            "user_id": user.id,
            "email": user.email,
            "is_email_verified": user.is_email_verified,
            "email_verified_at": user.email_verified_at,
            "created_at": user.created_at,
        }),
    ))
}
