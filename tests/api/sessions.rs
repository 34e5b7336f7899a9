//! Sessions: logout-all, the session list, ending one session, and what every new route of the
//! account lifecycle refuses. Each test checks the rows, the outbox events (with their
//! `reason`) and, where a session ends, that a running verifier refuses its tokens. The
//! helpers here serve `accounts.rs` too.

use std::time::Duration;

use serde_json::{json, Value};
use uuid::Uuid;

use crate::harness::{
    eventually, spawn_issuer, spawn_verifier_for, unique_email, Reply, TestIssuer, TestVerifier,
    PASSWORD,
};

pub(crate) const WAIT: Duration = Duration::from_secs(10);
const SESSIONS: &str = "/api/v1/auth/sessions";
const LOGOUT_ALL: &str = "/api/v1/auth/logout-all";
pub(crate) const ME: &str = "/api/v1/auth/me";

pub(crate) fn text(value: &Value) -> String {
    value.as_str().unwrap_or_default().to_owned()
}

pub(crate) fn sid(token: &str) -> String {
    text(&crate::harness::claims(token)["sid"])
}

/// Logs in with this `User-Agent`; the login data.
pub(crate) async fn login_with_agent(app: &TestIssuer, email: &str, user_agent: &str) -> Value {
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
pub(crate) async fn revocations(app: &TestIssuer) -> Vec<(String, String)> {
    app.events("session.revoked")
        .await
        .iter()
        .map(|e| (text(&e["data"]["session_id"]), text(&e["data"]["reason"])))
        .collect()
}

/// `(revoked_reason)` of the session row, `None` while it is live; panics if there is no row.
pub(crate) async fn revoked_reason(app: &TestIssuer, session_id: &str) -> Option<String> {
    let id = Uuid::parse_str(session_id).unwrap();
    app.db
        .query_one("SELECT revoked_reason FROM sessions WHERE id = $1", &[&id])
        .await
        .unwrap()
        .get(0)
}

pub(crate) async fn count(app: &TestIssuer, sql: &str) -> i64 {
    app.db.query_one(sql, &[]).await.unwrap().get(0)
}

/// Waits until the verifier refuses `access` (401), within a generous deadline.
pub(crate) async fn refused_by(verifier: &TestVerifier, access: &str) -> bool {
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

    let reply = app.call("POST", LOGOUT_ALL, Some(&tokens[1]), None).await;

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
    app.call("GET", SESSIONS, Some(&tokens[1]), None)
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

    let reply = app.call("GET", SESSIONS, Some(&caller), None).await;

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

    let reply = app.call("DELETE", &path, Some(&kept_access), None).await;

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
    let list = app.call("GET", SESSIONS, Some(&kept_access), None).await;
    assert_eq!(list.data()["sessions"].as_array().unwrap().len(), 1);
    app.call("DELETE", &path, Some(&kept_access), None)
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
        let reply = app
            .call("DELETE", &format!("{SESSIONS}/{id}"), Some(&caller), None)
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
    let metrics = app.metrics_text().await;
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
        let reply = app.call(method, &path, None, None).await;
        reply.assert_error(405, "METHOD_NOT_ALLOWED");
        assert_eq!(reply.header("allow"), allow, "{method} {path}");
    }
    for path in [
        format!("{SESSIONS}/"),
        format!("{SESSIONS}/{id}/x"),
        format!("{SESSIONS}s/{id}"),
    ] {
        app.call("DELETE", &path, None, None)
            .await
            .assert_error(404, "NOT_FOUND");
    }
    // GET /me still answers.
    let login = app.signed_in(&unique_email()).await;
    app.call("GET", ME, Some(&text(&login["access_token"])), None)
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
            let reply = app.call(method, path, bearer, body.clone()).await;
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
async fn the_new_routes_and_outcomes_are_counted() {
    let app = spawn_issuer().await;
    let email = unique_email();
    let first = app.signed_in(&email).await;
    let second = login_with_agent(&app, &email, "second").await;
    let access = text(&first["access_token"]);
    let path = format!("{SESSIONS}/{}", sid(&text(&second["access_token"])));
    for action in ["logout_all", "session_deleted", "account_deleted"] {
        let series = format!(r#"account_actions_total{{action="{action}"}}"#);
        assert_eq!(app.metric(&series).await, Some(0.0), "{series}");
    }

    app.call("DELETE", &path, Some(&access), None)
        .await
        .assert_success(200);
    app.call("POST", LOGOUT_ALL, Some(&access), None)
        .await
        .assert_success(200);
    let again = text(&app.login(&email, PASSWORD).await.data()["access_token"]);
    app.call(
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
        assert_eq!(app.metric(&series).await, Some(1.0), "{series}");
    }
    assert_eq!(
        app.metric(r#"logins_total{outcome="account_disabled"}"#)
            .await,
        Some(1.0)
    );
    for (route, method) in [
        ("/api/v1/auth/logout-all", "POST"),
        ("/api/v1/auth/sessions/{session_id}", "DELETE"),
        ("/api/v1/auth/me", "DELETE"),
    ] {
        let series =
            format!(r#"http_requests_total{{route="{route}",method="{method}",status="200"}}"#);
        assert_eq!(app.metric(&series).await, Some(1.0), "{series}");
    }
}
