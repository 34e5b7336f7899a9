//! The `login_known_addresses` table: the client addresses each normalised email has logged
//! in from, and when last, shared by every issuer replica. A login from one of them is exempt
//! from the account lockout and the per-account login limit.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;

use super::DbError;

/// A successful login of `email` from `address` (already keyed as the rate limiter keys it):
/// the pair is known from now on, or again.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "known_addresses.record", otel.kind = "client", db.system = "postgresql", db.operation.name = "known_addresses.record"))]
pub async fn record(
    db: &impl GenericClient,
    email: &str,
    address: IpAddr,
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    let statement = db
        .prepare_cached(
            "INSERT INTO login_known_addresses (email, address, last_login_at) \
             VALUES ($1, $2, $3) \
             ON CONFLICT (email, address) DO UPDATE SET last_login_at = EXCLUDED.last_login_at",
        )
        .await?;
    db.execute(&statement, &[&email, &address, &now]).await?;
    Ok(())
}

/// Whether `email` has logged in from `address` at or after `since`. One primary-key lookup.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "known_addresses.is_known", otel.kind = "client", db.system = "postgresql", db.operation.name = "known_addresses.is_known"))]
pub async fn is_known(
    db: &impl GenericClient,
    email: &str,
    address: IpAddr,
    since: DateTime<Utc>,
) -> Result<bool, DbError> {
    let statement = db
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM login_known_addresses \
             WHERE email = $1 AND address = $2 AND last_login_at >= $3)",
        )
        .await?;
    let row = db
        .query_one(&statement, &[&email, &address, &since])
        .await?;
    Ok(row.try_get(0)?)
}

/// Forgets the pairs whose last login is before `forget_before`.
pub async fn prune(db: &impl GenericClient, forget_before: DateTime<Utc>) -> Result<u64, DbError> {
    let statement = db
        .prepare_cached("DELETE FROM login_known_addresses WHERE last_login_at < $1")
        .await?;
    Ok(db.execute(&statement, &[&forget_before]).await?)
}

/// Forgets every address of `email` (a deleted account).
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "known_addresses.delete_for_email", otel.kind = "client", db.system = "postgresql", db.operation.name = "known_addresses.delete_for_email"))]
pub async fn delete_for_email(db: &impl GenericClient, email: &str) -> Result<u64, DbError> {
    let statement = db
        .prepare_cached("DELETE FROM login_known_addresses WHERE email = $1")
        .await?;
    Ok(db.execute(&statement, &[&email]).await?)
}
