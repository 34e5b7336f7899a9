//! The `login_failures` table: consecutive failed logins and the lock they lead to, per
//! normalised email, shared by every issuer replica.

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;

use super::DbError;

/// Where an email stands: failures since the last reset, and the lock if there is one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Standing {
    pub failures: i32,
    pub locked_until: Option<DateTime<Utc>>,
}

#[tracing::instrument(name = "db", skip_all, fields(otel.name = "login_failures.find", otel.kind = "client", db.system = "postgresql", db.operation.name = "login_failures.find"))]
pub async fn find(db: &impl GenericClient, email: &str) -> Result<Option<Standing>, DbError> {
    let statement = db
        .prepare_cached("SELECT failures, locked_until FROM login_failures WHERE email = $1")
        .await?;
    let row = db.query_opt(&statement, &[&email]).await?;
    Ok(row
        .map(|row| {
            Ok::<_, tokio_postgres::Error>(Standing {
                failures: row.try_get(0)?,
                locked_until: row.try_get(1)?,
            })
        })
        .transpose()?)
}

/// Counts one failure, in one statement so that replicas failing at once count every one.
/// A count whose last failure is older than `forget_before` starts again at one. The failure
/// that reaches `threshold` locks the email until `lock_until` and starts the count again.
/// Returns the lock this failure set, if it set one.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "login_failures.record_failure", otel.kind = "client", db.system = "postgresql", db.operation.name = "login_failures.record_failure"))]
pub async fn record_failure(
    db: &impl GenericClient,
    email: &str,
    now: DateTime<Utc>,
    forget_before: DateTime<Utc>,
    threshold: i32,
    lock_until: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, DbError> {
    let statement = db
        .prepare_cached(
            "INSERT INTO login_failures AS f (email, failures, last_failed_at, locked_until) \
             VALUES ($1, CASE WHEN $4 <= 1 THEN 0 ELSE 1 END, $2, \
                     CASE WHEN $4 <= 1 THEN $5::timestamptz END) \
             ON CONFLICT (email) DO UPDATE SET \
                 failures = CASE \
                     WHEN (CASE WHEN f.last_failed_at < $3 THEN 1 ELSE f.failures + 1 END) >= $4 \
                     THEN 0 \
                     ELSE (CASE WHEN f.last_failed_at < $3 THEN 1 ELSE f.failures + 1 END) \
                 END, \
                 locked_until = CASE \
                     WHEN (CASE WHEN f.last_failed_at < $3 THEN 1 ELSE f.failures + 1 END) >= $4 \
                     THEN $5 \
                     ELSE f.locked_until \
                 END, \
                 last_failed_at = $2 \
             RETURNING locked_until = $5 AS locked",
        )
        .await?;
    let row = db
        .query_one(
            &statement,
            &[&email, &now, &forget_before, &threshold, &lock_until],
        )
        .await?;
    let locked: Option<bool> = row.try_get(0)?;
    Ok(locked.unwrap_or(false).then_some(lock_until))
}

/// A successful login: the count goes, and so does the row, unless it holds a lock still in
/// force at `now`. That lock stays: the login got through it only because its address is one
/// the account knows, and the lock is there for the other addresses.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "login_failures.clear", otel.kind = "client", db.system = "postgresql", db.operation.name = "login_failures.clear"))]
pub async fn clear(
    db: &impl GenericClient,
    email: &str,
    now: DateTime<Utc>,
) -> Result<(), DbError> {
    let statement = db
        .prepare_cached(
            "MERGE INTO login_failures AS f \
             USING (SELECT $1::text AS email) AS s ON f.email = s.email \
             WHEN MATCHED AND f.locked_until > $2 THEN UPDATE SET failures = 0 \
             WHEN MATCHED THEN DELETE",
        )
        .await?;
    db.execute(&statement, &[&email, &now]).await?;
    Ok(())
}

/// Forgets the email's failures and lifts its lock, whatever its state: a password reset
/// proved the mailbox, a lock for this password no longer protects anything.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "login_failures.forget", otel.kind = "client", db.system = "postgresql", db.operation.name = "login_failures.forget"))]
pub async fn forget(db: &impl GenericClient, email: &str) -> Result<(), DbError> {
    let statement = db
        .prepare_cached("DELETE FROM login_failures WHERE email = $1")
        .await?;
    db.execute(&statement, &[&email]).await?;
    Ok(())
}

/// Deletes rows whose last failure is before `forget_before` and that hold no live lock.
pub async fn prune(
    db: &impl GenericClient,
    forget_before: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<u64, DbError> {
    let statement = db
        .prepare_cached(
            "DELETE FROM login_failures \
             WHERE last_failed_at < $1 AND (locked_until IS NULL OR locked_until <= $2)",
        )
        .await?;
    Ok(db.execute(&statement, &[&forget_before, &now]).await?)
}

/// Forgets every failure and lock of `email` (an operator's unlock, a deleted account);
/// false when there was none.
#[tracing::instrument(name = "db", skip_all, fields(otel.name = "login_failures.delete", otel.kind = "client", db.system = "postgresql", db.operation.name = "login_failures.delete"))]
pub async fn delete(db: &impl GenericClient, email: &str) -> Result<bool, DbError> {
    let statement = db
        .prepare_cached("DELETE FROM login_failures WHERE email = $1")
        .await?;
    Ok(db.execute(&statement, &[&email]).await? == 1)
}
