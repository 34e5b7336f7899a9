//! `/health/ready` on both services, the verifier failing closed until its revocation replay
//! is complete, the replay reading everything the stream holds, and malformed events on the
//! stream. Revocations are published straight into a private `nats-server`'s stream, so these
//! tests need no issuer unless they say so.

use std::time::Duration;

use common::jwt::AccessClaims;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::harness::{
    access_claims, eventually, sign_access, spawn_issuer, spawn_issuer_at, spawn_issuer_with,
    spawn_later_verifier_with, spawn_unready_verifier_with, spawn_verifier_with, unique_email,
    Reply, TcpProxy, TestNats, TestVerifier, PASSWORD,
};

const WAIT: Duration = Duration::from_secs(30);
const STREAM: &str = "READY";
const PREFIX: &str = "ready";

/// An access token of session `sid`, valid for an hour.
fn token(sid: Uuid) -> String {
    sign_access(&AccessClaims {
        sid,
        ..access_claims(true)
    })
}

/// A `session.revoked` event as the issuer writes it, for `sid`, its tokens living
/// `seconds` more.
fn revoked(sid: Uuid, seconds: i64) -> Vec<u8> {
    let at = chrono::Utc::now();
    let expires_at = (at + chrono::TimeDelta::seconds(seconds)).to_rfc3339();
    json!({
        "event_id": Uuid::new_v4(), "event_type": "session.revoked", "timestamp": at.to_rfc3339(),
        "data": {"session_id": sid, "user_id": Uuid::new_v4(), "expires_at": expires_at, "reason": "logout"}
    })
    .to_string()
    .into_bytes()
}

/// Creates the stream on `nats` (file storage, as the issuer does) and publishes `payloads`
/// on the revocation subject, each acknowledged.
async fn publish(nats: &TestNats, payloads: &[Vec<u8>]) {
    let client = async_nats::connect(nats.url.as_str())
        .await
        .unwrap_or_else(|err| panic!("connect to the test NATS: {err}"));
    let js = async_nats::jetstream::new(client);
    js.get_or_create_stream(async_nats::jetstream::stream::Config {
        name: STREAM.into(),
        subjects: vec![format!("{PREFIX}.>")],
        ..Default::default()
    })
    .await
    .unwrap_or_else(|err| panic!("create the stream: {err}"));
    for payload in payloads {
        js.publish(format!("{PREFIX}.session.revoked"), payload.clone().into())
            .await
            .unwrap_or_else(|err| panic!("publish: {err}"))
            .await
            .unwrap_or_else(|err| panic!("publish ack: {err}"));
    }
}

fn follows(nats: &TestNats) -> impl FnOnce(&mut std::collections::HashMap<String, String>) {
    let url = nats.url.clone();
    move |env| {
        env.insert("NATS_URL".into(), url);
        env.insert("NATS_STREAM".into(), STREAM.into());
        env.insert("NATS_SUBJECT_PREFIX".into(), PREFIX.into());
    }
}

/// A private NATS whose stream holds `payloads`, and a ready verifier that replayed them.
async fn replayed(payloads: &[Vec<u8>]) -> (TestNats, TestVerifier) {
    let nats = TestNats::start().await;
    publish(&nats, payloads).await;
    let verifier = spawn_verifier_with(follows(&nats)).await;
    (nats, verifier)
}

async fn forward_auth(verifier: &TestVerifier, token: &str) -> Reply {
    let bearer = format!("Bearer {token}");
    Reply::read(
        verifier
            .forward_auth("", &[("authorization", &bearer)])
            .await,
    )
    .await
}

#[track_caller]
fn assert_not_ready_refusal(reply: &Reply) {
    reply.assert_error(503, "SERVICE_UNAVAILABLE");
    assert_eq!(reply.header("retry-after"), "1");
    assert_eq!(
        reply.body["error"]["details"]["issue"],
        "the verifier does not know the revoked sessions yet"
    );
    assert!(reply.header("x-user-id").is_empty(), "no identity on a 503");
}

#[tokio::test]
async fn a_verifier_without_nats_is_live_but_not_ready_refuses_every_token_and_becomes_ready_by_itself(
) {
    let mut nats = TestNats::start().await;
    let (revoked_sid, kept_sid) = (Uuid::new_v4(), Uuid::new_v4());
    publish(&nats, &[revoked(revoked_sid, 3600)]).await;
    nats.stop().await;

    let verifier = spawn_unready_verifier_with(follows(&nats)).await;

    let ready = verifier.ready().await;
    assert_eq!(ready.status, 503, "body: {}", ready.body);
    assert_eq!(ready.body["status"], "not_ready");
    assert_eq!(ready.body["service"], "auth-service");
    assert_eq!(ready.body["keys"], "loaded");
    assert_eq!(ready.body["nats"], "disconnected");
    assert_eq!(ready.body["revocation_replay"], "waiting");
    assert_eq!(
        ready.body["reason"],
        "NATS is unreachable: the revoked sessions cannot be replayed yet"
    );
    crate::harness::assert_timestamp(&ready.body["timestamp"]);
    assert!(
        ready.body.get("success").is_none(),
        "readiness is not enveloped"
    );
    assert_eq!(verifier.live().await.status, 200);
    let health = verifier.health().await;
    assert_eq!(health["status"], "healthy");
    assert_eq!(health["revocation_replay_complete"], false);
    // Fail closed: the revoked session and the good one get the same 503.
    for sid in [revoked_sid, kept_sid] {
        assert_not_ready_refusal(&forward_auth(&verifier, &token(sid)).await);
        assert_not_ready_refusal(&verifier.validate(&token(sid)).await);
    }
    assert_not_ready_refusal(&Reply::read(verifier.forward_auth("", &[]).await).await);

    nats.resume().await;

    let became_ready = eventually(WAIT, || async { verifier.ready().await.status == 200 }).await;
    assert!(became_ready, "never ready: {}", verifier.ready().await.body);
    let ready = verifier.ready().await;
    assert_eq!(ready.body["status"], "ready");
    assert_eq!(ready.body["revocation_replay"], "complete");
    assert_eq!(ready.body["reason"], Value::Null);
    // Ready means replayed: no grace period in which the revoked session passes.
    assert_eq!(
        forward_auth(&verifier, &token(revoked_sid)).await.status,
        401
    );
    assert_eq!(verifier.validate(&token(revoked_sid)).await.status, 401);
    assert_eq!(forward_auth(&verifier, &token(kept_sid)).await.status, 200);
    verifier
        .validate(&token(kept_sid))
        .await
        .assert_success(200);

    // NATS going away later does not take readiness back: the verifier keeps what it knew.
    nats.stop().await;
    let gone = eventually(WAIT, || async {
        verifier.health().await["nats"] == "disconnected"
    })
    .await;
    assert!(gone);
    let ready = verifier.ready().await;
    assert_eq!(
        (ready.status, &ready.body["nats"]),
        (200, &json!("disconnected"))
    );
    assert_eq!(
        forward_auth(&verifier, &token(revoked_sid)).await.status,
        401
    );
    assert_eq!(forward_auth(&verifier, &token(kept_sid)).await.status, 200);
}

#[tokio::test]
async fn the_ready_route_takes_only_get_on_both_services() {
    let app = spawn_issuer().await;
    let verifier = crate::harness::spawn_verifier_for(&app).await;
    for url in [app.url("/health/ready"), verifier.url("/health/ready")] {
        let reply = Reply::read(app.http.post(&url).send().await.unwrap()).await;
        reply.assert_error(405, "METHOD_NOT_ALLOWED");
        assert_eq!(reply.header("allow"), "GET");
        let reply = Reply::read(app.http.get(&url).send().await.unwrap()).await;
        assert_eq!(
            (reply.status, &reply.body["status"]),
            (200, &json!("ready"))
        );
    }
}

#[tokio::test]
async fn a_session_revoked_with_a_72_hour_token_is_refused_by_a_24_hour_verifier_started_25_hours_later(
) {
    let app = spawn_issuer_with(|env| {
        env.insert("JWT_ACCESS_TOKEN_EXPIRE_HOURS".into(), "72".into());
    })
    .await;
    let email = unique_email();
    app.register(&email, PASSWORD).await.assert_success(201);
    let ended = app.login(&email, PASSWORD).await.data().clone();
    let kept = app.login(&email, PASSWORD).await.data().clone();
    let access = |data: &Value| data["access_token"].as_str().unwrap_or_default().to_owned();
    let exp = crate::harness::claims(&access(&ended))["exp"]
        .as_i64()
        .unwrap_or_default();
    assert!(exp > chrono::Utc::now().timestamp() + 71 * 3600);
    app.logout(ended["refresh_token"].as_str().unwrap_or_default())
        .await
        .assert_success(200);
    assert_eq!(
        app.nats.published("session.revoked", 1, WAIT).await.len(),
        1
    );

    let nats = app.nats.env();
    let verifier = spawn_later_verifier_with(25 * 3600, move |env| {
        env.extend(nats);
        env.insert("JWT_ACCESS_TOKEN_EXPIRE_HOURS".into(), "24".into());
    })
    .await;

    let refused = forward_auth(&verifier, &access(&ended)).await;
    refused.assert_error(401, "INVALID_TOKEN");
    assert!(refused.header("www-authenticate").contains("revoked"));
    assert_eq!(forward_auth(&verifier, &access(&kept)).await.status, 200);
    assert_eq!(verifier.health().await["revoked_sessions"], 1);
    // Past the token's own expiry (and the leeway), nothing is left to refuse it for.
    verifier.state.clock.advance(48 * 3600);
    let expired = forward_auth(&verifier, &access(&ended)).await;
    expired.assert_error(401, "EXPIRED_TOKEN");
}

#[tokio::test]
async fn an_array_payload_or_array_data_is_refused_not_read_by_position() {
    let (whole, by_position, valid) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    let expires_at = (chrono::Utc::now() + chrono::TimeDelta::hours(1)).to_rfc3339();
    let payloads = [
        json!([Uuid::new_v4(), "session.revoked", expires_at, {"session_id": whole, "expires_at": expires_at}]),
        json!({"event_type": "session.revoked", "data": [by_position, expires_at]}),
        json!([{"event_type": "session.revoked", "data": {"session_id": whole, "expires_at": expires_at}}]),
    ]
    .map(|p| p.to_string().into_bytes());
    let mut stream = payloads.to_vec();
    stream.push(revoked(valid, 3600));

    let (_nats, verifier) = replayed(&stream).await;

    assert_eq!(forward_auth(&verifier, &token(whole)).await.status, 200);
    assert_eq!(
        forward_auth(&verifier, &token(by_position)).await.status,
        200
    );
    assert_eq!(forward_auth(&verifier, &token(valid)).await.status, 401);
    assert_eq!(verifier.health().await["revoked_sessions"], 1);
}

#[tokio::test]
async fn unreadable_payloads_are_skipped_and_the_revocations_behind_them_are_known_once_ready() {
    let valid = Uuid::new_v4();
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let deep_object = format!("{}1{}", "{\"a\":".repeat(50_000), "}".repeat(50_000));
    let stream = vec![
        b"not json".to_vec(),
        Vec::new(),
        b"null".to_vec(),
        b"\xff\xfe\x00garbage".to_vec(),
        deep.into_bytes(),
        deep_object.into_bytes(),
        br#"{"event_type": "session.revoked", "data": {"session_id": "#.to_vec(),
        "\"".repeat(200_000).into_bytes(),
        revoked(valid, 3600),
    ];

    let (_nats, verifier) = replayed(&stream).await;

    // Ready came after the last event was read: no eventually here.
    assert_eq!(forward_auth(&verifier, &token(valid)).await.status, 401);
    assert_eq!(
        forward_auth(&verifier, &token(Uuid::new_v4())).await.status,
        200
    );
    assert_eq!(verifier.health().await["revoked_sessions"], 1);
}

#[tokio::test]
async fn events_of_another_type_or_with_bad_fields_on_the_revocation_subject_revoke_nothing() {
    let sid = Uuid::new_v4();
    let later = (chrono::Utc::now() + chrono::TimeDelta::hours(1)).to_rfc3339();
    let stream = [
        json!({"event_type": "user.registered", "data": {"session_id": sid, "expires_at": later}}),
        json!({"data": {"session_id": sid, "expires_at": later}}),
        json!({"event_type": "session.revoked", "data": {"session_id": sid}}),
        json!({"event_type": "session.revoked", "data": {"session_id": sid, "expires_at": 4_102_444_800_i64}}),
        json!({"event_type": "session.revoked", "data": {"session_id": "*", "expires_at": later}}),
        json!({"event_type": "session.revoked", "data": {"session_id": [sid], "expires_at": later}}),
        json!({"event_type": "session.revoked", "data": "session_id"}),
        json!({"event_type": {"type": "session.revoked"}, "data": {"session_id": sid, "expires_at": later}}),
    ]
    .map(|p| p.to_string().into_bytes());

    let (_nats, verifier) = replayed(&stream).await;

    assert_eq!(forward_auth(&verifier, &token(sid)).await.status, 200);
    let health = verifier.health().await;
    assert_eq!(health["revoked_sessions"], 0);
    assert_eq!(health["revocation_replay_complete"], true);
}

#[tokio::test]
async fn a_revocation_whose_tokens_have_all_expired_is_read_and_not_kept() {
    let (old, current) = (Uuid::new_v4(), Uuid::new_v4());

    let (_nats, verifier) = replayed(&[revoked(old, -3600), revoked(current, 3600)]).await;

    assert_eq!(verifier.health().await["revoked_sessions"], 1);
    assert_eq!(forward_auth(&verifier, &token(current)).await.status, 401);
}

#[tokio::test]
async fn a_stream_with_nothing_but_malformed_events_still_completes_the_replay() {
    let stream = [b"[]".to_vec(), b"{}".to_vec(), b"42".to_vec()];

    let (_nats, verifier) = replayed(&stream).await;

    let ready = verifier.ready().await;
    assert_eq!((ready.status, &ready.body["reason"]), (200, &Value::Null));
    assert_eq!(
        forward_auth(&verifier, &token(Uuid::new_v4())).await.status,
        200
    );
    assert_eq!(
        forward_auth(&verifier, "not.a.token").await.status,
        401,
        "once ready, a bad token is a 401 again"
    );
}

#[tokio::test]
async fn the_issuer_is_ready_with_its_database_and_not_ready_while_it_is_cut_off() {
    let proxy = TcpProxy::to_postgres().await;
    let app = spawn_issuer_at(Some(proxy.addr), |env| {
        env.insert("DATABASE_TIMEOUT_SECONDS".into(), "1".into());
    })
    .await;
    let ready = app.get("/health/ready", None).await;
    assert_eq!(ready.status, 200, "body: {}", ready.body);
    assert_eq!(ready.body["status"], "ready");
    assert_eq!(ready.body["database"], "connected");
    assert_eq!(ready.body["migrations"], "applied");
    assert_eq!(ready.body["reason"], Value::Null);
    assert_eq!(ready.body["service"], "auth-service");
    crate::harness::assert_timestamp(&ready.body["timestamp"]);
    assert!(
        ready.body.get("success").is_none(),
        "readiness is not enveloped"
    );

    proxy.cut();

    let ready = app.get("/health/ready", None).await;
    assert_eq!(ready.status, 503, "body: {}", ready.body);
    assert_eq!(ready.body["status"], "not_ready");
    assert_eq!(ready.body["database"], "disconnected");
    assert_eq!(ready.body["reason"], "the database is unreachable");
    assert!(!ready.body.to_string().to_lowercase().contains("postgres"));
    assert_eq!(app.get("/health/live", None).await.status, 200);

    proxy.restore();

    let back = eventually(WAIT, || async {
        app.get("/health/ready", None).await.status == 200
    })
    .await;
    assert!(back, "the issuer did not become ready again by itself");
}

#[tokio::test]
async fn an_issuer_whose_migrations_are_not_all_applied_is_not_ready() {
    let app = spawn_issuer().await;
    assert_eq!(app.get("/health/ready", None).await.status, 200);
    app.db
        .batch_execute(
            "DELETE FROM refinery_schema_history \
             WHERE version = (SELECT max(version) FROM refinery_schema_history)",
        )
        .await
        .unwrap_or_else(|err| panic!("{err}"));

    let ready = app.get("/health/ready", None).await;

    assert_eq!(ready.status, 503, "body: {}", ready.body);
    assert_eq!(ready.body["database"], "connected");
    assert_eq!(ready.body["migrations"], "pending");
    assert_eq!(
        ready.body["reason"],
        "the database migrations are not applied"
    );
    // Health only asks whether Postgres answers.
    assert_eq!(app.get("/health", None).await.status, 200);

    app.db
        .batch_execute("DROP TABLE refinery_schema_history")
        .await
        .unwrap_or_else(|err| panic!("{err}"));
    let ready = app.get("/health/ready", None).await;
    assert_eq!(
        (ready.status, &ready.body["migrations"]),
        (503, &json!("pending"))
    );
}
