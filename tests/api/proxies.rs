//! Forward-auth through real proxies: nginx `auth_request` and Caddy `forward_auth`, each in
//! front of an upstream that echoes the headers it received.

use serde_json::Value;

use crate::harness::{
    codec, spawn_issuer, spawn_verifier, unique_email, EchoUpstream, Proxy, TcpProxy, PASSWORD,
};

#[derive(Clone, Copy, Debug)]
enum Kind {
    Nginx,
    Caddy,
}

async fn start(
    kind: Kind,
    verifier: std::net::SocketAddr,
    upstream: std::net::SocketAddr,
) -> Proxy {
    match kind {
        Kind::Nginx => Proxy::nginx(verifier, upstream).await,
        Kind::Caddy => Proxy::caddy(verifier, upstream).await,
    }
}

async fn get(proxy: &Proxy, path: &str, headers: &[(&str, &str)]) -> (u16, Value) {
    let mut request = reqwest::Client::new().get(proxy.url(path));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request
        .send()
        .await
        .unwrap_or_else(|err| panic!("GET {path}: {err}"));
    let status = response.status().as_u16();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body)
}

/// A client's own value for each of the four identity headers; each differs from anything the
/// verifier would send for the test's user (the user is unverified, the ids are not theirs).
const FORGED_IDENTITY: [(&str, &str); 4] = [
    ("x-user-id", "00000000-0000-0000-0000-000000000000"),
    ("x-user-email", "admin@example.com"),
    ("x-email-verified", "true"),
    ("x-session-id", "00000000-0000-0000-0000-000000000001"),
];

fn upstream_saw<'a>(body: &'a Value, header: &str) -> Vec<&'a str> {
    body["headers"][header]
        .as_array()
        .map(|values| values.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

async fn a_valid_token_reaches_the_upstream_with_the_verifiers_identity(kind: Kind) {
    let issuer = spawn_issuer().await;
    let verifier = spawn_verifier().await;
    let upstream = EchoUpstream::start().await;
    let proxy = start(kind, verifier.addr, upstream.addr).await;
    let email = unique_email();
    let login = issuer.signed_in(&email).await;
    let access = login["access_token"].as_str().unwrap();
    let claims = codec()
        .verify_access(access, chrono::Utc::now().timestamp())
        .unwrap_or_else(|err| panic!("the issuer's token: {err}"));
    let bearer = format!("Bearer {access}");

    // The client also sends a forged value for every identity header: none may get through.
    let mut headers = FORGED_IDENTITY.to_vec();
    headers.push(("authorization", &bearer));
    let (status, body) = get(&proxy, "/orders?page=2", &headers).await;

    assert_eq!(status, 200, "{kind:?}: {body}");
    assert_eq!(body["upstream"], true);
    assert_eq!(
        upstream_saw(&body, "x-user-id"),
        vec![login["user_id"].as_str().unwrap()],
        "{kind:?}"
    );
    assert_eq!(
        upstream_saw(&body, "x-user-email"),
        vec![email.as_str()],
        "{kind:?}"
    );
    assert_eq!(
        upstream_saw(&body, "x-email-verified"),
        vec!["false"],
        "{kind:?}"
    );
    assert_eq!(
        upstream_saw(&body, "x-session-id"),
        vec![claims.sid.to_string()],
        "{kind:?}"
    );
    assert_eq!(upstream.hits(), 1);
}

async fn an_invalid_or_missing_token_is_stopped_at_the_proxy(kind: Kind) {
    let verifier = spawn_verifier().await;
    let upstream = EchoUpstream::start().await;
    let proxy = start(kind, verifier.addr, upstream.addr).await;

    let (status, _) = get(
        &proxy,
        "/orders",
        &[("authorization", "Bearer not.a.token")],
    )
    .await;
    assert_eq!(status, 401, "{kind:?}");
    let (status, _) = get(&proxy, "/orders", &FORGED_IDENTITY).await;
    assert_eq!(status, 401, "{kind:?}");
    assert_eq!(upstream.hits(), 0, "{kind:?}: the upstream was reached");
}

async fn require_verified_yields_403_through_the_proxy(kind: Kind) {
    let issuer = spawn_issuer().await;
    let verifier = spawn_verifier().await;
    let upstream = EchoUpstream::start().await;
    let proxy = start(kind, verifier.addr, upstream.addr).await;
    let email = unique_email();
    issuer.register(&email, PASSWORD).await.assert_success(201);
    let unverified = issuer.login(&email, PASSWORD).await;
    let bearer = format!(
        "Bearer {}",
        unverified.data()["access_token"].as_str().unwrap()
    );

    let (status, _) = get(&proxy, "/verified/report", &[("authorization", &bearer)]).await;
    assert_eq!(status, 403, "{kind:?}");
    // The client's own query string cannot loosen the rule.
    let (status, _) = get(
        &proxy,
        "/verified/report?require_verified=false",
        &[("authorization", &bearer)],
    )
    .await;
    assert_eq!(status, 403, "{kind:?}");
    assert_eq!(upstream.hits(), 0);

    let token = issuer.verification_token(&email).await;
    issuer.verify_email(&token).await.assert_success(200);
    let verified = issuer.login(&email, PASSWORD).await;
    let bearer = format!(
        "Bearer {}",
        verified.data()["access_token"].as_str().unwrap()
    );
    let (status, body) = get(&proxy, "/verified/report", &[("authorization", &bearer)]).await;
    assert_eq!(status, 200, "{kind:?}: {body}");
    assert_eq!(upstream_saw(&body, "x-email-verified"), vec!["true"]);
}

#[tokio::test]
async fn nginx_passes_a_valid_token_with_the_verifiers_identity() {
    a_valid_token_reaches_the_upstream_with_the_verifiers_identity(Kind::Nginx).await;
}

#[tokio::test]
async fn nginx_stops_invalid_tokens() {
    an_invalid_or_missing_token_is_stopped_at_the_proxy(Kind::Nginx).await;
}

#[tokio::test]
async fn nginx_enforces_require_verified() {
    require_verified_yields_403_through_the_proxy(Kind::Nginx).await;
}

#[tokio::test]
async fn caddy_passes_a_valid_token_with_the_verifiers_identity() {
    a_valid_token_reaches_the_upstream_with_the_verifiers_identity(Kind::Caddy).await;
}

#[tokio::test]
async fn caddy_stops_invalid_tokens() {
    an_invalid_or_missing_token_is_stopped_at_the_proxy(Kind::Caddy).await;
}

#[tokio::test]
async fn caddy_enforces_require_verified() {
    require_verified_yields_403_through_the_proxy(Kind::Caddy).await;
}

/// nginx keeps its connection to an `upstream {} keepalive` verifier open between
/// subrequests, so a request that passes costs no TCP handshake to the verifier. (A 401 or 403
/// carries the JSON envelope, which nginx does not read for an auth subrequest: it closes that
/// connection instead, and the next subrequest opens a new one.)
#[tokio::test]
async fn nginx_reuses_its_connection_to_the_verifier() {
    let issuer = spawn_issuer().await;
    let verifier = spawn_verifier().await;
    let relay = TcpProxy::to(verifier.addr.to_string()).await;
    let upstream = EchoUpstream::start().await;
    let proxy = Proxy::nginx(relay.addr, upstream.addr).await;
    let login = issuer.signed_in(&unique_email()).await;
    let bearer = format!("Bearer {}", login["access_token"].as_str().unwrap());

    for round in 0..10 {
        let (status, body) = get(&proxy, "/orders", &[("authorization", &bearer)]).await;
        assert_eq!(status, 200, "round {round}: {body}");
    }

    assert_eq!(upstream.hits(), 10);
    assert_eq!(
        relay.accepted(),
        1,
        "nginx opened a new connection to the verifier per subrequest"
    );
}
