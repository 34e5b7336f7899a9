//! POST /password-reset/request, /password-reset/confirm, /password/change.

use std::net::SocketAddr;
use std::sync::Arc;

use common::api::{EmailRequest, PasswordChangeRequest, PasswordResetConfirmRequest};
use common::envelope::{self, Response};
use common::error::ApiError;
use common::jwt::TokenError;
use http::{Request, StatusCode};
use hyper::body::Incoming;
use serde_json::json;

use super::json_body;
use crate::auth::password_change::{self, ChangeInput};
use crate::auth::password_reset::{self, ResetInput};
use crate::auth::whoami;
use crate::db;
use crate::state::AppState;

pub async fn request_reset(
    state: &Arc<AppState>,
    req: Request<Incoming>,
    peer: SocketAddr,
) -> Result<Response, ApiError> {
    let client_ip = crate::client_ip::client_ip(
        peer.ip(),
        req.headers(),
        &state.config.settings.trusted_proxies.0,
    );
    let body: EmailRequest = json_body(state, req).await?;
    password_reset::request_reset(state, &body.email, client_ip)?;
    Ok(envelope::success(
        StatusCode::ACCEPTED,
        &json!({"message": "If an account exists for this email, a password reset email is on its way."}),
    ))
}

pub async fn confirm_reset(state: &AppState, req: Request<Incoming>) -> Result<Response, ApiError> {
    let body: PasswordResetConfirmRequest = json_body(state, req).await?;
    let input = ResetInput {
        token: body.token,
        password: body.password,
        password_confirmation: body.password_confirmation,
    };
    let user_id = db::deadline(&state.pool, password_reset::confirm_reset(state, input)).await?;
    Ok(envelope::success(
        StatusCode::OK,
        &json!({
            "message": "Password reset. Every session has been signed out; log in with the new password.",
            "user_id": user_id,
        }),
    ))
}

/// The bearer is checked before the body is read: without a live session nothing is parsed.
pub async fn change(state: &AppState, req: Request<Incoming>) -> Result<Response, ApiError> {
    let claims = {
        let token = common::http::bearer_token(req.headers())?.ok_or(TokenError::Missing)?;
        db::deadline(&state.pool, whoami::validate(state, token)).await?
    };
    let body: PasswordChangeRequest = json_body(state, req).await?;
    let input = ChangeInput {
        current_password: body.current_password,
        password: body.password,
        password_confirmation: body.password_confirmation,
    };
    db::deadline(
        &state.pool,
        password_change::change_password(state, &claims, input),
    )
    .await?;
    Ok(envelope::success(
        StatusCode::OK,
        &json!({"message": "Password changed. Your other sessions have been signed out."}),
    ))
}
