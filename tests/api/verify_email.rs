use serde_json::json;

use crate::harness::{spawn_issuer, unique_email, PASSWORD};

#[tokio::test]
async fn verify_email_marks_the_user_verified_and_queues_the_event() {
    let app = spawn_issuer().await;
    let email = unique_email();
    let user_id = app.register(&email, PASSWORD).await.data()["user_id"].clone();
    let token = app.verification_token(&email).await;

    let reply = app.verify_email(&token).await;

    reply.assert_success(200);
    assert_eq!(reply.data()["user_id"], user_id);
    let row = app
        .db
        .query_one(
            "SELECT is_email_verified, email_verified_at IS NOT NULL FROM users WHERE email = $1",
            &[&email],
        )
        .await
        .unwrap();
    assert!(row.get::<_, bool>(0) && row.get::<_, bool>(1));
    let events = app.events("user.email_verified").await;
    assert_eq!(events.len(), 1);
    assert_eq!(
        events[0]["data"],
        json!({"user_id": user_id, "email": email})
    );
    // The next login's token says so.
    let login = app.login(&email, PASSWORD).await;
    let claims = crate::harness::claims(login.data()["access_token"].as_str().unwrap());
    assert_eq!(claims["email_verified"], true);
}

#[tokio::test]
async fn a_verification_token_works_once() {
    let app = spawn_issuer().await;
    let email = unique_email();
    app.register(&email, PASSWORD).await.assert_success(201);
    let token = app.verification_token(&email).await;
    app.verify_email(&token).await.assert_success(200);

    let again = app.verify_email(&token).await;
    again.assert_error(401, "INVALID_TOKEN");
    assert_eq!(
        again.body["error"]["details"],
        json!({"field": "token", "issue": "the verification token has already been used"})
    );
    assert_eq!(
        again.header("www-authenticate"),
        r#"Bearer error="invalid_token", error_description="the verification token has already been used""#
    );
    assert_eq!(app.events("user.email_verified").await.len(), 1);
}

#[tokio::test]
async fn an_expired_verification_token_is_refused() {
    let app = spawn_issuer().await;
    let email = unique_email();
    app.register(&email, PASSWORD).await.assert_success(201);
    let token = app.verification_token(&email).await;

    app.state.clock.advance(24 * 3600 + 1);

    app.verify_email(&token)
        .await
        .assert_error(401, "EXPIRED_TOKEN");
    assert!(!app.email_verified(&email).await);
}

#[tokio::test]
async fn garbage_and_unknown_tokens_are_invalid() {
    let app = spawn_issuer().await;
    for token in [
        "",
        "garbage",
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        &"x".repeat(5000),
    ] {
        let reply = app.verify_email(token).await;
        reply.assert_error(401, "INVALID_TOKEN");
        assert_eq!(
            reply.body["error"]["details"]["issue"],
            "the verification token is unknown or has been replaced"
        );
    }
    let reply = app
        .post("/api/v1/auth/verify-email", json!({"token": 12}))
        .await;
    reply.assert_error(400, "VALIDATION_ERROR");
}

#[tokio::test]
async fn resend_replaces_the_token_and_answers_the_same_for_unknown_emails() {
    let app = spawn_issuer().await;
    let email = unique_email();
    app.register(&email, PASSWORD).await.assert_success(201);
    let first = app.verification_token(&email).await;

    let known = app
        .post(
            "/api/v1/auth/resend-verification",
            json!({"email": email.to_uppercase()}),
        )
        .await;
    let unknown = app
        .post(
            "/api/v1/auth/resend-verification",
            json!({"email": unique_email()}),
        )
        .await;

    known.assert_success(202);
    unknown.assert_success(202);
    assert_eq!(known.data(), unknown.data());
    let requested = app.events("user.verification_requested").await;
    assert_eq!(requested.len(), 1);
    let second = app.verification_token(&email).await;
    assert_ne!(first, second);
    app.verify_email(&first)
        .await
        .assert_error(401, "INVALID_TOKEN");
    app.verify_email(&second).await.assert_success(200);
    // Once verified, resending sends nothing more.
    app.post("/api/v1/auth/resend-verification", json!({"email": email}))
        .await
        .assert_success(202);
    assert_eq!(app.events("user.verification_requested").await.len(), 1);
}
