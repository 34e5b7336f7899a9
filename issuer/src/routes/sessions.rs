//! POST /logout-all, GET /sessions, DELETE /sessions/{session_id}, DELETE /me.

use common::api::DeleteAccountRequest;
use common::envelope::{self, Response};
use common::error::ApiError;
use common::jwt::{AccessClaims, TokenError};
use http::{HeaderMap, Request, StatusCode};
use hyper::body::Incoming;
use serde_json::json;

use super::json_body;
use crate::auth::{account, sessions, whoami};
use crate::db;
use crate::metrics::AccountAction;
use crate::state::AppState;

/// The longest `User-Agent` a session keeps, in characters.
pub const USER_AGENT_MAX_CHARS: usize = 256;

/// The client's `User-Agent` as a session stores it: cut to [`USER_AGENT_MAX_CHARS`]; none
/// when absent, empty, or not visible ASCII.
pub fn user_agent(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(http::header::USER_AGENT)?.to_str().ok()?.trim();
    (!value.is_empty()).then(|| value.chars().take(USER_AGENT_MAX_CHARS).collect())
}

/// The claims of the caller's access token, whose session must be live.
async fn caller(state: &AppState, req: &Request<Incoming>) -> Result<AccessClaims, ApiError> {
    let token = common::http::bearer_token(req.headers())?.ok_or(TokenError::Missing)?;
    Ok(db::deadline(&state.pool, whoami::validate(state, token)).await?)
}

pub async fn logout_all(state: &AppState, req: Request<Incoming>) -> Result<Response, ApiError> {
    let claims = caller(state, &req).await?;
    let revoked = db::deadline(&state.pool, sessions::logout_all(state, &claims)).await?;
    state.metrics.account_action(AccountAction::LogoutAll);
    Ok(envelope::success(
        StatusCode::OK,
        &json!({
            "message": "Logged out everywhere; every session is revoked.",
            "revoked_sessions": revoked,
        }),
    ))
}

pub async fn list(state: &AppState, req: Request<Incoming>) -> Result<Response, ApiError> {
    let claims = caller(state, &req).await?;
    let listed = db::deadline(&state.pool, sessions::list(state, &claims)).await?;
    let sessions: Vec<_> = listed
        .iter()
        .map(|s| {
            json!({
                "session_id": s.id,
                "created_at": s.created_at,
                "last_refreshed_at": s.last_refreshed_at,
                "expires_at": s.expires_at,
                "ip_address": s.ip_address.map(|ip| ip.to_string()),
                "user_agent": s.user_agent,
                "current": s.id == claims.sid,
            })
        })
        .collect();
    Ok(envelope::success(
        StatusCode::OK,
        &json!({"sessions": sessions}),
    ))
}

/// `session_id` is the last segment of the path the router matched.
pub async fn delete(state: &AppState, req: Request<Incoming>) -> Result<Response, ApiError> {
    let claims = caller(state, &req).await?;
    let session_id = req.uri().path().rsplit_once('/').map_or("", |(_, id)| id);
    db::deadline(&state.pool, sessions::delete(state, &claims, session_id)).await?;
    state.metrics.account_action(AccountAction::SessionDeleted);
    Ok(envelope::success(
        StatusCode::OK,
        &json!({"message": "The session is revoked."}),
    ))
}

pub async fn delete_me(state: &AppState, req: Request<Incoming>) -> Result<Response, ApiError> {
    let claims = caller(state, &req).await?;
    let body: DeleteAccountRequest = json_body(state, req).await?;
    db::deadline(
        &state.pool,
        account::delete_own(state, &claims, body.password),
    )
    .await?;
    state.metrics.account_action(AccountAction::AccountDeleted);
    Ok(envelope::success(
        StatusCode::OK,
        &json!({"message": "The account and its sessions are deleted."}),
    ))
}
