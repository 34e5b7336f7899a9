//! The verifier on its own: forward-auth and validate-token, with tokens signed by the same
//! keys the issuer uses.

use serde_json::json;

use crate::harness::{
    access_claims as claims, sign_access as sign, spawn_issuer, spawn_verifier,
    spawn_verifier_with, unique_email, PASSWORD, SECRET,
};

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

async fn envelope(
    response: reqwest::Response,
) -> (u16, reqwest::header::HeaderMap, serde_json::Value) {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.json().await.unwrap_or(serde_json::Value::Null);
    (status, headers, body)
}

#[tokio::test]
async fn a_token_from_the_issuer_passes_with_all_four_identity_headers() {
    let issuer = spawn_issuer().await;
    let verifier = spawn_verifier().await;
    let email = unique_email();
    let login = issuer.signed_in(&email).await;
    let access = login["access_token"].as_str().unwrap();

    let response = verifier
        .forward_auth("", &[("authorization", &bearer(access))])
        .await;

    assert_eq!(response.status(), 200);
    let headers = response.headers();
    assert_eq!(headers["x-user-id"], login["user_id"].as_str().unwrap());
    assert_eq!(headers["x-user-email"], email.as_str());
    assert_eq!(headers["x-email-verified"], "false");
    assert_eq!(
        headers["x-session-id"],
        crate::harness::claims(access)["sid"].as_str().unwrap()
    );
}

#[tokio::test]
async fn forward_auth_answers_any_method_and_never_reads_the_body() {
    let verifier = spawn_verifier().await;
    let token = sign(&claims(true));
    for method in [
        "GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD", "PROPFIND",
    ] {
        let response = verifier
            .http
            .request(
                reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
                verifier.url("/forward-auth"),
            )
            .header("authorization", bearer(&token))
            .header("content-type", "text/plain")
            .body(vec![b'x'; 200_000])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{method}");
    }
}

#[tokio::test]
async fn the_configured_cookie_is_used_when_there_is_no_bearer_header() {
    let verifier = spawn_verifier_with(|env| {
        env.insert("AUTH_COOKIE_NAME".into(), "session".into());
    })
    .await;
    let claims = claims(false);
    let token = sign(&claims);
    let cookie = format!("theme=dark; session={token}");
    let response = verifier.forward_auth("", &[("cookie", &cookie)]).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["x-user-id"],
        claims.sub.to_string().as_str()
    );
    // The default cookie name is not read when another is configured.
    let other = format!("access_token={token}");
    assert_eq!(
        verifier
            .forward_auth("", &[("cookie", &other)])
            .await
            .status(),
        401
    );
}

#[tokio::test]
async fn without_a_token_the_answer_is_401_with_a_bare_bearer_challenge() {
    let verifier = spawn_verifier().await;
    let (status, headers, body) = envelope(verifier.forward_auth("", &[]).await).await;
    assert_eq!(status, 401);
    assert_eq!(headers["www-authenticate"], "Bearer");
    assert_eq!(body["success"], false);
    assert_eq!(body["error"]["code"], "INVALID_TOKEN");
    assert!(headers.get("x-user-id").is_none());
}

#[tokio::test]
async fn bad_tokens_get_401_with_the_rfc_6750_challenge_and_the_envelope() {
    let verifier = spawn_verifier().await;
    let mut expired = claims(true);
    expired.exp = chrono::Utc::now().timestamp() - 31;
    let other_key = common::jwt::raw::sign_raw(
        &json!({"alg": "HS256", "typ": "JWT", "kid": "default"}),
        &serde_json::to_value(claims(true)).unwrap(),
        b"a-different-secret-of-32-bytes-or-more",
    )
    .unwrap();
    let cases = [
        (
            "garbage".to_owned(),
            "INVALID_TOKEN",
            "the token is malformed",
        ),
        (
            other_key,
            "INVALID_TOKEN",
            "the token's signature does not match",
        ),
        (sign(&expired), "EXPIRED_TOKEN", "the token has expired"),
    ];
    for (token, code, description) in cases {
        let (status, headers, body) = envelope(
            verifier
                .forward_auth("", &[("authorization", &bearer(&token))])
                .await,
        )
        .await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (401, Some(code)),
            "{body}"
        );
        assert_eq!(
            headers["www-authenticate"],
            format!(r#"Bearer error="invalid_token", error_description="{description}""#).as_str()
        );
        assert!(headers.get("x-user-id").is_none());
    }
}

#[tokio::test]
async fn a_refresh_token_does_not_pass() {
    let issuer = spawn_issuer().await;
    let verifier = spawn_verifier().await;
    let login = issuer.signed_in(&unique_email()).await;
    let refresh = login["refresh_token"].as_str().unwrap();
    let response = verifier
        .forward_auth("", &[("authorization", &bearer(refresh))])
        .await;
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn rotated_keys_verify_old_tokens_and_unknown_kids_are_refused() {
    let new_secret = "the-new-signing-secret-0123456789abcdef";
    let verifier = spawn_verifier_with(|env| {
        env.insert(
            "JWT_KEYS".into(),
            format!("default={SECRET},next={new_secret}"),
        );
        env.insert("JWT_ACTIVE_KID".into(), "next".into());
    })
    .await;
    let old = sign(&claims(true));
    assert_eq!(
        verifier
            .forward_auth("", &[("authorization", &bearer(&old))])
            .await
            .status(),
        200
    );
    let body = serde_json::to_value(claims(true)).unwrap();
    let unknown = common::jwt::raw::sign_raw(
        &json!({"alg": "HS256", "typ": "JWT", "kid": "retired"}),
        &body,
        SECRET.as_bytes(),
    )
    .unwrap();
    assert_eq!(
        verifier
            .forward_auth("", &[("authorization", &bearer(&unknown))])
            .await
            .status(),
        401
    );
    // Without a kid, only the active key is tried.
    let no_kid_old = common::jwt::raw::sign_raw(
        &json!({"alg": "HS256", "typ": "JWT"}),
        &body,
        SECRET.as_bytes(),
    )
    .unwrap();
    assert_eq!(
        verifier
            .forward_auth("", &[("authorization", &bearer(&no_kid_old))])
            .await
            .status(),
        401
    );
    let no_kid_new = common::jwt::raw::sign_raw(
        &json!({"alg": "HS256", "typ": "JWT"}),
        &body,
        new_secret.as_bytes(),
    )
    .unwrap();
    assert_eq!(
        verifier
            .forward_auth("", &[("authorization", &bearer(&no_kid_new))])
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn validate_token_answers_like_the_issuer() {
    let issuer = spawn_issuer().await;
    let verifier = spawn_verifier().await;
    let email = unique_email();
    issuer.register(&email, PASSWORD).await.assert_success(201);
    let login = issuer.login(&email, PASSWORD).await;
    let access = login.data()["access_token"].as_str().unwrap();

    let from_issuer = issuer.validate(access).await;
    let reply = verifier.validate(access).await;
    let (status, body) = (reply.status, reply.body);

    assert_eq!(status, 200);
    assert_eq!(body["data"], from_issuer.data().clone());
    let bad = verifier
        .http
        .post(verifier.url("/api/v1/auth/validate-token"))
        .json(&json!({"token": "x.y.z"}))
        .send()
        .await
        .unwrap();
    let (status, _, body) = envelope(bad).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("INVALID_TOKEN"))
    );
    let wrong = verifier
        .http
        .post(verifier.url("/api/v1/auth/validate-token"))
        .json(&json!({"jwt": access}))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 400);
}

#[tokio::test]
async fn health_routes_and_methods() {
    let verifier = spawn_verifier().await;
    let (status, _, body) = envelope(
        verifier
            .http
            .get(verifier.url("/health"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], "healthy");
    assert_eq!(body["keys"], "loaded");
    assert!(body.get("database").is_none());
    assert_eq!(verifier.live().await.status, 200);
    let (status, _, body) = envelope(
        verifier
            .http
            .get(verifier.url("/nope"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("NOT_FOUND"))
    );
    let response = verifier
        .http
        .get(verifier.url("/api/v1/auth/validate-token"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "POST");
}

#[tokio::test]
async fn a_token_passes_within_the_leeway_and_fails_past_it() {
    let verifier = spawn_verifier().await;
    let mut short = claims(true);
    short.exp = verifier.state.clock.now().timestamp() + 5;
    let token = bearer(&sign(&short));
    // The exact-second boundary is unit-tested in the codec; here a second of margin on each
    // side keeps a ticking wall clock from mattering.
    let to = |target: i64| target - verifier.state.clock.now().timestamp();

    verifier.state.clock.advance(to(short.exp + 29));
    assert_eq!(
        verifier
            .forward_auth("", &[("authorization", &token)])
            .await
            .status(),
        200
    );

    verifier.state.clock.advance(to(short.exp + 31));
    let (status, _, body) = envelope(
        verifier
            .forward_auth("", &[("authorization", &token)])
            .await,
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("EXPIRED_TOKEN"))
    );
}
