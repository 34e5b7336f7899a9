//! Read-only checks of an access token against the database: validate-token and /me.

use common::jwt::{AccessClaims, TokenError};

use crate::db;
use crate::db::users::User;
use crate::error::IssuerError;
use crate::state::AppState;

/// A valid access token whose session is live.
pub async fn validate(state: &AppState, token: &str) -> Result<AccessClaims, IssuerError> {
    let claims = state
        .tokens
        .verify_access(token, state.clock.now().timestamp())?;
    let client = db::client(&state.pool).await?;
    ensure_session_live(&client, &claims).await?;
    Ok(claims)
}

/// The user named by a valid access token; USER_NOT_FOUND when the account is gone.
pub async fn me(state: &AppState, token: &str) -> Result<User, IssuerError> {
    let claims = state
        .tokens
        .verify_access(token, state.clock.now().timestamp())?;
    let client = db::client(&state.pool).await?;
    let user = db::users::find_by_id(&*client, claims.sub)
        .await?
        .ok_or(IssuerError::UserNotFound)?;
    ensure_session_live(&client, &claims).await?;
    Ok(user)
}

async fn ensure_session_live(
    client: &deadpool_postgres::Client,
    claims: &AccessClaims,
) -> Result<(), IssuerError> {
    let live = db::sessions::find(client, claims.sid)
        .await?
        .is_some_and(|s| s.user_id == claims.sub && s.revoked_at.is_none());
    if live {
        Ok(())
    } else {
        Err(TokenError::Revoked.into())
    }
}
