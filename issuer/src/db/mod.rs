//! Storage: the pool, migrations, and one module per table. Each function runs one statement
//! and takes `&impl GenericClient`, so it works on a pooled client or inside a transaction.
//!
//! Every round trip of a pooled connection is bounded by `DATABASE_TIMEOUT_SECONDS` (see
//! [`bounded`]) and every use case's database work by [`deadline`], so a stalled Postgres turns
//! into `DbError::Unavailable` (503) instead of a request that hangs.

mod deadline;
pub mod known_addresses;
pub mod login_failures;
pub mod outbox;
pub mod password_reset_tokens;
pub mod sessions;
pub mod tls;
pub mod users;
pub mod verification_tokens;

pub use deadline::{client, deadline, Lease};
pub use tls::Postgres;

use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, PoolError, RecyclingMethod, Runtime};
use tokio_postgres::error::SqlState;

/// How much longer than the server's `statement_timeout` the kernel waits for data it sent to
/// be acknowledged.
const REPLY_GRACE: Duration = deadline::GRACE;

/// Keepalive probes after the idle time, one a second, before the kernel gives a peer up.
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(1);
const KEEPALIVE_RETRIES: u32 = 3;

/// tokio-postgres's keepalive idle time when the URL sets none.
const DEFAULT_KEEPALIVES_IDLE: Duration = Duration::from_secs(2 * 60 * 60);

/// The span of one database call, for a call that cannot take `#[tracing::instrument]` (every
/// other one has the same fields through that attribute): `db.system` and the call's name
/// (`table.function`), never its parameters.
macro_rules! span {
    ($name:literal) => {
        tracing::info_span!(
            "db",
            otel.name = $name,
            otel.kind = "client",
            db.system = "postgresql",
            db.operation.name = $name
        )
    };
}
pub(crate) use span;

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
    /// cannot serve now: the connection is closed (which is also how a connection
    /// closed by a use case's deadline ends), a transport I/O error, a server shutting down or full, or a
    /// statement cancelled by `statement_timeout`. Everything else is a bug or a refusal of
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
                    || *code == SqlState::TOO_MANY_CONNECTIONS
                    || *code == SqlState::QUERY_CANCELED =>
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

/// No answer from Postgres within the limit.
#[derive(Debug, thiserror::Error)]
#[error("Postgres did not answer within {0:?}")]
pub struct NoAnswer(pub Duration);

impl From<PoolError> for DbError {
    fn from(err: PoolError) -> Self {
        DbError::Unavailable(Box::new(err))
    }
}

/// A pool that gives up quickly when Postgres is away or stalls, so requests answer 503
/// instead of hanging, and that replaces broken connections by itself when it returns.
///
/// Connections are opened by tokio-postgres itself. Recycling stays `Fast` (no round trip per
/// checkout): a connection that died while idle is closed by keepalives, and one that stalls
/// is closed by the [`deadline`] of the use case that found it stalled.
pub fn pool(postgres: Postgres, size: usize, timeout: Duration) -> Result<Pool, anyhow::Error> {
    let manager = Manager::from_config(
        bounded(postgres.config, timeout),
        postgres.tls,
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

/// The connection settings with every round trip bounded by `timeout`, unless DATABASE_URL
/// already sets the bound:
/// - the server cancels a statement after `timeout` (`statement_timeout`, sent as a startup
///   option ahead of the URL's own `options`, so the URL can still override it) and drops
///   a client it cannot reach (`tcp_keepalives_*`), which frees the locks of a transaction
///   whose issuer went away;
/// - the client gives up connecting after `timeout`, probes an idle connection after
///   `timeout` of silence, and drops one whose data stays unacknowledged for
///   `timeout + REPLY_GRACE` (`tcp_user_timeout`);
/// - and a peer that acknowledges but never answers, which defeats the TCP bounds, is given up
///   by the [`deadline`] of the use case waiting on it.
pub fn bounded(mut config: tokio_postgres::Config, timeout: Duration) -> tokio_postgres::Config {
    let patience = timeout + REPLY_GRACE;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(timeout);
    }
    if config.get_tcp_user_timeout().is_none() {
        config.tcp_user_timeout(patience);
    }
    if config.get_keepalives_idle() == DEFAULT_KEEPALIVES_IDLE {
        config.keepalives_idle(timeout);
    }
    if config.get_keepalives_interval().is_none() {
        config.keepalives_interval(KEEPALIVE_INTERVAL);
    }
    if config.get_keepalives_retries().is_none() {
        config.keepalives_retries(KEEPALIVE_RETRIES);
    }
    let server = format!(
        "-c statement_timeout={} -c tcp_keepalives_idle={} -c tcp_keepalives_interval={} \
         -c tcp_keepalives_count={KEEPALIVE_RETRIES}",
        timeout.as_millis(),
        timeout.as_secs().max(1),
        KEEPALIVE_INTERVAL.as_secs(),
    );
    let options = match config.get_options() {
        Some(own) if !own.trim().is_empty() => format!("{server} {own}"),
        _ => server,
    };
    config.options(options);
    config
}

/// The connection settings for start-up and `issuer migrate`: a connect timeout and the TCP
/// bounds of [`bounded`], but no statement timeout (a migration may take its time).
pub fn startup(mut postgres: Postgres, timeout: Duration) -> Postgres {
    let config = &mut postgres.config;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(timeout);
    }
    if config.get_tcp_user_timeout().is_none() {
        config.tcp_user_timeout(timeout + REPLY_GRACE);
    }
    postgres
}

/// Creates the database if it does not exist, then applies pending migrations. Several
/// issuers starting at once serialise on an advisory lock.
pub async fn prepare(postgres: &Postgres) -> Result<(), anyhow::Error> {
    create_database_if_missing(postgres).await?;
    let (mut client, connection) = postgres.config.connect(postgres.tls.clone()).await?;
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

/// Applies the migrations up to and including `version` only, as an older issuer would have
/// left the database; for tests of upgrades on a populated database.
pub async fn migrate_to(
    client: &mut tokio_postgres::Client,
    version: i32,
) -> Result<(), anyhow::Error> {
    embedded::migrations::runner()
        .set_target(refinery::Target::Version(version))
        .run_async(client)
        .await?;
    Ok(())
}

async fn create_database_if_missing(postgres: &Postgres) -> Result<(), anyhow::Error> {
    let config = &postgres.config;
    let err = match config.connect(postgres.tls.clone()).await {
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
    let (client, connection) = admin.connect(postgres.tls.clone()).await?;
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

/// `SELECT 1` for the health check, within a [`deadline`].
pub async fn ping(pool: &Pool) -> Result<(), DbError> {
    deadline(pool, async {
        client(pool).await?.simple_query("SELECT 1").await?;
        Ok(())
    })
    .await
}

/// Whether every migration this build embeds is recorded as applied (false when the history
/// table itself is missing), within a [`deadline`] like [`ping`]. A successful answer also
/// means Postgres is reachable.
pub async fn migrations_applied(pool: &Pool) -> Result<bool, DbError> {
    deadline(pool, async {
        let client = client(pool).await?;
        let rows = match client
            .query("SELECT version::bigint FROM refinery_schema_history", &[])
            .await
        {
            Ok(rows) => rows,
            Err(err) if err.code() == Some(&SqlState::UNDEFINED_TABLE) => return Ok(false),
            Err(err) => return Err(err.into()),
        };
        let applied: std::collections::HashSet<i64> =
            rows.iter().map(|row| row.get::<_, i64>(0)).collect();
        Ok(embedded::migrations::runner()
            .get_migrations()
            .iter()
            .all(|migration| applied.contains(&i64::from(migration.version()))))
    })
    .await
}

#[cfg(test)]
mod tests {
    use tokio_postgres::NoTls;

    use super::*;

    /// The tests' Postgres: TEST_DATABASE_URL, or the local server.
    fn postgres() -> tokio_postgres::Config {
        std::env::var("TEST_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
            .parse()
            .unwrap()
    }

    /// [`postgres`] with the TLS the issuer would use for it.
    fn target(config: tokio_postgres::Config) -> Postgres {
        Postgres {
            config,
            ..tls::postgres("postgres://h/db", None).unwrap()
        }
    }

    async fn client_direct() -> tokio_postgres::Client {
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
        let pool = pool(target(nowhere), 1, Duration::from_secs(1)).unwrap();
        assert!(is_unavailable(ping(&pool).await.unwrap_err()));
    }

    #[tokio::test]
    async fn programming_errors_without_an_sqlstate_are_query_errors() {
        let client = client_direct().await;

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
    async fn sql_errors_are_query_errors_and_statement_timeouts_unavailable() {
        let client = client_direct().await;

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

        client
            .batch_execute("SET statement_timeout = 50")
            .await
            .unwrap();
        let cancelled = client.simple_query("SELECT pg_sleep(5)").await.unwrap_err();
        assert_eq!(cancelled.code(), Some(&SqlState::QUERY_CANCELED));
        assert!(is_unavailable(cancelled.into()));
    }

    #[tokio::test]
    async fn pool_connections_carry_the_server_side_bounds() {
        let pool = pool(target(postgres()), 1, Duration::from_secs(3)).unwrap();
        let client = pool.get().await.unwrap();
        let show = |setting: &'static str| {
            let client = &client;
            async move {
                let rows = client
                    .simple_query(&format!("SHOW {setting}"))
                    .await
                    .unwrap();
                rows.iter()
                    .find_map(|m| match m {
                        tokio_postgres::SimpleQueryMessage::Row(row) => {
                            row.get(0).map(str::to_owned)
                        }
                        _ => None,
                    })
                    .unwrap()
            }
        };
        assert_eq!(show("statement_timeout").await, "3s");
        assert_eq!(show("tcp_keepalives_idle").await, "3");
        assert_eq!(show("tcp_keepalives_count").await, "3");
        drop(client);
        ping(&pool).await.unwrap();
    }

    fn free_port() -> u16 {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    }

    #[tokio::test]
    async fn pool_connections_open_on_the_first_host_that_answers() {
        let config: tokio_postgres::Config = format!(
            "host=127.0.0.1,127.0.0.1 port={},5432 user=postgres dbname=postgres",
            free_port()
        )
        .parse()
        .unwrap();
        let pool = pool(target(config), 1, Duration::from_secs(2)).unwrap();
        ping(&pool).await.unwrap();
    }

    /// The backend process of a pooled connection.
    async fn backend(pool: &Pool) -> i32 {
        let client = client(pool).await.unwrap();
        let row = client
            .query_one("SELECT pg_backend_pid()", &[])
            .await
            .unwrap();
        row.get(0)
    }

    #[tokio::test]
    async fn a_use_case_past_its_deadline_answers_unavailable_and_its_connection_is_not_reused() {
        // The URL turns the server-side bound off, so only the deadline can end the wait, and
        // has the server look for a vanished client while it sleeps.
        let mut config = postgres();
        config.options("-c statement_timeout=0 -c client_connection_check_interval=100");
        let pool = pool(target(config), 1, Duration::from_secs(1)).unwrap();
        let stalled = backend(&pool).await;

        let err = deadline(&pool, async {
            let client = client(&pool).await?;
            client.simple_query("SELECT pg_sleep(60)").await?;
            Ok::<_, DbError>(())
        })
        .await
        .unwrap_err();

        assert!(is_unavailable(err));
        assert_eq!(pool.status().size, 0, "the stalled connection went back");
        assert_ne!(backend(&pool).await, stalled);
        // The connection was closed, not just left aside: the server sees the client go.
        let admin = self::client_direct().await;
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            let rows = admin
                .query("SELECT 1 FROM pg_stat_activity WHERE pid = $1", &[&stalled])
                .await
                .unwrap();
            if rows.is_empty() {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "backend {stalled} lives on"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    #[tokio::test]
    async fn work_within_the_deadline_keeps_its_connection() {
        let pool = pool(target(postgres()), 1, Duration::from_secs(2)).unwrap();
        let first = backend(&pool).await;
        let answer = deadline(&pool, async {
            let client = client(&pool).await?;
            client.simple_query("SELECT 1").await?;
            Ok::<_, DbError>(7)
        })
        .await
        .unwrap();
        assert_eq!(answer, 7);
        assert_eq!(backend(&pool).await, first);
    }

    #[test]
    fn the_url_keeps_its_own_bounds_and_options() {
        let config: tokio_postgres::Config =
            "postgres://u@h/db?connect_timeout=9&options=-c%20statement_timeout%3D7000"
                .parse()
                .unwrap();
        let bounded = bounded(config, Duration::from_secs(2));
        assert_eq!(bounded.get_connect_timeout(), Some(&Duration::from_secs(9)));
        assert_eq!(
            bounded.get_tcp_user_timeout(),
            Some(&Duration::from_secs(3))
        );
        assert_eq!(bounded.get_keepalives_idle(), Duration::from_secs(2));
        let options = bounded.get_options().unwrap();
        assert!(
            options.starts_with("-c statement_timeout=2000 "),
            "{options}"
        );
        assert!(options.ends_with(" -c statement_timeout=7000"), "{options}");
    }
}
