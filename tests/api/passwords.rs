//! Password reset (request, confirm) and password change, against the real Postgres, NATS and
//! a verifier in process that follows the issuer's revocations.

use std::time::Duration;

use serde_json::{json, Value};

use crate::harness::{
    eventually, spawn_issuer, spawn_issuer_at, spawn_issuer_with, spawn_verifier_for, unique_email,
    Reply, TcpProxy, TestIssuer, PASSWORD,
};

const WAIT: Duration = Duration::from_secs(20);
const NEW_PASSWORD: &str = "Brand-New-Horse-7";
const REQUEST: &str = "/api/v1/auth/password-reset/request";
const CONFIRM: &str = "/api/v1/auth/password-reset/confirm";
const CHANGE: &str = "/api/v1/auth/password/change";

async fn request_reset(app: &TestIssuer, email: &str) -> Reply {
    app.post(REQUEST, json!({"email": email})).await
}

async fn confirm(app: &TestIssuer, token: &str, password: &str, confirmation: &str) -> Reply {
    app.post(
        CONFIRM,
        json!({"token": token, "password": password, "password_confirmation": confirmation}),
    )
    .await
}

/// `POST path` with `bearer` (if any) and a JSON body.
async fn post_bearer(app: &TestIssuer, path: &str, bearer: Option<&str>, body: Value) -> Reply {
    app.call("POST", path, bearer, Some(body)).await
}

async fn change(app: &TestIssuer, access: Option<&str>, current: &str, new: &str) -> Reply {
    post_bearer(
        app,
        CHANGE,
        access,
        json!({"current_password": current, "password": new, "password_confirmation": new}),
    )
    .await
}

/// One series of `GET /metrics` (0 when absent).
async fn metric(app: &TestIssuer, series: &str) -> f64 {
    app.metric(series).await.unwrap_or(0.0)
}

fn jobs(outcome: &str) -> String {
    format!(r#"password_reset_jobs_total{{outcome="{outcome}"}}"#)
}

/// The `user.password_reset_requested` outbox rows for `email`, oldest first, once there are
/// at least `count` (the token is issued after the answer).
async fn reset_events(app: &TestIssuer, email: &str, count: usize) -> Vec<(String, Value)> {
    let query = || async {
        app.db
            .query(
                "SELECT event_id::text, payload FROM outbox \
                 WHERE event_type = 'user.password_reset_requested' \
                 AND payload->'data'->>'email' = $1 ORDER BY id",
                &[&email],
            )
            .await
            .unwrap_or_else(|err| panic!("outbox query: {err}"))
            .iter()
            .map(|row| (row.get::<_, String>(0), row.get::<_, Value>(1)))
            .collect::<Vec<_>>()
    };
    let arrived = eventually(WAIT, || async { query().await.len() >= count }).await;
    assert!(arrived, "fewer than {count} reset events for {email}");
    query().await
}

/// The reset token the mailer receives for the latest request of `email`: from its outbox row
/// while the event waits there, else from the stream (the relay scrubs it from the row).
pub async fn reset_token(app: &TestIssuer, email: &str, count: usize) -> String {
    let events = reset_events(app, email, count).await;
    let (event_id, payload) = events.last().cloned().unwrap_or_default();
    if let Some(token) = payload["data"]["password_reset_token"].as_str() {
        return token.to_owned();
    }
    app.nats
        .message(&event_id, WAIT)
        .await
        .and_then(|event| {
            event["data"]["password_reset_token"]
                .as_str()
                .map(str::to_owned)
        })
        .unwrap_or_else(|| panic!("no reset token for {email} in the stream"))
}

/// Requests a reset for `email` and returns the token the mailer gets.
async fn requested_token(app: &TestIssuer, email: &str, count: usize) -> String {
    request_reset(app, email).await.assert_success(202);
    reset_token(app, email, count).await
}

async fn user_id(app: &TestIssuer, email: &str) -> uuid::Uuid {
    app.db
        .query_one("SELECT id FROM users WHERE email = $1", &[&email])
        .await
        .unwrap_or_else(|err| panic!("users: {err}"))
        .get(0)
}

async fn password_hash(app: &TestIssuer, email: &str) -> String {
    app.db
        .query_one(
            "SELECT password_hash FROM users WHERE email = $1",
            &[&email],
        )
        .await
        .unwrap_or_else(|err| panic!("users: {err}"))
        .get(0)
}

/// `(session id, revoked_reason)` of every session of `email`, oldest first.
async fn sessions(app: &TestIssuer, email: &str) -> Vec<(uuid::Uuid, Option<String>)> {
    app.db
        .query(
            "SELECT s.id, s.revoked_reason FROM sessions s JOIN users u ON u.id = s.user_id \
             WHERE u.email = $1 ORDER BY s.created_at, s.id",
            &[&email],
        )
        .await
        .unwrap_or_else(|err| panic!("sessions: {err}"))
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect()
}

/// The `reason` of each `session.revoked` event, by session id.
async fn revoked_reasons(app: &TestIssuer) -> Vec<(String, String)> {
    app.events("session.revoked")
        .await
        .iter()
        .map(|e| {
            (
                e["data"]["session_id"].as_str().unwrap_or("").to_owned(),
                e["data"]["reason"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

fn access(login: &Value) -> String {
    login["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

fn refresh(login: &Value) -> String {
    login["refresh_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

fn session_of(login: &Value) -> String {
    crate::harness::claims(&access(login))["sid"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn a_reset_sets_the_password_verifies_the_email_lifts_the_lock_and_revokes_every_session() {
    let app = spawn_issuer_with(|env| {
        env.insert("LOGIN_LOCKOUT_THRESHOLD".into(), "3".into());
        env.insert("LOGIN_KNOWN_ADDRESS_DAYS".into(), "0".into());
    })
    .await;
    let verifier = spawn_verifier_for(&app).await;
    let email = unique_email();
    let first = app.signed_in(&email).await;
    let second = app.login(&email, PASSWORD).await.data().clone();
    for login in [&first, &second] {
        let passes = eventually(WAIT, || async {
            verifier.status_for(&access(login)).await == 200
        })
        .await;
        assert!(passes, "the verifier never accepted a live session");
    }
    for _ in 0..3 {
        app.login(&email, "Wrong-Horse-1")
            .await
            .assert_error(401, "INVALID_CREDENTIALS");
    }
    app.login(&email, PASSWORD)
        .await
        .assert_error(429, "RATE_LIMITED");

    let asked = request_reset(&app, &email).await;
    asked.assert_success(202);
    assert!(asked.data()["message"]
        .as_str()
        .is_some_and(|m| !m.is_empty()));
    let events = reset_events(&app, &email, 1).await;
    let (event_id, queued) = &events[0];
    let id = user_id(&app, &email).await;
    assert_eq!(queued["data"]["user_id"], id.to_string());
    assert_eq!(queued["data"]["email"], email.as_str());

    // The mailer gets the token from the stream; the outbox row loses it once published.
    let sent = app
        .nats
        .message(event_id, WAIT)
        .await
        .unwrap_or_else(|| panic!("the reset event never reached the stream"));
    let token = sent["data"]["password_reset_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(token.len() >= 43, "{token}");
    assert!(token
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    let expires_at = chrono::DateTime::parse_from_rfc3339(
        sent["data"]["expires_at"].as_str().unwrap_or_default(),
    )
    .unwrap_or_else(|err| panic!("expires_at: {err}"));
    let lifetime = expires_at.with_timezone(&chrono::Utc) - chrono::Utc::now();
    assert!((58..=60).contains(&lifetime.num_minutes()), "{lifetime:?}");
    let scrubbed = eventually(WAIT, || async { app.unsent_events().await == 0 }).await;
    assert!(scrubbed, "the relay never marked the event sent");
    let stored: String = app
        .db
        .query_one(
            "SELECT payload::text FROM outbox WHERE event_id = $1::text::uuid",
            &[event_id],
        )
        .await
        .unwrap_or_else(|err| panic!("outbox: {err}"))
        .get(0);
    assert!(!stored.contains(&token), "the token is still in {stored}");
    assert!(!stored.contains("password_reset_token"), "{stored}");
    // At rest only its SHA-256.
    let at_rest: i64 = app
        .db
        .query_one(
            "SELECT count(*) FROM password_reset_tokens \
             WHERE token_hash = sha256(convert_to($1, 'UTF8')) AND user_id = $2",
            &[&token, &id],
        )
        .await
        .unwrap_or_else(|err| panic!("password_reset_tokens: {err}"))
        .get(0);
    assert_eq!(at_rest, 1);

    let done = confirm(&app, &token, NEW_PASSWORD, NEW_PASSWORD).await;
    done.assert_success(200);
    assert_eq!(done.data()["user_id"], id.to_string());
    assert!(done.data()["message"]
        .as_str()
        .is_some_and(|m| !m.is_empty()));

    app.login(&email, PASSWORD)
        .await
        .assert_error(401, "INVALID_CREDENTIALS");
    let fresh = app.login(&email, NEW_PASSWORD).await;
    fresh.assert_success(200);
    // Both earlier sessions revoked, with the reason, in the table and in the events.
    let rows = sessions(&app, &email).await;
    assert_eq!(rows.len(), 3);
    for (_, reason) in &rows[..2] {
        assert_eq!(reason.as_deref(), Some("password_reset"));
    }
    assert_eq!(rows[2].1, None);
    let reasons = revoked_reasons(&app).await;
    for login in [&first, &second] {
        assert!(
            reasons.contains(&(session_of(login), "password_reset".to_owned())),
            "{reasons:?}"
        );
        let refused = eventually(WAIT, || async {
            verifier.status_for(&access(login)).await == 401
        })
        .await;
        assert!(refused, "the verifier still accepts a revoked session");
        app.refresh(&refresh(login))
            .await
            .assert_error(401, "INVALID_TOKEN");
    }
    let me = app
        .get("/api/v1/auth/me", Some(&access(fresh.data())))
        .await;
    me.assert_success(200);
    assert_eq!(me.data()["is_email_verified"], true);
    let lock: i64 = app
        .db
        .query_one(
            "SELECT count(*) FROM login_failures WHERE email = $1",
            &[&email],
        )
        .await
        .unwrap_or_else(|err| panic!("login_failures: {err}"))
        .get(0);
    assert_eq!(lock, 0);
    let changed = app.events("user.password_changed").await;
    assert_eq!(changed.len(), 1);
    assert_eq!(
        changed[0]["data"],
        json!({"user_id": id, "email": email, "via": "reset"})
    );
    assert_eq!(app.events("user.email_verified").await.len(), 1);

    // The token worked once.
    confirm(&app, &token, "Another-Horse-8", "Another-Horse-8")
        .await
        .assert_error(401, "INVALID_TOKEN");
}

#[tokio::test]
async fn an_unknown_or_disabled_email_gets_the_same_answer_and_no_token() {
    let app = spawn_issuer().await;
    let known = unique_email();
    app.register(&known, PASSWORD).await.assert_success(201);
    let disabled = unique_email();
    app.register(&disabled, PASSWORD).await.assert_success(201);
    app.db
        .execute(
            "UPDATE users SET disabled_at = now() WHERE email = $1",
            &[&disabled],
        )
        .await
        .unwrap_or_else(|err| panic!("users: {err}"));

    let for_known = request_reset(&app, &known).await;
    let for_unknown = request_reset(&app, &unique_email()).await;
    let for_disabled = request_reset(&app, &disabled).await;
    for reply in [&for_known, &for_unknown, &for_disabled] {
        reply.assert_success(202);
        assert_eq!(reply.data(), for_known.data());
    }
    let handled = eventually(WAIT, || async {
        metric(&app, &jobs("no_account")).await == 1.0
            && metric(&app, &jobs("account_disabled")).await == 1.0
            && metric(&app, &jobs("issued")).await == 1.0
    })
    .await;
    assert!(handled, "the reset jobs never finished");
    let events = app.events("user.password_reset_requested").await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["data"]["email"], known.as_str());
    let tokens: i64 = app
        .db
        .query_one("SELECT count(*) FROM password_reset_tokens", &[])
        .await
        .unwrap_or_else(|err| panic!("password_reset_tokens: {err}"))
        .get(0);
    assert_eq!(tokens, 1);
    assert_eq!(
        metric(
            &app,
            r#"password_operations_total{operation="reset_request",outcome="success"}"#
        )
        .await,
        3.0
    );

    // A malformed email is refused for what it is, whoever asks.
    request_reset(&app, "not-an-email")
        .await
        .assert_error(400, "INVALID_EMAIL");
}

#[tokio::test]
async fn a_token_of_an_account_disabled_since_is_refused_with_account_disabled() {
    let app = spawn_issuer().await;
    let email = unique_email();
    app.register(&email, PASSWORD).await.assert_success(201);
    let token = requested_token(&app, &email, 1).await;
    app.db
        .execute(
            "UPDATE users SET disabled_at = now() WHERE email = $1",
            &[&email],
        )
        .await
        .unwrap_or_else(|err| panic!("users: {err}"));
    let before = password_hash(&app, &email).await;
    confirm(&app, &token, NEW_PASSWORD, NEW_PASSWORD)
        .await
        .assert_error(403, "ACCOUNT_DISABLED");
    assert_eq!(password_hash(&app, &email).await, before);
    assert!(app.events("user.password_changed").await.is_empty());
}

#[tokio::test]
async fn of_two_concurrent_confirms_with_one_token_exactly_one_wins() {
    let app = spawn_issuer().await;
    let email = unique_email();
    app.register(&email, PASSWORD).await.assert_success(201);
    let token = requested_token(&app, &email, 1).await;
    let (a, b) = tokio::join!(
        confirm(&app, &token, NEW_PASSWORD, NEW_PASSWORD),
        confirm(&app, &token, "Other-Horse-5", "Other-Horse-5"),
    );
    let mut statuses = [a.status, b.status];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 401], "{} / {}", a.body, b.body);
    let loser = if a.status == 401 { &a } else { &b };
    loser.assert_error(401, "INVALID_TOKEN");
    let winner = if a.status == 200 {
        NEW_PASSWORD
    } else {
        "Other-Horse-5"
    };
    app.login(&email, winner).await.assert_success(200);
    assert_eq!(app.events("user.password_changed").await.len(), 1);
}

#[tokio::test]
async fn an_expired_token_is_expired_token_and_a_replaced_one_invalid_token() {
    let app = spawn_issuer().await;
    let email = unique_email();
    app.register(&email, PASSWORD).await.assert_success(201);
    let replaced = requested_token(&app, &email, 1).await;
    let current = requested_token(&app, &email, 2).await;
    assert_ne!(replaced, current);
    confirm(&app, &replaced, NEW_PASSWORD, NEW_PASSWORD)
        .await
        .assert_error(401, "INVALID_TOKEN");
    for garbage in ["", "not-a-token", &"x".repeat(300)] {
        confirm(&app, garbage, NEW_PASSWORD, NEW_PASSWORD)
            .await
            .assert_error(401, "INVALID_TOKEN");
    }

    app.state.clock.advance(61 * 60);
    let expired = confirm(&app, &current, NEW_PASSWORD, NEW_PASSWORD).await;
    expired.assert_error(401, "EXPIRED_TOKEN");
    assert_eq!(expired.body["error"]["details"]["field"], "token");
    app.login(&email, PASSWORD).await.assert_success(200);
}

#[tokio::test]
async fn concurrent_requests_leave_exactly_one_live_token() {
    let app = spawn_issuer().await;
    let email = unique_email();
    app.register(&email, PASSWORD).await.assert_success(201);
    let replies = futures::future::join_all((0..6).map(|_| request_reset(&app, &email))).await;
    for reply in &replies {
        reply.assert_success(202);
    }
    let events = reset_events(&app, &email, 6).await;
    assert_eq!(events.len(), 6);
    let live: i64 = app
        .db
        .query_one(
            "SELECT count(*) FROM password_reset_tokens WHERE used_at IS NULL",
            &[],
        )
        .await
        .unwrap_or_else(|err| panic!("password_reset_tokens: {err}"))
        .get(0);
    assert_eq!(live, 1);
    // The live one is the last event's.
    let token = reset_token(&app, &email, 6).await;
    confirm(&app, &token, NEW_PASSWORD, NEW_PASSWORD)
        .await
        .assert_success(200);
}

#[tokio::test]
async fn a_refused_password_does_not_use_the_token_up() {
    let app = spawn_issuer().await;
    let email = unique_email();
    app.register(&email, PASSWORD).await.assert_success(201);
    let token = requested_token(&app, &email, 1).await;
    let weak = confirm(&app, &token, "password", "password").await;
    weak.assert_error(400, "WEAK_PASSWORD");
    assert_eq!(weak.body["error"]["details"]["field"], "password");
    let mismatch = confirm(&app, &token, NEW_PASSWORD, "Brand-New-Horse-8").await;
    mismatch.assert_error(400, "PASSWORD_MISMATCH");
    assert_eq!(
        mismatch.body["error"]["details"]["field"],
        "password_confirmation"
    );
    app.login(&email, PASSWORD).await.assert_success(200);
    confirm(&app, &token, NEW_PASSWORD, NEW_PASSWORD)
        .await
        .assert_success(200);
    app.login(&email, NEW_PASSWORD).await.assert_success(200);
    assert_eq!(
        metric(
            &app,
            r#"password_operations_total{operation="reset_confirm",outcome="weak_password"}"#
        )
        .await,
        1.0
    );
}

#[tokio::test]
async fn reset_requests_are_limited_per_account_apart_from_resend_verification() {
    let app = spawn_issuer_with(|env| {
        env.insert("RATE_LIMIT_RESEND_PER_ACCOUNT_PER_HOUR".into(), "2".into());
    })
    .await;
    let email = unique_email();
    app.register(&email, PASSWORD).await.assert_success(201);
    for _ in 0..2 {
        request_reset(&app, &email).await.assert_success(202);
    }
    let limited = request_reset(&app, &email).await;
    limited.assert_error(429, "RATE_LIMITED");
    assert!(limited
        .header("retry-after")
        .parse::<u64>()
        .is_ok_and(|s| s >= 1));
    // Case and blanks make no other account; resend-verification keeps its own count.
    request_reset(&app, &format!("  {}", email.to_uppercase()))
        .await
        .assert_error(429, "RATE_LIMITED");
    app.post("/api/v1/auth/resend-verification", json!({"email": email}))
        .await
        .assert_success(202);
    reset_events(&app, &email, 2).await;
    let handled = eventually(WAIT, || async {
        metric(&app, &jobs("issued")).await == 2.0
    })
    .await;
    assert!(handled);
    assert_eq!(app.events("user.password_reset_requested").await.len(), 2);
}

#[tokio::test]
async fn a_change_keeps_the_callers_session_and_revokes_the_others() {
    let app = spawn_issuer_with(|env| {
        env.insert("LOGIN_LOCKOUT_THRESHOLD".into(), "5".into());
    })
    .await;
    let verifier = spawn_verifier_for(&app).await;
    let email = unique_email();
    let caller = app.signed_in(&email).await;
    let other = app.login(&email, PASSWORD).await.data().clone();
    for login in [&caller, &other] {
        let passes = eventually(WAIT, || async {
            verifier.status_for(&access(login)).await == 200
        })
        .await;
        assert!(passes, "the verifier never accepted a live session");
    }

    let wrong = change(&app, Some(&access(&caller)), "Wrong-Horse-1", NEW_PASSWORD).await;
    wrong.assert_error(401, "INVALID_CREDENTIALS");
    let failures = app.login_failures(&email).await;
    assert_eq!(
        failures, 1,
        "a wrong current password counts as a failed login"
    );
    change(&app, Some(&access(&caller)), PASSWORD, "weakpass")
        .await
        .assert_error(400, "WEAK_PASSWORD");
    post_bearer(
        &app,
        CHANGE,
        Some(&access(&caller)),
        json!({"current_password": PASSWORD, "password": NEW_PASSWORD, "password_confirmation": "Nope-Horse-1"}),
    )
    .await
    .assert_error(400, "PASSWORD_MISMATCH");
    assert!(app.events("user.password_changed").await.is_empty());

    let done = change(&app, Some(&access(&caller)), PASSWORD, NEW_PASSWORD).await;
    done.assert_success(200);
    assert!(done.data()["message"]
        .as_str()
        .is_some_and(|m| !m.is_empty()));

    let rows = sessions(&app, &email).await;
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].1, None, "the caller's session stays");
    assert_eq!(rows[1].1.as_deref(), Some("password_changed"));
    let reasons = revoked_reasons(&app).await;
    assert_eq!(
        reasons,
        [(session_of(&other), "password_changed".to_owned())]
    );
    let refused = eventually(WAIT, || async {
        verifier.status_for(&access(&other)).await == 401
    })
    .await;
    assert!(refused, "the verifier still accepts the other session");
    app.refresh(&refresh(&other))
        .await
        .assert_error(401, "INVALID_TOKEN");
    // The caller keeps going: its access token, its refresh token, the verifier.
    assert_eq!(verifier.status_for(&access(&caller)).await, 200);
    app.get("/api/v1/auth/me", Some(&access(&caller)))
        .await
        .assert_success(200);
    let refreshed = app.refresh(&refresh(&caller)).await;
    refreshed.assert_success(200);
    app.get("/api/v1/auth/me", Some(&access(refreshed.data())))
        .await
        .assert_success(200);

    app.login(&email, PASSWORD)
        .await
        .assert_error(401, "INVALID_CREDENTIALS");
    app.login(&email, NEW_PASSWORD).await.assert_success(200);
    let changed = app.events("user.password_changed").await;
    assert_eq!(changed.len(), 1);
    assert_eq!(
        changed[0]["data"],
        json!({"user_id": user_id(&app, &email).await, "email": email, "via": "change"})
    );
}

#[tokio::test]
async fn a_locked_account_cannot_try_its_current_password() {
    let app = spawn_issuer_with(|env| {
        env.insert("LOGIN_LOCKOUT_THRESHOLD".into(), "2".into());
        env.insert("LOGIN_KNOWN_ADDRESS_DAYS".into(), "0".into());
    })
    .await;
    let email = unique_email();
    let caller = app.signed_in(&email).await;
    for _ in 0..2 {
        change(&app, Some(&access(&caller)), "Wrong-Horse-1", NEW_PASSWORD)
            .await
            .assert_error(401, "INVALID_CREDENTIALS");
    }
    // The lock the changes set holds for login and for change alike.
    app.login(&email, PASSWORD)
        .await
        .assert_error(429, "RATE_LIMITED");
    let before = password_hash(&app, &email).await;
    change(&app, Some(&access(&caller)), PASSWORD, NEW_PASSWORD)
        .await
        .assert_error(429, "RATE_LIMITED");
    assert_eq!(password_hash(&app, &email).await, before);
}

#[tokio::test]
async fn change_without_a_live_access_token_is_invalid_token_and_changes_nothing() {
    let app = spawn_issuer().await;
    let email = unique_email();
    let login = app.signed_in(&email).await;
    let ended = app.login(&email, PASSWORD).await.data().clone();
    app.logout(&refresh(&ended)).await.assert_success(200);
    let before = password_hash(&app, &email).await;
    let refresh_token = refresh(&login);
    let revoked_access = access(&ended);
    for bearer in [
        None,
        Some(refresh_token.as_str()),
        Some(revoked_access.as_str()),
    ] {
        change(&app, bearer, PASSWORD, NEW_PASSWORD)
            .await
            .assert_error(401, "INVALID_TOKEN");
    }
    assert_eq!(password_hash(&app, &email).await, before);
    assert!(app.events("user.password_changed").await.is_empty());
    let revoked: i64 = app
        .db
        .query_one(
            "SELECT count(*) FROM sessions WHERE revoked_at IS NOT NULL",
            &[],
        )
        .await
        .unwrap_or_else(|err| panic!("sessions: {err}"))
        .get(0);
    assert_eq!(revoked, 1, "only the logged-out session");
    app.login(&email, PASSWORD).await.assert_success(200);
}

/// The answer cannot tell, by its timing, whether the account exists, because it comes before
/// any database work: with Postgres stalled, a known and an unknown address both get the same
/// 202 (a request that touched the database first would wait out the timeout and answer 503).
/// The token is issued once Postgres moves again.
#[tokio::test]
async fn a_reset_request_is_answered_before_any_database_work() {
    let proxy = TcpProxy::to_postgres().await;
    let app = spawn_issuer_at(Some(proxy.addr), |env| {
        env.insert("DATABASE_TIMEOUT_SECONDS".into(), "1".into());
    })
    .await;
    let known = unique_email();
    app.register(&known, PASSWORD).await.assert_success(201);

    proxy.stall();
    let known_reply = request_reset(&app, &known).await;
    let unknown_reply = request_reset(&app, &unique_email()).await;
    known_reply.assert_success(202);
    unknown_reply.assert_success(202);
    assert_eq!(known_reply.data(), unknown_reply.data());

    proxy.unstall();
    let events = app
        .nats
        .published("user.password_reset_requested", 1, Duration::from_secs(60))
        .await;
    assert_eq!(
        events.len(),
        1,
        "the known address's token, once Postgres moved"
    );
    assert_eq!(events[0].1["data"]["email"], known.as_str());
}

#[tokio::test]
async fn the_new_routes_take_only_their_documented_fields() {
    let app = spawn_issuer().await;
    let email = unique_email();
    let login = app.signed_in(&email).await;
    let token = requested_token(&app, &email, 1).await;
    let before = password_hash(&app, &email).await;
    for (path, bearer, body) in [
        (REQUEST, None, json!({"email": email, "role": "admin"})),
        (REQUEST, None, json!({})),
        (
            CONFIRM,
            None,
            json!({"token": token, "password": NEW_PASSWORD, "password_confirmation": NEW_PASSWORD, "user_id": "x"}),
        ),
        (
            CONFIRM,
            None,
            json!({"token": token, "password": NEW_PASSWORD}),
        ),
        (
            CHANGE,
            Some(access(&login)),
            json!({"current_password": PASSWORD, "password": NEW_PASSWORD, "password_confirmation": NEW_PASSWORD, "email": email}),
        ),
        (CHANGE, Some(access(&login)), json!(["not", "an", "object"])),
    ] {
        post_bearer(&app, path, bearer.as_deref(), body)
            .await
            .assert_error(400, "VALIDATION_ERROR");
    }
    // Without a live session the change body is not even read.
    post_bearer(&app, CHANGE, None, json!(["not", "an", "object"]))
        .await
        .assert_error(401, "INVALID_TOKEN");
    assert_eq!(password_hash(&app, &email).await, before);
    // The token survived every refused request.
    confirm(&app, &token, NEW_PASSWORD, NEW_PASSWORD)
        .await
        .assert_success(200);
}
