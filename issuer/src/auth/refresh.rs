//! Refresh (with optional rotation and reuse detection) and logout.

use chrono::{DateTime, TimeDelta, Utc};
use common::events::RevocationReason;
use common::jwt::{RefreshClaims, TokenError};
use deadpool_postgres::{GenericClient, Transaction};
use uuid::Uuid;

use super::revocation::{self, Revoked};
use super::session_tokens::{
    access_ttl, refresh_ttl, sign_access, sign_refresh, RefreshOf, Subject,
};
use crate::db;
use crate::db::sessions::{LiveRefresh, Session};
use crate::error::IssuerError;
use crate::state::AppState;

pub struct Refreshed {
    pub access_token: String,
    pub expires_in: i64,
    /// Present when rotation is on: the refresh token to use next time.
    pub refresh_token: Option<String>,
}

pub async fn refresh(state: &AppState, refresh_token: &str) -> Result<Refreshed, IssuerError> {
    let now = state.clock.now();
    let claims = state
        .tokens
        .verify_refresh(refresh_token, now.timestamp())?;
    let mut client = db::client(&state.pool).await?;
    if let Some(refreshed) = refresh_live(state, &*client, &claims, now).await? {
        return Ok(refreshed);
    }
    // Anything else (reuse, the grace, a revoked, ended or foreign session, a disabled
    // account) is told apart with the session locked.
    let tx = client.transaction().await?;
    let mut session = match live_session(&tx, &claims).await {
        Ok(session) => session,
        Err(err) => return Err(super::account::refusal_if_disabled(&tx, claims.sub, err).await),
    };
    if session.expires_at.timestamp() <= now.timestamp() {
        // Within the leeway after its end: the session is over, and an access token capped at
        // its end would be born expired (`expires_in` is at least one second).
        return Err(TokenError::Expired.into());
    }

    let rotation = state.config.settings.refresh_rotation;
    let presented_current = claims.jti == session.refresh_jti;
    if !presented_current {
        if rotation && within_reuse_grace(state, &session, claims.jti, now) {
            // A second tab refreshing with the token just rotated away: it gets the session's
            // current refresh token, not a new branch.
            let access = issue_access(state, &tx, &session, session.expires_at, now).await?;
            let current = sign_refresh(state, (&session).into())?;
            tx.commit().await?;
            return Ok(Refreshed {
                access_token: access.0,
                expires_in: access.1,
                refresh_token: Some(current),
            });
        }
        // A refresh token of this session that is no longer live: it was stolen or replayed.
        revoke(&tx, &session, now, RevocationReason::RefreshReuse).await?;
        tx.commit().await?;
        tracing::warn!(session_id = %session.id, user_id = %session.user_id, "refresh token reuse detected; session revoked");
        return Err(TokenError::Revoked.into());
    }

    // Rotation extends the session; without it the session ends with its refresh token.
    let session_ends = match rotation {
        true => now + refresh_ttl(state),
        false => session.expires_at,
    };
    let (access_token, expires_in) = issue_access(state, &tx, &session, session_ends, now).await?;
    let refresh_token = if rotation {
        let expires_at = session_ends;
        let new_jti = Uuid::new_v4();
        db::sessions::rotate(&tx, session.id, new_jti, now, expires_at).await?;
        session.previous_refresh_jti = Some(session.refresh_jti);
        session.refresh_jti = new_jti;
        session.refresh_issued_at = now;
        session.expires_at = expires_at;
        Some(sign_refresh(state, (&session).into())?)
    } else {
        None
    };
    tx.commit().await?;
    Ok(Refreshed {
        access_token,
        expires_in,
        refresh_token,
    })
}

/// The ordinary refresh, the presented token being its session's live one, in one atomic
/// statement; `None` (with nothing changed) for every other case.
async fn refresh_live(
    state: &AppState,
    db: &impl GenericClient,
    claims: &RefreshClaims,
    now: DateTime<Utc>,
) -> Result<Option<Refreshed>, IssuerError> {
    // The session must not have ended by the whole second of `now` (see the locked path).
    let Some(live_until) = now
        .timestamp()
        .checked_add(1)
        .and_then(|secs| DateTime::from_timestamp(secs, 0))
    else {
        return Ok(None);
    };
    let rotation = state
        .config
        .settings
        .refresh_rotation
        .then(|| (Uuid::new_v4(), now + refresh_ttl(state)));
    let refresh = LiveRefresh {
        id: claims.sid,
        user_id: claims.sub,
        refresh_jti: claims.jti,
        now,
        live_until,
        access_cap: now + access_ttl(state),
        rotation,
    };
    let Some(row) = db::sessions::refresh_live(db, &refresh).await? else {
        return Ok(None);
    };
    let subject = Subject {
        id: claims.sub,
        email: &row.email,
        email_verified: row.is_email_verified,
    };
    let access = sign_access(state, subject, claims.sid, row.expires_at, now)?;
    let refresh_token = match rotation {
        Some((jti, _)) => Some(sign_refresh(
            state,
            RefreshOf {
                session_id: claims.sid,
                user_id: claims.sub,
                jti,
                issued_at: row.refresh_issued_at,
                expires_at: row.expires_at,
            },
        )?),
        None => None,
    };
    Ok(Some(Refreshed {
        access_token: access.token,
        expires_in: access.expires_in,
        refresh_token,
    }))
}

/// Revokes the session the refresh token belongs to. Logging out twice succeeds twice; only
/// the first publishes `session.revoked`.
pub async fn logout(state: &AppState, refresh_token: &str) -> Result<(), IssuerError> {
    let now = state.clock.now();
    let claims = state
        .tokens
        .verify_refresh(refresh_token, now.timestamp())?;
    let mut client = db::client(&state.pool).await?;
    let tx = client.transaction().await?;
    let session = db::sessions::find_for_update(&tx, claims.sid)
        .await?
        .filter(|s| s.user_id == claims.sub)
        .ok_or(TokenError::Revoked)?;
    if session.revoked_at.is_none() {
        revoke(&tx, &session, now, RevocationReason::Logout).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// The token's session, locked, when it exists, belongs to the token's user and is not revoked.
async fn live_session(
    tx: &Transaction<'_>,
    claims: &RefreshClaims,
) -> Result<Session, IssuerError> {
    db::sessions::find_for_update(tx, claims.sid)
        .await?
        .filter(|s| s.user_id == claims.sub && s.revoked_at.is_none())
        .ok_or_else(|| TokenError::Revoked.into())
}

fn within_reuse_grace(state: &AppState, session: &Session, jti: Uuid, now: DateTime<Utc>) -> bool {
    let grace = state.config.settings.refresh_reuse_grace;
    session.previous_refresh_jti == Some(jti)
        && grace > TimeDelta::zero()
        && session.rotated_at.is_some_and(|at| now - at <= grace)
}

/// A new access token for the session's user, expiring no later than `session_ends`,
/// recorded as the session's latest expiry (what `session.revoked` will carry).
async fn issue_access(
    state: &AppState,
    tx: &Transaction<'_>,
    session: &Session,
    session_ends: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(String, i64), IssuerError> {
    let user = db::users::find_by_id(tx, session.user_id)
        .await?
        .ok_or(IssuerError::UserNotFound)?;
    if user.disabled_at.is_some() {
        return Err(IssuerError::AccountDisabled);
    }
    let access = sign_access(state, (&user).into(), session.id, session_ends, now)?;
    db::sessions::extend_access(tx, session.id, access.expires_at, now).await?;
    Ok((access.token, access.expires_in))
}

/// Marks the session revoked and queues `session.revoked` for the verifiers.
async fn revoke(
    tx: &Transaction<'_>,
    session: &Session,
    now: DateTime<Utc>,
    reason: RevocationReason,
) -> Result<(), IssuerError> {
    let revoked = Revoked {
        session_id: session.id,
        user_id: session.user_id,
        access_expires_at: session.access_expires_at,
    };
    revocation::revoke_session(tx, revoked, now, reason).await?;
    Ok(())
}
