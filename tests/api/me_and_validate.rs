use serde_json::json;

use crate::harness::{claims, default_header, forge, spawn_issuer, unique_email, SECRET};

#[tokio::test]
async fn validate_token_accepts_a_live_access_token() {
    let app = spawn_issuer().await;
    let email = unique_email();
    let login = app.signed_in(&email).await;
    let access = login["access_token"].as_str().unwrap();

    let reply = app.validate(access).await;

    reply.assert_success(200);
    assert_eq!(reply.data()["is_valid"], true);
    assert_eq!(reply.data()["user_id"], login["user_id"]);
    assert_eq!(reply.data()["email"], email.as_str());
    let expires_at = reply.data()["expires_at"].as_str().unwrap();
    assert_eq!(
        chrono::DateTime::parse_from_rfc3339(expires_at)
            .unwrap()
            .timestamp(),
        claims(access)["exp"].as_i64().unwrap()
    );
}

#[tokio::test]
async fn validate_token_refuses_bad_signature_expired_malformed_missing_and_wrong_type() {
    let app = spawn_issuer().await;
    let login = app.signed_in(&unique_email()).await;
    let access = login["access_token"].as_str().unwrap();

    let resigned = forge(
        &default_header(),
        &claims(access),
        "another-secret-of-at-least-32-bytes!!",
    );
    app.validate(&resigned)
        .await
        .assert_error(401, "INVALID_TOKEN");

    let mut expired = claims(access);
    expired["exp"] = json!(chrono::Utc::now().timestamp() - 31);
    app.validate(&forge(&default_header(), &expired, SECRET))
        .await
        .assert_error(401, "EXPIRED_TOKEN");

    for malformed in [
        "",
        "abc",
        "a.b.c",
        "eyJhbGciOiJIUzI1NiJ9..",
        &format!("{access}x"),
    ] {
        app.validate(malformed)
            .await
            .assert_error(401, "INVALID_TOKEN");
    }
    app.post("/api/v1/auth/validate-token", json!({}))
        .await
        .assert_error(400, "VALIDATION_ERROR");
    app.validate(login["refresh_token"].as_str().unwrap())
        .await
        .assert_error(401, "INVALID_TOKEN");
}

#[tokio::test]
async fn me_returns_the_user_for_a_valid_token() {
    let app = spawn_issuer().await;
    let email = unique_email();
    let login = app.signed_in(&email).await;

    let reply = app
        .get("/api/v1/auth/me", login["access_token"].as_str())
        .await;

    reply.assert_success(200);
    let data = reply.data();
    assert_eq!(data["user_id"], login["user_id"]);
    assert_eq!(data["email"], email.as_str());
    assert_eq!(data["is_email_verified"], false);
    assert_eq!(data["email_verified_at"], serde_json::Value::Null);
    crate::harness::assert_timestamp(&json!(data["created_at"]
        .as_str()
        .unwrap()
        .split('.')
        .next()
        .map(|s| format!("{s}Z"))));
    assert_eq!(reply.header("cache-control"), "no-store");
}

#[tokio::test]
async fn me_refuses_missing_invalid_and_refresh_tokens() {
    let app = spawn_issuer().await;
    let login = app.signed_in(&unique_email()).await;

    let missing = app.get("/api/v1/auth/me", None).await;
    missing.assert_error(401, "INVALID_TOKEN");
    assert_eq!(missing.header("www-authenticate"), "Bearer");

    let invalid = app.get("/api/v1/auth/me", Some("not.a.token")).await;
    invalid.assert_error(401, "INVALID_TOKEN");
    assert_eq!(
        invalid.header("www-authenticate"),
        r#"Bearer error="invalid_token", error_description="the token is malformed""#
    );

    app.get("/api/v1/auth/me", login["refresh_token"].as_str())
        .await
        .assert_error(401, "INVALID_TOKEN");

    let basic = app
        .http
        .get(app.url("/api/v1/auth/me"))
        .header(
            "authorization",
            format!("Basic {}", login["access_token"].as_str().unwrap()),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), 401);
}

#[tokio::test]
async fn me_with_a_deleted_users_token_is_user_not_found() {
    let app = spawn_issuer().await;
    let login = app.signed_in(&unique_email()).await;
    let user_id: uuid::Uuid = login["user_id"].as_str().unwrap().parse().unwrap();
    app.db
        .execute("DELETE FROM users WHERE id = $1", &[&user_id])
        .await
        .unwrap();

    let reply = app
        .get("/api/v1/auth/me", login["access_token"].as_str())
        .await;

    reply.assert_error(404, "USER_NOT_FOUND");
}
