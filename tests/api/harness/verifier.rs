//! The verifier under test, built in process on port 0 and following a NATS stream of its own
//! (or an issuer's), with a client for its routes.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use test_support::nats::NatsSettings;
use test_support::poll::eventually;
use tokio::sync::oneshot;
use verifier::app::App;
use verifier::config::VerifierConfig;

use super::client::{post_raw, Reply};
use super::issuer::{TestIssuer, SECRET};

/// The verifier under test.
pub struct TestVerifier {
    pub addr: SocketAddr,
    pub state: Arc<verifier::state::AppState>,
    pub http: reqwest::Client,
    _shutdown: oneshot::Sender<()>,
}

/// A verifier with `tweak` applied to its environment, once it is ready (its revocation replay
/// is complete): until then it refuses every token with 503.
pub async fn spawn_verifier_with(tweak: impl FnOnce(&mut HashMap<String, String>)) -> TestVerifier {
    start_verifier(tweak, 0).await.until_ready().await
}

/// Like `spawn_verifier_with`, without waiting for it to be ready.
pub async fn spawn_unready_verifier_with(
    tweak: impl FnOnce(&mut HashMap<String, String>),
) -> TestVerifier {
    start_verifier(tweak, 0).await
}

/// A verifier started `seconds` after now by its clock (which its revocation feed uses too),
/// once it is ready: what a verifier restarted that much later sees.
pub async fn spawn_later_verifier_with(
    seconds: i64,
    tweak: impl FnOnce(&mut HashMap<String, String>),
) -> TestVerifier {
    start_verifier(tweak, seconds).await.until_ready().await
}

async fn start_verifier(
    tweak: impl FnOnce(&mut HashMap<String, String>),
    clock_ahead: i64,
) -> TestVerifier {
    // Its own stream by default, so it never follows another test's events.
    let mut env: HashMap<String, String> = [
        ("JWT_SECRET_KEY".to_owned(), SECRET.to_owned()),
        ("VERIFIER_ADDR".to_owned(), "127.0.0.1:0".to_owned()),
    ]
    .into_iter()
    .chain(NatsSettings::unique().env())
    .collect();
    tweak(&mut env);
    let lookup = move |k: &str| env.get(k).cloned();
    let config =
        VerifierConfig::from_lookup(&lookup).unwrap_or_else(|err| panic!("verifier config: {err}"));
    let app = App::build(config)
        .await
        .unwrap_or_else(|err| panic!("verifier did not build: {err:#}"));
    let addr = app
        .local_addr()
        .unwrap_or_else(|err| panic!("no local address: {err}"));
    let state = app.state();
    state.clock.advance(clock_ahead);
    let (tx, rx) = oneshot::channel::<()>();
    tokio::spawn(app.run_until(async {
        let _ = rx.await;
    }));
    TestVerifier {
        addr,
        state,
        http: reqwest::Client::new(),
        _shutdown: tx,
    }
}

/// A ready verifier with the tests' settings.
pub async fn spawn_verifier() -> TestVerifier {
    spawn_verifier_with(|_| {}).await
}

/// A verifier that follows `issuer`'s events (same NATS stream and subject prefix).
pub async fn spawn_verifier_for(issuer: &TestIssuer) -> TestVerifier {
    let nats = issuer.nats.env();
    spawn_verifier_with(move |env| env.extend(nats)).await
}

impl TestVerifier {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// `POST /api/v1/auth/validate-token` with `token`.
    pub async fn validate(&self, token: &str) -> Reply {
        let response = self
            .http
            .post(self.url("/api/v1/auth/validate-token"))
            .json(&json!({"token": token}))
            .send()
            .await
            .unwrap_or_else(|err| panic!("verifier validate-token: {err}"));
        Reply::read(response).await
    }

    /// The body of `GET /health`.
    pub async fn health(&self) -> serde_json::Value {
        let response = self.http.get(self.url("/health")).send().await;
        let response = response.unwrap_or_else(|err| panic!("verifier /health: {err}"));
        response
            .json()
            .await
            .unwrap_or_else(|err| panic!("verifier /health body: {err}"))
    }

    /// Asserts `GET /health` says `status: healthy`.
    pub async fn assert_healthy(&self) {
        let health = self.health().await;
        assert_eq!(health["status"], "healthy", "{health}");
    }

    /// `GET /health/live`.
    pub async fn live(&self) -> Reply {
        let response = self.http.get(self.url("/health/live")).send().await;
        Reply::read(response.unwrap_or_else(|err| panic!("verifier /health/live: {err}"))).await
    }

    /// `GET /health/ready`.
    pub async fn ready(&self) -> Reply {
        let response = self.http.get(self.url("/health/ready")).send().await;
        Reply::read(response.unwrap_or_else(|err| panic!("verifier /health/ready: {err}"))).await
    }

    /// Waits until the verifier is ready (asked of its state, so that it works over TLS too).
    async fn until_ready(self) -> TestVerifier {
        let ready = eventually(Duration::from_secs(30), || async {
            self.state.not_ready().is_none()
        })
        .await;
        assert!(
            ready,
            "the verifier never became ready: {:?}",
            self.state.not_ready()
        );
        self
    }

    /// `POST path` with exactly these bytes and this content type.
    pub async fn post_raw(&self, path: &str, content_type: &str, body: Vec<u8>) -> Reply {
        post_raw(&self.http, self.url(path), content_type, body).await
    }

    /// The status of a plain `/forward-auth` with `access_token` as the bearer.
    pub async fn status_for(&self, access_token: &str) -> u16 {
        let bearer = format!("Bearer {access_token}");
        self.forward_auth("", &[("authorization", &bearer)])
            .await
            .status()
            .as_u16()
    }

    /// `/forward-auth` with `rules` appended and the given request headers.
    pub async fn forward_auth(&self, rules: &str, headers: &[(&str, &str)]) -> reqwest::Response {
        let mut request = self.http.get(self.url(&format!("/forward-auth{rules}")));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request
            .send()
            .await
            .unwrap_or_else(|err| panic!("forward-auth: {err}"))
    }
}
