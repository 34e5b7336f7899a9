//! POST /login.

use std::net::SocketAddr;

use common::api::LoginRequest;
use common::envelope::{self, Response};
use common::error::ApiError;
use http::{Request, StatusCode};
use hyper::body::Incoming;
use serde_json::json;

use super::json_body;
use crate::auth::login::{self as use_case, Credentials};
use crate::db;
use crate::state::AppState;

pub async fn login(
    state: &AppState,
    req: Request<Incoming>,
    peer: SocketAddr,
) -> Result<Response, ApiError> {
    let client_ip = crate::client_ip::client_ip(
        peer.ip(),
        req.headers(),
        &state.config.settings.trusted_proxies.0,
    );
    let user_agent = super::sessions::user_agent(req.headers());
    let body: LoginRequest = json_body(state, req).await?;
    let credentials = Credentials {
        email: body.email,
        password: body.password,
        user_agent,
    };
    let logged_in =
        db::deadline(&state.pool, use_case::login(state, credentials, client_ip)).await?;
    Ok(envelope::success(
        StatusCode::OK,
        &json!({
            "access_token": logged_in.access_token,
            "refresh_token": logged_in.refresh_token,
            "token_type": "bearer",
            "expires_in": logged_in.expires_in,
            "user_id": logged_in.user_id,
        }),
    ))
}
