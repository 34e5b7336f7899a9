//! Hostile tokens against every place a token is read: the issuer's validate-token and /me,
//! the verifier's validate-token and forward-auth. Each case names the exact status and code,
//! the same at all four, and both services still answer `/health` afterwards.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use common::jwt::raw::sign_raw;
use serde_json::{json, Value};

use crate::harness::{
    self, claims, default_header, spawn_issuer, spawn_verifier_for, unique_email, TestIssuer,
    TestVerifier, SECRET,
};

const LEEWAY: i64 = 30;
const ANOTHER_DEPLOYMENT: &str = "another-deployment-secret-0123456789abcdef";

struct Stack {
    issuer: TestIssuer,
    verifier: TestVerifier,
    /// The claims and tokens of a real, live session.
    access: String,
    refresh: String,
    base: Value,
}

async fn stack() -> Stack {
    let issuer = spawn_issuer().await;
    let verifier = spawn_verifier_for(&issuer).await;
    let login = issuer.signed_in(&unique_email()).await;
    let access = login["access_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let refresh = login["refresh_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let base = claims(&access);
    Stack {
        issuer,
        verifier,
        access,
        refresh,
        base,
    }
}

fn forge(header: &Value, claims: &Value) -> String {
    harness::forge(header, claims, SECRET)
}

/// Signs exact header and claims text, so duplicate keys and out-of-range numbers survive.
fn forge_text(header: &str, claims: &[u8]) -> String {
    let message = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(claims)
    );
    let signature = jsonwebtoken::crypto::sign(
        message.as_bytes(),
        &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
        jsonwebtoken::Algorithm::HS256,
    )
    .unwrap_or_default();
    format!("{message}.{signature}")
}

fn with(base: &Value, claim: &str, value: Value) -> Value {
    let mut claims = base.clone();
    claims[claim] = value;
    claims
}

fn without(base: &Value, claim: &str) -> Value {
    let mut claims = base.clone();
    claims.as_object_mut().map(|c| c.remove(claim));
    claims
}

/// The base claims as text with `claim`'s value replaced by `raw` JSON text.
fn with_raw(base: &Value, claim: &str, raw: &str) -> Vec<u8> {
    let marker = "\"__raw__\"";
    with(base, claim, json!("__raw__"))
        .to_string()
        .replace(marker, raw)
        .into_bytes()
}

/// The claims as a JSON array in the order of the codec's claim fields (iss, sub, typ, sid,
/// jti, iat, exp, nbf, aud, email, email_verified): what serde would map onto them by position.
fn positional_claims(base: &Value) -> String {
    let fields = ["iss", "sub", "typ", "sid", "jti", "iat", "exp", "iat"];
    let mut values: Vec<Value> = fields.iter().map(|f| base[*f].clone()).collect();
    values.extend([
        Value::Bool(false),
        base["email"].clone(),
        base["email_verified"].clone(),
    ]);
    Value::Array(values).to_string()
}

fn header_with(field: &str, value: Value) -> Value {
    let mut header = default_header();
    header[field] = value;
    header
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Status and error code (empty on success) at each of the four places a token is read.
async fn everywhere(stack: &Stack, token: &str) -> Vec<(&'static str, u16, String)> {
    let issuer = &stack.issuer;
    let verifier = &stack.verifier;
    let mut seen = Vec::new();
    let reply = issuer.validate(token).await;
    seen.push((
        "issuer validate-token",
        reply.status,
        reply.code().to_owned(),
    ));
    let reply = verifier.validate(token).await;
    seen.push((
        "verifier validate-token",
        reply.status,
        reply.code().to_owned(),
    ));

    // A header can only carry visible ASCII; other tokens are covered by the bodies above.
    let bearer = format!("Bearer {token}");
    if reqwest::header::HeaderValue::from_str(&bearer).is_ok() {
        let reply = issuer.get("/api/v1/auth/me", Some(token)).await;
        seen.push(("issuer /me", reply.status, reply.code().to_owned()));
        let response = verifier
            .forward_auth("", &[("authorization", &bearer)])
            .await;
        let (status, code) = status_and_code(response).await;
        seen.push(("verifier forward-auth", status, code));
    }
    seen
}

async fn status_and_code(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    (
        status,
        body["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    )
}

#[track_caller]
fn assert_everywhere(case: &str, seen: &[(&'static str, u16, String)], status: u16, code: &str) {
    assert!(seen.len() >= 2, "{case}: nothing was tried");
    for (place, got_status, got_code) in seen {
        assert_eq!(
            (*got_status, got_code.as_str()),
            (status, code),
            "{case} at {place}"
        );
    }
}

async fn assert_still_healthy(stack: &Stack) {
    stack.issuer.assert_healthy().await;
    stack.verifier.assert_healthy().await;
}

/// Runs `check` with the current Unix second and repeats it if the second changed meanwhile,
/// so boundaries at exactly one second either side of the leeway are tested without races.
async fn within_one_second<F, Fut, T>(mut check: F) -> T
where
    F: FnMut(i64) -> Fut,
    Fut: std::future::Future<Output = T>,
{
    loop {
        let before = now();
        let outcome = check(before).await;
        if now() == before {
            return outcome;
        }
    }
}

/// Every hostile shape, each refused with 401 and the exact code at all four places.
fn hostile_cases(stack: &Stack) -> Vec<(&'static str, String, &'static str)> {
    let base = &stack.base;
    let valid = &stack.access;
    let parts: Vec<&str> = valid.split('.').collect();
    let (h, p, s) = (parts[0], parts[1], parts[2]);
    let unsigned_none = format!(
        "{}.{p}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#)
    );
    let jwk = json!({"kty": "oct", "k": URL_SAFE_NO_PAD.encode(ANOTHER_DEPLOYMENT)});
    let tokens_with_padding = forge(
        &default_header(),
        &with(base, "note", json!("~~~~~~~~~?????????")),
    );
    let std_alphabet = {
        let mut parts = tokens_with_padding.split('.');
        let (h, p, s) = (
            parts.next().unwrap_or_default(),
            parts.next().unwrap_or_default(),
            parts.next().unwrap_or_default(),
        );
        format!("{h}.{}.{s}", p.replace('-', "+").replace('_', "/"))
    };
    let oversized = forge(
        &default_header(),
        &with(base, "padding", json!("x".repeat(8 * 1024))),
    );
    const INVALID: &str = "INVALID_TOKEN";
    vec![
        // The algorithm.
        ("alg none, unsigned", unsigned_none, INVALID),
        (
            "alg none, signed",
            forge(&header_with("alg", json!("none")), base),
            INVALID,
        ),
        (
            "alg HS512",
            forge(&header_with("alg", json!("HS512")), base),
            INVALID,
        ),
        (
            "alg HS384",
            forge(&header_with("alg", json!("HS384")), base),
            INVALID,
        ),
        (
            "alg RS256",
            forge(&header_with("alg", json!("RS256")), base),
            INVALID,
        ),
        (
            "alg hs256 lowercase",
            forge(&header_with("alg", json!("hs256")), base),
            INVALID,
        ),
        (
            "alg missing",
            forge(&json!({"typ": "JWT", "kid": "default"}), base),
            INVALID,
        ),
        (
            "alg a number",
            forge(&header_with("alg", json!(256)), base),
            INVALID,
        ),
        (
            "alg twice",
            forge_text(
                r#"{"alg":"HS256","alg":"none","kid":"default"}"#,
                base.to_string().as_bytes(),
            ),
            INVALID,
        ),
        // Header fields that point elsewhere.
        (
            "crit",
            forge(&header_with("crit", json!(["exp"])), base),
            INVALID,
        ),
        (
            "crit null",
            forge(&header_with("crit", Value::Null), base),
            INVALID,
        ),
        (
            "jku",
            forge(
                &header_with("jku", json!("https://evil.example/jwks.json")),
                base,
            ),
            INVALID,
        ),
        (
            "x5u",
            forge(
                &header_with("x5u", json!("https://evil.example/cert.pem")),
                base,
            ),
            INVALID,
        ),
        ("jwk", forge(&header_with("jwk", jwk), base), INVALID),
        (
            "jwk null",
            forge(&header_with("jwk", Value::Null), base),
            INVALID,
        ),
        // The key id.
        (
            "unknown kid",
            forge(&header_with("kid", json!("other")), base),
            INVALID,
        ),
        (
            "kid with path",
            forge(&header_with("kid", json!("../../../dev/null")), base),
            INVALID,
        ),
        (
            "kid with NUL",
            forge(&header_with("kid", json!("default\u{0}")), base),
            INVALID,
        ),
        (
            "kid a number",
            forge(&header_with("kid", json!(1)), base),
            INVALID,
        ),
        (
            "header an array",
            forge_text("[]", base.to_string().as_bytes()),
            INVALID,
        ),
        // RFC 7515: the header is an object. serde alone maps an array onto it by position.
        (
            "header the array [\"HS256\"]",
            forge_text(r#"["HS256"]"#, base.to_string().as_bytes()),
            INVALID,
        ),
        (
            "header the array [\"HS256\",\"default\"]",
            forge_text(r#"["HS256","default"]"#, base.to_string().as_bytes()),
            INVALID,
        ),
        (
            "header a string",
            forge_text(r#""HS256""#, base.to_string().as_bytes()),
            INVALID,
        ),
        (
            "claims an array in field order",
            forge_text(
                &default_header().to_string(),
                positional_claims(base).as_bytes(),
            ),
            INVALID,
        ),
        // Required and typed claims.
        (
            "no exp",
            forge(&default_header(), &without(base, "exp")),
            INVALID,
        ),
        (
            "no iss",
            forge(&default_header(), &without(base, "iss")),
            INVALID,
        ),
        (
            "no sub",
            forge(&default_header(), &without(base, "sub")),
            INVALID,
        ),
        (
            "no typ",
            forge(&default_header(), &without(base, "typ")),
            INVALID,
        ),
        (
            "wrong iss",
            forge(&default_header(), &with(base, "iss", json!("someone-else"))),
            INVALID,
        ),
        (
            "aud present",
            forge(&default_header(), &with(base, "aud", json!("auth-service"))),
            INVALID,
        ),
        (
            "typ ACCESS",
            forge(&default_header(), &with(base, "typ", json!("ACCESS"))),
            INVALID,
        ),
        (
            "sub not a uuid",
            forge(&default_header(), &with(base, "sub", json!("admin"))),
            INVALID,
        ),
        (
            "exp a string",
            forge(&default_header(), &with(base, "exp", json!("4102444800"))),
            INVALID,
        ),
        (
            "exp a float",
            forge_text(
                &default_header().to_string(),
                &with_raw(base, "exp", "4102444800.5"),
            ),
            INVALID,
        ),
        (
            "exp a whole float",
            forge_text(
                &default_header().to_string(),
                &with_raw(base, "exp", "4102444800.0"),
            ),
            INVALID,
        ),
        (
            "exp beyond i64",
            forge_text(
                &default_header().to_string(),
                &with_raw(base, "exp", "99999999999999999999"),
            ),
            INVALID,
        ),
        (
            "exp in year 10000",
            forge(
                &default_header(),
                &with(base, "exp", json!(253_402_300_800_i64)),
            ),
            INVALID,
        ),
        (
            "exp i64::MAX",
            forge(&default_header(), &with(base, "exp", json!(i64::MAX))),
            INVALID,
        ),
        (
            "nbf a string",
            forge(&default_header(), &with(base, "nbf", json!("0"))),
            INVALID,
        ),
        (
            "iat negative",
            forge(&default_header(), &with(base, "iat", json!(-1))),
            INVALID,
        ),
        (
            "iat null",
            forge(&default_header(), &with(base, "iat", Value::Null)),
            INVALID,
        ),
        (
            "exp twice",
            forge_text(
                &default_header().to_string(),
                format!("{{\"exp\":1,{}", &base.to_string()[1..]).as_bytes(),
            ),
            INVALID,
        ),
        (
            "payload not UTF-8",
            forge_text(&default_header().to_string(), b"{\"iss\":\"\xff\xfe\"}"),
            INVALID,
        ),
        (
            "payload not JSON",
            forge_text(&default_header().to_string(), b"not json"),
            INVALID,
        ),
        // Shape and encoding.
        ("over 8 KiB, validly signed", oversized, INVALID),
        ("one dot", format!("{h}.{p}"), INVALID),
        ("three dots", format!("{h}.{p}.{s}.{s}"), INVALID),
        (
            "four dots (JWE shape)",
            format!("{h}.{p}.{s}.{s}.{s}"),
            INVALID,
        ),
        ("empty header", format!(".{p}.{s}"), INVALID),
        ("empty payload", format!("{h}..{s}"), INVALID),
        ("empty signature", format!("{h}.{p}."), INVALID),
        ("only dots", "..".to_owned(), INVALID),
        ("padded header", format!("{h}==.{p}.{s}"), INVALID),
        ("standard base64 alphabet", std_alphabet, INVALID),
        (
            "signature truncated",
            format!("{h}.{p}.{}", &s[..s.len() - 2]),
            INVALID,
        ),
        (
            "signature of the other token",
            format!(
                "{h}.{p}.{}",
                stack.refresh.rsplit('.').next().unwrap_or_default()
            ),
            INVALID,
        ),
        ("trailing space", format!("{valid} "), INVALID),
        ("leading space", format!(" {valid}"), INVALID),
        ("NUL bytes", "\u{0}.\u{0}.\u{0}".to_owned(), INVALID),
        ("non-ASCII", format!("{h}ä.{p}.{s}"), INVALID),
        // Right shape, wrong token.
        (
            "another deployment's key",
            sign_raw(&default_header(), base, ANOTHER_DEPLOYMENT.as_bytes()).unwrap_or_default(),
            INVALID,
        ),
        ("refresh token as access", stack.refresh.clone(), INVALID),
        (
            "payload swapped under a valid signature",
            format!(
                "{h}.{}.{s}",
                stack.refresh.split('.').nth(1).unwrap_or_default()
            ),
            INVALID,
        ),
    ]
}

#[tokio::test]
async fn every_hostile_token_is_refused_with_the_exact_code_at_all_four_places() {
    let stack = stack().await;
    let valid = stack.access.clone();
    assert_everywhere("the real token", &everywhere(&stack, &valid).await, 200, "");

    let cases = hostile_cases(&stack);
    assert!(cases.len() >= 40, "{} cases", cases.len());
    for (case, token, code) in &cases {
        let seen = everywhere(&stack, token).await;
        let expected = if case.starts_with("NUL")
            || case.starts_with("non-ASCII")
            || case.starts_with("trailing")
            || case.starts_with("leading")
        {
            // Bodies only: a header cannot carry these, and hyper trims spaces around a value.
            seen.iter()
                .filter(|(place, ..)| place.contains("validate"))
                .cloned()
                .collect()
        } else {
            seen
        };
        assert_everywhere(case, &expected, 401, code);
    }
    assert_still_healthy(&stack).await;
    // The real token still works: nothing above changed any state.
    assert_everywhere("the real token", &everywhere(&stack, &valid).await, 200, "");
}

#[tokio::test]
async fn exp_and_nbf_hold_at_exactly_the_leeway_and_one_second_either_side() {
    let stack = stack().await;
    // (claim, offset from now, status, code)
    let cases = [
        ("exp", -LEEWAY + 1, 200, ""),
        ("exp", -LEEWAY, 200, ""),
        ("exp", -LEEWAY - 1, 401, "EXPIRED_TOKEN"),
        ("nbf", LEEWAY - 1, 200, ""),
        ("nbf", LEEWAY, 200, ""),
        ("nbf", LEEWAY + 1, 401, "INVALID_TOKEN"),
    ];
    for (claim, offset, status, code) in cases {
        let seen = within_one_second(|now| {
            let token = forge(
                &default_header(),
                &with(&stack.base, claim, json!(now + offset)),
            );
            let stack = &stack;
            async move { everywhere(stack, &token).await }
        })
        .await;
        assert_everywhere(&format!("{claim} = now {offset:+}"), &seen, status, code);
    }
    assert_still_healthy(&stack).await;
}

/// `/me` and forward-auth read the `Authorization` header; these cases are about that header.
#[tokio::test]
async fn the_authorization_header_is_read_strictly() {
    let stack = stack().await;
    let token = stack.access.clone();
    let cases: Vec<(&str, Vec<String>, u16, &str)> = vec![
        ("lowercase bearer", vec![format!("bearer {token}")], 200, ""),
        ("uppercase BEARER", vec![format!("BEARER {token}")], 200, ""),
        (
            "spaces around",
            vec![format!("  Bearer   {token}   ")],
            200,
            "",
        ),
        (
            "Bearer with no token",
            vec!["Bearer".to_owned()],
            401,
            "INVALID_TOKEN",
        ),
        (
            "Bearer and spaces",
            vec!["Bearer    ".to_owned()],
            401,
            "INVALID_TOKEN",
        ),
        (
            "Basic scheme",
            vec!["Basic dXNlcjpwYXNz".to_owned()],
            401,
            "INVALID_TOKEN",
        ),
        (
            "token without scheme",
            vec![token.clone()],
            401,
            "INVALID_TOKEN",
        ),
        (
            "scheme glued to token",
            vec![format!("Bearer{token}")],
            401,
            "INVALID_TOKEN",
        ),
        (
            "two tokens in one header",
            vec![format!("Bearer {token} {token}")],
            401,
            "INVALID_TOKEN",
        ),
        (
            "two Authorization headers, same token",
            vec![format!("Bearer {token}"), format!("Bearer {token}")],
            401,
            "INVALID_TOKEN",
        ),
        (
            "two Authorization headers, one garbage",
            vec!["Bearer x.y.z".to_owned(), format!("Bearer {token}")],
            401,
            "INVALID_TOKEN",
        ),
    ];
    for (case, values, status, code) in cases {
        let mut me = stack.issuer.http.get(stack.issuer.url("/api/v1/auth/me"));
        let mut forward = stack.verifier.http.get(stack.verifier.url("/forward-auth"));
        for value in &values {
            me = me.header("authorization", value);
            forward = forward.header("authorization", value);
        }
        for (place, request) in [("issuer /me", me), ("verifier forward-auth", forward)] {
            let response = request
                .send()
                .await
                .unwrap_or_else(|err| panic!("{case}: {err}"));
            let got = status_and_code(response).await;
            assert_eq!(got, (status, code.to_owned()), "{case} at {place}");
        }
    }
    assert_still_healthy(&stack).await;
}

#[tokio::test]
async fn an_email_verification_token_is_refused_everywhere() {
    let stack = stack().await;
    let email = unique_email();
    stack
        .issuer
        .register(&email, crate::harness::PASSWORD)
        .await
        .assert_success(201);
    let verification = stack.issuer.verification_token(&email).await;
    assert_everywhere(
        "email verification token",
        &everywhere(&stack, &verification).await,
        401,
        "INVALID_TOKEN",
    );
    assert_still_healthy(&stack).await;
}
