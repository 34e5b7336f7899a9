//! Revoking sessions: the one path by which a session ends early, whatever ended it (logout,
//! refresh-token reuse, logout-all, a deleted session, a password change or reset, a deleted or
//! disabled account, an operator). Each revoked session queues `session.revoked` with its
//! reason in the same transaction, so every verifier refuses its access tokens once relayed.

use chrono::{DateTime, Utc};
use common::events::{Event, RevocationReason, SessionRevoked};
use deadpool_postgres::GenericClient;
use uuid::Uuid;

use crate::db::{self, DbError};

/// A session that was live and is now revoked.
#[derive(Debug, Clone, Copy)]
pub struct Revoked {
    pub session_id: Uuid,
    pub user_id: Uuid,
    /// The latest expiry of an access token issued for the session.
    pub access_expires_at: DateTime<Utc>,
}

/// Revokes one session; false when it was already revoked (nothing is published then).
pub async fn revoke_session(
    db: &impl GenericClient,
    session: Revoked,
    now: DateTime<Utc>,
    reason: RevocationReason,
) -> Result<bool, DbError> {
    if !db::sessions::revoke(db, session.session_id, now, reason.as_str()).await? {
        return Ok(false);
    }
    db::outbox::insert(db, &revoked_event(session, now, reason)).await?;
    Ok(true)
}

/// Revokes every live session of `user_id` but `keep`, in two statements whatever their
/// number; returns how many were revoked.
pub async fn revoke_user_sessions(
    db: &impl GenericClient,
    user_id: Uuid,
    keep: Option<Uuid>,
    now: DateTime<Utc>,
    reason: RevocationReason,
) -> Result<u64, DbError> {
    let revoked =
        db::sessions::revoke_all_for_user(db, user_id, keep, now, reason.as_str()).await?;
    let events: Vec<Event> = revoked
        .iter()
        .map(|session| revoked_event(*session, now, reason))
        .collect();
    db::outbox::insert_many(db, &events).await?;
    Ok(revoked.len() as u64)
}

fn revoked_event(session: Revoked, now: DateTime<Utc>, reason: RevocationReason) -> Event {
    let payload = SessionRevoked {
        session_id: session.session_id,
        user_id: session.user_id,
        expires_at: session.access_expires_at,
        reason: Some(reason.as_str().to_owned()),
    };
    Event::of(now, &payload)
}
