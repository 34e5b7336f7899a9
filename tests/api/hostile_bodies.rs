//! Hostile request bodies against every route that reads one: the issuer's register, login,
//! verify-email, resend-verification, refresh and logout, and the verifier's validate-token.
//! Each case names the exact status, code and field; the service still answers `/health`
//! afterwards.

use std::net::SocketAddr;
use std::time::Duration;

use common::body_budget::BodyBudget;
use serde_json::json;
use test_support::accounts::register_body;

use crate::harness::{
    eventually, spawn_issuer, spawn_issuer_with, spawn_verifier, spawn_verifier_with, unique_email,
    Reply, PASSWORD,
};
use crate::raw_http::{assert_healthy as assert_answers_health, exchange, health, Conn};

const JSON: &str = "application/json";
const REGISTER: &str = "/api/v1/auth/register";
const LOGIN: &str = "/api/v1/auth/login";
const VERIFY: &str = "/api/v1/auth/verify-email";
const RESEND: &str = "/api/v1/auth/resend-verification";
const REFRESH: &str = "/api/v1/auth/refresh";
const LOGOUT: &str = "/api/v1/auth/logout";
const VALIDATE: &str = "/api/v1/auth/validate-token";

/// One hostile body and the answer it must get.
struct Case {
    name: &'static str,
    path: &'static str,
    content_type: &'static str,
    body: Vec<u8>,
    status: u16,
    code: &'static str,
    /// `details.field`, when the answer names one.
    field: Option<&'static str>,
}

fn case(
    name: &'static str,
    path: &'static str,
    body: impl Into<Vec<u8>>,
    status: u16,
    code: &'static str,
    field: Option<&'static str>,
) -> Case {
    Case {
        name,
        path,
        content_type: JSON,
        body: body.into(),
        status,
        code,
        field,
    }
}

fn register_bytes(email: &str, password: &str) -> Vec<u8> {
    register_body(email, password).to_string().into_bytes()
}

#[track_caller]
fn assert_case(case: &Case, reply: &Reply) {
    assert_eq!(
        (reply.status, reply.code()),
        (case.status, case.code),
        "{}: {}",
        case.name,
        reply.body
    );
    if case.status >= 400 {
        reply.assert_error(case.status, case.code);
        let field = reply.body["error"]["details"]["field"].as_str();
        assert_eq!(field, case.field, "{}: {}", case.name, reply.body);
    } else {
        reply.assert_success(case.status);
    }
}

fn malformed_cases() -> Vec<Case> {
    let nested_array = "[".repeat(10_000);
    let nested_value = format!("{{\"email\":{}", "[".repeat(10_000));
    let long_email = format!("{}@example.com", "a".repeat(60_000));
    let long_token = "a".repeat(60_000);
    let mut cases = vec![
        case("truncated JSON", REGISTER, r#"{"email":"#, 400, "VALIDATION_ERROR", Some("body")),
        case("trailing garbage", LOGIN, r#"{"email":"a@b.co","password":"x"} x"#, 400, "VALIDATION_ERROR", Some("body")),
        case("single quotes", LOGIN, r#"{'email':'a@b.co'}"#, 400, "VALIDATION_ERROR", Some("body")),
        case("comment", LOGIN, r#"{"email":"a@b.co" /* hi */}"#, 400, "VALIDATION_ERROR", Some("body")),
        case("email a number", REGISTER, r#"{"email":42,"password":"x","password_confirmation":"x"}"#, 400, "VALIDATION_ERROR", Some("email")),
        case("password an array", LOGIN, r#"{"email":"a@b.co","password":["x"]}"#, 400, "VALIDATION_ERROR", Some("password")),
        case("token null", VERIFY, r#"{"token":null}"#, 400, "VALIDATION_ERROR", Some("token")),
        case("refresh token a number", REFRESH, r#"{"refresh_token":12345}"#, 400, "VALIDATION_ERROR", Some("refresh_token")),
        case("refresh token an object", LOGOUT, r#"{"refresh_token":{"$ne":""}}"#, 400, "VALIDATION_ERROR", Some("refresh_token")),
        case("unknown field", REGISTER, r#"{"email":"a@b.co","password":"x","password_confirmation":"x","is_admin":true}"#, 400, "VALIDATION_ERROR", Some("is_admin")),
        case("unknown field on resend", RESEND, r#"{"email":"a@b.co","user_id":"1"}"#, 400, "VALIDATION_ERROR", Some("user_id")),
        case("duplicate field", LOGIN, r#"{"email":"a@b.co","email":"c@d.co","password":"x"}"#, 400, "VALIDATION_ERROR", Some("email")),
        case("duplicate through an escape", LOGIN, r#"{"email":"a@b.co","e\u006dail":"c@d.co","password":"x"}"#, 400, "VALIDATION_ERROR", Some("email")),
        case("missing field", LOGIN, r#"{"email":"a@b.co"}"#, 400, "VALIDATION_ERROR", Some("password")),
        case("deeply nested array", REGISTER, nested_array, 400, "VALIDATION_ERROR", Some("body")),
        case("deeply nested value", REGISTER, nested_value, 400, "VALIDATION_ERROR", Some("email")),
        case("invalid UTF-8", LOGIN, b"{\"email\":\"\xff\xfe@b.co\",\"password\":\"x\"}".to_vec(), 400, "VALIDATION_ERROR", Some("body")),
        case("lone surrogate escape", LOGIN, r#"{"email":"\ud800@b.co","password":"x"}"#, 400, "VALIDATION_ERROR", Some("body")),
        case("byte order mark", LOGIN, "\u{feff}{\"email\":\"a@b.co\",\"password\":\"x\"}", 400, "VALIDATION_ERROR", Some("body")),
        case("empty body", LOGOUT, "", 400, "VALIDATION_ERROR", Some("body")),
        case("whitespace body", REFRESH, "  \n ", 400, "VALIDATION_ERROR", Some("body")),
        case("null", VERIFY, "null", 400, "VALIDATION_ERROR", Some("body")),
        case("array top level", RESEND, r#"[{"email":"a@b.co"}]"#, 400, "VALIDATION_ERROR", Some("body")),
        case("string top level", REFRESH, r#""token""#, 400, "VALIDATION_ERROR", Some("body")),
        case("number out of range", LOGIN, r#"{"email":1e999,"password":"x"}"#, 400, "VALIDATION_ERROR", Some("body")),
        case("number as the email", RESEND, r#"{"email":"12345"}"#, 400, "INVALID_EMAIL", Some("email")),
        case("NUL in email", REGISTER, register_bytes("ada\u{0}@example.com", PASSWORD), 400, "INVALID_EMAIL", Some("email")),
        case("bell in email", REGISTER, register_bytes("ada\u{7}@example.com", PASSWORD), 400, "INVALID_EMAIL", Some("email")),
        case("newline in email", RESEND, json!({"email": "ada@example.com\r\nBcc: x@evil.example"}).to_string(), 400, "INVALID_EMAIL", Some("email")),
        case("fullwidth at sign", REGISTER, register_bytes("ada\u{ff20}example.com", PASSWORD), 400, "INVALID_EMAIL", Some("email")),
        case("right-to-left override", REGISTER, register_bytes("ada\u{202e}moc.elpmaxe@example.com", PASSWORD), 400, "INVALID_EMAIL", Some("email")),
        case("emoji in email", REGISTER, register_bytes("ada\u{1f600}@example.com", PASSWORD), 400, "INVALID_EMAIL", Some("email")),
        case("email of 60 000 characters", REGISTER, register_bytes(&long_email, PASSWORD), 400, "INVALID_EMAIL", Some("email")),
        case("password of 129 characters", REGISTER, register_bytes(&unique_email(), &format!("Aa1-{}", "x".repeat(125))), 400, "WEAK_PASSWORD", Some("password")),
        case("verification token of 60 000 characters", VERIFY, json!({"token": long_token}).to_string(), 401, "INVALID_TOKEN", Some("token")),
        case("refresh token of 60 000 characters", REFRESH, json!({"refresh_token": long_token}).to_string(), 401, "INVALID_TOKEN", None),
        case("logout with garbage", LOGOUT, r#"{"refresh_token":"a.b.c"}"#, 401, "INVALID_TOKEN", None),
        case(
            "confirmation differs by a NUL",
            REGISTER,
            json!({"email": unique_email(), "password": PASSWORD, "password_confirmation": format!("{PASSWORD}\u{0}")}).to_string(),
            400,
            "PASSWORD_MISMATCH",
            Some("password_confirmation"),
        ),
        case("login with an email that is not one", LOGIN, json!({"email": "not an email", "password": PASSWORD}).to_string(), 401, "INVALID_CREDENTIALS", None),
        case("resend for an unknown email", RESEND, json!({"email": unique_email()}).to_string(), 202, "", None),
    ];
    cases.push(Case {
        content_type: "text/plain",
        ..case(
            "text/plain",
            LOGIN,
            r#"{"email":"a@b.co","password":"x"}"#,
            400,
            "VALIDATION_ERROR",
            Some("content-type"),
        )
    });
    cases.push(Case {
        content_type: "application/jsonx",
        ..case(
            "application/jsonx",
            REFRESH,
            r#"{"refresh_token":"a"}"#,
            400,
            "VALIDATION_ERROR",
            Some("content-type"),
        )
    });
    cases
}

#[tokio::test]
async fn every_malformed_body_gets_the_exact_code_and_field() {
    let issuer = spawn_issuer().await;
    let cases = malformed_cases();
    assert!(cases.len() >= 30, "{} cases", cases.len());
    for case in &cases {
        let reply = issuer
            .post_raw(case.path, case.content_type, case.body.clone())
            .await;
        assert_case(case, &reply);
    }
    // Nothing above created an account.
    let users = issuer
        .db
        .query_one("SELECT count(*) FROM users", &[])
        .await
        .map(|row| row.get::<_, i64>(0));
    assert_eq!(users.ok(), Some(0));
    issuer.assert_healthy().await;
}

/// The verifier's only body-reading route, `POST /api/v1/auth/validate-token`. Kept as a
/// table, one case a line, like the issuer's above.
#[rustfmt::skip]
fn verifier_cases() -> Vec<Case> {
    let v = |name, body: &str, status, code, field| case(name, VALIDATE, body.to_owned(), status, code, field);
    let long_token = json!({"token": "a".repeat(60_000)}).to_string();
    let over_limit = json!({"token": "a".repeat(70_000)}).to_string();
    let nested_array = "[".repeat(10_000);
    let nested_value = format!("{{\"token\":{}", "[".repeat(10_000));
    let mut cases = vec![
        v("truncated JSON", r#"{"token":"#, 400, "VALIDATION_ERROR", Some("body")),
        v("trailing garbage", r#"{"token":"a.b.c"} x"#, 400, "VALIDATION_ERROR", Some("body")),
        v("single quotes", r#"{'token':'a.b.c'}"#, 400, "VALIDATION_ERROR", Some("body")),
        v("token a number", r#"{"token":42}"#, 400, "VALIDATION_ERROR", Some("token")),
        v("token null", r#"{"token":null}"#, 400, "VALIDATION_ERROR", Some("token")),
        v("token an array", r#"{"token":["a.b.c"]}"#, 400, "VALIDATION_ERROR", Some("token")),
        v("token an object", r#"{"token":{"$ne":""}}"#, 400, "VALIDATION_ERROR", Some("token")),
        v("token a boolean", r#"{"token":true}"#, 400, "VALIDATION_ERROR", Some("token")),
        v("unknown field", r#"{"token":"a.b.c","user_id":"1"}"#, 400, "VALIDATION_ERROR", Some("user_id")),
        v("duplicate field", r#"{"token":"a.b.c","token":"d.e.f"}"#, 400, "VALIDATION_ERROR", Some("token")),
        v("duplicate through an escape", r#"{"token":"a.b.c","t\u006fken":"d.e.f"}"#, 400, "VALIDATION_ERROR", Some("token")),
        v("missing field", "{}", 400, "VALIDATION_ERROR", Some("token")),
        v("deeply nested array", &nested_array, 400, "VALIDATION_ERROR", Some("body")),
        v("deeply nested value", &nested_value, 400, "VALIDATION_ERROR", Some("token")),
        v("raw NUL in the string", "{\"token\":\"a.b\u{0}.c\"}", 400, "VALIDATION_ERROR", Some("body")),
        v("escaped NUL in the token", r#"{"token":"a.b\u0000.c"}"#, 401, "INVALID_TOKEN", None),
        v("lone surrogate escape", r#"{"token":"\ud800"}"#, 400, "VALIDATION_ERROR", Some("body")),
        v("byte order mark", "\u{feff}{\"token\":\"a.b.c\"}", 400, "VALIDATION_ERROR", Some("body")),
        v("empty body", "", 400, "VALIDATION_ERROR", Some("body")),
        v("null", "null", 400, "VALIDATION_ERROR", Some("body")),
        v("array top level", r#"[{"token":"a.b.c"}]"#, 400, "VALIDATION_ERROR", Some("body")),
        v("string top level", r#""a.b.c""#, 400, "VALIDATION_ERROR", Some("body")),
        v("number out of range", r#"{"token":1e999}"#, 400, "VALIDATION_ERROR", Some("body")),
        v("garbage token", r#"{"token":"a.b.c"}"#, 401, "INVALID_TOKEN", None),
        v("empty token", r#"{"token":""}"#, 401, "INVALID_TOKEN", None),
        v("token of 60 000 characters", &long_token, 401, "INVALID_TOKEN", None),
        v("body over the limit", &over_limit, 413, "PAYLOAD_TOO_LARGE", None),
    ];
    cases.push(Case {
        body: b"{\"token\":\"\xff\xfe.a.b\"}".to_vec(),
        ..v("invalid UTF-8", "", 400, "VALIDATION_ERROR", Some("body"))
    });
    for (name, content_type) in [
        ("text/plain", "text/plain"),
        ("application/jsonx", "application/jsonx"),
        ("a form", "application/x-www-form-urlencoded"),
        ("an empty content type", ""),
    ] {
        cases.push(Case {
            content_type,
            ..v(name, r#"{"token":"a.b.c"}"#, 400, "VALIDATION_ERROR", Some("content-type"))
        });
    }
    cases
}

#[tokio::test]
async fn every_hostile_body_to_the_verifier_gets_the_exact_code_and_field() {
    let verifier = spawn_verifier().await;
    for case in &verifier_cases() {
        let reply = verifier
            .post_raw(case.path, case.content_type, case.body.clone())
            .await;
        assert_case(case, &reply);
        if case.status == 401 {
            let challenge = reply.header("www-authenticate");
            assert!(
                challenge.starts_with(r#"Bearer error="invalid_token""#),
                "{}: {challenge}",
                case.name
            );
        }
    }
    assert_answers_health(health(verifier.addr).await, "verifier");
}

#[tokio::test]
async fn bodies_over_the_limit_get_413_declared_or_streamed() {
    let issuer = spawn_issuer().await;
    let huge = format!(r#"{{"email":"{}"}}"#, "a".repeat(70_000));
    let reply = issuer
        .post_raw(RESEND, JSON, huge.clone().into_bytes())
        .await;
    reply.assert_error(413, "PAYLOAD_TOO_LARGE");

    // No Content-Length: the body arrives in chunks and is cut off at the limit.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = huge
        .into_bytes()
        .chunks(4096)
        .map(|chunk| Ok(chunk.to_vec()))
        .collect();
    let response = issuer
        .http
        .post(issuer.url(RESEND))
        .header("content-type", JSON)
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send()
        .await
        .unwrap_or_else(|err| panic!("chunked POST: {err}"));
    assert_eq!(response.status(), 413);
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    assert_eq!(body["error"]["code"], "PAYLOAD_TOO_LARGE");

    // Just under the limit is read and judged on its content.
    let within = json!({"email": format!("{}@example.com", "a".repeat(65_000))}).to_string();
    assert!(within.len() < 65_536);
    let reply = issuer.post_raw(RESEND, JSON, within.into_bytes()).await;
    reply.assert_error(400, "INVALID_EMAIL");
    issuer.assert_healthy().await;
}

#[tokio::test]
async fn unusual_but_valid_input_is_stored_and_compared_byte_exact() {
    let issuer = spawn_issuer().await;

    // A NUL inside a password is part of it: nothing truncates there.
    let email = unique_email();
    let with_nul = "Correct\u{0}Horse-9";
    issuer.register(&email, with_nul).await.assert_success(201);
    issuer
        .login(&email, "Correct")
        .await
        .assert_error(401, "INVALID_CREDENTIALS");
    issuer.login(&email, with_nul).await.assert_success(200);

    // Emoji and other scripts count as characters and round-trip.
    let email = unique_email();
    let emoji = "Correct-Horse-9-\u{1f40e}\u{1f511}";
    issuer.register(&email, emoji).await.assert_success(201);
    issuer.login(&email, emoji).await.assert_success(200);
    issuer
        .login(&email, "Correct-Horse-9-\u{1f40e}")
        .await
        .assert_error(401, "INVALID_CREDENTIALS");

    // Internationalised addresses are accepted, lower-cased, and compared after normalising;
    // the domain is stored in its ASCII (Punycode) form.
    let tag = uuid::Uuid::new_v4().simple();
    let idn = format!("Jos\u{c9}-{tag}@Ex\u{c4}mple.de");
    let reply = issuer.register(&idn, PASSWORD).await;
    reply.assert_success(201);
    assert_eq!(
        reply.data()["email"],
        format!("jos\u{e9}-{tag}@xn--exmple-cua.de")
    );
    let again = issuer
        .register(&format!("  {}  ", idn.to_uppercase()), PASSWORD)
        .await;
    again.assert_error(400, "DUPLICATE_EMAIL");
    issuer
        .login(&idn.to_lowercase(), PASSWORD)
        .await
        .assert_success(200);

    // A long password within the policy (128 code points, 512 bytes) works.
    let email = unique_email();
    let long = format!("A1-{}", "\u{1f600}".repeat(125));
    assert_eq!(long.chars().count(), 128);
    issuer.register(&email, &long).await.assert_success(201);
    issuer.login(&email, &long).await.assert_success(200);

    // Charset parameter and spacing in the content type are fine.
    let reply = issuer
        .post_raw(
            LOGIN,
            "Application/JSON ; charset=utf-8",
            json!({"email": email, "password": long})
                .to_string()
                .into_bytes(),
        )
        .await;
    reply.assert_success(200);
    issuer.assert_healthy().await;
}

/// A body limit of 1 KiB and a budget of two such bodies in flight; a body may take a minute.
fn small_budget(env: &mut std::collections::HashMap<String, String>) {
    env.insert("MAX_BODY_BYTES".into(), "1024".into());
    env.insert("MAX_BODY_BYTES_IN_FLIGHT".into(), "2048".into());
    env.insert("BODY_READ_TIMEOUT_SECONDS".into(), "60".into());
}

/// The opening of a validate-token body: 900 bytes, so its buffer takes 1 KiB of the budget.
fn opening() -> String {
    format!(r#"{{"token":"{}"#, "a".repeat(890))
}

/// A chunked POST to validate-token whose first chunk is `opening()`; the body does not end.
async fn body_in_flight(addr: SocketAddr) -> Conn {
    let opening = opening();
    let mut conn = Conn::open(addr).await;
    let request = format!(
        "POST {VALIDATE} HTTP/1.1\r\nHost: localhost\r\nContent-Type: {JSON}\r\n\
         Transfer-Encoding: chunked\r\n\r\n{:x}\r\n{opening}\r\n",
        opening.len()
    );
    conn.send(request.as_bytes())
        .await
        .unwrap_or_else(|err| panic!("send: {err}"));
    conn
}

#[track_caller]
fn assert_busy(reply: Option<crate::raw_http::RawReply>, case: &str) {
    let reply = reply.unwrap_or_else(|| panic!("{case}: no answer"));
    reply.assert_envelope(503, "SERVICE_UNAVAILABLE");
    assert_eq!(reply.header("retry-after"), "1", "{case}");
    assert_eq!(reply.header("connection"), "close", "{case}");
}

/// Two bodies in flight fill the budget: a third request is 503 with `Retry-After`, whether
/// its body is declared or chunked; a body whose client goes away gives its bytes back, and
/// so does one that completes; then requests are answered on their content again.
async fn the_budget_refuses_past_its_limit_and_is_given_back(
    addr: SocketAddr,
    budget: BodyBudget,
    service: &str,
) {
    let in_use = |bytes: usize| {
        let budget = budget.clone();
        async move {
            eventually(Duration::from_secs(30), || {
                let budget = budget.clone();
                async move { budget.in_use() == bytes }
            })
            .await
        }
    };
    let mut first = body_in_flight(addr).await;
    assert!(in_use(1024).await, "{service}: {:?}", budget);
    let second = body_in_flight(addr).await;
    assert!(in_use(2048).await, "{service}: {:?}", budget);

    let small = br#"{"token":"x"}"#;
    let declared = format!(
        "POST {VALIDATE} HTTP/1.1\r\nHost: localhost\r\nContent-Type: {JSON}\r\n\
         Content-Length: {}\r\n\r\n{}",
        small.len(),
        String::from_utf8_lossy(small)
    );
    assert_busy(exchange(addr, declared.as_bytes()).await, "declared length");
    let chunked = format!(
        "POST {VALIDATE} HTTP/1.1\r\nHost: localhost\r\nContent-Type: {JSON}\r\n\
         Transfer-Encoding: chunked\r\n\r\n{:x}\r\n{}\r\n0\r\n\r\n",
        small.len(),
        String::from_utf8_lossy(small)
    );
    assert_busy(exchange(addr, chunked.as_bytes()).await, "chunked");
    // A request without a body is not held against the budget.
    assert_answers_health(health(addr).await, service);
    assert_eq!(budget.in_use(), 2048, "{service}: a refusal takes nothing");

    // The second client goes away mid-body: its bytes come back, and a request fits again.
    drop(second);
    assert!(in_use(1024).await, "{service}: {:?}", budget);
    let reply = exchange(addr, declared.as_bytes()).await;
    let reply = reply.unwrap_or_else(|| panic!("{service}: no answer after the release"));
    reply.assert_envelope(401, "INVALID_TOKEN");

    // The first body completes and is judged on its content; then nothing is held.
    first
        .send(b"2\r\n\"}\r\n0\r\n\r\n")
        .await
        .unwrap_or_else(|err| panic!("{service}: {err}"));
    let reply = first.response().await;
    let reply = reply.unwrap_or_else(|| panic!("{service}: no answer to the first body"));
    reply.assert_envelope(401, "INVALID_TOKEN");
    assert!(in_use(0).await, "{service}: {:?}", budget);
    assert_answers_health(health(addr).await, service);
}

#[tokio::test]
async fn the_verifier_answers_503_past_its_body_budget_and_recovers() {
    let verifier = spawn_verifier_with(small_budget).await;
    let budget = verifier.state.config.common.body_budget.clone();
    the_budget_refuses_past_its_limit_and_is_given_back(verifier.addr, budget, "verifier").await;
}

#[tokio::test]
async fn the_issuer_answers_503_past_its_body_budget_and_recovers() {
    let issuer = spawn_issuer_with(small_budget).await;
    let budget = issuer.state.config.common.body_budget.clone();
    the_budget_refuses_past_its_limit_and_is_given_back(issuer.addr, budget, "issuer").await;
}

/// A 60 KiB body of distinct unknown keys whose first key sorts last: it is refused naming that
/// first key, so the decoder stopped there instead of collecting every key (a sorted map would
/// name `a000000`) at a cost that grows with their number.
fn many_unknown_keys(first: &str) -> Vec<u8> {
    let mut body = format!(r#"{{"{first}":0"#);
    let mut i = 0;
    while body.len() < 60 * 1024 - 16 {
        body.push_str(&format!(r#","a{i:06}":0"#));
        i += 1;
    }
    body.push('}');
    body.into_bytes()
}

#[tokio::test]
async fn a_60_kib_body_of_unknown_keys_is_refused_at_its_first_key() {
    let issuer = spawn_issuer().await;
    let verifier = spawn_verifier().await;
    let first = "zzz_first_key";
    let body = many_unknown_keys(first);
    assert!(body.len() > 60_000 && body.len() < 65_536, "{}", body.len());

    let mut replies = Vec::new();
    for path in [LOGIN, REGISTER, RESEND] {
        replies.push((path, issuer.post_raw(path, JSON, body.clone()).await));
    }
    replies.push((VALIDATE, verifier.post_raw(VALIDATE, JSON, body).await));
    for (path, reply) in replies {
        let case = case(
            "60 KiB of unknown keys",
            path,
            Vec::new(),
            400,
            "VALIDATION_ERROR",
            Some(first),
        );
        assert_case(&case, &reply);
        assert_eq!(
            reply.body["error"]["details"]["issue"],
            "is not a known field"
        );
    }

    issuer.assert_healthy().await;
    assert_answers_health(health(verifier.addr).await, "verifier");
}
