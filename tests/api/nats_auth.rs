//! NATS with authentication and TLS. For each kind the services support, a private
//! nats-server configured for it: the right credentials let the issuer publish (a subscriber
//! with the same credentials reads the event) and the verifier replay (it becomes ready); wrong
//! ones are refused, and both services say so in readiness (503) while events wait in the
//! outbox.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use async_nats::jetstream;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use futures::StreamExt;
use nkeys::KeyPair;
use serde_json::{json, Value};
use uuid::Uuid;

use test_support::binary::{command, Logged};

use crate::harness::binaries::cargo_built;
use crate::harness::private_postgres::TestCa;
use crate::harness::{
    spawn_issuer_with, spawn_unready_verifier_with, spawn_verifier_with, unique_email, Reply,
    TestIssuer, TestNats, PASSWORD, SECRET,
};

const WAIT: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(50);
const REFUSED: &str = "NATS refused the credentials (authorization violation)";

type Vars = Vec<(String, String)>;

fn vars(pairs: &[(&str, &str)]) -> Vars {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// A directory for a test's key and certificate files, removed on drop.
struct Files(PathBuf);

impl Files {
    fn new() -> Files {
        let dir = std::env::temp_dir().join(format!("nats-auth-{}", Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap_or_else(|err| panic!("temp dir: {err}"));
        Files(dir)
    }

    /// Writes `content` to `name` and returns its path.
    fn write(&self, name: &str, content: &str) -> String {
        let path = self.0.join(name);
        std::fs::write(&path, content).unwrap_or_else(|err| panic!("{name}: {err}"));
        path.display().to_string()
    }
}

impl Drop for Files {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// An issuer and a verifier on `nats` with `credentials`, both following one stream.
async fn services(
    nats: &TestNats,
    credentials: &Vars,
) -> (TestIssuer, crate::harness::TestVerifier) {
    let issuer = issuer_on(nats, credentials).await;
    let mut env = issuer.nats.env().to_vec();
    env.extend(credentials.iter().cloned());
    let verifier = spawn_verifier_with(move |e| e.extend(env)).await;
    (issuer, verifier)
}

async fn issuer_on(nats: &TestNats, credentials: &Vars) -> TestIssuer {
    let url = nats.url.clone();
    let credentials = credentials.clone();
    spawn_issuer_with(move |env| {
        env.insert("NATS_URL".into(), url);
        env.extend(credentials);
    })
    .await
}

/// The right credentials: the verifier is ready (its replay read the stream), and a
/// registration's event reaches a subscriber that connects with the same credentials.
async fn assert_accepted(nats: &TestNats, credentials: &Vars) {
    let (issuer, verifier) = services(nats, credentials).await;
    let ready = verifier.ready().await;
    assert_eq!(ready.status, 200, "verifier: {}", ready.body);
    assert_eq!(ready.body["nats"], "connected");

    let email = unique_email();
    issuer.register(&email, PASSWORD).await.assert_success(201);
    let event = registered_event(credentials, &issuer, &email).await;
    assert_eq!(
        event.as_ref().map(|e| &e["data"]["email"]),
        Some(&json!(email)),
        "no user.registered event for {email} read with the same credentials"
    );
    let issuer_ready = issuer.get("/health/ready", None).await;
    assert_eq!(issuer_ready.status, 200, "issuer: {}", issuer_ready.body);
    assert_eq!(issuer_ready.body["nats"], "connected");
}

/// Wrong credentials: each service keeps retrying, answers 503 on readiness with the reason
/// and `nats: refused`, and the issuer still takes registrations whose events wait.
async fn assert_refused(nats: &TestNats, credentials: &Vars) {
    let issuer = issuer_on(nats, credentials).await;
    let refused = refused_readiness(|| issuer.get("/health/ready", None)).await;
    assert_eq!(refused.body["reason"], REFUSED, "issuer: {}", refused.body);
    issuer
        .register(&unique_email(), PASSWORD)
        .await
        .assert_success(201);
    assert_eq!(issuer.unsent_events().await, 1, "no event can have left");
    assert_eq!(
        issuer.state.nats_health.refusal(),
        Some(common::nats::Refusal::Authorization)
    );

    let mut env = issuer.nats.env().to_vec();
    env.extend(credentials.iter().cloned());
    let verifier = spawn_unready_verifier_with(move |e| e.extend(env)).await;
    let refused = refused_readiness(|| verifier.ready()).await;
    assert_eq!(
        refused.body["reason"], REFUSED,
        "verifier: {}",
        refused.body
    );
}

/// Polls readiness until it reports the refusal; that answer.
async fn refused_readiness<F, Fut>(mut ready: F) -> Reply
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Reply>,
{
    let started = Instant::now();
    loop {
        let reply = ready().await;
        if reply.status == 503 && reply.body["nats"] == "refused" {
            assert_eq!(reply.body["status"], "not_ready");
            return reply;
        }
        assert!(
            started.elapsed() < WAIT,
            "readiness never reported the refusal: {}",
            reply.body
        );
        tokio::time::sleep(POLL).await;
    }
}

/// The `user.registered` event for `email`, read from the issuer's stream by a client of our
/// own connecting with `credentials`.
async fn registered_event(credentials: &Vars, issuer: &TestIssuer, email: &str) -> Option<Value> {
    let map: HashMap<String, String> = credentials.iter().cloned().collect();
    let lookup = move |name: &str| map.get(name).cloned();
    let url = issuer.nats.url.as_str();
    let settings = common::nats::NatsSettings::from_env(&common::settings::Env::new(&lookup), url)
        .unwrap_or_else(|err| panic!("subscriber settings: {err}"));
    let health = common::nats::NatsHealth::default();
    let client = common::nats::connect_options(&settings, "test subscriber", &health)
        .connect(url)
        .await
        .ok()?;
    let js = jetstream::new(client);
    let started = Instant::now();
    let stream = loop {
        match js.get_stream(&issuer.nats.stream).await {
            Ok(stream) => break Some(stream),
            Err(_) if started.elapsed() < WAIT => tokio::time::sleep(POLL).await,
            Err(_) => break None,
        }
    };
    let consumer = stream?
        .create_consumer(jetstream::consumer::pull::OrderedConfig {
            filter_subject: format!("{}.user.registered", issuer.nats.prefix),
            ..Default::default()
        })
        .await
        .ok()?;
    let mut messages = consumer.messages().await.ok()?;
    loop {
        let message = tokio::time::timeout(WAIT, messages.next())
            .await
            .ok()??
            .ok()?;
        let event: Value = serde_json::from_slice(&message.payload).ok()?;
        if event["data"]["email"] == email {
            return Some(event);
        }
    }
}

#[tokio::test]
async fn a_token_is_accepted_and_a_wrong_one_refused() {
    let nats = TestNats::start_configured("authorization { token: \"right-token-0123\" }").await;
    assert_accepted(&nats, &vars(&[("NATS_TOKEN", "right-token-0123")])).await;
    assert_refused(&nats, &vars(&[("NATS_TOKEN", "wrong-token-0123")])).await;
}

#[tokio::test]
async fn a_user_and_password_are_accepted_and_a_wrong_password_refused() {
    let nats = TestNats::start_configured(
        "authorization { users: [ { user: \"auth\", password: \"right-pass-0123\" } ] }",
    )
    .await;
    assert_accepted(
        &nats,
        &vars(&[("NATS_USER", "auth"), ("NATS_PASSWORD", "right-pass-0123")]),
    )
    .await;
    assert_refused(
        &nats,
        &vars(&[("NATS_USER", "auth"), ("NATS_PASSWORD", "wrong-pass-0123")]),
    )
    .await;
}

#[tokio::test]
async fn an_nkey_seed_is_accepted_and_an_unknown_one_refused() {
    let user = KeyPair::new_user();
    let nats = TestNats::start_configured(&format!(
        "authorization {{ users: [ {{ nkey: {} }} ] }}",
        user.public_key()
    ))
    .await;
    let seed = user.seed().unwrap_or_else(|err| panic!("seed: {err}"));
    assert_accepted(&nats, &vars(&[("NATS_NKEY_SEED", &seed)])).await;
    let stranger = KeyPair::new_user()
        .seed()
        .unwrap_or_else(|err| panic!("seed: {err}"));
    assert_refused(&nats, &vars(&[("NATS_NKEY_SEED", &stranger)])).await;
}

#[tokio::test]
async fn a_creds_file_is_accepted_and_one_from_an_unknown_account_refused() {
    let operator = KeyPair::new_operator();
    let account = KeyPair::new_account();
    // JetStream in operator mode needs a system account.
    let system = KeyPair::new_account();
    let nats = TestNats::start_configured(&format!(
        "operator: {}\nsystem_account: {}\nresolver: MEMORY\n\
         resolver_preload: {{ {}: {}, {}: {} }}",
        operator_jwt(&operator),
        system.public_key(),
        system.public_key(),
        jwt(
            &operator,
            &system.public_key(),
            json!({"type": "account", "version": 2})
        ),
        account.public_key(),
        account_jwt(&operator, &account),
    ))
    .await;
    let files = Files::new();
    let right = files.write("right.creds", &creds(&account));
    assert_accepted(&nats, &vars(&[("NATS_CREDS_FILE", &right)])).await;
    // Signed by an account the server does not know.
    let wrong = files.write("wrong.creds", &creds(&KeyPair::new_account()));
    assert_refused(&nats, &vars(&[("NATS_CREDS_FILE", &wrong)])).await;
}

/// TLS with the server's certificate checked against our CA and ours against its (`verify:
/// true`). A client certificate the server does not trust cannot be told apart from a server
/// that is down (the handshake fails on the socket): the verifier is not ready, the issuer's
/// events wait, and `/health` says NATS is disconnected.
#[tokio::test]
async fn tls_with_a_ca_and_a_client_certificate_works_and_an_untrusted_certificate_does_not() {
    let ca = TestCa::new();
    let files = Files::new();
    let (server_cert, server_key) = ca.issue(&["127.0.0.1", "localhost"]);
    let nats = TestNats::start_configured(&format!(
        "tls {{ cert_file: {:?}, key_file: {:?}, ca_file: {:?}, verify: true }}",
        files.write("server.pem", &server_cert),
        files.write("server.key", &server_key),
        files.write("ca.pem", &ca.pem),
    ))
    .await;
    let ca_file = files.write("ca.pem", &ca.pem);
    let (cert, key) = ca.issue(&["auth-service"]);
    assert_accepted(
        &nats,
        &vars(&[
            ("NATS_TLS_CA_FILE", &ca_file),
            ("NATS_TLS_CERT_FILE", &files.write("client.pem", &cert)),
            ("NATS_TLS_KEY_FILE", &files.write("client.key", &key)),
        ]),
    )
    .await;

    let (cert, key) = TestCa::new().issue(&["auth-service"]);
    let untrusted = vars(&[
        ("NATS_TLS_CA_FILE", &ca_file),
        ("NATS_TLS_CERT_FILE", &files.write("other.pem", &cert)),
        ("NATS_TLS_KEY_FILE", &files.write("other.key", &key)),
    ]);
    let issuer = issuer_on(&nats, &untrusted).await;
    let mut env = issuer.nats.env().to_vec();
    env.extend(untrusted);
    let verifier = spawn_unready_verifier_with(move |e| e.extend(env)).await;
    let ready = verifier.ready().await;
    assert_eq!(ready.status, 503, "verifier: {}", ready.body);
    assert_eq!(ready.body["nats"], "disconnected");
    issuer
        .register(&unique_email(), PASSWORD)
        .await
        .assert_success(201);
    let health = issuer.get("/health", None).await;
    assert_eq!(health.body["nats"], "disconnected", "{}", health.body);
    assert_eq!(issuer.unsent_events().await, 1);
}

/// The running binary, given its password in a file as a Kubernetes Secret mounts it, logs
/// the refusal as an error naming the variables that hold the credentials, and never the
/// password.
#[tokio::test]
async fn the_log_says_nats_refused_the_credentials_and_shows_no_secret() {
    let nats = TestNats::start_configured(
        "authorization { users: [ { user: \"auth\", password: \"right-pass-0123\" } ] }",
    )
    .await;
    let binary = cargo_built(&["-p", "verifier", "--bin", "verifier"], "verifier");
    let binary = binary.display().to_string();
    let files = Files::new();
    let password_file = files.write("password", "hunter2-wrong-pass\n");
    let mut logged = Logged::spawn(
        command(
            &binary,
            &[
                ("JWT_SECRET_KEY", SECRET),
                ("VERIFIER_ADDR", "127.0.0.1:0"),
                ("NATS_URL", &nats.url),
                ("NATS_USER", "auth"),
                ("NATS_PASSWORD_FILE", &password_file),
            ],
        )
        .stderr(std::process::Stdio::null()),
    )
    .unwrap_or_else(|err| panic!("verifier: {err}"));
    let line = logged.wait_for("NATS refused the connection", WAIT);
    logged.kill();
    let line = line.unwrap_or_else(|err| panic!("{err}"));
    assert!(line.contains("ERROR"), "{line}");
    assert!(line.contains("NATS_USER and NATS_PASSWORD"), "{line}");
    assert!(
        !logged.seen.contains("hunter2"),
        "the password reached the log:\n{}",
        logged.seen
    );
}

fn encode(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A NATS JWT (v2): `nats` claims about `subject`, signed by `issuer` with ed25519.
fn jwt(issuer: &KeyPair, subject: &str, nats: Value) -> String {
    let header = json!({"typ": "JWT", "alg": "ed25519-nkey"});
    let claims = json!({
        "jti": Uuid::new_v4().simple().to_string().to_uppercase(),
        "iat": chrono::Utc::now().timestamp(),
        "iss": issuer.public_key(),
        "name": subject,
        "sub": subject,
        "nats": nats,
    });
    let signed = format!(
        "{}.{}",
        encode(header.to_string().as_bytes()),
        encode(claims.to_string().as_bytes())
    );
    let signature = issuer
        .sign(signed.as_bytes())
        .unwrap_or_else(|err| panic!("sign: {err}"));
    format!("{signed}.{}", encode(&signature))
}

fn operator_jwt(operator: &KeyPair) -> String {
    jwt(
        operator,
        &operator.public_key(),
        json!({"type": "operator", "version": 2}),
    )
}

/// An account with JetStream and no other limits.
fn account_jwt(operator: &KeyPair, account: &KeyPair) -> String {
    let limits = json!({
        "subs": -1, "data": -1, "payload": -1, "imports": -1, "exports": -1,
        "wildcards": true, "conn": -1, "leaf": -1,
        "mem_storage": -1, "disk_storage": -1, "streams": -1, "consumer": -1,
    });
    jwt(
        operator,
        &account.public_key(),
        json!({"limits": limits, "type": "account", "version": 2}),
    )
}

/// A `.creds` file for a new user of `account`, as `nsc` writes one.
fn creds(account: &KeyPair) -> String {
    let user = KeyPair::new_user();
    let user_jwt = jwt(
        account,
        &user.public_key(),
        json!({"subs": -1, "data": -1, "payload": -1, "type": "user", "version": 2}),
    );
    let seed = user.seed().unwrap_or_else(|err| panic!("seed: {err}"));
    format!(
        "-----BEGIN NATS USER JWT-----\n{user_jwt}\n------END NATS USER JWT------\n\n\
         ************************* IMPORTANT *************************\n\
         NKEY Seed printed below can be used to sign and prove identity.\n\n\
         -----BEGIN USER NKEY SEED-----\n{seed}\n------END USER NKEY SEED------\n"
    )
}
