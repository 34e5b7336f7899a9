//! The `users` table.

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use tokio_postgres::Row;
use uuid::Uuid;

use super::DbError;

#[derive(Debug, Clone)]
pub struct User {
    pub id: Uuid,
    pub email: String,
    pub password_hash: String,
    pub is_email_verified: bool,
    pub email_verified_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    /// When an operator disabled the account; `None` while it is enabled.
    pub disabled_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str =
    "id, email, password_hash, is_email_verified, email_verified_at, created_at, disabled_at";

impl TryFrom<&Row> for User {
    type Error = tokio_postgres::Error;
    fn try_from(row: &Row) -> Result<Self, Self::Error> {
        Ok(User {
            id: row.try_get("id")?,
            email: row.try_get("email")?,
            password_hash: row.try_get("password_hash")?,
            is_email_verified: row.try_get("is_email_verified")?,
            email_verified_at: row.try_get("email_verified_at")?,
            created_at: row.try_get("created_at")?,
            disabled_at: row.try_get("disabled_at")?,
        })
    }
}

/// The unique index on `email`; a violation of it means DUPLICATE_EMAIL.
pub const EMAIL_KEY: &str = "users_email_key";

#[tracing::instrument(name = "db", skip_all, fields(otel.name = "users.insert", otel.kind = "client", db.system = "postgresql", db.operation.name = "users.insert"))]
pub async fn insert(
    db: &impl GenericClient,
    id: Uuid,
    email: &str,
    password_hash: &str,
    now: DateTime<Utc>,
) -> Result<User, DbError> {
    let sql = format!(
        "INSERT INTO users (id, email, password_hash, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $4) RETURNING {COLUMNS}"
    );
    let statement = db.prepare_cached(&sql).await?;
    let row = db
        .query_one(&statement, &[&id, &email, &password_hash, &now])
        .await?;
    Ok(User::try_from(&row)?)
}

#[tracing::instrument(name = "db", skip_all, fields(otel.name = "users.find_by_email", otel.kind = "client", db.system = "postgresql", db.operation.name = "users.find_by_email"))]
pub async fn find_by_email(db: &impl GenericClient, email: &str) -> Result<Option<User>, DbError> {
    let sql = format!("SELECT {COLUMNS} FROM users WHERE email = $1");
    let statement = db.prepare_cached(&sql).await?;
    let row = db.query_opt(&statement, &[&email]).await?;
    Ok(row.as_ref().map(User::try_from).transpose()?)
}

#[tracing::instrument(name = "db", skip_all, fields(otel.name = "users.find_by_id", otel.kind = "client", db.system = "postgresql", db.operation.name = "users.find_by_id"))]
pub async fn find_by_id(db: &impl GenericClient, id: Uuid) -> Result<Option<User>, DbError> {
    let sql = format!("SELECT {COLUMNS} FROM users WHERE id = $1");
    let statement = db.prepare_cached(&sql).await?;
    let row = db.query_opt(&statement, &[&id]).await?;
    Ok(row.as_ref().map(User::try_from).transpose()?)
}

#[tracing::instrument(name = "db", skip_all, fields(otel.name = "users.mark_email_verified", otel.kind = "client", db.system = "postgresql", db.operation.name = "users.mark_email_verified"))]
pub async fn mark_email_verified(
    db: &impl GenericClient,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<User, DbError> {
    let sql = format!(
        "UPDATE users SET is_email_verified = true, \
         email_verified_at = COALESCE(email_verified_at, $2), updated_at = $2 \
         WHERE id = $1 RETURNING {COLUMNS}"
    );
    let statement = db.prepare_cached(&sql).await?;
    let row = db.query_one(&statement, &[&id, &now]).await?;
    Ok(User::try_from(&row)?)
}

#[tracing::instrument(name = "db", skip_all, fields(otel.name = "users.update_password_hash", otel.kind = "client", db.system = "postgresql", db.operation.name = "users.update_password_hash"))]
pub async fn update_password_hash(
    db: &impl GenericClient,
    id: Uuid,
    password_hash: &str,
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    let statement = db
        .prepare_cached("UPDATE users SET password_hash = $2, updated_at = $3 WHERE id = $1")
        .await?;
    db.execute(&statement, &[&id, &password_hash, &now]).await?;
    Ok(())
}

/// The user, its row locked until the transaction ends against sessions being opened for it
/// (a session insert takes a key-share lock on its user) and against other changes: two
/// resends for one user take turns, so the second replaces the first one's token.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "users.find_by_email_for_update", otel.kind = "client", db.system = "postgresql", db.operation.name = "users.find_by_email_for_update"))]
pub async fn find_by_email_for_update(
    db: &impl GenericClient,
    email: &str,
) -> Result<Option<User>, DbError> {
    let sql = format!("SELECT {COLUMNS} FROM users WHERE email = $1 FOR UPDATE");
    let statement = db.prepare_cached(&sql).await?;
    let row = db.query_opt(&statement, &[&email]).await?;
    Ok(row.as_ref().map(User::try_from).transpose()?)
}

/// Like [`find_by_email_for_update`], by id.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "users.find_by_id_for_update", otel.kind = "client", db.system = "postgresql", db.operation.name = "users.find_by_id_for_update"))]
pub async fn find_by_id_for_update(
    db: &impl GenericClient,
    id: Uuid,
) -> Result<Option<User>, DbError> {
    let sql = format!("SELECT {COLUMNS} FROM users WHERE id = $1 FOR UPDATE");
    let statement = db.prepare_cached(&sql).await?;
    let row = db.query_opt(&statement, &[&id]).await?;
    Ok(row.as_ref().map(User::try_from).transpose()?)
}

/// The user a new session is about to be opened for, with a key-share lock (what the session's
/// foreign key takes anyway): an operator disabling or deleting the account at the same time
/// waits for the session to be committed, then revokes it, or goes first and is seen here.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "users.find_for_new_session", otel.kind = "client", db.system = "postgresql", db.operation.name = "users.find_for_new_session"))]
pub async fn find_for_new_session(
    db: &impl GenericClient,
    id: Uuid,
) -> Result<Option<User>, DbError> {
    let sql = format!("SELECT {COLUMNS} FROM users WHERE id = $1 FOR KEY SHARE");
    let statement = db.prepare_cached(&sql).await?;
    let row = db.query_opt(&statement, &[&id]).await?;
    Ok(row.as_ref().map(User::try_from).transpose()?)
}

/// Sets or clears `disabled_at`; false when the account was already in that state.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "users.set_disabled", otel.kind = "client", db.system = "postgresql", db.operation.name = "users.set_disabled"))]
pub async fn set_disabled(
    db: &impl GenericClient,
    id: Uuid,
    disabled_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<bool, DbError> {
    let statement = db
        .prepare_cached(
            "UPDATE users SET disabled_at = $2, updated_at = $3 \
             WHERE id = $1 AND (disabled_at IS NULL) <> ($2::timestamptz IS NULL)",
        )
        .await?;
    Ok(db.execute(&statement, &[&id, &disabled_at, &now]).await? == 1)
}

/// Deletes the user; its sessions and tokens go with it (ON DELETE CASCADE).
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "users.delete", otel.kind = "client", db.system = "postgresql", db.operation.name = "users.delete"))]
pub async fn delete(db: &impl GenericClient, id: Uuid) -> Result<bool, DbError> {
    let statement = db.prepare_cached("DELETE FROM users WHERE id = $1").await?;
    Ok(db.execute(&statement, &[&id]).await? == 1)
}
