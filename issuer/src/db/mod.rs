//! Storage: the pool, migrations, and one module per table. Each function runs one statement
//! and takes `&impl GenericClient`, so it works on a pooled client or inside a transaction.

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
    /// Unavailable (503, retry later) only when Postgres could not be reached or said it
    /// cannot serve now: the connection is closed (which is also how a connection the
    /// watchdog gave up on ends), a transport I/O error, or a server shutting down or
    /// full. Everything else is a bug or a refusal of
    /// ours to look at (500): SQL errors, a `query_one` that found no row, a column that does
    /// not convert, a query that cannot be encoded (tokio-postgres reports those as I/O errors
    /// too, of kind `InvalidInput`/`InvalidData`, hence the list of transport kinds).
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
            None if err.is_closed() || is_transport_failure(&err) => {
                DbError::Unavailable(Box::new(err))
            }
            None => DbError::Query(err),
        }
    }
}

/// Whether the error's direct cause is an I/O error of the network kind.
fn is_transport_failure(err: &tokio_postgres::Error) -> bool {
    use std::io::ErrorKind;
    std::error::Error::source(err)
        .and_then(|source| source.downcast_ref::<std::io::Error>())
        .is_some_and(|io| {
            matches!(
                io.kind(),
                ErrorKind::ConnectionRefused
                    | ErrorKind::ConnectionReset
                    | ErrorKind::ConnectionAborted
                    | ErrorKind::NotConnected
                    | ErrorKind::BrokenPipe
                    | ErrorKind::TimedOut
                    | ErrorKind::AddrNotAvailable
                    | ErrorKind::HostUnreachable
                    | ErrorKind::NetworkUnreachable
                    | ErrorKind::NetworkDown
            )
        })
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The tests' Postgres: TEST_DATABASE_URL, or the local server.
    fn postgres() -> tokio_postgres::Config {
        std::env::var("TEST_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
            .parse()
            .unwrap()
    }

    async fn client() -> tokio_postgres::Client {
        let (client, connection) = postgres().connect(NoTls).await.unwrap();
        tokio::spawn(connection);
        client
    }

    fn is_query(err: DbError) -> bool {
        matches!(err, DbError::Query(_))
    }

    fn is_unavailable(err: DbError) -> bool {
        matches!(err, DbError::Unavailable(_))
    }

    fn free_port() -> u16 {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    }

    #[tokio::test]
    async fn a_closed_or_unreachable_connection_is_unavailable() {
        let (client, connection) = postgres().connect(NoTls).await.unwrap();
        drop(connection);
        let closed = client.simple_query("SELECT 1").await.unwrap_err();
        assert!(closed.is_closed());
        assert!(is_unavailable(closed.into()));

        let port = free_port();
        let nowhere: tokio_postgres::Config = format!("postgres://postgres@127.0.0.1:{port}/x")
            .parse()
            .unwrap();
        let refused = nowhere.connect(NoTls).await.map(|_| ()).unwrap_err();
        assert!(is_unavailable(refused.into()));
    }

    #[tokio::test]
    async fn programming_errors_without_an_sqlstate_are_query_errors() {
        let client = client().await;

        let no_row = client
            .query_one("SELECT 1 WHERE false", &[])
            .await
            .unwrap_err();
        assert!(no_row.code().is_none());
        assert!(is_query(no_row.into()), "row count");

        let row = client.query_one("SELECT 'text'::text", &[]).await.unwrap();
        let wrong_type = row.try_get::<_, i32>(0).unwrap_err();
        assert!(is_query(wrong_type.into()), "type conversion");

        let missing = row.try_get::<_, String>(3).unwrap_err();
        assert!(is_query(missing.into()), "column index");

        // tokio-postgres reports an unencodable query as an I/O error of kind InvalidInput.
        let nul = client.simple_query("SELECT '\0'").await.unwrap_err();
        assert!(std::error::Error::source(&nul)
            .and_then(|s| s.downcast_ref::<std::io::Error>())
            .is_some());
        assert!(is_query(nul.into()), "encoding");
    }

    #[tokio::test]
    async fn sql_errors_are_query_errors() {
        let client = client().await;

        let syntax = client.simple_query("SELEC 1").await.unwrap_err();
        assert!(is_query(syntax.into()));

        let duplicate = client
            .batch_execute(
                "CREATE TEMP TABLE once (id int PRIMARY KEY); INSERT INTO once VALUES (1), (1)",
            )
            .await
            .unwrap_err();
        assert!(matches!(
            DbError::from(duplicate),
            DbError::UniqueViolation { constraint } if constraint == "once_pkey"
        ));
    }
}
