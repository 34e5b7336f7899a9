//! The account: deleting it (with the password), disabling and enabling it, the operator's
//! session revocation. Each test checks the rows, the outbox events (with their `reason`) and,
//! where sessions end, that a running verifier refuses their tokens.

use common::events::RevocationReason;
use serde_json::{json, Value};
use uuid::Uuid;

use crate::harness::{
    spawn_issuer, spawn_issuer_with, spawn_verifier_for, unique_email, Reply, TestIssuer, PASSWORD,
};
use crate::sessions::{
    count, login_with_agent, refused_by, revocations, revoked_reason, sid, text, ME,
};

/// `DELETE /api/v1/auth/me` as the holder of `access`, confirming with `password`.
async fn delete_account(app: &TestIssuer, access: &str, password: &str) -> Reply {
    let body = json!({ "password": password });
    app.call("DELETE", ME, Some(access), Some(body)).await
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

    let wrong = delete_account(&app, &access, "Wrong-Horse-9").await;
    wrong.assert_error(401, "INVALID_CREDENTIALS");
    let failures = app.login_failures(&email).await;
    assert_eq!(failures, 1, "a wrong password counts like a failed login");
    assert_eq!(count(&app, "SELECT count(*) FROM users").await, 1);
    assert_eq!(revocations(&app).await, []);

    let reply = delete_account(&app, &access, PASSWORD).await;

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
    for _ in 0..2 {
        delete_account(&app, &access, "Wrong-Horse-9")
            .await
            .assert_error(401, "INVALID_CREDENTIALS");
    }

    let reply = delete_account(&app, &access, PASSWORD).await;

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

    delete_account(&app, &access, PASSWORD)
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
