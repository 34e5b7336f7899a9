//! The issuer under test, built in process on port 0 with a database and a NATS stream of its
//! own, and a typed client with one method per endpoint.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Once};
use std::time::Duration;

use issuer::app::App;
use issuer::config::IssuerConfig;
use issuer::state::AppState;
use serde_json::{json, Value};
use test_support::accounts::{register_body, PASSWORD};
use test_support::nats::NatsSettings;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::client::{post_raw, Reply};
use super::database::{connect, drop_database, new_database};

pub const SECRET: &str = "integration-test-secret-0123456789abcdef";

fn init_tracing() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        if std::env::var("TEST_LOG").is_ok() {
            common::telemetry::init("debug");
        }
    });
}

/// The issuer under test, with a direct connection to its database for assertions.
pub struct TestIssuer {
    pub addr: SocketAddr,
    pub state: Arc<AppState>,
    pub db: tokio_postgres::Client,
    pub http: reqwest::Client,
    /// The DATABASE_URL this issuer was given.
    pub database_url: String,
    /// This test's own JetStream stream, subject prefix and server.
    pub nats: NatsSettings,
    database: String,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
}

/// Builds an issuer on port 0 with its own database; `tweak` adjusts the environment.
pub async fn spawn_issuer_with(tweak: impl FnOnce(&mut HashMap<String, String>)) -> TestIssuer {
    spawn_issuer_at(None, tweak).await
}

/// An issuer on port 0 with its own database and the tests' settings.
pub async fn spawn_issuer() -> TestIssuer {
    spawn_issuer_at(None, |_| {}).await
}

/// Like `spawn_issuer_with`, with the issuer reaching Postgres through `via` (a proxy).
pub async fn spawn_issuer_at(
    via: Option<SocketAddr>,
    tweak: impl FnOnce(&mut HashMap<String, String>),
) -> TestIssuer {
    init_tracing();
    let (_, url) = new_database(via).await;

    let nats = NatsSettings::unique();
    let mut env: HashMap<String, String> = [
        ("NATS_URL", nats.url.as_str()),
        ("NATS_STREAM", nats.stream.as_str()),
        ("NATS_SUBJECT_PREFIX", nats.prefix.as_str()),
        ("DATABASE_URL", url.as_str()),
        ("JWT_SECRET_KEY", SECRET),
        ("ISSUER_ADDR", "127.0.0.1:0"),
        ("DATABASE_POOL_SIZE", "5"),
        ("SHUTDOWN_GRACE_SECONDS", "2"),
        // Limits and lockout out of the way; their own tests set them.
        ("RATE_LIMIT_LOGIN_PER_IP_PER_MINUTE", "1000000"),
        ("RATE_LIMIT_LOGIN_PER_ACCOUNT_PER_MINUTE", "1000000"),
        ("RATE_LIMIT_REGISTER_PER_IP_PER_HOUR", "1000000"),
        ("RATE_LIMIT_REGISTER_PER_ACCOUNT_PER_HOUR", "1000000"),
        ("RATE_LIMIT_RESEND_PER_IP_PER_HOUR", "1000000"),
        ("RATE_LIMIT_RESEND_PER_ACCOUNT_PER_HOUR", "1000000"),
        ("LOGIN_LOCKOUT_THRESHOLD", "1000000"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    tweak(&mut env);
    let database_url = env.get("DATABASE_URL").cloned().unwrap_or_default();
    let nats = NatsSettings {
        url: env.get("NATS_URL").cloned().unwrap_or_default(),
        stream: env.get("NATS_STREAM").cloned().unwrap_or_default(),
        prefix: env.get("NATS_SUBJECT_PREFIX").cloned().unwrap_or_default(),
    };
    let lookup = move |k: &str| env.get(k).cloned();
    let config =
        IssuerConfig::from_lookup(&lookup).unwrap_or_else(|err| panic!("test config: {err}"));
    let app = App::build(config)
        .await
        .unwrap_or_else(|err| panic!("issuer did not build: {err:#}"));
    let addr = app
        .local_addr()
        .unwrap_or_else(|err| panic!("no local address: {err}"));
    let state = app.state();
    let (tx, rx) = oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async {
        let _ = rx.await;
    }));

    // Straight to Postgres (never through the proxy), to the database the issuer was given.
    let given: tokio_postgres::Config = database_url
        .parse()
        .unwrap_or_else(|err| panic!("DATABASE_URL: {err}"));
    let database = given.get_dbname().unwrap_or_default().to_owned();
    let db = connect(&database).await;

    TestIssuer {
        addr,
        state,
        db,
        http: reqwest::Client::new(),
        database_url,
        nats,
        database,
        shutdown: Some(tx),
        server: Some(server),
    }
}

impl TestIssuer {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    async fn reply(response: reqwest::Response) -> Reply {
        Reply::read(response).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        let response = self
            .http
            .post(self.url(path))
            .json(&body)
            .send()
            .await
            .unwrap_or_else(|err| panic!("POST {path}: {err}"));
        Self::reply(response).await
    }

    /// A POST that claims to come from `ip` through a proxy: the issuer believes it only when
    /// started with `TRUSTED_PROXIES=127.0.0.1/32`.
    pub async fn post_from(&self, ip: &str, path: &str, body: Value) -> Reply {
        let response = self
            .http
            .post(self.url(path))
            .header("x-forwarded-for", ip)
            .json(&body)
            .send()
            .await
            .unwrap_or_else(|err| panic!("POST {path}: {err}"));
        Self::reply(response).await
    }

    pub async fn post_raw(&self, path: &str, content_type: &str, body: Vec<u8>) -> Reply {
        post_raw(&self.http, self.url(path), content_type, body).await
    }

    pub async fn get(&self, path: &str, bearer: Option<&str>) -> Reply {
        self.call("GET", path, bearer, None).await
    }

    /// Any request, with an optional bearer token and JSON body.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        bearer: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let method = reqwest::Method::from_bytes(method.as_bytes())
            .unwrap_or_else(|err| panic!("{method}: {err}"));
        let mut request = self.http.request(method.clone(), self.url(path));
        if let Some(token) = bearer {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|err| panic!("{method} {path}: {err}"));
        Self::reply(response).await
    }

    pub async fn register(&self, email: &str, password: &str) -> Reply {
        self.post("/api/v1/auth/register", register_body(email, password))
            .await
    }

    pub async fn login(&self, email: &str, password: &str) -> Reply {
        self.post(
            "/api/v1/auth/login",
            json!({"email": email, "password": password}),
        )
        .await
    }

    pub async fn refresh(&self, refresh_token: &str) -> Reply {
        self.post(
            "/api/v1/auth/refresh",
            json!({"refresh_token": refresh_token}),
        )
        .await
    }

    pub async fn logout(&self, refresh_token: &str) -> Reply {
        self.post(
            "/api/v1/auth/logout",
            json!({"refresh_token": refresh_token}),
        )
        .await
    }

    pub async fn validate(&self, token: &str) -> Reply {
        self.post("/api/v1/auth/validate-token", json!({"token": token}))
            .await
    }

    pub async fn verify_email(&self, token: &str) -> Reply {
        self.post("/api/v1/auth/verify-email", json!({"token": token}))
            .await
    }

    /// Asserts `GET /health` answers 200 with `status: healthy`: the issuer still serves, with
    /// no harm done.
    pub async fn assert_healthy(&self) {
        let health = self.get("/health", None).await;
        assert_eq!(
            (health.status, health.body["status"].as_str()),
            (200, Some("healthy")),
            "{}",
            health.body
        );
    }

    /// Registers `email` with the default password and logs in; returns the login data.
    pub async fn signed_in(&self, email: &str) -> Value {
        self.register(email, PASSWORD).await.assert_success(201);
        let login = self.login(email, PASSWORD).await;
        login.assert_success(200);
        login.data().clone()
    }

    /// The payloads of the outbox events of one type, oldest first.
    pub async fn events(&self, event_type: &str) -> Vec<Value> {
        self.db
            .query(
                "SELECT payload FROM outbox WHERE event_type = $1 ORDER BY id",
                &[&event_type],
            )
            .await
            .unwrap_or_else(|err| panic!("outbox query: {err}"))
            .iter()
            .map(|row| row.get::<_, Value>(0))
            .collect()
    }

    /// The failed-login count the lockout keeps for `email`; 0 when it keeps none.
    pub async fn login_failures(&self, email: &str) -> i32 {
        self.db
            .query_opt(
                "SELECT failures FROM login_failures WHERE email = $1",
                &[&email],
            )
            .await
            .unwrap_or_else(|err| panic!("login_failures: {err}"))
            .map_or(0, |row| row.get(0))
    }

    /// Whether the account of `email` has its address verified; false when there is none.
    pub async fn email_verified(&self, email: &str) -> bool {
        self.db
            .query_opt(
                "SELECT is_email_verified FROM users WHERE email = $1",
                &[&email],
            )
            .await
            .unwrap_or_else(|err| panic!("users: {err}"))
            .is_some_and(|row| row.get(0))
    }

    /// The text of `GET /metrics`.
    pub async fn metrics_text(&self) -> String {
        let response = self.http.get(self.url("/metrics")).send().await;
        response
            .unwrap_or_else(|err| panic!("GET /metrics: {err}"))
            .text()
            .await
            .unwrap_or_else(|err| panic!("GET /metrics body: {err}"))
    }

    /// The value of one series of `GET /metrics`, written exactly as exposed; `None` when it
    /// is not there.
    pub async fn metric(&self, series: &str) -> Option<f64> {
        self.metrics_text()
            .await
            .lines()
            .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
    }

    /// Outbox rows not yet published.
    pub async fn unsent_events(&self) -> i64 {
        self.db
            .query_one(
                "SELECT count(*) FROM outbox WHERE published_at IS NULL",
                &[],
            )
            .await
            .unwrap()
            .get(0)
    }

    /// The verification token the mailer would receive for `email` (the latest one): from its
    /// outbox row while the event waits there, else from the stream (the relay removes the
    /// token from a row when it marks it sent).
    pub async fn verification_token(&self, email: &str) -> String {
        let row = self
            .db
            .query_opt(
                "SELECT event_id::text, payload->'data'->>'email_verification_token' FROM outbox \
                 WHERE event_type IN ('user.registered', 'user.verification_requested') \
                 AND payload->'data'->>'email' = $1 ORDER BY id DESC LIMIT 1",
                &[&email],
            )
            .await
            .unwrap_or_else(|err| panic!("outbox query: {err}"))
            .unwrap_or_else(|| panic!("no verification event for {email}"));
        if let Some(token) = row.get::<_, Option<String>>(1) {
            return token;
        }
        let event_id: String = row.get(0);
        self.nats
            .message(&event_id, Duration::from_secs(10))
            .await
            .and_then(|event| {
                event["data"]["email_verification_token"]
                    .as_str()
                    .map(str::to_owned)
            })
            .unwrap_or_else(|| panic!("no verification token for {email} in the stream"))
    }

    /// Stops the server and waits for it to drain.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }
}

impl Drop for TestIssuer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let database = self.database.clone();
        let nats = self.nats.clone();
        // The test's runtime is ending; clean up from a runtime of our own.
        let _ = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async {
                drop_database(&database).await;
                nats.delete_stream().await;
            });
        })
        .join();
    }
}
