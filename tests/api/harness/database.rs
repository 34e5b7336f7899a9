//! A test's own database on the tests' Postgres: its URL (direct or through a proxy), a
//! connection for assertions, and its removal, with a sweep of what killed runs left behind.

use std::sync::atomic::{AtomicBool, Ordering};

use test_support::database::{base_url, is_stale, unique_name};

/// The tests' Postgres as a client configuration.
pub fn base_config() -> tokio_postgres::Config {
    base_url()
        .parse()
        .unwrap_or_else(|err| panic!("TEST_DATABASE_URL is not a postgres URL: {err}"))
}

/// The tests' Postgres as `host:port`, for a proxy in front of it.
pub fn server() -> String {
    let base = base_config();
    format!("{}:{}", tcp_host(&base), port(&base))
}

/// A new database name of the test's own (it is created by the issuer's migrations) and its
/// URL, reaching Postgres through `via` when given.
pub async fn new_database(via: Option<std::net::SocketAddr>) -> (String, String) {
    sweep_stale_databases().await;
    let name = unique_name();
    let base = base_config();
    let (host, port) = match via {
        Some(addr) => (addr.ip().to_string(), addr.port()),
        None => (tcp_host(&base), port(&base)),
    };
    let url = postgres_url(&base, &host, port, &name);
    (name, url)
}

/// A postgres:// URL with the base URL's user and password, for another host, port or database.
fn postgres_url(base: &tokio_postgres::Config, host: &str, port: u16, database: &str) -> String {
    let user = base.get_user().unwrap_or("postgres");
    let password = base
        .get_password()
        .map(|p| format!(":{}", String::from_utf8_lossy(p)))
        .unwrap_or_default();
    format!("postgres://{user}{password}@{host}:{port}/{database}")
}

fn tcp_host(config: &tokio_postgres::Config) -> String {
    match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(host)) => host.clone(),
        _ => "127.0.0.1".to_owned(),
    }
}

fn port(config: &tokio_postgres::Config) -> u16 {
    config.get_ports().first().copied().unwrap_or(5432)
}

/// A connection straight to `database` on the tests' Postgres (never through a proxy), for
/// assertions.
pub async fn connect(database: &str) -> tokio_postgres::Client {
    let mut direct = base_config();
    direct.dbname(database);
    let (client, connection) = direct
        .connect(tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|err| panic!("cannot connect to the test database: {err}"));
    tokio::spawn(connection);
    client
}

async fn admin() -> Option<tokio_postgres::Client> {
    let (client, connection) = base_config().connect(tokio_postgres::NoTls).await.ok()?;
    tokio::spawn(connection);
    Some(client)
}

/// Drops `name` if it exists, closing its connections.
pub async fn drop_database(name: &str) {
    if let Some(client) = admin().await {
        let _ = client
            .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
            .await;
    }
}

/// Drops test databases left by runs that were killed, once per process. Names carry their
/// creation time; only those over an hour old are touched, so parallel runs are safe.
async fn sweep_stale_databases() {
    static SWEPT: AtomicBool = AtomicBool::new(false);
    if SWEPT.swap(true, Ordering::SeqCst) {
        return;
    }
    let Some(client) = admin().await else { return };
    let Ok(rows) = client
        .query(
            "SELECT datname FROM pg_database WHERE datname LIKE 't\\_%\\_%'",
            &[],
        )
        .await
    else {
        return;
    };
    for row in rows {
        let name: String = row.get(0);
        if is_stale(&name) {
            drop_database(&name).await;
        }
    }
}

/// Creates an empty database of the test's own and returns its name (dropped by the issuer that
/// is given it, or swept if the test is killed).
pub async fn create_database() -> String {
    let name = unique_name();
    admin()
        .await
        .unwrap_or_else(|| panic!("cannot connect to the tests' Postgres"))
        .batch_execute(&format!("CREATE DATABASE \"{name}\""))
        .await
        .unwrap_or_else(|err| panic!("CREATE DATABASE: {err}"));
    name
}
