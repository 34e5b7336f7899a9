//! The `password_reset_tokens` table, and the account row a reset request locks. Only SHA-256
//! hashes of tokens are stored.

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use uuid::Uuid;

use super::DbError;

/// The account a reset is for, as read under its row lock.
#[derive(Debug, Clone)]
pub struct ResetAccount {
    pub user_id: Uuid,
    pub email: String,
    pub disabled: bool,
}

/// The user row for `email`, locked until the transaction ends, so that concurrent requests
/// for one account replace its token one after the other.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "password_reset_tokens.lock_account", otel.kind = "client", db.system = "postgresql", db.operation.name = "password_reset_tokens.lock_account"))]
pub async fn lock_account(
    db: &impl GenericClient,
    email: &str,
) -> Result<Option<ResetAccount>, DbError> {
    let statement = db
        .prepare_cached(
            "SELECT id, email, disabled_at IS NOT NULL AS disabled FROM users \
             WHERE email = $1 FOR UPDATE",
        )
        .await?;
    let row = db.query_opt(&statement, &[&email]).await?;
    row.map(|row| {
        Ok(ResetAccount {
            user_id: row.try_get("id")?,
            email: row.try_get("email")?,
            disabled: row.try_get("disabled")?,
        })
    })
    .transpose()
}

/// Replaces the user's unused tokens with this one.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "password_reset_tokens.replace", otel.kind = "client", db.system = "postgresql", db.operation.name = "password_reset_tokens.replace"))]
pub async fn replace(
    db: &impl GenericClient,
    token_hash: &[u8],
    user_id: Uuid,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<(), DbError> {
    let delete = db
        .prepare_cached("DELETE FROM password_reset_tokens WHERE user_id = $1 AND used_at IS NULL")
        .await?;
    db.execute(&delete, &[&user_id]).await?;
    let insert = db
        .prepare_cached(
            "INSERT INTO password_reset_tokens (token_hash, user_id, created_at, expires_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .await?;
    db.execute(&insert, &[&token_hash, &user_id, &now, &expires_at])
        .await?;
    Ok(())
}

/// A stored token and the account it is for.
#[derive(Debug, Clone)]
pub struct ResetToken {
    pub user_id: Uuid,
    pub email: String,
    pub expires_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
    pub account_disabled: bool,
}

/// The token row and its account; with `lock`, the token row stays locked until the
/// transaction ends, so a token can be used once only. (Only the token row: a reset request
/// locks the user row and then the token rows, so taking both here could deadlock.)
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "password_reset_tokens.find", otel.kind = "client", db.system = "postgresql", db.operation.name = "password_reset_tokens.find"))]
pub async fn find(
    db: &impl GenericClient,
    token_hash: &[u8],
    lock: bool,
) -> Result<Option<ResetToken>, DbError> {
    let sql = format!(
        "SELECT t.user_id, u.email, t.expires_at, t.used_at, \
         u.disabled_at IS NOT NULL AS account_disabled \
         FROM password_reset_tokens t JOIN users u ON u.id = t.user_id \
         WHERE t.token_hash = $1{}",
        if lock { " FOR UPDATE OF t" } else { "" }
    );
    let statement = db.prepare_cached(&sql).await?;
    let row = db.query_opt(&statement, &[&token_hash]).await?;
    row.map(|row| {
        Ok(ResetToken {
            user_id: row.try_get("user_id")?,
            email: row.try_get("email")?,
            expires_at: row.try_get("expires_at")?,
            used_at: row.try_get("used_at")?,
            account_disabled: row.try_get("account_disabled")?,
        })
    })
    .transpose()
}

#[tracing::instrument(name = "db", skip_all, fields(otel.name = "password_reset_tokens.mark_used", otel.kind = "client", db.system = "postgresql", db.operation.name = "password_reset_tokens.mark_used"))]
pub async fn mark_used(
    db: &impl GenericClient,
    token_hash: &[u8],
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    let statement = db
        .prepare_cached("UPDATE password_reset_tokens SET used_at = $2 WHERE token_hash = $1")
        .await?;
    db.execute(&statement, &[&token_hash, &now]).await?;
    Ok(())
}
