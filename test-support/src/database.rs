//! The tests' Postgres, `TEST_DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`): URLs to databases of its, a name for a
//! test's own database, and `psql` for assertions and clean-up.

use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

/// Test databases' names start with this, then their creation time in seconds and a unique
/// part: `t_<seconds>_<uuid>`; a sweep drops the ones a killed run left behind.
pub const PREFIX: &str = "t_";

/// `TEST_DATABASE_URL`, or the local server.
pub fn base_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// A new database name of a test's own: `t_<now in seconds>_<uuid>`.
pub fn unique_name() -> String {
    format!(
        "{PREFIX}{}_{}",
        now_seconds(),
        uuid::Uuid::new_v4().simple()
    )
}

/// Whether `name` is a test database created over an hour ago, by [`unique_name`].
pub fn is_stale(name: &str) -> bool {
    let stamp = name
        .strip_prefix(PREFIX)
        .and_then(|rest| rest.split('_').next())
        .and_then(|stamp| stamp.parse::<u64>().ok());
    stamp.is_some_and(|stamp| now_seconds().saturating_sub(stamp) > 3600)
}

fn now_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

/// The tests' Postgres with its database replaced by `database`.
pub fn database_url(database: &str) -> String {
    let (url, _) = database_url_via(database, None);
    url
}

/// [`database_url`], with the server replaced by `via` (`host:port`, e.g. a proxy) when given,
/// and the real server's `host:port`.
pub fn database_url_via(database: &str, via: Option<&str>) -> (String, String) {
    let base = base_url();
    let (scheme, rest) = base.split_once("://").unwrap_or(("postgres", &base));
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    let query = rest.split_once('?').map(|(_, q)| format!("?{q}"));
    let (user, server) = match authority.rsplit_once('@') {
        Some((user, server)) => (format!("{user}@"), server),
        None => (String::new(), authority),
    };
    let server = if server.contains(':') {
        server.to_owned()
    } else {
        format!("{server}:5432")
    };
    let url = format!(
        "{scheme}://{user}{}/{database}{}",
        via.unwrap_or(&server),
        query.unwrap_or_default()
    );
    (url, server)
}

/// The first column of the rows `sql` returns in `database`, one a line, trimmed; or what
/// `psql` said when it failed.
pub fn try_psql(database: &str, sql: &str) -> Result<String, String> {
    let output = Command::new("psql")
        .arg(database_url(database))
        .args(["-tAc", sql])
        .output()
        .map_err(|err| format!("psql does not run: {err}"))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

/// [`try_psql`], empty on any error.
pub fn psql(database: &str, sql: &str) -> String {
    try_psql(database, sql).unwrap_or_default()
}

/// Drops `database` if it exists, closing its connections.
pub fn drop_database(database: &str) {
    let _ = try_psql(
        "postgres",
        &format!("DROP DATABASE IF EXISTS \"{database}\" WITH (FORCE)"),
    );
}
