use serde_json::json;

use crate::harness::{spawn_issuer, spawn_issuer_with, unique_email, PASSWORD};

const REGISTER: &str = "/api/v1/auth/register";

#[tokio::test]
async fn register_creates_a_user_and_answers_201() {
    let app = spawn_issuer().await;
    let reply = app.register("  Ada.Lovelace@Example.COM ", PASSWORD).await;

    reply.assert_success(201);
    assert_eq!(reply.data()["email"], "ada.lovelace@example.com");
    assert!(reply.data()["message"].as_str().is_some());
    let user_id: uuid::Uuid = reply.data()["user_id"].as_str().unwrap().parse().unwrap();
    let row = app
        .db
        .query_one(
            "SELECT email, is_email_verified FROM users WHERE id = $1",
            &[&user_id],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "ada.lovelace@example.com");
    assert!(!row.get::<_, bool>(1));
}

#[tokio::test]
async fn register_stores_an_argon2id_hash_not_the_password() {
    let app = spawn_issuer().await;
    let email = unique_email();
    app.register(&email, PASSWORD).await.assert_success(201);

    let hash: String = app
        .db
        .query_one(
            "SELECT password_hash FROM users WHERE email = $1",
            &[&email],
        )
        .await
        .unwrap()
        .get(0);
    assert!(
        hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{hash}"
    );
    assert!(!hash.contains(PASSWORD));
}

#[tokio::test]
async fn register_queues_user_registered_with_a_working_verification_token() {
    let app = spawn_issuer().await;
    let email = unique_email();
    let reply = app.register(&email, PASSWORD).await;

    let events = app.events("user.registered").await;
    assert_eq!(events.len(), 1);
    let event = &events[0];
    assert_eq!(event["event_type"], "user.registered");
    assert_eq!(event["data"]["user_id"], reply.data()["user_id"]);
    assert_eq!(event["data"]["email"], email.as_str());
    // The relay removes the token from the row once it is published: read what the mailer got.
    let token = app.verification_token(&email).await;
    assert!(token.len() >= 43, "32 random bytes, base64url: {token}");
    assert!(event["event_id"]
        .as_str()
        .unwrap()
        .parse::<uuid::Uuid>()
        .is_ok());
    // Only the SHA-256 of the token is stored.
    let stored: i64 = app
        .db
        .query_one(
            "SELECT count(*) FROM email_verification_tokens WHERE token_hash = sha256($1::text::bytea)",
            &[&token],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(stored, 1);
}

#[tokio::test]
async fn duplicate_email_is_refused_whatever_its_case_and_spaces() {
    let app = spawn_issuer().await;
    app.register("grace@example.com", PASSWORD)
        .await
        .assert_success(201);

    for again in [
        "grace@example.com",
        "GRACE@Example.com",
        "  grace@example.com\t",
    ] {
        let reply = app.register(again, PASSWORD).await;
        reply.assert_error(400, "DUPLICATE_EMAIL");
        assert_eq!(reply.body["error"]["details"]["field"], "email");
    }
    let count: i64 = app
        .db
        .query_one("SELECT count(*) FROM users", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, 1);
}

#[tokio::test]
async fn password_mismatch_names_the_confirmation_field() {
    let app = spawn_issuer().await;
    let reply = app
        .post(
            REGISTER,
            json!({"email": unique_email(), "password": PASSWORD, "password_confirmation": "Correct-Horse-8"}),
        )
        .await;
    reply.assert_error(400, "PASSWORD_MISMATCH");
    assert_eq!(
        reply.body["error"]["details"]["field"],
        "password_confirmation"
    );
}

#[tokio::test]
async fn confirmation_is_compared_byte_exact() {
    let app = spawn_issuer().await;
    for confirmation in [format!("{PASSWORD} "), PASSWORD.to_lowercase()] {
        let reply = app
            .post(
                REGISTER,
                json!({"email": unique_email(), "password": PASSWORD, "password_confirmation": confirmation}),
            )
            .await;
        reply.assert_error(400, "PASSWORD_MISMATCH");
    }
}

#[tokio::test]
async fn invalid_email_is_refused() {
    let app = spawn_issuer().await;
    for email in [
        "plainaddress",
        "a@b",
        "@example.com",
        "ada@exa mple.com",
        "",
    ] {
        let reply = app.register(email, PASSWORD).await;
        reply.assert_error(400, "INVALID_EMAIL");
        assert_eq!(reply.body["error"]["details"]["field"], "email");
    }
}

#[tokio::test]
async fn weak_password_names_each_rule_of_the_seed_policy() {
    let app = spawn_issuer().await;
    let cases = [
        ("Sh0rt!", "must be at least 8 characters long"),
        ("lowercase-only-1", "must contain an uppercase letter"),
        ("No-Digits-Here", "must contain a digit"),
        (
            "NoSymbols123",
            "must contain a character that is neither a letter nor a digit",
        ),
        ("P@ssw0rd1", "is too common"),
        ("!QAZ2wsx", "is too common"),
    ];
    for (password, issue) in cases {
        let reply = app.register(&unique_email(), password).await;
        reply.assert_error(400, "WEAK_PASSWORD");
        assert_eq!(reply.body["error"]["details"]["issue"], issue, "{password}");
        assert_eq!(reply.body["error"]["details"]["field"], "password");
    }
    let too_long = format!("Aa1!{}", "x".repeat(125));
    let reply = app.register(&unique_email(), &too_long).await;
    reply.assert_error(400, "WEAK_PASSWORD");
    assert_eq!(
        reply.body["error"]["details"]["issue"],
        "must be at most 128 characters long"
    );
    let count: i64 = app
        .db
        .query_one("SELECT count(*) FROM users", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, 0);
}

#[tokio::test]
async fn nist_policy_accepts_a_long_passphrase_and_refuses_a_short_complex_one() {
    let app = spawn_issuer_with(|env| {
        env.insert("PASSWORD_POLICY".into(), "nist".into());
    })
    .await;
    app.register(&unique_email(), "correct horse battery staple")
        .await
        .assert_success(201);
    let reply = app.register(&unique_email(), "Correct-Horse9").await;
    reply.assert_error(400, "WEAK_PASSWORD");
    assert_eq!(
        reply.body["error"]["details"]["issue"],
        "must be at least 15 characters long"
    );
}
