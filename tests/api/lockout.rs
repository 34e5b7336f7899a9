//! The per-account lockout: held in Postgres, so every issuer replica sees it; refuses even the
//! right password while it lasts; always expires; reset by a successful login; and the same for
//! emails with and without an account.

use std::time::Duration;

use serde_json::Value;

use crate::harness::{eventually, spawn_issuer_with, unique_email, Reply, TestIssuer, PASSWORD};

const WRONG: &str = "Wrong-Horse-9";

/// Lock after `threshold` failures for `seconds`; cheap hashing. `database_url` joins another
/// issuer's database.
async fn issuer(threshold: u32, seconds: u32, database_url: Option<String>) -> TestIssuer {
    spawn_issuer_with(move |env| {
        env.insert("LOGIN_LOCKOUT_THRESHOLD".into(), threshold.to_string());
        env.insert("LOGIN_LOCKOUT_SECONDS".into(), seconds.to_string());
        env.insert("ARGON2_MEMORY_KIB".into(), "256".into());
        env.insert("ARGON2_ITERATIONS".into(), "1".into());
        if let Some(url) = database_url {
            env.insert("DATABASE_URL".into(), url);
        }
    })
    .await
}

#[track_caller]
fn assert_locked(reply: &Reply, max_wait: u64) {
    reply.assert_error(429, "RATE_LIMITED");
    let wait: u64 = reply.header("retry-after").parse().unwrap_or(0);
    assert!(
        (1..=max_wait).contains(&wait),
        "Retry-After {:?}",
        reply.header("retry-after")
    );
}

/// The error object alone: what a client can compare between two answers.
fn error_of(reply: &Reply) -> (u16, Value) {
    (reply.status, reply.body["error"].clone())
}

#[tokio::test]
async fn threshold_failures_lock_the_account_even_for_the_right_password() {
    let app = issuer(3, 60, None).await;
    let email = unique_email();
    let other = unique_email();
    app.register(&email, PASSWORD).await.assert_success(201);
    app.register(&other, PASSWORD).await.assert_success(201);

    for _ in 0..3 {
        app.login(&email, WRONG)
            .await
            .assert_error(401, "INVALID_CREDENTIALS");
    }
    assert_locked(&app.login(&email, PASSWORD).await, 60);
    assert_locked(&app.login(&email, WRONG).await, 60);
    // Under another spelling of the same address too.
    assert_locked(&app.login(&email.to_uppercase(), PASSWORD).await, 60);
    // Attempts during the lock neither extend it nor count.
    let row = app
        .db
        .query_one(
            "SELECT failures, locked_until > now() + interval '50 seconds' FROM login_failures \
             WHERE email = $1",
            &[&email],
        )
        .await
        .unwrap();
    assert_eq!((row.get::<_, i32>(0), row.get::<_, bool>(1)), (0, true));
    // Nobody else is affected.
    app.login(&other, PASSWORD).await.assert_success(200);
}

#[tokio::test]
async fn a_successful_login_resets_the_count() {
    let app = issuer(3, 60, None).await;
    let email = unique_email();
    app.register(&email, PASSWORD).await.assert_success(201);

    for _ in 0..3 {
        for _ in 0..2 {
            app.login(&email, WRONG)
                .await
                .assert_error(401, "INVALID_CREDENTIALS");
        }
        app.login(&email, PASSWORD).await.assert_success(200);
    }
    let rows: i64 = app
        .db
        .query_one("SELECT count(*) FROM login_failures", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(rows, 0);
}

#[tokio::test]
async fn the_lock_expires_by_itself() {
    let app = issuer(2, 2, None).await;
    let email = unique_email();
    app.register(&email, PASSWORD).await.assert_success(201);
    for _ in 0..2 {
        app.login(&email, WRONG)
            .await
            .assert_error(401, "INVALID_CREDENTIALS");
    }
    assert_locked(&app.login(&email, PASSWORD).await, 2);

    // Trying all along (each refused attempt is ignored) does not keep it locked.
    let unlocked = eventually(Duration::from_secs(15), || async {
        app.login(&email, PASSWORD).await.status == 200
    })
    .await;
    assert!(unlocked, "still locked long after LOGIN_LOCKOUT_SECONDS");
    // And the count started again from zero.
    app.login(&email, WRONG)
        .await
        .assert_error(401, "INVALID_CREDENTIALS");
    app.login(&email, PASSWORD).await.assert_success(200);
}

#[tokio::test]
async fn issuers_on_one_database_share_the_lockout() {
    let first = issuer(3, 60, None).await;
    let second = issuer(3, 60, Some(first.database_url.clone())).await;
    let email = unique_email();
    first.register(&email, PASSWORD).await.assert_success(201);

    first
        .login(&email, WRONG)
        .await
        .assert_error(401, "INVALID_CREDENTIALS");
    second
        .login(&email, WRONG)
        .await
        .assert_error(401, "INVALID_CREDENTIALS");
    first
        .login(&email, WRONG)
        .await
        .assert_error(401, "INVALID_CREDENTIALS");

    assert_locked(&second.login(&email, PASSWORD).await, 60);
    assert_locked(&first.login(&email, PASSWORD).await, 60);
}

#[tokio::test]
async fn unknown_emails_fail_and_lock_exactly_like_wrong_passwords() {
    let app = issuer(3, 60, None).await;
    let email = unique_email();
    let unknown = unique_email();
    app.register(&email, PASSWORD).await.assert_success(201);

    for _ in 0..3 {
        let known = app.login(&email, WRONG).await;
        let missing = app.login(&unknown, WRONG).await;
        known.assert_error(401, "INVALID_CREDENTIALS");
        assert_eq!(error_of(&known), error_of(&missing));
    }
    let known = app.login(&email, WRONG).await;
    let missing = app.login(&unknown, WRONG).await;
    assert_locked(&known, 60);
    assert_locked(&missing, 60);
    assert_eq!(error_of(&known), error_of(&missing));
}

#[tokio::test]
async fn a_threshold_of_zero_turns_the_lockout_off() {
    let app = issuer(0, 60, None).await;
    let email = unique_email();
    app.register(&email, PASSWORD).await.assert_success(201);
    for _ in 0..15 {
        app.login(&email, WRONG)
            .await
            .assert_error(401, "INVALID_CREDENTIALS");
    }
    app.login(&email, PASSWORD).await.assert_success(200);
    let rows: i64 = app
        .db
        .query_one("SELECT count(*) FROM login_failures", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(rows, 0);
}

#[tokio::test]
async fn stale_counts_are_pruned_but_live_locks_are_kept() {
    let app = issuer(3, 60, None).await;
    app.db
        .batch_execute(
            "INSERT INTO login_failures (email, failures, last_failed_at, locked_until) VALUES \
             ('stale@example.com', 2, now() - interval '2 days', NULL), \
             ('expired@example.com', 0, now() - interval '2 days', now() - interval '1 day'), \
             ('locked@example.com', 0, now() - interval '2 days', now() + interval '1 hour'), \
             ('recent@example.com', 1, now() - interval '1 minute', NULL)",
        )
        .await
        .unwrap();
    let client = app.state.pool.get().await.unwrap();
    let now = chrono::Utc::now();
    // The relay prunes once at start too and may get there first: the outcome is the same.
    let deleted =
        issuer::db::login_failures::prune(&client, now - issuer::auth::login::FAILURE_MEMORY, now)
            .await
            .unwrap();
    assert!(deleted <= 2);
    let left: Vec<String> = app
        .db
        .query("SELECT email FROM login_failures ORDER BY email", &[])
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(left, ["locked@example.com", "recent@example.com"]);
}

#[tokio::test]
async fn a_count_older_than_a_day_starts_again() {
    let app = issuer(3, 60, None).await;
    let email = unique_email();
    app.register(&email, PASSWORD).await.assert_success(201);
    app.db
        .execute(
            "INSERT INTO login_failures (email, failures, last_failed_at) \
             VALUES ($1, 2, now() - interval '25 hours')",
            &[&email],
        )
        .await
        .unwrap();
    // Two old failures plus one now would lock; the old ones are forgotten instead.
    app.login(&email, WRONG)
        .await
        .assert_error(401, "INVALID_CREDENTIALS");
    app.login(&email, WRONG)
        .await
        .assert_error(401, "INVALID_CREDENTIALS");
    app.login(&email, PASSWORD).await.assert_success(200);
}
