//! Sessions and account administration: logout-all, the session list, ending one session,
//! deleting the account, disabled accounts. Each test checks the rows, the outbox events (with
//! their `reason`) and, where a session ends, that a running verifier refuses its tokens.

use std::time::Duration;

use common::events::RevocationReason;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::harness::{
    eventually, spawn_issuer, spawn_issuer_with, unique_email, Reply, TestIssuer, PASSWORD,
};
use crate::services::{spawn_verifier_for, TestVerifier};

const WAIT: Duration = Duration::from_secs(10);
const SESSIONS: &str = "/api/v1/auth/sessions";
const LOGOUT_ALL: &str = "/api/v1/auth/logout-all";
const ME: &str = "/api/v1/auth/me";

fn text(value: &Value) -> String {
    value.as_str().unwrap_or_default().to_owned()
}

fn sid(token: &str) -> String {
    text(&crate::harness::claims(token)["sid"])
}

/// Any request to the issuer, with an optional bearer token and JSON body.
async fn call(
    app: &TestIssuer,
    method: &str,
    path: &str,
    bearer: Option<&str>,
    body: Option<Value>,
) -> Reply {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = app.http.request(method, app.url(path));
    if let Some(token) = bearer {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    Reply::read(request.send().await.unwrap()).await
}

/// Logs in with this `User-Agent`; the login data.
async fn login_with_agent(app: &TestIssuer, email: &str, user_agent: &str) -> Value {
    let response = app
        .http
        .post(app.url("/api/v1/auth/login"))
        .header("user-agent", user_agent)
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let reply = Reply::read(response).await;
    reply.assert_success(200);
    reply.data().clone()
}

/// `(session_id, reason)` of every `session.revoked` in the outbox, oldest first.
async fn revocations(app: &TestIssuer) -> Vec<(String, String)> {
    app.events("session.revoked")
        .await
        .iter()
        .map(|e| (text(&e["data"]["session_id"]), text(&e["data"]["reason"])))
        .collect()
}

/// `(revoked_reason)` of the session row, `None` while it is live; panics if there is no row.
async fn revoked_reason(app: &TestIssuer, session_id: &str) -> Option<String> {
    let id = Uuid::parse_str(session_id).unwrap();
    app.db
        .query_one("SELECT revoked_reason FROM sessions WHERE id = $1", &[&id])
        .await
        .unwrap()
        .get(0)
}

async fn count(app: &TestIssuer, sql: &str) -> i64 {
    app.db.query_one(sql, &[]).await.unwrap().get(0)
}

/// Waits until the verifier refuses `access` (401), within a generous deadline.
async fn refused_by(verifier: &TestVerifier, access: &str) -> bool {
    eventually(WAIT, || async { verifier.status_for(access).await == 401 }).await
}

#[tokio::test]
async fn logout_all_revokes_every_session_of_the_user_and_the_verifier_refuses_them_all() {
    let app = spawn_issuer().await;
    let email = unique_email();
    let first = app.signed_in(&email).await;
    let second = login_with_agent(&app, &email, "second").await;
    let third = login_with_agent(&app, &email, "third").await;
    let other = app.signed_in(&unique_email()).await;
    let verifier = spawn_verifier_for(&app).await;
    let tokens: Vec<String> = [&first, &second, &third]
        .iter()
        .map(|l| text(&l["access_token"]))
        .collect();
    for token in &tokens {
        assert_eq!(verifier.status_for(token).await, 200);
    }

    let reply = call(&app, "POST", LOGOUT_ALL, Some(&tokens[1]), None).await;

    reply.assert_success(200);
    assert_eq!(reply.data()["revoked_sessions"], 3);
    assert!(reply.data()["message"].is_string());
    let events = revocations(&app).await;
    assert_eq!(events.len(), 3, "{events:?}");
    for token in &tokens {
        assert_eq!(
            revoked_reason(&app, &sid(token)).await.as_deref(),
            Some("logout_all")
        );
        assert!(events.contains(&(sid(token), "logout_all".to_owned())));
        assert!(
            refused_by(&verifier, token).await,
            "still accepted: {token}"
        );
    }
    // The caller's own session is gone too; the other user's is untouched.
    call(&app, "GET", SESSIONS, Some(&tokens[1]), None)
        .await
        .assert_error(401, "INVALID_TOKEN");
    let refresh = app.refresh(&text(&first["refresh_token"])).await;
    refresh.assert_error(401, "INVALID_TOKEN");
    let other_access = text(&other["access_token"]);
    assert_eq!(revoked_reason(&app, &sid(&other_access)).await, None);
    assert_eq!(verifier.status_for(&other_access).await, 200);
}

#[tokio::test]
async fn the_session_list_shows_live_sessions_newest_first_and_no_secret() {
    let app = spawn_issuer().await;
    let email = unique_email();
    app.register(&email, PASSWORD).await.assert_success(201);
    let long_agent = "x".repeat(1000);
    let oldest = login_with_agent(&app, &email, &long_agent).await;
    let logged_out = login_with_agent(&app, &email, "gone").await;
    let expired = login_with_agent(&app, &email, "expired").await;
    let newest = login_with_agent(&app, &email, "Mozilla/5.0 (X11) Firefox/140.0").await;
    app.logout(&text(&logged_out["refresh_token"]))
        .await
        .assert_success(200);
    let expired_id = Uuid::parse_str(&sid(&text(&expired["access_token"]))).unwrap();
    app.db
        .execute(
            "UPDATE sessions SET expires_at = now() - interval '1 second' WHERE id = $1",
            &[&expired_id],
        )
        .await
        .unwrap();
    app.refresh(&text(&oldest["refresh_token"]))
        .await
        .assert_success(200);
    let caller = text(&newest["access_token"]);

    let reply = call(&app, "GET", SESSIONS, Some(&caller), None).await;

    reply.assert_success(200);
    let sessions = reply.data()["sessions"].as_array().unwrap().clone();
    let ids: Vec<String> = sessions.iter().map(|s| text(&s["session_id"])).collect();
    assert_eq!(
        ids,
        [sid(&caller), sid(&text(&oldest["access_token"]))],
        "{sessions:?}"
    );
    for session in &sessions {
        let mut keys: Vec<&str> = session
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "created_at",
                "current",
                "expires_at",
                "ip_address",
                "last_refreshed_at",
                "session_id",
                "user_agent"
            ]
        );
        assert_eq!(session["ip_address"], "127.0.0.1");
        for key in ["created_at", "expires_at"] {
            let at = text(&session[key]);
            assert!(
                chrono::DateTime::parse_from_rfc3339(&at).is_ok() && at.ends_with('Z'),
                "{key}: {at}"
            );
        }
    }
    assert_eq!(sessions[0]["current"], true);
    assert_eq!(sessions[1]["current"], false);
    assert_eq!(sessions[0]["user_agent"], "Mozilla/5.0 (X11) Firefox/140.0");
    assert_eq!(sessions[0]["last_refreshed_at"], Value::Null);
    assert_eq!(text(&sessions[1]["user_agent"]), "x".repeat(256));
    assert!(sessions[1]["last_refreshed_at"].is_string());
    // Nothing that could be replayed: no token, jti or hash.
    let body = reply.body.to_string();
    for login in [&oldest, &newest] {
        for key in ["access_token", "refresh_token"] {
            let token = text(&login[key]);
            assert!(!body.contains(&token));
            let jti = text(&crate::harness::claims(&token)["jti"]);
            assert!(!body.contains(&jti), "a jti is listed: {body}");
        }
    }
    for word in ["token", "jti", "hash"] {
        assert!(!body.contains(word), "{word} in {body}");
    }
}

#[tokio::test]
async fn deleting_another_session_of_ones_own_revokes_that_one_only() {
    let app = spawn_issuer().await;
    let email = unique_email();
    let kept = app.signed_in(&email).await;
    let ended = login_with_agent(&app, &email, "phone").await;
    let verifier = spawn_verifier_for(&app).await;
    let kept_access = text(&kept["access_token"]);
    let ended_access = text(&ended["access_token"]);
    assert_eq!(verifier.status_for(&ended_access).await, 200);
    let path = format!("{SESSIONS}/{}", sid(&ended_access));

    let reply = call(&app, "DELETE", &path, Some(&kept_access), None).await;

    reply.assert_success(200);
    assert!(reply.data()["message"].is_string());
    assert_eq!(
        revoked_reason(&app, &sid(&ended_access)).await.as_deref(),
        Some("session_deleted")
    );
    assert_eq!(revoked_reason(&app, &sid(&kept_access)).await, None);
    assert_eq!(
        revocations(&app).await,
        [(sid(&ended_access), "session_deleted".to_owned())]
    );
    assert!(refused_by(&verifier, &ended_access).await);
    assert_eq!(verifier.status_for(&kept_access).await, 200);
    app.refresh(&text(&ended["refresh_token"]))
        .await
        .assert_error(401, "INVALID_TOKEN");
    // Gone from the list; deleting it again is 404, as for any session one cannot name.
    let list = call(&app, "GET", SESSIONS, Some(&kept_access), None).await;
    assert_eq!(list.data()["sessions"].as_array().unwrap().len(), 1);
    call(&app, "DELETE", &path, Some(&kept_access), None)
        .await
        .assert_error(404, "NOT_FOUND");
    assert_eq!(revocations(&app).await.len(), 1);
}

#[tokio::test]
async fn another_users_session_an_unknown_one_or_a_malformed_id_is_404_and_changes_nothing() {
    let app = spawn_issuer().await;
    let mine = app.signed_in(&unique_email()).await;
    let theirs = app.signed_in(&unique_email()).await;
    let caller = text(&mine["access_token"]);
    let their_sid = sid(&text(&theirs["access_token"]));
    let mut answers = Vec::new();
    for id in [
        their_sid.clone(),
        Uuid::new_v4().to_string(),
        "not-a-session-id".to_owned(),
        their_sid.to_uppercase(),
        format!("{{{their_sid}}}"),
    ] {
        let reply = call(
            &app,
            "DELETE",
            &format!("{SESSIONS}/{id}"),
            Some(&caller),
            None,
        )
        .await;
        reply.assert_error(404, "NOT_FOUND");
        answers.push((reply.body["error"].clone(), reply.headers.len()));
    }
    // The same answer whatever the id named.
    assert!(answers.windows(2).all(|w| w[0] == w[1]), "{answers:?}");
    assert_eq!(revoked_reason(&app, &their_sid).await, None);
    assert_eq!(revocations(&app).await, []);
    app.refresh(&text(&theirs["refresh_token"]))
        .await
        .assert_success(200);
    // The metrics name the route template, never the id a client sent.
    let metrics = reqwest::get(app.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics
            .contains(r#"route="/api/v1/auth/sessions/{session_id}",method="DELETE",status="404""#),
        "{metrics}"
    );
    assert!(!metrics.contains(&their_sid) && !metrics.contains("not-a-session-id"));
}

#[tokio::test]
async fn the_new_paths_answer_only_their_methods_with_allow() {
    let app = spawn_issuer().await;
    let id = Uuid::new_v4();
    for (method, path, allow) in [
        ("GET", format!("{SESSIONS}/{id}"), "DELETE"),
        ("POST", format!("{SESSIONS}/{id}"), "DELETE"),
        ("DELETE", SESSIONS.to_owned(), "GET"),
        ("POST", SESSIONS.to_owned(), "GET"),
        ("GET", LOGOUT_ALL.to_owned(), "POST"),
        ("POST", ME.to_owned(), "GET, DELETE"),
        ("PUT", ME.to_owned(), "GET, DELETE"),
    ] {
        let reply = call(&app, method, &path, None, None).await;
        reply.assert_error(405, "METHOD_NOT_ALLOWED");
        assert_eq!(reply.header("allow"), allow, "{method} {path}");
    }
    for path in [
        format!("{SESSIONS}/"),
        format!("{SESSIONS}/{id}/x"),
        format!("{SESSIONS}s/{id}"),
    ] {
        call(&app, "DELETE", &path, None, None)
            .await
            .assert_error(404, "NOT_FOUND");
    }
    // GET /me still answers.
    let login = app.signed_in(&unique_email()).await;
    call(&app, "GET", ME, Some(&text(&login["access_token"])), None)
        .await
        .assert_success(200);
}

#[tokio::test]
async fn every_new_route_refuses_no_token_a_refresh_token_and_a_revoked_sessions_token() {
    let app = spawn_issuer().await;
    let email = unique_email();
    let live = app.signed_in(&email).await;
    let revoked = login_with_agent(&app, &email, "ended").await;
    app.logout(&text(&revoked["refresh_token"]))
        .await
        .assert_success(200);
    let live_sid = sid(&text(&live["access_token"]));
    let refresh_token = text(&live["refresh_token"]);
    let revoked_access = text(&revoked["access_token"]);
    let routes = [
        ("POST", LOGOUT_ALL.to_owned(), None),
        ("GET", SESSIONS.to_owned(), None),
        ("DELETE", format!("{SESSIONS}/{live_sid}"), None),
        ("DELETE", ME.to_owned(), Some(json!({"password": PASSWORD}))),
    ];
    let before = revocations(&app).await;
    for (method, path, body) in &routes {
        for bearer in [
            None,
            Some(refresh_token.as_str()),
            Some(revoked_access.as_str()),
        ] {
            let reply = call(&app, method, path, bearer, body.clone()).await;
            reply.assert_error(401, "INVALID_TOKEN");
        }
    }
    assert_eq!(revocations(&app).await, before);
    assert_eq!(revoked_reason(&app, &live_sid).await, None);
    assert_eq!(
        count(&app, "SELECT count(*) FROM users").await,
        1,
        "the account must still exist"
    );
    assert!(app.events("user.deleted").await.is_empty());
}

#[tokio::test]
async fn deleting_the_account_revokes_everything_frees_the_email_and_counts_a_wrong_password() {
    let app = spawn_issuer().await;
    let email = unique_email();
    let first = app.signed_in(&email).await;
    let second = login_with_agent(&app, &email, "tablet").await;
    let user_id = text(&first["user_id"]);
    let verifier = spawn_verifier_for(&app).await;
    let access = text(&first["access_token"]);
    let other_access = text(&second["access_token"]);
    assert_eq!(verifier.status_for(&access).await, 200);

    let wrong = call(
        &app,
        "DELETE",
        ME,
        Some(&access),
        Some(json!({"password": "Wrong-Horse-9"})),
    )
    .await;
    wrong.assert_error(401, "INVALID_CREDENTIALS");
    let failures: i32 = app
        .db
        .query_one(
            "SELECT failures FROM login_failures WHERE email = $1",
            &[&email],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(failures, 1, "a wrong password counts like a failed login");
    assert_eq!(count(&app, "SELECT count(*) FROM users").await, 1);
    assert_eq!(revocations(&app).await, []);

    let reply = call(
        &app,
        "DELETE",
        ME,
        Some(&access),
        Some(json!({"password": PASSWORD})),
    )
    .await;

    reply.assert_success(200);
    let id = Uuid::parse_str(&user_id).unwrap();
    for table in [
        "users WHERE id",
        "sessions WHERE user_id",
        "email_verification_tokens WHERE user_id",
    ] {
        let sql = format!("SELECT count(*) FROM {table} = $1");
        let left: i64 = app.db.query_one(&sql, &[&id]).await.unwrap().get(0);
        assert_eq!(left, 0, "{table}");
    }
    for table in ["login_failures", "login_known_addresses"] {
        let sql = format!("SELECT count(*) FROM {table} WHERE email = $1");
        let left: i64 = app.db.query_one(&sql, &[&email]).await.unwrap().get(0);
        assert_eq!(left, 0, "{table}");
    }
    // Both sessions announced as revoked, before the account's deletion.
    let rows = app
        .db
        .query(
            "SELECT event_type, payload FROM outbox \
             WHERE event_type IN ('session.revoked', 'user.deleted') ORDER BY id",
            &[],
        )
        .await
        .unwrap();
    let kinds: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
    assert_eq!(
        kinds,
        ["session.revoked", "session.revoked", "user.deleted"]
    );
    let mut revoked: Vec<(String, String)> = revocations(&app).await;
    revoked.sort();
    let mut expected = vec![
        (sid(&access), "account_deleted".to_owned()),
        (sid(&other_access), "account_deleted".to_owned()),
    ];
    expected.sort();
    assert_eq!(revoked, expected);
    let deleted: Value = rows[2].get(1);
    assert_eq!(deleted["data"], json!({"user_id": user_id, "email": email}));

    // The old tokens fail at the issuer and at the verifier.
    assert!(refused_by(&verifier, &access).await);
    assert!(refused_by(&verifier, &other_access).await);
    app.refresh(&text(&first["refresh_token"]))
        .await
        .assert_error(401, "INVALID_TOKEN");
    app.validate(&access)
        .await
        .assert_error(401, "INVALID_TOKEN");
    app.get(ME, Some(&access))
        .await
        .assert_error(404, "USER_NOT_FOUND");
    app.login(&email, PASSWORD)
        .await
        .assert_error(401, "INVALID_CREDENTIALS");
    // The email is free: a new account, with a new id.
    let again = app.register(&email, PASSWORD).await;
    again.assert_success(201);
    assert_ne!(text(&again.data()["user_id"]), user_id);
    app.login(&email, PASSWORD).await.assert_success(200);
}

#[tokio::test]
async fn a_locked_account_cannot_be_deleted_until_the_lock_ends() {
    let app = spawn_issuer_with(|env| {
        env.insert("LOGIN_LOCKOUT_THRESHOLD".into(), "2".into());
    })
    .await;
    let email = unique_email();
    let login = app.signed_in(&email).await;
    let access = text(&login["access_token"]);
    let wrong = Some(json!({"password": "Wrong-Horse-9"}));
    for _ in 0..2 {
        call(&app, "DELETE", ME, Some(&access), wrong.clone())
            .await
            .assert_error(401, "INVALID_CREDENTIALS");
    }

    let reply = call(
        &app,
        "DELETE",
        ME,
        Some(&access),
        Some(json!({"password": PASSWORD})),
    )
    .await;

    reply.assert_error(429, "RATE_LIMITED");
    assert!(!reply.header("retry-after").is_empty());
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM login_failures WHERE locked_until > now()"
        )
        .await,
        1
    );
    assert_eq!(count(&app, "SELECT count(*) FROM users").await, 1);
    assert!(app.events("user.deleted").await.is_empty());
}

#[tokio::test]
async fn deleting_an_account_drops_its_unsent_mails_and_keeps_its_revocations() {
    // Nothing listens there: every event stays in the outbox.
    let app = spawn_issuer_with(|env| {
        env.insert("NATS_URL".into(), "nats://127.0.0.1:9".into());
    })
    .await;
    let email = unique_email();
    let login = app.signed_in(&email).await;
    let bystander = unique_email();
    app.register(&bystander, PASSWORD).await.assert_success(201);
    let access = text(&login["access_token"]);

    call(
        &app,
        "DELETE",
        ME,
        Some(&access),
        Some(json!({"password": PASSWORD})),
    )
    .await
    .assert_success(200);

    let mailed: Vec<String> = app
        .events("user.registered")
        .await
        .iter()
        .map(|e| text(&e["data"]["email"]))
        .collect();
    assert_eq!(
        mailed,
        [bystander],
        "the deleted user's token must not be mailed"
    );
    assert_eq!(
        revocations(&app).await,
        [(sid(&access), "account_deleted".to_owned())]
    );
    assert_eq!(app.events("user.deleted").await.len(), 1);
    // History that names the user and carries no secret stays.
    assert_eq!(app.events("user.logged_in").await.len(), 1);
}

#[tokio::test]
async fn a_disabled_account_is_refused_at_login_and_refresh_only_once_the_password_matched() {
    let app = spawn_issuer().await;
    let email = unique_email();
    let first = app.signed_in(&email).await;
    let second = login_with_agent(&app, &email, "laptop").await;
    let verifier = spawn_verifier_for(&app).await;
    let access = text(&first["access_token"]);
    assert_eq!(verifier.status_for(&access).await, 200);
    let parsed = issuer::auth::Email::parse(&email).unwrap();

    let disabled = issuer::auth::account::disable(&app.state.pool, &parsed, chrono::Utc::now())
        .await
        .unwrap()
        .unwrap();

    assert!(disabled.changed);
    assert_eq!(disabled.revoked_sessions, 2);
    let disabled_at: Option<chrono::DateTime<chrono::Utc>> = app
        .db
        .query_one("SELECT disabled_at FROM users WHERE email = $1", &[&email])
        .await
        .unwrap()
        .get(0);
    assert!(disabled_at.is_some());
    for login in [&first, &second] {
        let token = text(&login["access_token"]);
        assert_eq!(
            revoked_reason(&app, &sid(&token)).await.as_deref(),
            Some("account_disabled")
        );
        assert!(refused_by(&verifier, &token).await);
    }
    let reasons: Vec<String> = revocations(&app)
        .await
        .into_iter()
        .map(|(_, r)| r)
        .collect();
    assert_eq!(reasons, ["account_disabled", "account_disabled"]);
    assert_eq!(
        app.events("user.disabled").await[0]["data"],
        json!({"user_id": first["user_id"], "email": email})
    );
    app.login(&email, "Wrong-Horse-9")
        .await
        .assert_error(401, "INVALID_CREDENTIALS");
    app.login(&email, PASSWORD)
        .await
        .assert_error(403, "ACCOUNT_DISABLED");
    app.refresh(&text(&second["refresh_token"]))
        .await
        .assert_error(403, "ACCOUNT_DISABLED");
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM sessions WHERE revoked_at IS NULL"
        )
        .await,
        0
    );
    // Disabling again changes nothing and announces nothing.
    let again = issuer::auth::account::disable(&app.state.pool, &parsed, chrono::Utc::now())
        .await
        .unwrap()
        .unwrap();
    assert!(!again.changed);
    assert_eq!(app.events("user.disabled").await.len(), 1);

    let enabled = issuer::auth::account::enable(&app.state.pool, &parsed, chrono::Utc::now())
        .await
        .unwrap()
        .unwrap();

    assert!(enabled.changed);
    assert_eq!(app.events("user.enabled").await.len(), 1);
    app.login(&email, PASSWORD).await.assert_success(200);
    // The sessions the disable revoked stay revoked.
    app.refresh(&text(&second["refresh_token"]))
        .await
        .assert_error(401, "INVALID_TOKEN");
}

#[tokio::test]
async fn the_operator_revokes_every_session_with_reason_operator() {
    let app = spawn_issuer().await;
    let email = unique_email();
    let login = app.signed_in(&email).await;
    let verifier = spawn_verifier_for(&app).await;
    let access = text(&login["access_token"]);
    let parsed = issuer::auth::Email::parse(&email).unwrap();

    let revoked = issuer::auth::sessions::revoke_all(&app.state.pool, &parsed, chrono::Utc::now())
        .await
        .unwrap();

    assert_eq!(revoked, Some(1));
    assert_eq!(
        revocations(&app).await,
        [(sid(&access), RevocationReason::Operator.as_str().to_owned())]
    );
    assert!(refused_by(&verifier, &access).await);
    // The account itself is untouched.
    app.login(&email, PASSWORD).await.assert_success(200);
    let unknown = issuer::auth::Email::parse(&unique_email()).unwrap();
    let none = issuer::auth::sessions::revoke_all(&app.state.pool, &unknown, chrono::Utc::now())
        .await
        .unwrap();
    assert_eq!(none, None);
}

/// The value of one series in the issuer's `/metrics`; `None` when it is not there.
async fn metric(app: &TestIssuer, series: &str) -> Option<f64> {
    let text = reqwest::get(app.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test]
async fn the_new_routes_and_outcomes_are_counted() {
    let app = spawn_issuer().await;
    let email = unique_email();
    let first = app.signed_in(&email).await;
    let second = login_with_agent(&app, &email, "second").await;
    let access = text(&first["access_token"]);
    let path = format!("{SESSIONS}/{}", sid(&text(&second["access_token"])));
    for action in ["logout_all", "session_deleted", "account_deleted"] {
        let series = format!(r#"account_actions_total{{action="{action}"}}"#);
        assert_eq!(metric(&app, &series).await, Some(0.0), "{series}");
    }

    call(&app, "DELETE", &path, Some(&access), None)
        .await
        .assert_success(200);
    call(&app, "POST", LOGOUT_ALL, Some(&access), None)
        .await
        .assert_success(200);
    let again = text(&app.login(&email, PASSWORD).await.data()["access_token"]);
    call(
        &app,
        "DELETE",
        ME,
        Some(&again),
        Some(json!({"password": PASSWORD})),
    )
    .await
    .assert_success(200);
    let disabled = unique_email();
    app.register(&disabled, PASSWORD).await.assert_success(201);
    let parsed = issuer::auth::Email::parse(&disabled).unwrap();
    issuer::auth::account::disable(&app.state.pool, &parsed, chrono::Utc::now())
        .await
        .unwrap();
    app.login(&disabled, PASSWORD)
        .await
        .assert_error(403, "ACCOUNT_DISABLED");

    for action in ["logout_all", "session_deleted", "account_deleted"] {
        let series = format!(r#"account_actions_total{{action="{action}"}}"#);
        assert_eq!(metric(&app, &series).await, Some(1.0), "{series}");
    }
    assert_eq!(
        metric(&app, r#"logins_total{outcome="account_disabled"}"#).await,
        Some(1.0)
    );
    for (route, method) in [
        ("/api/v1/auth/logout-all", "POST"),
        ("/api/v1/auth/sessions/{session_id}", "DELETE"),
        ("/api/v1/auth/me", "DELETE"),
    ] {
        let series =
            format!(r#"http_requests_total{{route="{route}",method="{method}",status="200"}}"#);
        assert_eq!(metric(&app, &series).await, Some(1.0), "{series}");
    }
}
