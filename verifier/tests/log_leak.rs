//! The verifier binary at `LOG_LEVEL=trace`, through ordinary and hostile forward-auth and
//! validate-token requests that carry a real token and the signing key: neither appears in
//! anything it writes, while the request ids we sent do (so the search can fail).

// Test code: a failed expectation is a failed test.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use common::jwt::raw::sign_raw;
use serde_json::json;
use test_support::binary::{self, send};
use test_support::nats::NatsSettings;

const KEY: &str = "verifier-log-leak-key-2b7e151628aed2a6abf7";

#[test]
fn trace_logs_carry_no_token_or_key() {
    let nats = NatsSettings::unique();
    let mut env = vec![
        ("JWT_SECRET_KEY", KEY),
        ("VERIFIER_ADDR", "127.0.0.1:0"),
        ("LOG_LEVEL", "trace"),
    ];
    env.extend(nats.vars());
    let (mut verifier, addr) =
        binary::serving(env!("CARGO_BIN_EXE_verifier"), &env, "verifier listening");
    // Until its revocation replay is done the verifier refuses every token with 503.
    binary::until_ready(&addr).unwrap_or_else(|err| panic!("{err}"));

    let now = chrono::Utc::now().timestamp();
    let claims = json!({
        "iss": "auth-service", "sub": uuid::Uuid::new_v4(), "email": "leak@example.com",
        "email_verified": true, "typ": "access", "sid": uuid::Uuid::new_v4(),
        "jti": uuid::Uuid::new_v4(), "iat": now, "exp": now + 3600,
    });
    let header = json!({"alg": "HS256", "typ": "JWT", "kid": "default"});
    let token = sign_raw(&header, &claims, KEY.as_bytes()).expect("sign");
    let signature = token.rsplit('.').next().unwrap_or_default().to_owned();
    let mut expired_claims = claims.clone();
    expired_claims["exp"] = json!(now - 3600);
    let expired = sign_raw(&header, &expired_claims, KEY.as_bytes()).expect("sign");
    let unsigned = format!("{}x", &token[..token.len() - 1]);
    let bearer = format!("Bearer {token}");
    let cookie = format!("access_token={token}");

    // (request id, headers, status)
    type Check<'a> = (&'a str, Vec<(&'a str, String)>, u16);
    let checks: Vec<Check> = vec![
        ("vleak-header", vec![("Authorization", bearer.clone())], 200),
        ("vleak-cookie", vec![("Cookie", cookie.clone())], 200),
        (
            "vleak-expired",
            vec![("Authorization", format!("Bearer {expired}"))],
            401,
        ),
        (
            "vleak-tampered",
            vec![("Authorization", format!("Bearer {unsigned}"))],
            401,
        ),
        (
            "vleak-twice",
            vec![
                ("Authorization", bearer.clone()),
                ("Authorization", bearer.clone()),
            ],
            401,
        ),
        ("vleak-rule", vec![("Authorization", bearer.clone())], 403),
    ];
    for (request_id, headers, status) in &checks {
        let path = if *status == 403 {
            "/forward-auth?require_verified=maybe"
        } else {
            "/forward-auth"
        };
        let mut all: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        all.push(("X-Request-Id", request_id));
        all.push(("X-Forwarded-Uri", "/private?token=leak"));
        let reply = send(&addr, "GET", path, &all, b"");
        assert_eq!(reply.status, *status, "{request_id}: {}", reply.body);
    }
    for (request_id, body, status) in [
        ("vleak-validate", format!(r#"{{"token":"{token}"}}"#), 200),
        (
            "vleak-validate-bad",
            format!(r#"{{"token":"{unsigned}","key":"{KEY}"}}"#),
            400,
        ),
        (
            "vleak-validate-truncated",
            format!(r#"{{"token":"{token}""#),
            400,
        ),
    ] {
        let reply = send(
            &addr,
            "POST",
            "/api/v1/auth/validate-token",
            &[
                ("Content-Type", "application/json"),
                ("X-Request-Id", request_id),
            ],
            body.as_bytes(),
        );
        assert_eq!(reply.status, status, "{request_id}: {}", reply.body);
    }

    verifier.terminate();
    let log = verifier.seen;

    binary::assert_traced(
        &log,
        &[
            "vleak-header",
            "vleak-cookie",
            "vleak-expired",
            "vleak-twice",
            "vleak-rule",
            "vleak-validate",
            "vleak-validate-truncated",
        ],
    );
    for secret in [KEY, &token, &expired, &unsigned, &signature] {
        if let Some(line) = log.lines().find(|line| line.contains(secret)) {
            panic!("a secret is in the log: {line}");
        }
    }
}
