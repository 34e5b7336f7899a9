//! Minting the access and refresh tokens of a session.

use chrono::{DateTime, TimeDelta, Utc};
use common::jwt::{AccessClaims, RefreshClaims, TokenType};
use uuid::Uuid;

use crate::db::sessions::Session;
use crate::db::users::User;
use crate::error::IssuerError;
use crate::state::AppState;

/// A freshly signed access token and its expiry.
pub struct AccessToken {
    pub token: String,
    pub expires_at: DateTime<Utc>,
    pub expires_in: i64,
}

pub fn access_ttl(state: &AppState) -> TimeDelta {
    state.config.common.tokens.access_ttl
}

pub fn refresh_ttl(state: &AppState) -> TimeDelta {
    state.config.common.tokens.refresh_ttl
}

/// Whom an access token speaks for: the claims it takes from the account.
pub struct Subject<'a> {
    pub id: Uuid,
    pub email: &'a str,
    pub email_verified: bool,
}

impl<'a> From<&'a User> for Subject<'a> {
    fn from(user: &'a User) -> Self {
        Subject {
            id: user.id,
            email: &user.email,
            email_verified: user.is_email_verified,
        }
    }
}

/// Signs an access token for the session, expiring after the access lifetime or when the
/// session ends, whichever comes first: no access token outlives the refresh token that can
/// still log its session out, so every access token can be revoked.
pub fn sign_access(
    state: &AppState,
    user: Subject<'_>,
    session_id: Uuid,
    session_ends: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<AccessToken, IssuerError> {
    let expires_at = (now + access_ttl(state)).min(session_ends);
    let claims = AccessClaims {
        iss: state.tokens.issuer().to_owned(),
        sub: user.id,
        email: user.email.to_owned(),
        email_verified: user.email_verified,
        typ: TokenType::Access,
        sid: session_id,
        jti: Uuid::new_v4(),
        iat: now.timestamp(),
        exp: expires_at.timestamp(),
    };
    let token = state
        .tokens
        .sign_access(&claims)
        .map_err(|err| IssuerError::Internal(err.into()))?;
    Ok(AccessToken {
        token,
        expires_at,
        // Exactly what the token says: exp - iat, both whole seconds.
        expires_in: claims.exp - claims.iat,
    })
}

/// What a refresh token says: its session, user, id and lifetime.
pub struct RefreshOf {
    pub session_id: Uuid,
    pub user_id: Uuid,
    pub jti: Uuid,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

impl From<&Session> for RefreshOf {
    fn from(session: &Session) -> Self {
        RefreshOf {
            session_id: session.id,
            user_id: session.user_id,
            jti: session.refresh_jti,
            issued_at: session.refresh_issued_at,
            expires_at: session.expires_at,
        }
    }
}

/// The session's live refresh token. Signing is deterministic, so signing the same session
/// state twice yields the same token (what a second tab gets within the reuse grace).
pub fn sign_refresh(state: &AppState, token: RefreshOf) -> Result<String, IssuerError> {
    let claims = RefreshClaims {
        iss: state.tokens.issuer().to_owned(),
        sub: token.user_id,
        typ: TokenType::Refresh,
        sid: token.session_id,
        jti: token.jti,
        iat: token.issued_at.timestamp(),
        exp: token.expires_at.timestamp(),
    };
    state
        .tokens
        .sign_refresh(&claims)
        .map_err(|err| IssuerError::Internal(err.into()))
}
