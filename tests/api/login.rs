use serde_json::json;

use crate::harness::{claims, spawn_issuer, spawn_issuer_with, unique_email, PASSWORD};

#[tokio::test]
async fn login_returns_both_tokens_with_the_contract_claims_and_lifetimes() {
    let app = spawn_issuer().await;
    let email = unique_email();
    let user_id = app.register(&email, PASSWORD).await.data()["user_id"].clone();

    let reply = app.login(&email.to_uppercase(), PASSWORD).await;

    reply.assert_success(200);
    let data = reply.data();
    assert_eq!(data["token_type"], "bearer");
    assert_eq!(data["expires_in"], 86_400);
    assert_eq!(data["user_id"], user_id);
    let access = claims(data["access_token"].as_str().unwrap());
    let refresh = claims(data["refresh_token"].as_str().unwrap());
    assert_eq!(access["typ"], "access");
    assert_eq!(refresh["typ"], "refresh");
    assert_eq!(access["iss"], "auth-service");
    assert_eq!(access["sub"], user_id);
    assert_eq!(refresh["sub"], user_id);
    assert_eq!(access["email"], email.as_str());
    assert_eq!(access["email_verified"], false);
    assert!(refresh.get("email").is_none());
    assert_eq!(access["sid"], refresh["sid"]);
    assert_ne!(access["jti"], refresh["jti"]);
    let lifetime = |c: &serde_json::Value| c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap();
    assert_eq!(lifetime(&access), 24 * 3600);
    assert_eq!(lifetime(&refresh), 7 * 24 * 3600);
    let header = jsonwebtoken::decode_header(data["access_token"].as_str().unwrap()).unwrap();
    assert_eq!(
        (header.alg, header.kid.as_deref()),
        (jsonwebtoken::Algorithm::HS256, Some("default"))
    );
}

#[tokio::test]
async fn login_opens_a_session_and_queues_user_logged_in() {
    let app = spawn_issuer().await;
    let email = unique_email();
    let data = app.signed_in(&email).await;
    let sid: uuid::Uuid = claims(data["access_token"].as_str().unwrap())["sid"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();

    let row = app
        .db
        .query_one(
            "SELECT revoked_at IS NULL FROM sessions WHERE id = $1",
            &[&sid],
        )
        .await
        .unwrap();
    assert!(row.get::<_, bool>(0));
    let events = app.events("user.logged_in").await;
    assert_eq!(events.len(), 1);
    assert_eq!(
        events[0]["data"],
        json!({"user_id": data["user_id"], "email": email, "ip_address": "127.0.0.1", "session_id": sid})
    );
}

#[tokio::test]
async fn unknown_email_and_wrong_password_get_the_same_answer() {
    let app = spawn_issuer().await;
    let email = unique_email();
    app.register(&email, PASSWORD).await.assert_success(201);

    let unknown = app.login(&unique_email(), PASSWORD).await;
    let wrong = app.login(&email, "Correct-Horse-8").await;
    let malformed = app.login("not-an-email", PASSWORD).await;

    for reply in [&unknown, &wrong, &malformed] {
        reply.assert_error(401, "INVALID_CREDENTIALS");
    }
    assert_eq!(unknown.body["error"], wrong.body["error"]);
    assert_eq!(app.events("user.logged_in").await.len(), 0);
}

#[tokio::test]
async fn password_is_compared_byte_exact() {
    let app = spawn_issuer().await;
    let email = unique_email();
    app.register(&email, PASSWORD).await.assert_success(201);
    for attempt in [
        format!(" {PASSWORD}"),
        PASSWORD.to_uppercase(),
        format!("{PASSWORD}\u{0}"),
    ] {
        app.login(&email, &attempt)
            .await
            .assert_error(401, "INVALID_CREDENTIALS");
    }
}

#[tokio::test]
async fn unverified_email_is_refused_only_when_required() {
    let app = spawn_issuer_with(|env| {
        env.insert("REQUIRE_VERIFIED_EMAIL".into(), "true".into());
    })
    .await;
    let email = unique_email();
    app.register(&email, PASSWORD).await.assert_success(201);

    app.login(&email, PASSWORD)
        .await
        .assert_error(403, "EMAIL_NOT_VERIFIED");
    // A wrong password still says only "invalid credentials".
    app.login(&email, "Wrong-Horse-9")
        .await
        .assert_error(401, "INVALID_CREDENTIALS");

    let token = app.verification_token(&email).await;
    app.verify_email(&token).await.assert_success(200);
    let reply = app.login(&email, PASSWORD).await;
    reply.assert_success(200);
    assert_eq!(
        claims(reply.data()["access_token"].as_str().unwrap())["email_verified"],
        true
    );
}

#[tokio::test]
async fn a_weaker_stored_hash_is_upgraded_at_login() {
    let weak = spawn_issuer_with(|env| {
        env.insert("ARGON2_MEMORY_KIB".into(), "8192".into());
        env.insert("ARGON2_ITERATIONS".into(), "1".into());
    })
    .await;
    let email = unique_email();
    weak.register(&email, PASSWORD).await.assert_success(201);
    let old: String = weak
        .db
        .query_one("SELECT password_hash FROM users", &[])
        .await
        .unwrap()
        .get(0);
    assert!(old.contains("m=8192,t=1"));
    // The same database, now served by an issuer with the default (stronger) cost.
    let url = weak.database_url.clone();
    let strong = spawn_issuer_with(|env| {
        env.insert("DATABASE_URL".into(), url);
    })
    .await;

    strong.login(&email, PASSWORD).await.assert_success(200);

    let new: String = weak
        .db
        .query_one("SELECT password_hash FROM users", &[])
        .await
        .unwrap()
        .get(0);
    assert!(new.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{new}");
    strong.login(&email, PASSWORD).await.assert_success(200);
    // An issuer still configured with the weaker cost accepts the stronger hash and leaves it.
    weak.login(&email, PASSWORD).await.assert_success(200);
    let after: String = weak
        .db
        .query_one("SELECT password_hash FROM users", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(after, new);
}
