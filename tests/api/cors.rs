//! CORS exactly per ALLOWED_ORIGINS, on the issuer's API and the verifier's validate-token;
//! none on `/health*` and `/forward-auth`.

use reqwest::{Method, Response};

use crate::harness::{spawn_issuer_with, spawn_verifier_with, TestIssuer, TestVerifier};

const ALLOWED: &str = "https://app.example.com";
const ALSO_ALLOWED: &str = "http://localhost:3000";
const OTHER: &str = "https://evil.example.com";

fn origins(env: &mut std::collections::HashMap<String, String>) {
    env.insert(
        "ALLOWED_ORIGINS".into(),
        format!("{ALLOWED}, {ALSO_ALLOWED}"),
    );
}

async fn issuer() -> TestIssuer {
    spawn_issuer_with(origins).await
}

async fn verifier() -> TestVerifier {
    spawn_verifier_with(origins).await
}

async fn send(
    http: &reqwest::Client,
    method: Method,
    url: String,
    origin: Option<&str>,
    preflight_method: Option<&str>,
) -> Response {
    let mut request = http.request(method.clone(), &url);
    if let Some(origin) = origin {
        request = request.header("origin", origin);
    }
    if let Some(asked) = preflight_method {
        request = request
            .header("access-control-request-method", asked)
            .header(
                "access-control-request-headers",
                "content-type, authorization",
            );
    }
    if method == Method::POST {
        request = request
            .header("content-type", "application/json")
            .body(r#"{"token":"not-a-token"}"#);
    }
    request
        .send()
        .await
        .unwrap_or_else(|err| panic!("{method} {url}: {err}"))
}

fn header<'a>(response: &'a Response, name: &str) -> Option<&'a str> {
    response.headers().get(name).and_then(|v| v.to_str().ok())
}

fn has_no_allow_headers(response: &Response) -> bool {
    response
        .headers()
        .keys()
        .all(|name| !name.as_str().starts_with("access-control-"))
}

#[track_caller]
fn assert_allowed(response: &Response, origin: &str) {
    assert_eq!(
        header(response, "access-control-allow-origin"),
        Some(origin)
    );
    assert_eq!(
        header(response, "access-control-allow-credentials"),
        Some("true")
    );
    assert_eq!(
        header(response, "access-control-expose-headers"),
        Some("x-request-id")
    );
    assert_eq!(header(response, "vary"), Some("Origin"));
}

#[tokio::test]
async fn an_allowed_origin_gets_its_own_origin_back_on_success_and_error() {
    let app = issuer().await;
    let response = send(
        &app.http,
        Method::POST,
        app.url("/api/v1/auth/validate-token"),
        Some(ALLOWED),
        None,
    )
    .await;
    assert_eq!(response.status(), 401);
    assert_allowed(&response, ALLOWED);

    let response = send(
        &app.http,
        Method::GET,
        app.url("/api/v1/auth/me"),
        Some(ALSO_ALLOWED),
        None,
    )
    .await;
    assert_eq!(response.status(), 401);
    assert_allowed(&response, ALSO_ALLOWED);

    let login = app
        .post(
            "/api/v1/auth/register",
            test_support::accounts::register_body("x", "y"),
        )
        .await;
    assert!(login.header("access-control-allow-origin").is_empty());
}

#[tokio::test]
async fn another_origin_or_none_gets_no_allow_headers_but_vary() {
    let app = issuer().await;
    for origin in [
        Some(OTHER),
        None,
        Some("https://APP.example.com"),
        Some("null"),
    ] {
        let response = send(
            &app.http,
            Method::POST,
            app.url("/api/v1/auth/validate-token"),
            origin,
            None,
        )
        .await;
        assert_eq!(response.status(), 401, "{origin:?}");
        assert!(has_no_allow_headers(&response), "{origin:?}");
        assert_eq!(header(&response, "vary"), Some("Origin"), "{origin:?}");
    }
}

#[tokio::test]
async fn a_preflight_from_an_allowed_origin_gets_the_route_method_and_headers() {
    let app = issuer().await;
    for (path, method, allowed) in [
        ("/api/v1/auth/login", "POST", "POST"),
        ("/api/v1/auth/register", "POST", "POST"),
        ("/api/v1/auth/me", "GET", "GET, DELETE"),
        ("/api/v1/auth/sessions/some-id", "DELETE", "DELETE"),
    ] {
        let response = send(
            &app.http,
            Method::OPTIONS,
            app.url(path),
            Some(ALLOWED),
            Some(method),
        )
        .await;
        assert_eq!(response.status(), 204, "{path}");
        assert_allowed(&response, ALLOWED);
        assert_eq!(
            header(&response, "access-control-allow-methods"),
            Some(allowed)
        );
        assert_eq!(
            header(&response, "access-control-allow-headers"),
            Some("authorization, content-type, x-request-id")
        );
        assert_eq!(header(&response, "access-control-max-age"), Some("600"));
        assert_eq!(header(&response, "x-content-type-options"), Some("nosniff"));
    }
}

#[tokio::test]
async fn a_preflight_from_another_origin_or_none_is_a_bare_204() {
    let app = issuer().await;
    for origin in [Some(OTHER), None] {
        let response = send(
            &app.http,
            Method::OPTIONS,
            app.url("/api/v1/auth/login"),
            origin,
            Some("POST"),
        )
        .await;
        assert_eq!(response.status(), 204, "{origin:?}");
        assert!(has_no_allow_headers(&response), "{origin:?}");
    }
    // Unknown API paths stay 404, preflight or not.
    let response = send(
        &app.http,
        Method::OPTIONS,
        app.url("/api/v1/auth/nope"),
        Some(ALLOWED),
        Some("POST"),
    )
    .await;
    assert_eq!(response.status(), 404);
}

#[tokio::test]
async fn health_gets_no_cors_at_all() {
    let app = issuer().await;
    let response = send(
        &app.http,
        Method::GET,
        app.url("/health"),
        Some(ALLOWED),
        None,
    )
    .await;
    assert_eq!(response.status(), 200);
    assert!(has_no_allow_headers(&response));
    assert_eq!(header(&response, "vary"), None);
    let response = send(
        &app.http,
        Method::OPTIONS,
        app.url("/health"),
        Some(ALLOWED),
        Some("GET"),
    )
    .await;
    assert_eq!(response.status(), 405);
    assert!(has_no_allow_headers(&response));
}

#[tokio::test]
async fn the_verifier_does_cors_on_validate_token_only() {
    let app = verifier().await;
    let url = app.url("/api/v1/auth/validate-token");
    let response = send(&app.http, Method::POST, url.clone(), Some(ALLOWED), None).await;
    assert_eq!(response.status(), 401);
    assert_allowed(&response, ALLOWED);

    let response = send(&app.http, Method::POST, url.clone(), Some(OTHER), None).await;
    assert_eq!(response.status(), 401);
    assert!(has_no_allow_headers(&response));

    let response = send(
        &app.http,
        Method::OPTIONS,
        url.clone(),
        Some(ALLOWED),
        Some("POST"),
    )
    .await;
    assert_eq!(response.status(), 204);
    assert_allowed(&response, ALLOWED);
    assert_eq!(
        header(&response, "access-control-allow-methods"),
        Some("POST")
    );

    let response = send(&app.http, Method::OPTIONS, url, Some(OTHER), Some("POST")).await;
    assert_eq!(response.status(), 204);
    assert!(has_no_allow_headers(&response));

    // Forward-auth is no browser endpoint: OPTIONS is one more method, checked for a token.
    let response = send(
        &app.http,
        Method::OPTIONS,
        app.url("/forward-auth"),
        Some(ALLOWED),
        Some("GET"),
    )
    .await;
    assert_eq!(response.status(), 401);
    assert!(has_no_allow_headers(&response));

    let response = send(
        &app.http,
        Method::GET,
        app.url("/health"),
        Some(ALLOWED),
        None,
    )
    .await;
    assert!(has_no_allow_headers(&response));
}

#[test]
fn a_bad_allowed_origins_value_stops_both_services_naming_the_variable() {
    for bad in [
        "*",
        "https://app.example.com/",
        "app.example.com",
        "https://app.example.com,https://x.example.com/path",
    ] {
        let lookup = |name: &str| match name {
            "ALLOWED_ORIGINS" => Some(bad.to_owned()),
            "JWT_SECRET_KEY" => Some(crate::harness::SECRET.to_owned()),
            _ => None,
        };
        let issuer = issuer::config::IssuerConfig::from_lookup(&lookup).err();
        assert_eq!(
            issuer.map(|e| e.variable),
            Some("ALLOWED_ORIGINS".to_owned()),
            "{bad}"
        );
        let verifier = verifier::config::VerifierConfig::from_lookup(&lookup).err();
        assert_eq!(
            verifier.map(|e| e.variable),
            Some("ALLOWED_ORIGINS".to_owned()),
            "{bad}"
        );
    }
}
