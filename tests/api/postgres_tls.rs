//! The issuer reaches Postgres over TLS as `sslmode` in DATABASE_URL asks, against a private
//! Postgres that refuses connections without TLS.

use std::collections::HashMap;
use std::net::SocketAddr;

use issuer::app::App;
use issuer::config::IssuerConfig;
use serde_json::Value;
use tokio::sync::oneshot;
use uuid::Uuid;

use crate::harness::private_postgres::{PrivatePostgres, TestCa};
use crate::harness::{nats_url, unique_email, Reply, PASSWORD, SECRET};

/// An issuer whose only database is `database_url` (plus `extra` settings).
struct Issuer {
    addr: SocketAddr,
    http: reqwest::Client,
    _shutdown: oneshot::Sender<()>,
}

async fn issuer_on(database_url: &str, extra: &[(&str, &str)]) -> Issuer {
    let id = Uuid::new_v4().simple().to_string();
    let mut env: HashMap<String, String> = [
        ("DATABASE_URL", database_url.to_owned()),
        ("DATABASE_TIMEOUT_SECONDS", "2".to_owned()),
        ("JWT_SECRET_KEY", SECRET.to_owned()),
        ("ISSUER_ADDR", "127.0.0.1:0".to_owned()),
        ("NATS_URL", nats_url()),
        ("NATS_STREAM", format!("TEST_{id}")),
        ("NATS_SUBJECT_PREFIX", format!("t{id}")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    env.extend(
        extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    let lookup = move |k: &str| env.get(k).cloned();
    let config = IssuerConfig::from_lookup(&lookup).unwrap_or_else(|err| panic!("config: {err}"));
    let app = App::build(config).await.unwrap();
    let addr = app.local_addr().unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    tokio::spawn(app.run_until(async {
        let _ = rx.await;
    }));
    Issuer {
        addr,
        http: reqwest::Client::new(),
        _shutdown: tx,
    }
}

impl Issuer {
    async fn register(&self, email: &str) -> Reply {
        let response = self
            .http
            .post(format!("http://{}/api/v1/auth/register", self.addr))
            .json(&test_support::accounts::register_body(email, PASSWORD))
            .send()
            .await
            .unwrap();
        Reply::read(response).await
    }

    async fn ready(&self) -> (u16, Value) {
        let response = self
            .http
            .get(format!("http://{}/health/ready", self.addr))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap())
    }
}

/// Rows of `sql` in `database` on `server`, read over TLS with the issuer's own settings.
async fn count(server: &PrivatePostgres, ca_file: &str, database: &str, sql: &str) -> i64 {
    let url = server.url(
        database,
        &format!("sslmode=verify-full&sslrootcert={ca_file}"),
    );
    let postgres = issuer::db::tls::postgres(&url, None).unwrap();
    let (client, connection) = postgres.config.connect(postgres.tls).await.unwrap();
    tokio::spawn(connection);
    client.query_one(sql, &[]).await.unwrap().get(0)
}

/// Registers a user through `issuer` and checks the row arrived, on a connection that used TLS.
async fn registers_over_tls(issuer: &Issuer, server: &PrivatePostgres, ca_file: &str, db: &str) {
    let email = unique_email();
    issuer.register(&email).await.assert_success(201);
    let users = count(
        server,
        ca_file,
        db,
        &format!("SELECT count(*) FROM users WHERE email = '{email}'"),
    )
    .await;
    assert_eq!(users, 1);
    let issuer_tls = count(
        server,
        ca_file,
        "postgres",
        &format!(
            "SELECT count(*) FROM pg_stat_ssl JOIN pg_stat_activity USING (pid) \
             WHERE datname = '{db}' AND pid <> pg_backend_pid() AND ssl"
        ),
    )
    .await;
    assert!(issuer_tls > 0, "no TLS connection of the issuer's");
}

#[tokio::test]
async fn with_sslmode_require_the_issuer_registers_over_tls() {
    let ca = TestCa::new();
    let server = PrivatePostgres::start(&ca);
    let ca_file = server.write("ca.pem", &ca.pem);
    let issuer = issuer_on(&server.url("auth", "sslmode=require"), &[]).await;
    registers_over_tls(&issuer, &server, &ca_file, "auth").await;
}

#[tokio::test]
async fn with_sslmode_verify_full_and_the_right_ca_the_issuer_registers() {
    let ca = TestCa::new();
    let server = PrivatePostgres::start(&ca);
    let ca_file = server.write("ca.pem", &ca.pem);

    // The CA named in the URL…
    let url = server.url(
        "in_url",
        &format!("sslmode=verify-full&sslrootcert={ca_file}"),
    );
    let issuer = issuer_on(&url, &[]).await;
    registers_over_tls(&issuer, &server, &ca_file, "in_url").await;

    // …or by DATABASE_CA_FILE.
    let url = server.url("in_setting", "sslmode=verify-full");
    let issuer = issuer_on(&url, &[("DATABASE_CA_FILE", &ca_file)]).await;
    registers_over_tls(&issuer, &server, &ca_file, "in_setting").await;
}

#[tokio::test]
async fn verify_full_checks_the_host_name_and_verify_ca_only_the_chain() {
    let ca = TestCa::new();
    let server = PrivatePostgres::start_as(&ca, &["db.internal.example"]);
    let ca_file = server.write("ca.pem", &ca.pem);

    let url = server.url(
        "full",
        &format!("sslmode=verify-full&sslrootcert={ca_file}"),
    );
    refuses_the_database(&issuer_on(&url, &[]).await).await;

    let url = server.url("chain", &format!("sslmode=verify-ca&sslrootcert={ca_file}"));
    let issuer = issuer_on(&url, &[]).await;
    issuer.register(&unique_email()).await.assert_success(201);

    // And require with a CA is verify-ca (libpq): another CA is refused.
    let other = server.write("other-ca.pem", &TestCa::new().pem);
    let url = server.url("require", &format!("sslmode=require&sslrootcert={other}"));
    refuses_the_database(&issuer_on(&url, &[]).await).await;
}

/// The API answers 503 and /health/ready says the database is unreachable; the log may say
/// more, but nothing the issuer answers carries the password.
async fn refuses_the_database(issuer: &Issuer) {
    let reply = issuer.register(&unique_email()).await;
    reply.assert_error(503, "SERVICE_UNAVAILABLE");
    assert!(!format!("{:?}", reply.body).contains("not-a-real-password"));
    let (status, body) = issuer.ready().await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["database"], "disconnected", "{body}");
    assert_eq!(body["reason"], "the database is unreachable", "{body}");
    assert!(!body.to_string().contains("not-a-real-password"), "{body}");
}

#[tokio::test]
async fn with_sslmode_verify_full_and_another_ca_the_issuer_refuses_the_server() {
    let ca = TestCa::new();
    let server = PrivatePostgres::start(&ca);
    let other = server.write("other-ca.pem", &TestCa::new().pem);
    let url = server.url("auth", "sslmode=verify-full");
    let issuer = issuer_on(&url, &[("DATABASE_CA_FILE", &other)]).await;
    refuses_the_database(&issuer).await;
    let ca_file = server.write("ca.pem", &ca.pem);
    let databases = count(
        &server,
        &ca_file,
        "postgres",
        "SELECT count(*) FROM pg_database WHERE datname = 'auth'",
    )
    .await;
    assert_eq!(databases, 0, "the issuer reached the server");
}

#[tokio::test]
async fn with_sslmode_disable_a_server_that_requires_tls_is_refused() {
    let ca = TestCa::new();
    let server = PrivatePostgres::start(&ca);
    let issuer = issuer_on(&server.url("auth", "sslmode=disable"), &[]).await;
    refuses_the_database(&issuer).await;
}
