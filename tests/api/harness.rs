//! Test fixtures: a private database per test, the issuer built in process on port 0, a typed
//! client with one method per endpoint, and a TCP proxy that can cut Postgres off.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::jwt::{KeySet, TokenCodec, TokenSettings};
use issuer::app::App;
use issuer::config::IssuerConfig;
use issuer::state::AppState;
use serde_json::{json, Value};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use uuid::Uuid;

pub const SECRET: &str = "integration-test-secret-0123456789abcdef";
pub const PASSWORD: &str = "Correct-Horse-9";

/// Where the tests' Postgres is: TEST_DATABASE_URL, or the local server.
fn base_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

pub fn base_config() -> tokio_postgres::Config {
    base_url()
        .parse()
        .unwrap_or_else(|err| panic!("TEST_DATABASE_URL is not a postgres URL: {err}"))
}

/// Where the tests' NATS is: TEST_NATS_URL, or the local server.
pub fn nats_url() -> String {
    std::env::var("TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".to_owned())
}

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

pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Reply {
    /// Status, headers and the body as JSON (`null` when it is not JSON).
    pub async fn read(response: reqwest::Response) -> Reply {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.unwrap_or_default();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            body,
        }
    }

    pub fn data(&self) -> &Value {
        &self.body["data"]
    }
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// Asserts an error envelope: status, code, `success: false`, RFC 3339 timestamp.
    #[track_caller]
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(
            (self.status, self.code()),
            (status, code),
            "body: {}",
            self.body
        );
        assert_eq!(self.body["success"], false, "body: {}", self.body);
        assert!(self.body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()));
        assert_timestamp(&self.body["timestamp"]);
        assert!(!self.header("x-request-id").is_empty());
    }

    #[track_caller]
    pub fn assert_success(&self, status: u16) {
        assert_eq!(self.status, status, "body: {}", self.body);
        assert_eq!(self.body["success"], true, "body: {}", self.body);
        assert_timestamp(&self.body["timestamp"]);
    }
}

#[track_caller]
pub fn assert_timestamp(value: &Value) {
    let text = value.as_str().unwrap_or_default();
    assert!(
        chrono::DateTime::parse_from_rfc3339(text).is_ok() && text.ends_with('Z'),
        "not an RFC 3339 UTC timestamp: {value}"
    );
}

/// Builds an issuer on port 0 with its own database; `tweak` adjusts the environment.
pub async fn spawn_issuer_with(tweak: impl FnOnce(&mut HashMap<String, String>)) -> TestIssuer {
    spawn_issuer_at(None, tweak).await
}

pub async fn spawn_issuer() -> TestIssuer {
    spawn_issuer_at(None, |_| {}).await
}

/// Like `spawn_issuer_with`, with the issuer reaching Postgres through `via` (a proxy).
pub async fn spawn_issuer_at(
    via: Option<SocketAddr>,
    tweak: impl FnOnce(&mut HashMap<String, String>),
) -> TestIssuer {
    init_tracing();
    sweep_stale_databases().await;
    let stamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let database = format!("t_{stamp}_{}", Uuid::new_v4().simple());
    let base = base_config();
    let (host, port) = match via {
        Some(addr) => (addr.ip().to_string(), addr.port()),
        None => (
            tcp_host(&base),
            base.get_ports().first().copied().unwrap_or(5432),
        ),
    };
    let url = postgres_url(&base, &host, port, &database);

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
    let mut direct = base.clone();
    direct.dbname(&database);
    let (db, connection) = direct
        .connect(tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|err| panic!("cannot connect to the test database: {err}"));
    tokio::spawn(connection);

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
        let mut request = self.http.get(self.url(path));
        if let Some(token) = bearer {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|err| panic!("GET {path}: {err}"));
        Self::reply(response).await
    }

    pub async fn register(&self, email: &str, password: &str) -> Reply {
        self.post(
            "/api/v1/auth/register",
            json!({"email": email, "password": password, "password_confirmation": password}),
        )
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

    /// Outbox rows not yet published.
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

async fn admin() -> Option<tokio_postgres::Client> {
    let (client, connection) = base_config().connect(tokio_postgres::NoTls).await.ok()?;
    tokio::spawn(connection);
    Some(client)
}

async fn drop_database(name: &str) {
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
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    for row in rows {
        let name: String = row.get(0);
        let stamp = name.split('_').nth(1).and_then(|s| s.parse::<u64>().ok());
        if stamp.is_some_and(|s| now.saturating_sub(s) > 3600) {
            let _ = client
                .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                .await;
        }
    }
}

/// The codec the issuer under test uses, for decoding and forging tokens in assertions.
/// Access claims for a new user and session, valid for an hour, as the issuer would sign them.
pub fn access_claims(email_verified: bool) -> common::jwt::AccessClaims {
    let now = chrono::Utc::now().timestamp();
    common::jwt::AccessClaims {
        iss: "auth-service".into(),
        sub: Uuid::new_v4(),
        email: unique_email(),
        email_verified,
        typ: common::jwt::TokenType::Access,
        sid: Uuid::new_v4(),
        jti: Uuid::new_v4(),
        iat: now,
        exp: now + 3600,
    }
}

/// `claims` signed with the tests' key, as the issuer signs them.
pub fn sign_access(claims: &common::jwt::AccessClaims) -> String {
    codec()
        .sign_access(claims)
        .unwrap_or_else(|err| panic!("sign: {err}"))
}

/// A token with exactly this header and these claims, signed with `secret`: for tokens the
/// issuer would never make.
pub fn forge(header: &Value, claims: &Value, secret: &str) -> String {
    common::jwt::raw::sign_raw(header, claims, secret.as_bytes())
        .unwrap_or_else(|err| panic!("forge: {err}"))
}

/// The header the issuer writes.
pub fn default_header() -> Value {
    json!({"alg": "HS256", "typ": "JWT", "kid": "default"})
}

pub fn codec() -> TokenCodec {
    let keys = KeySet::new(vec![("default".into(), SECRET.as_bytes().to_vec())], None)
        .unwrap_or_else(|err| panic!("test key: {err}"));
    TokenCodec::new(TokenSettings {
        keys,
        issuer: "auth-service".into(),
        access_ttl: chrono::TimeDelta::hours(24),
        refresh_ttl: chrono::TimeDelta::days(7),
        leeway_seconds: 30,
    })
}

/// The claims of a token, without validation.
pub fn claims(token: &str) -> Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).unwrap_or_default();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap_or_default();
    serde_json::from_slice(&bytes).unwrap_or(Value::Null)
}

pub fn unique_email() -> String {
    format!("user-{}@example.com", Uuid::new_v4().simple())
}

/// Polls `check` until it returns true or `deadline` passes.
/// `POST url` with exactly these bytes and this content type, for either service.
pub async fn post_raw(
    http: &reqwest::Client,
    url: String,
    content_type: &str,
    body: Vec<u8>,
) -> Reply {
    let response = http
        .post(&url)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap_or_else(|err| panic!("POST {url}: {err}"));
    Reply::read(response).await
}

pub async fn eventually<F, Fut>(deadline: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if check().await {
            return true;
        }
        if start.elapsed() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A TCP proxy that counts the connections it accepts and can cut every connection and refuse
/// new ones, or stall them: in front of Postgres it takes the database away from the issuer and
/// gives it back, or freezes it as a network partition or a hung host would.
pub struct TcpProxy {
    pub addr: SocketAddr,
    broken: Arc<AtomicBool>,
    accepted: Arc<AtomicUsize>,
    stalled: tokio::sync::watch::Sender<bool>,
    connections: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accept: JoinHandle<()>,
}

impl TcpProxy {
    /// In front of the test Postgres.
    pub async fn to_postgres() -> TcpProxy {
        let pg = base_config();
        let upstream = format!(
            "{}:{}",
            tcp_host(&pg),
            pg.get_ports().first().copied().unwrap_or(5432)
        );
        TcpProxy::to(upstream).await
    }

    pub async fn to(upstream: String) -> TcpProxy {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|err| panic!("proxy bind: {err}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|err| panic!("proxy addr: {err}"));
        let broken = Arc::new(AtomicBool::new(false));
        let accepted = Arc::new(AtomicUsize::new(0));
        let (stalled, _) = tokio::sync::watch::channel(false);
        let connections: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let accept = {
            let broken = Arc::clone(&broken);
            let accepted = Arc::clone(&accepted);
            let stalled = stalled.clone();
            let connections = Arc::clone(&connections);
            tokio::spawn(async move {
                while let Ok((inbound, _)) = listener.accept().await {
                    accepted.fetch_add(1, Ordering::SeqCst);
                    if broken.load(Ordering::SeqCst) {
                        continue; // dropping the stream closes it
                    }
                    let upstream = upstream.clone();
                    let stalled = stalled.subscribe();
                    let task = tokio::spawn(async move {
                        if let Ok(outbound) = TcpStream::connect(upstream).await {
                            let (from_client, to_client) = inbound.into_split();
                            let (from_server, to_server) = outbound.into_split();
                            let _ = tokio::try_join!(
                                pump(from_client, to_server, stalled.clone()),
                                pump(from_server, to_client, stalled),
                            );
                        }
                    });
                    if let Ok(mut list) = connections.lock() {
                        list.push(task);
                    }
                }
            })
        };
        TcpProxy {
            addr,
            broken,
            accepted,
            stalled,
            connections,
            accept,
        }
    }

    /// How many connections clients have opened to the proxy so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    /// Closes every proxied connection and refuses new ones.
    pub fn cut(&self) {
        self.broken.store(true, Ordering::SeqCst);
        if let Ok(mut list) = self.connections.lock() {
            for task in list.drain(..) {
                task.abort();
            }
        }
    }

    pub fn restore(&self) {
        self.broken.store(false, Ordering::SeqCst);
    }

    /// Stops forwarding in both directions, on every connection and on new ones it still
    /// accepts, without closing any: bytes wait in the proxy and in the sockets' buffers.
    pub fn stall(&self) {
        self.stalled.send_replace(true);
    }

    /// Forwards again, starting with whatever waited.
    pub fn unstall(&self) {
        self.stalled.send_replace(false);
    }
}

/// Copies one direction of a proxied connection, holding bytes back while stalled.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut stalled: tokio::sync::watch::Receiver<bool>,
) -> std::io::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        if stalled.wait_for(|s| !*s).await.is_err() {
            return Ok(()); // the proxy is gone
        }
        let n = from.read(&mut buf).await?;
        if n == 0 {
            return to.shutdown().await;
        }
        if stalled.wait_for(|s| !*s).await.is_err() {
            return Ok(());
        }
        to.write_all(&buf[..n]).await?;
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.cut();
    }
}

/// A test's own stream and subject prefix, so tests share one NATS server without seeing each
/// other's events.
#[derive(Debug, Clone)]
pub struct NatsSettings {
    pub url: String,
    pub stream: String,
    pub prefix: String,
}

impl NatsSettings {
    pub fn unique() -> Self {
        let id = Uuid::new_v4().simple().to_string();
        NatsSettings {
            url: nats_url(),
            stream: format!("TEST_{id}"),
            prefix: format!("t{id}"),
        }
    }

    /// The settings as environment variables, for a verifier that must follow this issuer.
    pub fn env(&self) -> [(String, String); 3] {
        [
            ("NATS_URL".into(), self.url.clone()),
            ("NATS_STREAM".into(), self.stream.clone()),
            ("NATS_SUBJECT_PREFIX".into(), self.prefix.clone()),
        ]
    }

    pub async fn delete_stream(&self) {
        let connected = tokio::time::timeout(
            Duration::from_secs(2),
            async_nats::connect(self.url.as_str()),
        )
        .await;
        if let Ok(Ok(client)) = connected {
            let _ = async_nats::jetstream::new(client)
                .delete_stream(&self.stream)
                .await;
        }
    }

    /// The payload of the message whose `Nats-Msg-Id` is `event_id`, if the stream holds it.
    pub async fn message(&self, event_id: &str, deadline: Duration) -> Option<Value> {
        use futures::StreamExt;
        let client = async_nats::connect(self.url.as_str()).await.ok()?;
        let stream = async_nats::jetstream::new(client)
            .get_stream(&self.stream)
            .await
            .ok()?;
        let consumer = stream
            .create_consumer(async_nats::jetstream::consumer::pull::OrderedConfig {
                filter_subject: format!("{}.>", self.prefix),
                ..Default::default()
            })
            .await
            .ok()?;
        let mut messages = consumer.messages().await.ok()?;
        let started = Instant::now();
        loop {
            let remaining = deadline.saturating_sub(started.elapsed());
            let message = tokio::time::timeout(remaining, messages.next())
                .await
                .ok()??
                .ok()?;
            let id = message.headers.as_ref().and_then(|h| h.get("Nats-Msg-Id"));
            if id.is_some_and(|id| id.as_str() == event_id) {
                return serde_json::from_slice(&message.payload).ok();
            }
        }
    }

    /// Every message on `<prefix>.<event_type>` (all types for "*") that reached the stream,
    /// waiting until there are at least `count` or `deadline` passes. Returns each message's
    /// `Nats-Msg-Id` and JSON payload, in stream order.
    pub async fn published(
        &self,
        event_type: &str,
        count: usize,
        deadline: Duration,
    ) -> Vec<(String, Value)> {
        use futures::StreamExt;
        let mut found = Vec::new();
        let Ok(client) = async_nats::connect(self.url.as_str()).await else {
            return found;
        };
        let js = async_nats::jetstream::new(client);
        let started = Instant::now();
        // The stream appears when the relay first runs.
        let stream = loop {
            match js.get_stream(&self.stream).await {
                Ok(stream) => break stream,
                Err(_) if started.elapsed() < deadline => {
                    tokio::time::sleep(Duration::from_millis(50)).await
                }
                Err(_) => return found,
            }
        };
        let filter = if event_type == "*" {
            format!("{}.>", self.prefix)
        } else {
            format!("{}.{event_type}", self.prefix)
        };
        let Ok(consumer) = stream
            .create_consumer(async_nats::jetstream::consumer::pull::OrderedConfig {
                filter_subject: filter,
                ..Default::default()
            })
            .await
        else {
            return found;
        };
        let Ok(mut messages) = consumer.messages().await else {
            return found;
        };
        while found.len() < count {
            let remaining = deadline.saturating_sub(started.elapsed());
            match tokio::time::timeout(remaining, messages.next()).await {
                Ok(Some(Ok(message))) => {
                    let id = message
                        .headers
                        .as_ref()
                        .and_then(|h| h.get("Nats-Msg-Id"))
                        .map(|v| v.to_string())
                        .unwrap_or_default();
                    found.push((
                        id,
                        serde_json::from_slice(&message.payload).unwrap_or(Value::Null),
                    ));
                }
                _ => break,
            }
        }
        // Anything beyond `count` that is already there (duplicates would show up here).
        while let Ok(Some(Ok(message))) =
            tokio::time::timeout(Duration::from_millis(300), messages.next()).await
        {
            let id = message
                .headers
                .as_ref()
                .and_then(|h| h.get("Nats-Msg-Id"))
                .map(|v| v.to_string())
                .unwrap_or_default();
            found.push((
                id,
                serde_json::from_slice(&message.payload).unwrap_or(Value::Null),
            ));
        }
        found
    }
}

/// A private `nats-server -js` on its own port and store, that a fault test may stop and start.
pub struct TestNats {
    pub url: String,
    port: u16,
    dir: std::path::PathBuf,
    /// A configuration file the server reads (`-c`), when it needs more than the defaults.
    config: Option<std::path::PathBuf>,
    child: Option<std::process::Child>,
}

impl TestNats {
    pub async fn start() -> TestNats {
        let mut nats = TestNats::not_started();
        nats.resume().await;
        nats
    }

    /// A port and store for a server that is not running yet: `resume` starts it. Until then
    /// nothing listens on `url`, as with a NATS that is down when the services start.
    pub fn not_started() -> TestNats {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap_or_else(|err| panic!("no free port: {err}"));
        let dir = std::env::temp_dir().join(format!("auth-nats-{}", Uuid::new_v4().simple()));
        TestNats {
            url: format!("nats://127.0.0.1:{port}"),
            port,
            dir,
            config: None,
            child: None,
        }
    }

    /// Started with `settings` (nats-server configuration: authorization, TLS, ...) added to
    /// its own port and JetStream store.
    pub async fn start_configured(settings: &str) -> TestNats {
        let mut nats = TestNats::not_started();
        let file = nats.dir.join("server.conf");
        let text = format!(
            "host: 127.0.0.1\nport: {}\njetstream {{ store_dir: {:?} }}\n{settings}\n",
            nats.port,
            nats.dir.join("store")
        );
        std::fs::create_dir_all(&nats.dir)
            .and_then(|()| std::fs::write(&file, text))
            .unwrap_or_else(|err| panic!("nats-server configuration: {err}"));
        nats.config = Some(file);
        nats.resume().await;
        nats
    }

    /// Kills the server (as a crash would) and waits until its port is closed.
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let port = self.port;
        let closed = eventually(Duration::from_secs(10), || async move {
            TcpStream::connect(("127.0.0.1", port)).await.is_err()
        })
        .await;
        assert!(closed, "nats-server still listening after kill");
    }

    /// Starts the server again on the same port and store.
    pub async fn resume(&mut self) {
        let mut command = std::process::Command::new("nats-server");
        match &self.config {
            Some(file) => command.arg("-c").arg(file),
            None => command
                .args([
                    "-a",
                    "127.0.0.1",
                    "-p",
                    &self.port.to_string(),
                    "-js",
                    "-sd",
                ])
                .arg(&self.dir),
        };
        let child = command
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|err| {
                panic!("nats-server (install it: apt-get install nats-server): {err}")
            });
        self.child = Some(child);
        let port = self.port;
        let up = eventually(Duration::from_secs(10), || async move {
            TcpStream::connect(("127.0.0.1", port)).await.is_ok()
        })
        .await;
        assert!(up, "nats-server did not start");
    }
}

impl Drop for TestNats {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
