//! A user's sessions: the list, logging out everywhere, ending one session, and the operator's
//! `issuer sessions revoke EMAIL`. Every revocation goes through [`super::revocation`].

use chrono::{DateTime, Utc};
use common::events::RevocationReason;
use common::jwt::AccessClaims;
use deadpool_postgres::Pool;
use uuid::Uuid;

use super::revocation::{self, Revoked};
use super::Email;
use crate::db::sessions::Listed;
use crate::db::{self, DbError};
use crate::error::IssuerError;
use crate::state::AppState;

/// `POST /logout-all`: revokes every session of the caller's user, the caller's included.
pub async fn logout_all(state: &AppState, claims: &AccessClaims) -> Result<u64, IssuerError> {
    let now = state.clock.now();
    let mut client = db::client(&state.pool).await?;
    let tx = client.transaction().await?;
    let revoked =
        revocation::revoke_user_sessions(&tx, claims.sub, None, now, RevocationReason::LogoutAll)
            .await?;
    tx.commit().await?;
    Ok(revoked)
}

/// `GET /sessions`: the caller's user's live sessions, newest first.
pub async fn list(state: &AppState, claims: &AccessClaims) -> Result<Vec<Listed>, IssuerError> {
    let client = db::client(&state.pool).await?;
    Ok(db::sessions::list_live(&*client, claims.sub, state.clock.now()).await?)
}

/// `DELETE /sessions/{session_id}`: revokes one live session of the caller's user (the
/// caller's own included). Any other id, well-formed or not, is SESSION_NOT_FOUND, so the
/// answer never tells whether someone else's session exists.
pub async fn delete(
    state: &AppState,
    claims: &AccessClaims,
    session_id: &str,
) -> Result<(), IssuerError> {
    let id = Uuid::try_parse(session_id).map_err(|_| IssuerError::SessionNotFound)?;
    let now = state.clock.now();
    let mut client = db::client(&state.pool).await?;
    let tx = client.transaction().await?;
    let session = db::sessions::find_for_update(&tx, id)
        .await?
        .filter(|s| s.user_id == claims.sub && s.revoked_at.is_none() && s.expires_at > now)
        .ok_or(IssuerError::SessionNotFound)?;
    let revoked = Revoked {
        session_id: session.id,
        user_id: session.user_id,
        access_expires_at: session.access_expires_at,
    };
    revocation::revoke_session(&tx, revoked, now, RevocationReason::SessionDeleted).await?;
    tx.commit().await?;
    Ok(())
}

/// `issuer sessions revoke EMAIL`: every live session of the user, reason `operator`; how many.
/// `None`: no such user.
pub async fn revoke_all(
    pool: &Pool,
    email: &Email,
    now: DateTime<Utc>,
) -> Result<Option<u64>, DbError> {
    let mut client = db::client(pool).await?;
    let tx = client.transaction().await?;
    let Some(user) = db::users::find_by_email_for_update(&tx, email.as_str()).await? else {
        return Ok(None);
    };
    let revoked =
        revocation::revoke_user_sessions(&tx, user.id, None, now, RevocationReason::Operator)
            .await?;
    tx.commit().await?;
    Ok(Some(revoked))
}
