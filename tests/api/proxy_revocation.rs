//! Revocation at the edge: once a session is logged out, nginx `auth_request` and Caddy
//! `forward_auth` stop its access token, which passed through them before the logout.

use std::time::Duration;

use crate::harness::{
    eventually, spawn_issuer, spawn_verifier_for, unique_email, EchoUpstream, Proxy,
};

#[derive(Clone, Copy, Debug)]
enum Kind {
    Nginx,
    Caddy,
}

async fn status(client: &reqwest::Client, proxy: &Proxy, bearer: &str) -> u16 {
    client
        .get(proxy.url("/orders"))
        .header("authorization", bearer)
        .send()
        .await
        .unwrap_or_else(|err| panic!("GET through the proxy: {err}"))
        .status()
        .as_u16()
}

/// Fails if the verifier does not follow the issuer's `session.revoked` events (or the proxy
/// caches the verifier's 200): the logged-out token would keep reaching the upstream.
async fn a_logged_out_token_is_refused_at_the_proxy(kind: Kind) {
    let issuer = spawn_issuer().await;
    let verifier = spawn_verifier_for(&issuer).await;
    let upstream = EchoUpstream::start().await;
    let proxy = match kind {
        Kind::Nginx => Proxy::nginx(verifier.addr, upstream.addr).await,
        Kind::Caddy => Proxy::caddy(verifier.addr, upstream.addr).await,
    };
    let client = reqwest::Client::new();
    let login = issuer.signed_in(&unique_email()).await;
    let bearer = format!(
        "Bearer {}",
        login["access_token"].as_str().unwrap_or_default()
    );
    // Another session of the same kind, never logged out: it must keep passing.
    let other = issuer.signed_in(&unique_email()).await;
    let other_bearer = format!(
        "Bearer {}",
        other["access_token"].as_str().unwrap_or_default()
    );

    assert_eq!(status(&client, &proxy, &bearer).await, 200, "{kind:?}");
    assert_eq!(upstream.hits(), 1);

    issuer
        .logout(login["refresh_token"].as_str().unwrap_or_default())
        .await
        .assert_success(200);

    let refused = eventually(Duration::from_secs(30), || {
        let (client, proxy, bearer) = (&client, &proxy, &bearer);
        async move { status(client, proxy, bearer).await == 401 }
    })
    .await;
    assert!(refused, "{kind:?}: the logged-out token still passes");
    let hits = upstream.hits();
    // Refused for good, and without reaching the upstream.
    assert_eq!(status(&client, &proxy, &bearer).await, 401, "{kind:?}");
    assert_eq!(upstream.hits(), hits, "{kind:?}: the upstream was reached");
    assert_eq!(
        status(&client, &proxy, &other_bearer).await,
        200,
        "{kind:?}"
    );
}

#[tokio::test]
async fn nginx_refuses_a_logged_out_sessions_token() {
    a_logged_out_token_is_refused_at_the_proxy(Kind::Nginx).await;
}

#[tokio::test]
async fn caddy_refuses_a_logged_out_sessions_token() {
    a_logged_out_token_is_refused_at_the_proxy(Kind::Caddy).await;
}
