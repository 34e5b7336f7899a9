//! The `email_verification_tokens` table. Only SHA-256 hashes of tokens are stored.

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use uuid::Uuid;

use super::DbError;

#[derive(Debug, Clone)]
pub struct VerificationToken {
    pub user_id: Uuid,
    pub expires_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
}

#[tracing::instrument(name = "db", skip_all, fields(otel.name = "verification_tokens.insert", otel.kind = "client", db.system = "postgresql", db.operation.name = "verification_tokens.insert"))]
pub async fn insert(
    db: &impl GenericClient,
    token_hash: &[u8],
    user_id: Uuid,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<(), DbError> {
    let statement = db
        .prepare_cached(
            "INSERT INTO email_verification_tokens (token_hash, user_id, created_at, expires_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .await?;
    db.execute(&statement, &[&token_hash, &user_id, &now, &expires_at])
        .await?;
    Ok(())
}

/// Removes a user's unused tokens: resending replaces the old token.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "verification_tokens.delete_unused_for_user", otel.kind = "client", db.system = "postgresql", db.operation.name = "verification_tokens.delete_unused_for_user"))]
pub async fn delete_unused_for_user(
    db: &impl GenericClient,
    user_id: Uuid,
) -> Result<u64, DbError> {
    let statement = db
        .prepare_cached(
            "DELETE FROM email_verification_tokens WHERE user_id = $1 AND used_at IS NULL",
        )
        .await?;
    Ok(db.execute(&statement, &[&user_id]).await?)
}

/// The token row, locked until the transaction ends so it can be used once only.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "verification_tokens.find_for_update", otel.kind = "client", db.system = "postgresql", db.operation.name = "verification_tokens.find_for_update"))]
pub async fn find_for_update(
    db: &impl GenericClient,
    token_hash: &[u8],
) -> Result<Option<VerificationToken>, DbError> {
    let statement = db
        .prepare_cached(
            "SELECT user_id, expires_at, used_at FROM email_verification_tokens \
             WHERE token_hash = $1 FOR UPDATE",
        )
        .await?;
    let row = db.query_opt(&statement, &[&token_hash]).await?;
    row.map(|row| {
        Ok(VerificationToken {
            user_id: row.try_get("user_id")?,
            expires_at: row.try_get("expires_at")?,
            used_at: row.try_get("used_at")?,
        })
    })
    .transpose()
}

#[tracing::instrument(name = "db", skip_all, fields(otel.name = "verification_tokens.mark_used", otel.kind = "client", db.system = "postgresql", db.operation.name = "verification_tokens.mark_used"))]
pub async fn mark_used(
    db: &impl GenericClient,
    token_hash: &[u8],
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    let statement = db
        .prepare_cached("UPDATE email_verification_tokens SET used_at = $2 WHERE token_hash = $1")
        .await?;
    db.execute(&statement, &[&token_hash, &now]).await?;
    Ok(())
}
