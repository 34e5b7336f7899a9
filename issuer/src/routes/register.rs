//! POST /register, /verify-email, /resend-verification.

use std::net::SocketAddr;

use common::api::{EmailRequest, RegisterRequest, TokenRequest};
use common::envelope::{self, Response};
use common::error::ApiError;
use http::{Request, StatusCode};
use hyper::body::Incoming;
use serde_json::json;

use super::json_body;
use crate::auth::register::Registration;
use crate::auth::{register as registration, verify_email as verification};
use crate::db;
use crate::state::AppState;

pub async fn register(
    state: &AppState,
    req: Request<Incoming>,
    peer: SocketAddr,
) -> Result<Response, ApiError> {
    let client_ip = crate::client_ip::client_ip(
        peer.ip(),
        req.headers(),
        &state.config.settings.trusted_proxies.0,
    );
    let body: RegisterRequest = json_body(state, req).await?;
    let input = Registration {
        email: body.email,
        password: body.password,
        password_confirmation: body.password_confirmation,
    };
    let registered =
        db::deadline(&state.pool, registration::register(state, input, client_ip)).await?;
    Ok(envelope::success(
        StatusCode::CREATED,
        &json!({
            "user_id": registered.user_id,
            "email": registered.email,
            "message": "Registration successful. Check your email to verify your address.",
        }),
    ))
}

pub async fn verify_email(state: &AppState, req: Request<Incoming>) -> Result<Response, ApiError> {
    let body: TokenRequest = json_body(state, req).await?;
    let user_id = db::deadline(&state.pool, verification::verify_email(state, &body.token)).await?;
    Ok(envelope::success(
        StatusCode::OK,
        &json!({"message": "Email verified.", "user_id": user_id}),
    ))
}

pub async fn resend_verification(
    state: &AppState,
    req: Request<Incoming>,
    peer: SocketAddr,
) -> Result<Response, ApiError> {
    let client_ip = crate::client_ip::client_ip(
        peer.ip(),
        req.headers(),
        &state.config.settings.trusted_proxies.0,
    );
    let body: EmailRequest = json_body(state, req).await?;
    db::deadline(
        &state.pool,
        verification::resend_verification(state, &body.email, client_ip),
    )
    .await?;
    Ok(envelope::success(
        StatusCode::ACCEPTED,
        &json!({"message": "If the account exists and is not verified yet, a new verification email is on its way."}),
    ))
}
