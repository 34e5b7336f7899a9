//! Attempt limits on login, registration and resend-verification: per client address and per
//! account, 429 RATE_LIMITED with Retry-After past them, and nothing else done for a refused
//! attempt.

use std::collections::HashMap;

use serde_json::{json, Value};
use test_support::accounts::{cheap_argon2, register_body};

use crate::harness::{spawn_issuer_with, unique_email, Reply, TestIssuer, PASSWORD};

const LOGIN: &str = "/api/v1/auth/login";
const REGISTER: &str = "/api/v1/auth/register";
const RESEND: &str = "/api/v1/auth/resend-verification";

/// An issuer that believes `X-Forwarded-For` from the tests, with cheap hashing and the given
/// limits (every other limit off).
async fn issuer(limits: &[(&str, &str)]) -> TestIssuer {
    let limits: Vec<(String, String)> = limits
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    spawn_issuer_with(move |env: &mut HashMap<String, String>| {
        for name in [
            "RATE_LIMIT_LOGIN_PER_IP_PER_MINUTE",
            "RATE_LIMIT_LOGIN_PER_ACCOUNT_PER_MINUTE",
            "RATE_LIMIT_REGISTER_PER_IP_PER_HOUR",
            "RATE_LIMIT_REGISTER_PER_ACCOUNT_PER_HOUR",
            "RATE_LIMIT_RESEND_PER_IP_PER_HOUR",
            "RATE_LIMIT_RESEND_PER_ACCOUNT_PER_HOUR",
        ] {
            env.insert(name.into(), "0".into());
        }
        env.insert("TRUSTED_PROXIES".into(), "127.0.0.1/32".into());
        cheap_argon2(env);
        env.extend(limits);
    })
    .await
}

fn login_body(email: &str, password: &str) -> Value {
    json!({"email": email, "password": password})
}

/// 429 RATE_LIMITED in the envelope, with a whole number of seconds in 1..=max to wait.
#[track_caller]
fn assert_limited(reply: &Reply, max_wait: u64) {
    reply.assert_error(429, "RATE_LIMITED");
    let wait: u64 = reply
        .header("retry-after")
        .parse()
        .unwrap_or_else(|_| panic!("Retry-After {:?}", reply.header("retry-after")));
    assert!((1..=max_wait).contains(&wait), "Retry-After {wait}");
}

async fn users(app: &TestIssuer) -> i64 {
    app.db
        .query_one("SELECT count(*) FROM users", &[])
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn login_per_address_refuses_past_the_limit_before_any_other_work() {
    let app = issuer(&[("RATE_LIMIT_LOGIN_PER_IP_PER_MINUTE", "3")]).await;
    let email = unique_email();
    app.register(&email, PASSWORD).await.assert_success(201);

    for _ in 0..3 {
        app.post_from("203.0.113.1", LOGIN, login_body(&email, "Wrong-Horse-9"))
            .await
            .assert_error(401, "INVALID_CREDENTIALS");
    }
    for password in ["Wrong-Horse-9", PASSWORD] {
        let reply = app
            .post_from("203.0.113.1", LOGIN, login_body(&email, password))
            .await;
        // 3 a minute: one more every 20 seconds.
        assert_limited(&reply, 20);
    }
    // The refused attempts were not even counted as failures: no password check, no database.
    assert_eq!(app.login_failures(&email).await, 3);

    // Another address is not affected, and the account still works from there.
    app.post_from("203.0.113.2", LOGIN, login_body(&email, PASSWORD))
        .await
        .assert_success(200);
    // Successful logins count too.
    for _ in 0..3 {
        app.post_from("203.0.113.3", LOGIN, login_body(&email, PASSWORD))
            .await
            .assert_success(200);
    }
    let reply = app
        .post_from("203.0.113.3", LOGIN, login_body(&email, PASSWORD))
        .await;
    assert_limited(&reply, 20);
}

#[tokio::test]
async fn login_per_account_holds_across_addresses_and_spares_other_accounts() {
    let app = issuer(&[("RATE_LIMIT_LOGIN_PER_ACCOUNT_PER_MINUTE", "2")]).await;
    let email = unique_email();
    let other = unique_email();
    app.register(&email, PASSWORD).await.assert_success(201);
    app.register(&other, PASSWORD).await.assert_success(201);

    app.post_from("203.0.113.1", LOGIN, login_body(&email, PASSWORD))
        .await
        .assert_success(200);
    app.post_from("203.0.113.2", LOGIN, login_body(&email, "Wrong-Horse-9"))
        .await
        .assert_error(401, "INVALID_CREDENTIALS");
    // Same account, new address, different case and blanks: still the same account.
    let shouted = format!("  {}  ", email.to_uppercase());
    let reply = app
        .post_from("203.0.113.3", LOGIN, login_body(&shouted, PASSWORD))
        .await;
    // 2 a minute: one more every 30 seconds.
    assert_limited(&reply, 30);
    // Another account from an address that just hit the limit is fine.
    app.post_from("203.0.113.3", LOGIN, login_body(&other, PASSWORD))
        .await
        .assert_success(200);
    // Unknown accounts are limited alike, with the same answer.
    let unknown = unique_email();
    for _ in 0..2 {
        app.post_from("203.0.113.4", LOGIN, login_body(&unknown, PASSWORD))
            .await
            .assert_error(401, "INVALID_CREDENTIALS");
    }
    let reply = app
        .post_from("203.0.113.4", LOGIN, login_body(&unknown, PASSWORD))
        .await;
    assert_limited(&reply, 30);
}

#[tokio::test]
async fn forwarded_addresses_from_an_untrusted_peer_do_not_escape_the_limit() {
    let app = spawn_issuer_with(|env| {
        env.insert("RATE_LIMIT_LOGIN_PER_IP_PER_MINUTE".into(), "2".into());
        cheap_argon2(env);
    })
    .await;
    let email = unique_email();
    for n in 1..=2 {
        app.post_from(
            &format!("198.51.100.{n}"),
            LOGIN,
            login_body(&email, PASSWORD),
        )
        .await
        .assert_error(401, "INVALID_CREDENTIALS");
    }
    let reply = app
        .post_from("198.51.100.3", LOGIN, login_body(&email, PASSWORD))
        .await;
    assert_limited(&reply, 30);
}

#[tokio::test]
async fn register_per_address_and_per_account() {
    let app = issuer(&[
        ("RATE_LIMIT_REGISTER_PER_IP_PER_HOUR", "2"),
        ("RATE_LIMIT_REGISTER_PER_ACCOUNT_PER_HOUR", "2"),
    ])
    .await;
    // Per address: two registrations, then refused, and no account is made.
    for _ in 0..2 {
        app.post_from(
            "203.0.113.1",
            REGISTER,
            register_body(&unique_email(), PASSWORD),
        )
        .await
        .assert_success(201);
    }
    let reply = app
        .post_from(
            "203.0.113.1",
            REGISTER,
            register_body(&unique_email(), PASSWORD),
        )
        .await;
    // 2 an hour: one more every 30 minutes.
    assert_limited(&reply, 1800);
    assert_eq!(users(&app).await, 2);
    // The limit comes before validation: even a malformed attempt gets 429.
    let reply = app
        .post_from("203.0.113.1", REGISTER, register_body("nope", "x"))
        .await;
    assert_limited(&reply, 1800);

    // Per account: across addresses, whatever the outcome.
    let email = unique_email();
    app.post_from("203.0.113.2", REGISTER, register_body(&email, PASSWORD))
        .await
        .assert_success(201);
    app.post_from("203.0.113.3", REGISTER, register_body(&email, PASSWORD))
        .await
        .assert_error(400, "DUPLICATE_EMAIL");
    let reply = app
        .post_from("203.0.113.4", REGISTER, register_body(&email, PASSWORD))
        .await;
    assert_limited(&reply, 1800);
    // Another account from the same address is fine.
    app.post_from(
        "203.0.113.4",
        REGISTER,
        register_body(&unique_email(), PASSWORD),
    )
    .await
    .assert_success(201);
}

#[tokio::test]
async fn resend_verification_per_address_and_per_account() {
    let app = issuer(&[
        ("RATE_LIMIT_RESEND_PER_IP_PER_HOUR", "3"),
        ("RATE_LIMIT_RESEND_PER_ACCOUNT_PER_HOUR", "2"),
    ])
    .await;
    let email = unique_email();
    app.register(&email, PASSWORD).await.assert_success(201);

    for ip in ["203.0.113.1", "203.0.113.2"] {
        app.post_from(ip, RESEND, json!({"email": email}))
            .await
            .assert_success(202);
    }
    let reply = app
        .post_from("203.0.113.3", RESEND, json!({"email": email}))
        .await;
    // 2 an hour: one more every 30 minutes.
    assert_limited(&reply, 1800);
    // Only the two that passed issued a token.
    assert_eq!(app.events("user.verification_requested").await.len(), 2);

    // Per address: 203.0.113.1 has used one of its three.
    for _ in 0..2 {
        app.post_from("203.0.113.1", RESEND, json!({"email": unique_email()}))
            .await
            .assert_success(202);
    }
    let reply = app
        .post_from("203.0.113.1", RESEND, json!({"email": unique_email()}))
        .await;
    // 3 an hour: one more every 20 minutes.
    assert_limited(&reply, 1200);
    app.post_from("203.0.113.9", RESEND, json!({"email": unique_email()}))
        .await
        .assert_success(202);
}

#[tokio::test]
async fn a_limit_of_zero_is_off() {
    // Past every default (30 logins a minute, 20 registrations an hour) from one address.
    let app = issuer(&[]).await;
    let email = unique_email();
    for _ in 0..25 {
        app.register(&unique_email(), PASSWORD)
            .await
            .assert_success(201);
    }
    app.register(&email, PASSWORD).await.assert_success(201);
    for _ in 0..35 {
        app.login(&email, PASSWORD).await.assert_success(200);
    }
    for _ in 0..25 {
        app.post(RESEND, json!({"email": email}))
            .await
            .assert_success(202);
    }
}

#[tokio::test]
async fn the_defaults_apply_when_nothing_is_set() {
    // The harness raises every limit; this issuer gets the real defaults back.
    let app = spawn_issuer_with(|env| {
        for name in [
            "RATE_LIMIT_LOGIN_PER_IP_PER_MINUTE",
            "RATE_LIMIT_LOGIN_PER_ACCOUNT_PER_MINUTE",
        ] {
            env.remove(name);
        }
        cheap_argon2(env);
    })
    .await;
    let email = unique_email();
    // 10 a minute per account.
    for _ in 0..10 {
        app.login(&email, PASSWORD)
            .await
            .assert_error(401, "INVALID_CREDENTIALS");
    }
    let reply = app.login(&email, PASSWORD).await;
    assert_limited(&reply, 6);
}
