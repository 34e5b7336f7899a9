//! The per-account lockout: held in Postgres, so every issuer replica sees it; refuses even the
//! right password while it lasts; always expires; reset by a successful login; and the same for
//! emails with and without an account. An address the account has logged in from is exempt
//! from the lock and from the per-account login limit, so nobody can keep a user out of it.

use std::time::Duration;

use serde_json::{json, Value};
use test_support::accounts::cheap_argon2;

use crate::harness::{eventually, spawn_issuer_with, unique_email, Reply, TestIssuer, PASSWORD};

const WRONG: &str = "Wrong-Horse-9";
const LOGIN: &str = "/api/v1/auth/login";
/// Where the user logs in from.
const USER_ADDRESS: &str = "203.0.113.10";
/// Where an attacker who knows the email tries from.
const ATTACKER_ADDRESS: &str = "198.51.100.20";
/// Where nobody has logged in from: the user's new device, say.
const NEW_ADDRESS: &str = "192.0.2.30";

/// Lock after `threshold` failures for `seconds`; cheap hashing. `database_url` joins another
/// issuer's database.
async fn issuer(threshold: u32, seconds: u32, database_url: Option<String>) -> TestIssuer {
    issuer_with(threshold, seconds, database_url, &[]).await
}

/// As [`issuer`], with `extra` settings on top. `X-Forwarded-For` from the tests is believed,
/// so [`login_from`] picks the client address.
async fn issuer_with(
    threshold: u32,
    seconds: u32,
    database_url: Option<String>,
    extra: &[(&str, &str)],
) -> TestIssuer {
    let extra: Vec<(String, String)> = extra
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    spawn_issuer_with(move |env| {
        env.insert("LOGIN_LOCKOUT_THRESHOLD".into(), threshold.to_string());
        env.insert("LOGIN_LOCKOUT_SECONDS".into(), seconds.to_string());
        cheap_argon2(env);
        env.insert("TRUSTED_PROXIES".into(), "127.0.0.1/32".into());
        if let Some(url) = database_url {
            env.insert("DATABASE_URL".into(), url);
        }
        env.extend(extra);
    })
    .await
}

async fn login_from(app: &TestIssuer, ip: &str, email: &str, password: &str) -> Reply {
    app.post_from(ip, LOGIN, json!({"email": email, "password": password}))
        .await
}

/// Locks `email` with `threshold` wrong passwords from the attacker's address.
async fn lock_from_elsewhere(app: &TestIssuer, email: &str, threshold: u32) {
    for _ in 0..threshold {
        login_from(app, ATTACKER_ADDRESS, email, WRONG)
            .await
            .assert_error(401, "INVALID_CREDENTIALS");
    }
}

/// The known-address rows: (email, address, seconds since the last login), oldest first.
async fn known_addresses(app: &TestIssuer) -> Vec<(String, String, f64)> {
    app.db
        .query(
            "SELECT email, host(address), \
                    extract(epoch FROM now() - last_login_at)::float8 \
             FROM login_known_addresses ORDER BY last_login_at, address",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| (row.get(0), row.get(1), row.get(2)))
        .collect()
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

#[tokio::test]
async fn an_address_the_user_logged_in_from_is_not_locked_out_by_failures_elsewhere() {
    let app = issuer_with(3, 60, None, &[]).await;
    let email = unique_email();
    app.register(&email, PASSWORD).await.assert_success(201);
    login_from(&app, USER_ADDRESS, &email, PASSWORD)
        .await
        .assert_success(200);

    lock_from_elsewhere(&app, &email, 3).await;
    // Locked for the attacker and for any address the account has not logged in from.
    assert_locked(
        &login_from(&app, ATTACKER_ADDRESS, &email, PASSWORD).await,
        60,
    );
    assert_locked(&login_from(&app, NEW_ADDRESS, &email, PASSWORD).await, 60);

    // Not for the user's own address.
    login_from(&app, USER_ADDRESS, &email, PASSWORD)
        .await
        .assert_success(200);
    // Whose password is still checked, and whose failures still count.
    login_from(&app, USER_ADDRESS, &email, WRONG)
        .await
        .assert_error(401, "INVALID_CREDENTIALS");
    assert_eq!(app.login_failures(&email).await, 1);
    // The user's login did not lift the lock for the others.
    assert_locked(
        &login_from(&app, ATTACKER_ADDRESS, &email, PASSWORD).await,
        60,
    );
    assert_locked(&login_from(&app, NEW_ADDRESS, &email, PASSWORD).await, 60);
}

#[tokio::test]
async fn the_per_account_limit_spent_elsewhere_does_not_refuse_a_known_address() {
    let app = issuer_with(
        0,
        60,
        None,
        &[
            ("RATE_LIMIT_LOGIN_PER_ACCOUNT_PER_MINUTE", "3"),
            ("RATE_LIMIT_LOGIN_PER_IP_PER_MINUTE", "4"),
        ],
    )
    .await;
    let email = unique_email();
    app.register(&email, PASSWORD).await.assert_success(201);
    login_from(&app, USER_ADDRESS, &email, PASSWORD)
        .await
        .assert_success(200);

    for _ in 0..2 {
        login_from(&app, ATTACKER_ADDRESS, &email, WRONG)
            .await
            .assert_error(401, "INVALID_CREDENTIALS");
    }
    // 3 a minute: one more every 20 seconds (the same answer as a lock).
    let reply = login_from(&app, ATTACKER_ADDRESS, &email, PASSWORD).await;
    assert_locked(&reply, 20);
    let reply = login_from(&app, NEW_ADDRESS, &email, PASSWORD).await;
    assert_locked(&reply, 20);

    // The user's address gets through, to the password check.
    login_from(&app, USER_ADDRESS, &email, PASSWORD)
        .await
        .assert_success(200);
    login_from(&app, USER_ADDRESS, &email, WRONG)
        .await
        .assert_error(401, "INVALID_CREDENTIALS");
    // And stays under its own per-address limit: its fourth attempt passes, the fifth not.
    login_from(&app, USER_ADDRESS, &email, PASSWORD)
        .await
        .assert_success(200);
    let reply = login_from(&app, USER_ADDRESS, &email, PASSWORD).await;
    assert_locked(&reply, 15);
}

#[tokio::test]
async fn with_known_address_days_zero_the_users_address_is_locked_like_any_other() {
    let app = issuer_with(3, 60, None, &[("LOGIN_KNOWN_ADDRESS_DAYS", "0")]).await;
    let email = unique_email();
    app.register(&email, PASSWORD).await.assert_success(201);
    login_from(&app, USER_ADDRESS, &email, PASSWORD)
        .await
        .assert_success(200);
    // Nothing is recorded; and a row left from when the exemption was on is not believed.
    assert!(known_addresses(&app).await.is_empty());
    app.db
        .execute(
            "INSERT INTO login_known_addresses (email, address, last_login_at) \
             VALUES ($1, $2::text::inet, now())",
            &[&email, &USER_ADDRESS],
        )
        .await
        .unwrap();

    lock_from_elsewhere(&app, &email, 3).await;
    assert_locked(&login_from(&app, USER_ADDRESS, &email, PASSWORD).await, 60);
}

#[tokio::test]
async fn a_successful_login_records_its_address_and_a_failed_one_does_not() {
    let app = issuer_with(3, 60, None, &[]).await;
    let email = unique_email();
    app.register(&email, PASSWORD).await.assert_success(201);

    login_from(&app, USER_ADDRESS, &email, WRONG)
        .await
        .assert_error(401, "INVALID_CREDENTIALS");
    login_from(&app, USER_ADDRESS, &unique_email(), PASSWORD)
        .await
        .assert_error(401, "INVALID_CREDENTIALS");
    assert!(known_addresses(&app).await.is_empty());

    login_from(&app, USER_ADDRESS, &email, PASSWORD)
        .await
        .assert_success(200);
    // IPv6 is recorded by its /64, as the rate limiter counts it.
    login_from(&app, "2001:db8:7:8::1234", &email, PASSWORD)
        .await
        .assert_success(200);
    let rows = known_addresses(&app).await;
    let pairs: Vec<(&str, &str)> = rows
        .iter()
        .map(|(e, a, _)| (e.as_str(), a.as_str()))
        .collect();
    assert_eq!(
        pairs,
        [
            (email.as_str(), USER_ADDRESS),
            (email.as_str(), "2001:db8:7:8::")
        ]
    );
    assert!(rows.iter().all(|(_, _, age)| *age < 60.0), "{rows:?}");

    // Another login from a known address, under another spelling of the email, updates the
    // time of the same row.
    app.db
        .execute(
            "UPDATE login_known_addresses SET last_login_at = now() - interval '10 days'",
            &[],
        )
        .await
        .unwrap();
    login_from(
        &app,
        USER_ADDRESS,
        &format!(" {} ", email.to_uppercase()),
        PASSWORD,
    )
    .await
    .assert_success(200);
    let rows = known_addresses(&app).await;
    assert_eq!(rows.len(), 2, "{rows:?}");
    let (_, address, age) = &rows[1];
    assert_eq!((address.as_str(), *age < 60.0), (USER_ADDRESS, true));

    // Another host in the same /64 is known too.
    lock_from_elsewhere(&app, &email, 3).await;
    login_from(&app, "2001:db8:7:8:ffff::1", &email, PASSWORD)
        .await
        .assert_success(200);
    assert_locked(
        &login_from(&app, "2001:db8:7:9::1", &email, PASSWORD).await,
        60,
    );
}

#[tokio::test]
async fn issuers_on_one_database_share_the_known_addresses() {
    let first = issuer_with(3, 60, None, &[]).await;
    let second = issuer_with(3, 60, Some(first.database_url.clone()), &[]).await;
    let email = unique_email();
    first.register(&email, PASSWORD).await.assert_success(201);
    login_from(&first, USER_ADDRESS, &email, PASSWORD)
        .await
        .assert_success(200);

    lock_from_elsewhere(&second, &email, 3).await;
    assert_locked(
        &login_from(&first, ATTACKER_ADDRESS, &email, PASSWORD).await,
        60,
    );
    login_from(&second, USER_ADDRESS, &email, PASSWORD)
        .await
        .assert_success(200);
}

#[tokio::test]
async fn an_address_not_logged_in_from_for_the_configured_days_is_forgotten() {
    let app = issuer_with(3, 60, None, &[("LOGIN_KNOWN_ADDRESS_DAYS", "2")]).await;
    let email = unique_email();
    let recent = unique_email();
    app.register(&email, PASSWORD).await.assert_success(201);
    app.register(&recent, PASSWORD).await.assert_success(201);
    login_from(&app, USER_ADDRESS, &email, PASSWORD)
        .await
        .assert_success(200);
    login_from(&app, USER_ADDRESS, &recent, PASSWORD)
        .await
        .assert_success(200);
    app.db
        .execute(
            "UPDATE login_known_addresses SET last_login_at = now() - interval '3 days' \
             WHERE email = $1",
            &[&email],
        )
        .await
        .unwrap();

    // Too old to count, even before the prune gets to it.
    lock_from_elsewhere(&app, &email, 3).await;
    assert_locked(&login_from(&app, USER_ADDRESS, &email, PASSWORD).await, 60);

    let client = app.state.pool.get().await.unwrap();
    let cutoff = issuer::auth::login::known_address_cutoff(&app.state.config, chrono::Utc::now());
    let deleted = issuer::db::known_addresses::prune(&client, cutoff)
        .await
        .unwrap();
    // The relay prunes once at start too and may get there first: the outcome is the same.
    assert!(deleted <= 1);
    let left: Vec<String> = known_addresses(&app)
        .await
        .into_iter()
        .map(|(email, _, _)| email)
        .collect();
    assert_eq!(left, [recent]);
}
