//! The issuer binary at `LOG_LEVEL=trace`, through a session of ordinary and hostile requests
//! that carry known secrets: none of them appears in anything it writes, while the request
//! ids we sent do (so the capture is real and the search can fail).

// Test code: a failed expectation is a failed test.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::time::{Duration, Instant};

use test_support::binary::{self, send, Reply};
use test_support::database::{database_url, drop_database, psql, unique_name};
use test_support::nats::NatsSettings;
use test_support::poll::eventually_blocking;

const KEY: &str = "log-leak-signing-key-7f3a9c0e5b1d4a2f8e6c";

fn post(addr: &str, path: &str, request_id: &str, body: &str) -> Reply {
    send(
        addr,
        "POST",
        path,
        &[
            ("Content-Type", "application/json"),
            ("X-Request-Id", request_id),
        ],
        body.as_bytes(),
    )
}

/// A JSON string field of a response body (chunked or not: the value sits on one line).
fn field(body: &str, name: &str) -> String {
    let needle = format!("\"{name}\":\"");
    body.split_once(&needle)
        .and_then(|(_, rest)| rest.split_once('"'))
        .map(|(value, _)| value.to_owned())
        .unwrap_or_else(|| panic!("no {name} in {body}"))
}

/// The token of the latest `user.registered` event in the stream, waiting for the relay.
fn verification_token_from_stream(nats: &NatsSettings) -> String {
    token_from_stream(nats, "user.registered", "email_verification_token")
}

/// `data.<field>` of the latest `event_type` event in the stream, waiting for the relay.
fn token_from_stream(nats: &NatsSettings, event_type: &str, field: &str) -> String {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let client = async_nats::connect(nats.url.as_str()).await.expect("NATS");
        let js = async_nats::jetstream::new(client);
        let subject = format!("{}.{event_type}", nats.prefix);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(stream) = js.get_stream(&nats.stream).await {
                if let Ok(message) = stream.get_last_raw_message_by_subject(&subject).await {
                    let event: serde_json::Value =
                        serde_json::from_slice(&message.payload).expect("a JSON event");
                    return event["data"][field].as_str().unwrap_or_default().to_owned();
                }
            }
            assert!(Instant::now() < deadline, "no {event_type} in the stream");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
}

#[test]
fn trace_logs_carry_no_password_token_or_key() {
    let id = format!(
        "{}_{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos())
    );
    let database = unique_name();
    let url = database_url(&database);
    let nats = NatsSettings::unique();
    let mut env = vec![
        ("JWT_SECRET_KEY", KEY),
        ("DATABASE_URL", url.as_str()),
        ("ISSUER_ADDR", "127.0.0.1:0"),
        ("LOG_LEVEL", "trace"),
    ];
    env.extend(nats.vars());
    let (mut issuer, addr) =
        binary::serving(env!("CARGO_BIN_EXE_issuer"), &env, "issuer listening");

    // The secrets this session hands to the issuer.
    let password = "Leak-Canary-Password-91d2e7";
    let wrong_password = "Wrong-Canary-Password-4c8b1a";
    let hostile_password = "Hostile-Canary-Password-55ef02";
    let email = format!("leak-{id}@example.com");
    let mut secrets: Vec<String> = vec![
        KEY.into(),
        password.into(),
        wrong_password.into(),
        hostile_password.into(),
    ];

    let register = format!(
        r#"{{"email":"{email}","password":"{password}","password_confirmation":"{password}"}}"#
    );
    assert_eq!(
        post(
            &addr,
            "/api/v1/auth/register",
            "leak-req-register",
            &register
        )
        .status,
        201
    );
    // Hostile bodies with a secret inside: truncated JSON, an unknown field, a mismatch.
    for (n, body) in [
        format!(r#"{{"email":"{email}","password":"{hostile_password}""#),
        format!(r#"{{"email":"{email}","password":"{hostile_password}","role":"admin"}}"#),
        format!(r#"{{"email":"x@example.com","password":"{hostile_password}","password_confirmation":"{hostile_password}x"}}"#),
        format!(r#"{{"email":"{hostile_password}","password":"{hostile_password}","password_confirmation":"{hostile_password}"}}"#),
    ]
    .iter()
    .enumerate()
    {
        let reply = post(&addr, "/api/v1/auth/register", &format!("leak-req-hostile-{n}"), body);
        assert_eq!(reply.status, 400, "{}", reply.body);
    }
    let wrong = format!(r#"{{"email":"{email}","password":"{wrong_password}"}}"#);
    assert_eq!(
        post(&addr, "/api/v1/auth/login", "leak-req-wrong", &wrong).status,
        401
    );
    let login = post(
        &addr,
        "/api/v1/auth/login",
        "leak-req-login",
        &format!(r#"{{"email":"{email}","password":"{password}"}}"#),
    );
    assert_eq!(login.status, 200, "{}", login.body);
    let access = field(&login.body, "access_token");
    let refresh = field(&login.body, "refresh_token");
    secrets.push(access.clone());
    secrets.push(refresh.clone());
    // The signature alone is what makes a token usable.
    secrets.push(access.rsplit('.').next().unwrap_or_default().to_owned());
    secrets.push(refresh.rsplit('.').next().unwrap_or_default().to_owned());

    let bearer = format!("Bearer {access}");
    let me = send(
        &addr,
        "GET",
        "/api/v1/auth/me",
        &[("Authorization", &bearer), ("X-Request-Id", "leak-req-me")],
        b"",
    );
    assert_eq!(me.status, 200, "{}", me.body);
    // Two Authorization headers and a tampered token: refused, and still not logged.
    let tampered = format!("{access}x");
    let twice = send(
        &addr,
        "GET",
        "/api/v1/auth/me",
        &[
            ("Authorization", &bearer),
            ("Authorization", &format!("Bearer {tampered}")),
            ("X-Request-Id", "leak-req-twice"),
        ],
        b"",
    );
    assert_eq!(twice.status, 401);
    let validate = post(
        &addr,
        "/api/v1/auth/validate-token",
        "leak-req-validate",
        &format!(r#"{{"token":"{tampered}"}}"#),
    );
    assert_eq!(validate.status, 401);
    let refreshed = post(
        &addr,
        "/api/v1/auth/refresh",
        "leak-req-refresh",
        &format!(r#"{{"refresh_token":"{refresh}"}}"#),
    );
    assert_eq!(refreshed.status, 200, "{}", refreshed.body);
    let new_access = field(&refreshed.body, "access_token");
    secrets.push(new_access.rsplit('.').next().unwrap_or_default().to_owned());

    // The verification token, as the mailer gets it from the event (the relay removes it from
    // the outbox row once published).
    let verification = verification_token_from_stream(&nats);
    assert!(
        verification.len() >= 32,
        "no verification token: {verification:?}"
    );
    secrets.push(verification.clone());
    let verified = post(
        &addr,
        "/api/v1/auth/verify-email",
        "leak-req-verify",
        &format!(r#"{{"token":"{verification}"}}"#),
    );
    assert_eq!(verified.status, 200, "{}", verified.body);
    let again = post(
        &addr,
        "/api/v1/auth/verify-email",
        "leak-req-verify-again",
        &format!(r#"{{"token":"{verification}"}}"#),
    );
    assert_eq!(again.status, 401);
    let logout = post(
        &addr,
        "/api/v1/auth/logout",
        "leak-req-logout",
        &format!(r#"{{"refresh_token":"{refresh}"}}"#),
    );
    assert_eq!(logout.status, 200, "{}", logout.body);

    // Password change (with the current password) and reset (with the token from the event).
    let changed_password = "Changed-Canary-Password-2b7d93";
    let reset_password = "Reset-Canary-Password-e05c4f";
    secrets.extend([changed_password.to_owned(), reset_password.to_owned()]);
    let again = post(
        &addr,
        "/api/v1/auth/login",
        "leak-req-login-again",
        &format!(r#"{{"email":"{email}","password":"{password}"}}"#),
    );
    assert_eq!(again.status, 200, "{}", again.body);
    let bearer = format!("Bearer {}", field(&again.body, "access_token"));
    let change = format!(
        r#"{{"current_password":"{password}","password":"{changed_password}","password_confirmation":"{changed_password}"}}"#
    );
    let changed = send(
        &addr,
        "POST",
        "/api/v1/auth/password/change",
        &[
            ("Content-Type", "application/json"),
            ("X-Request-Id", "leak-req-change"),
            ("Authorization", &bearer),
        ],
        change.as_bytes(),
    );
    assert_eq!(changed.status, 200, "{}", changed.body);
    let asked = post(
        &addr,
        "/api/v1/auth/password-reset/request",
        "leak-req-reset-request",
        &format!(r#"{{"email":"{email}"}}"#),
    );
    assert_eq!(asked.status, 202, "{}", asked.body);
    let reset_token = token_from_stream(
        &nats,
        "user.password_reset_requested",
        "password_reset_token",
    );
    assert!(reset_token.len() >= 32, "no reset token: {reset_token:?}");
    secrets.push(reset_token.clone());
    let confirm = format!(
        r#"{{"token":"{reset_token}","password":"{reset_password}","password_confirmation":"{reset_password}"}}"#
    );
    for (request_id, status) in [("leak-req-reset", 200), ("leak-req-reset-again", 401)] {
        let reply = post(
            &addr,
            "/api/v1/auth/password-reset/confirm",
            request_id,
            &confirm,
        );
        assert_eq!(reply.status, status, "{}", reply.body);
    }

    // Let the relay publish (and log) the events, then stop the issuer and read everything.
    let published = eventually_blocking(Duration::from_secs(60), || {
        psql(
            &database,
            "SELECT count(*) FROM outbox WHERE published_at IS NULL",
        ) == "0"
    });
    assert!(published, "the relay never published the outbox");
    issuer.terminate();
    let log = issuer.seen;
    drop_database(&database);

    // The capture is real: every request we sent is in it, at trace verbosity.
    binary::assert_traced(
        &log,
        &[
            "leak-req-register",
            "leak-req-hostile-0",
            "leak-req-wrong",
            "leak-req-login",
            "leak-req-me",
            "leak-req-twice",
            "leak-req-refresh",
            "leak-req-verify",
            "leak-req-logout",
            "leak-req-change",
            "leak-req-reset-request",
            "leak-req-reset",
        ],
    );
    for secret in &secrets {
        assert!(!secret.is_empty());
        if let Some(line) = log.lines().find(|line| line.contains(secret.as_str())) {
            panic!("a secret is in the log: {line}");
        }
    }
}
