//! Storage: the pool, migrations, and one module per table. Each function runs one statement
//! and takes `&impl GenericClient`, so it works on a pooled client or inside a transaction.

pub mod known_addresses;
pub mod login_failures;
pub mod outbox;
pub mod sessions;
pub mod users;
pub mod verification_tokens;

use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, PoolError, RecyclingMethod, Runtime};
use tokio_postgres::error::SqlState;
use tokio_postgres::NoTls;

mod embedded {
    refinery::embed_migrations!("../migrations");
}

/// A storage failure, classified once, here.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("unique constraint {constraint} violated")]
    UniqueViolation { constraint: String },
    #[error("the database is unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("a database statement failed")]
    Query(#[source] tokio_postgres::Error),
}

impl From<tokio_postgres::Error> for DbError {
    fn from(err: tokio_postgres::Error) -> Self {
        match err.code() {
            Some(code) if *code == SqlState::UNIQUE_VIOLATION => DbError::UniqueViolation {
                constraint: err
                    .as_db_error()
                    .and_then(|db| db.constraint())
                    .unwrap_or_default()
                    .to_owned(),
            },
            Some(code)
                if *code == SqlState::ADMIN_SHUTDOWN
                    || *code == SqlState::CRASH_SHUTDOWN
                    || *code == SqlState::CANNOT_CONNECT_NOW
                    || *code == SqlState::TOO_MANY_CONNECTIONS =>
            {
                DbError::Unavailable(Box::new(err))
            }
            Some(_) => DbError::Query(err),
            // No SQLSTATE: the connection itself failed (closed, reset, refused, timed out).
            None => DbError::Unavailable(Box::new(err)),
        }
    }
}

impl From<PoolError> for DbError {
    fn from(err: PoolError) -> Self {
        DbError::Unavailable(Box::new(err))
    }
}

/// A pool that gives up quickly when Postgres is away, so requests answer 503 instead of
/// hanging, and that replaces broken connections by itself when it returns.
pub fn pool(
    config: tokio_postgres::Config,
    size: usize,
    timeout: Duration,
) -> Result<Pool, anyhow::Error> {
    let manager = Manager::from_config(
        config,
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Ok(Pool::builder(manager)
        .max_size(size)
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(timeout))
        .create_timeout(Some(timeout))
        .recycle_timeout(Some(timeout))
        .build()?)
}

/// Creates the database if it does not exist, then applies pending migrations. Several
/// issuers starting at once serialise on an advisory lock.
pub async fn prepare(config: &tokio_postgres::Config) -> Result<(), anyhow::Error> {
    create_database_if_missing(config).await?;
    let (mut client, connection) = config.connect(NoTls).await?;
    let connection = tokio::spawn(connection);
    client
        .batch_execute("SELECT pg_advisory_lock(7243001)")
        .await?;
    let report = embedded::migrations::runner().run_async(&mut client).await;
    let unlock = client
        .batch_execute("SELECT pg_advisory_unlock(7243001)")
        .await;
    drop(client);
    let _ = connection.await;
    let report = report?;
    unlock?;
    for migration in report.applied_migrations() {
        tracing::info!(migration = %migration, "migration applied");
    }
    Ok(())
}

async fn create_database_if_missing(config: &tokio_postgres::Config) -> Result<(), anyhow::Error> {
    let err = match config.connect(NoTls).await {
        Ok((client, connection)) => {
            drop(client);
            let _ = connection.await;
            return Ok(());
        }
        Err(err) => err,
    };
    if err.code() != Some(&SqlState::INVALID_CATALOG_NAME) {
        return Err(err.into());
    }
    let name = config
        .get_dbname()
        .ok_or_else(|| anyhow::anyhow!("DATABASE_URL names no database"))?;
    let mut admin = config.clone();
    admin.dbname("postgres");
    let (client, connection) = admin.connect(NoTls).await?;
    let connection = tokio::spawn(connection);
    let quoted = format!("\"{}\"", name.replace('"', "\"\""));
    match client
        .batch_execute(&format!("CREATE DATABASE {quoted}"))
        .await
    {
        Ok(()) => tracing::info!(database = name, "database created"),
        // Another issuer created it first.
        Err(err) if err.code() == Some(&SqlState::DUPLICATE_DATABASE) => {}
        Err(err) => return Err(err.into()),
    }
    drop(client);
    let _ = connection.await;
    Ok(())
}

/// `SELECT 1` for the health check.
pub async fn ping(pool: &Pool) -> Result<(), DbError> {
    let client = pool.get().await?;
    client.simple_query("SELECT 1").await?;
    Ok(())
}
