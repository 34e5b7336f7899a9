//! The `sessions` table: one row per login.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use tokio_postgres::Row;
use uuid::Uuid;

use super::DbError;

#[derive(Debug, Clone)]
pub struct Session {
    pub id: Uuid,
    pub user_id: Uuid,
    pub refresh_jti: Uuid,
    pub refresh_issued_at: DateTime<Utc>,
    pub previous_refresh_jti: Option<Uuid>,
    pub rotated_at: Option<DateTime<Utc>>,
    pub expires_at: DateTime<Utc>,
    pub access_expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str = "id, user_id, refresh_jti, refresh_issued_at, previous_refresh_jti, \
                       rotated_at, expires_at, access_expires_at, revoked_at";

impl TryFrom<&Row> for Session {
    type Error = tokio_postgres::Error;
    fn try_from(row: &Row) -> Result<Self, Self::Error> {
        Ok(Session {
            id: row.try_get("id")?,
            user_id: row.try_get("user_id")?,
            refresh_jti: row.try_get("refresh_jti")?,
            refresh_issued_at: row.try_get("refresh_issued_at")?,
            previous_refresh_jti: row.try_get("previous_refresh_jti")?,
            rotated_at: row.try_get("rotated_at")?,
            expires_at: row.try_get("expires_at")?,
            access_expires_at: row.try_get("access_expires_at")?,
            revoked_at: row.try_get("revoked_at")?,
        })
    }
}

/// What a new session starts with.
pub struct NewSession {
    pub id: Uuid,
    pub user_id: Uuid,
    pub refresh_jti: Uuid,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub access_expires_at: DateTime<Utc>,
    /// The client's address and `User-Agent`, for the session list.
    pub ip_address: Option<IpAddr>,
    pub user_agent: Option<String>,
}

#[tracing::instrument(name = "db", skip_all, fields(otel.name = "sessions.insert", otel.kind = "client", db.system = "postgresql", db.operation.name = "sessions.insert"))]
pub async fn insert(db: &impl GenericClient, new: &NewSession) -> Result<(), DbError> {
    let statement = db
        .prepare_cached(
            "INSERT INTO sessions (id, user_id, refresh_jti, refresh_issued_at, created_at, \
             expires_at, access_expires_at, ip_address, user_agent) \
             VALUES ($1, $2, $3, $4, $4, $5, $6, $7, $8)",
        )
        .await?;
    db.execute(
        &statement,
        &[
            &new.id,
            &new.user_id,
            &new.refresh_jti,
            &new.created_at,
            &new.expires_at,
            &new.access_expires_at,
            &new.ip_address,
            &new.user_agent,
        ],
    )
    .await?;
    Ok(())
}

/// The session row, locked until the transaction ends: refreshes and logouts of one session
/// take turns, so two concurrent refreshes under rotation cannot both win.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "sessions.find_for_update", otel.kind = "client", db.system = "postgresql", db.operation.name = "sessions.find_for_update"))]
pub async fn find_for_update(
    db: &impl GenericClient,
    id: Uuid,
) -> Result<Option<Session>, DbError> {
    let sql = format!("SELECT {COLUMNS} FROM sessions WHERE id = $1 FOR UPDATE");
    let statement = db.prepare_cached(&sql).await?;
    let row = db.query_opt(&statement, &[&id]).await?;
    Ok(row.as_ref().map(Session::try_from).transpose()?)
}

#[tracing::instrument(name = "db", skip_all, fields(otel.name = "sessions.find", otel.kind = "client", db.system = "postgresql", db.operation.name = "sessions.find"))]
pub async fn find(db: &impl GenericClient, id: Uuid) -> Result<Option<Session>, DbError> {
    let sql = format!("SELECT {COLUMNS} FROM sessions WHERE id = $1");
    let statement = db.prepare_cached(&sql).await?;
    let row = db.query_opt(&statement, &[&id]).await?;
    Ok(row.as_ref().map(Session::try_from).transpose()?)
}

/// Records a refresh: the newly issued access token's expiry, and when.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "sessions.extend_access", otel.kind = "client", db.system = "postgresql", db.operation.name = "sessions.extend_access"))]
pub async fn extend_access(
    db: &impl GenericClient,
    id: Uuid,
    access_expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    let statement = db
        .prepare_cached(
            "UPDATE sessions SET access_expires_at = GREATEST(access_expires_at, $2), \
             last_refreshed_at = $3 WHERE id = $1",
        )
        .await?;
    db.execute(&statement, &[&id, &access_expires_at, &now])
        .await?;
    Ok(())
}

/// Replaces the live refresh token (rotation), remembering the one it replaced.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "sessions.rotate", otel.kind = "client", db.system = "postgresql", db.operation.name = "sessions.rotate"))]
pub async fn rotate(
    db: &impl GenericClient,
    id: Uuid,
    new_jti: Uuid,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<(), DbError> {
    let statement = db
        .prepare_cached(
            "UPDATE sessions SET previous_refresh_jti = refresh_jti, rotated_at = $3, \
             refresh_jti = $2, refresh_issued_at = $3, expires_at = $4 WHERE id = $1",
        )
        .await?;
    db.execute(&statement, &[&id, &new_jti, &now, &expires_at])
        .await?;
    Ok(())
}

/// Revokes the session; returns false when it was already revoked.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "sessions.revoke", otel.kind = "client", db.system = "postgresql", db.operation.name = "sessions.revoke"))]
pub async fn revoke(
    db: &impl GenericClient,
    id: Uuid,
    now: DateTime<Utc>,
    reason: &str,
) -> Result<bool, DbError> {
    let statement = db
        .prepare_cached(
            "UPDATE sessions SET revoked_at = $2, revoked_reason = $3 \
             WHERE id = $1 AND revoked_at IS NULL",
        )
        .await?;
    Ok(db.execute(&statement, &[&id, &now, &reason]).await? == 1)
}

/// Revokes every live session of the user except `keep`, returning what was revoked. Sessions
/// that were revoked before are left as they are.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "sessions.revoke_all_for_user", otel.kind = "client", db.system = "postgresql", db.operation.name = "sessions.revoke_all_for_user"))]
pub async fn revoke_all_for_user(
    db: &impl GenericClient,
    user_id: Uuid,
    keep: Option<Uuid>,
    now: DateTime<Utc>,
    reason: &str,
) -> Result<Vec<crate::auth::revocation::Revoked>, DbError> {
    let statement = db
        .prepare_cached(
            "UPDATE sessions SET revoked_at = $3, revoked_reason = $4 \
             WHERE user_id = $1 AND revoked_at IS NULL AND ($2::uuid IS NULL OR id <> $2) \
             RETURNING id, user_id, access_expires_at",
        )
        .await?;
    db.query(&statement, &[&user_id, &keep, &now, &reason])
        .await?
        .iter()
        .map(|row| {
            Ok(crate::auth::revocation::Revoked {
                session_id: row.try_get("id")?,
                user_id: row.try_get("user_id")?,
                access_expires_at: row.try_get("access_expires_at")?,
            })
        })
        .collect()
}

/// A live session as the session list shows it: no token, jti or hash.
#[derive(Debug, Clone)]
pub struct Listed {
    pub id: Uuid,
    pub created_at: DateTime<Utc>,
    pub last_refreshed_at: Option<DateTime<Utc>>,
    pub expires_at: DateTime<Utc>,
    pub ip_address: Option<IpAddr>,
    pub user_agent: Option<String>,
}

/// The user's sessions neither revoked nor expired at `now`, newest first.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "sessions.list_live", otel.kind = "client", db.system = "postgresql", db.operation.name = "sessions.list_live"))]
pub async fn list_live(
    db: &impl GenericClient,
    user_id: Uuid,
    now: DateTime<Utc>,
) -> Result<Vec<Listed>, DbError> {
    let statement = db
        .prepare_cached(
            "SELECT id, created_at, last_refreshed_at, expires_at, ip_address, user_agent \
             FROM sessions WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2 \
             ORDER BY created_at DESC, id DESC",
        )
        .await?;
    db.query(&statement, &[&user_id, &now])
        .await?
        .iter()
        .map(|row| {
            Ok(Listed {
                id: row.try_get("id")?,
                created_at: row.try_get("created_at")?,
                last_refreshed_at: row.try_get("last_refreshed_at")?,
                expires_at: row.try_get("expires_at")?,
                ip_address: row.try_get("ip_address")?,
                user_agent: row.try_get("user_agent")?,
            })
        })
        .collect()
}

/// A refresh of the session's live refresh token, as [`refresh_live`] makes it.
pub struct LiveRefresh {
    pub id: Uuid,
    pub user_id: Uuid,
    /// The refresh token presented, which must be the session's live one.
    pub refresh_jti: Uuid,
    pub now: DateTime<Utc>,
    /// The session must end at or after this (the next whole second after `now`).
    pub live_until: DateTime<Utc>,
    /// The new access token's expiry before the session's end caps it.
    pub access_cap: DateTime<Utc>,
    /// Under rotation: the new refresh token and the session's new end.
    pub rotation: Option<(Uuid, DateTime<Utc>)>,
}

/// What a refresh of the live token found and set.
pub struct Refreshed {
    pub email: String,
    pub is_email_verified: bool,
    /// The session's end after the refresh; the access token expires no later.
    pub expires_at: DateTime<Utc>,
    pub refresh_issued_at: DateTime<Utc>,
}

/// The ordinary refresh in one atomic statement: when the session belongs to the user, is not
/// revoked, has not ended, holds `refresh_jti` as its live token and its user is not disabled,
/// records the access token's expiry (and under rotation replaces the refresh token, keeping
/// the previous one for the reuse grace); otherwise changes nothing and returns `None`, and the
/// caller takes the locked path that tells the cases apart. The row lock the update takes
/// orders it with concurrent refreshes and revocations, as the locked path's `FOR UPDATE` does.
pub async fn refresh_live(
    db: &impl GenericClient,
    refresh: &LiveRefresh,
) -> Result<Option<Refreshed>, DbError> {
    const CHECKS: &str = "FROM users u WHERE s.id = $1 AND s.user_id = $2 AND u.id = s.user_id \
                          AND s.refresh_jti = $3 AND s.revoked_at IS NULL \
                          AND s.expires_at >= $5 AND u.disabled_at IS NULL \
                          RETURNING u.email, u.is_email_verified, s.expires_at, \
                          s.refresh_issued_at";
    let row = match refresh.rotation {
        Some((new_jti, expires_at)) => {
            let sql = format!(
                "UPDATE sessions s SET access_expires_at = GREATEST(s.access_expires_at, \
                 LEAST($6, $8::timestamptz)), last_refreshed_at = $4, \
                 previous_refresh_jti = s.refresh_jti, rotated_at = $4, refresh_jti = $7, \
                 refresh_issued_at = $4, expires_at = $8 {CHECKS}"
            );
            let statement = db.prepare_cached(&sql).await?;
            db.query_opt(
                &statement,
                &[
                    &refresh.id,
                    &refresh.user_id,
                    &refresh.refresh_jti,
                    &refresh.now,
                    &refresh.live_until,
                    &refresh.access_cap,
                    &new_jti,
                    &expires_at,
                ],
            )
            .await?
        }
        None => {
            let sql = format!(
                "UPDATE sessions s SET access_expires_at = GREATEST(s.access_expires_at, \
                 LEAST($6, s.expires_at)), last_refreshed_at = $4 {CHECKS}"
            );
            let statement = db.prepare_cached(&sql).await?;
            db.query_opt(
                &statement,
                &[
                    &refresh.id,
                    &refresh.user_id,
                    &refresh.refresh_jti,
                    &refresh.now,
                    &refresh.live_until,
                    &refresh.access_cap,
                ],
            )
            .await?
        }
    };
    let Some(row) = row else {
        return Ok(None);
    };
    Ok(Some(Refreshed {
        email: row.try_get("email")?,
        is_email_verified: row.try_get("is_email_verified")?,
        expires_at: row.try_get("expires_at")?,
        refresh_issued_at: row.try_get("refresh_issued_at")?,
    }))
}
