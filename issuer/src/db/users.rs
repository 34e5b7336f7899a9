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
}

const COLUMNS: &str = "id, email, password_hash, is_email_verified, email_verified_at, created_at";

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
        })
    }
}

/// The unique index on `email`; a violation of it means DUPLICATE_EMAIL.
pub const EMAIL_KEY: &str = "users_email_key";

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

pub async fn find_by_email(db: &impl GenericClient, email: &str) -> Result<Option<User>, DbError> {
    let sql = format!("SELECT {COLUMNS} FROM users WHERE email = $1");
    let statement = db.prepare_cached(&sql).await?;
    let row = db.query_opt(&statement, &[&email]).await?;
    Ok(row.as_ref().map(User::try_from).transpose()?)
}

/// The user row, locked until the transaction ends: two resends for one user take turns, so
/// the second replaces the first one's token instead of adding a second live one.
pub async fn find_by_email_for_update(
    db: &impl GenericClient,
    email: &str,
) -> Result<Option<User>, DbError> {
    let sql = format!("SELECT {COLUMNS} FROM users WHERE email = $1 FOR UPDATE");
    let statement = db.prepare_cached(&sql).await?;
    let row = db.query_opt(&statement, &[&email]).await?;
    Ok(row.as_ref().map(User::try_from).transpose()?)
}

pub async fn find_by_id(db: &impl GenericClient, id: Uuid) -> Result<Option<User>, DbError> {
    let sql = format!("SELECT {COLUMNS} FROM users WHERE id = $1");
    let statement = db.prepare_cached(&sql).await?;
    let row = db.query_opt(&statement, &[&id]).await?;
    Ok(row.as_ref().map(User::try_from).transpose()?)
}

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
