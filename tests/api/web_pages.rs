//! The pages the mailer's links open (`examples/web`), served by a real Caddy running the
//! Caddyfile compose runs, in front of a real issuer: each page is served with its token kept
//! out of referrers, names the endpoint the API has, and the same-origin POST it makes does
//! what the page says.

use serde_json::json;

use crate::harness::{spawn_issuer, unique_email, Proxy, Reply, TestIssuer, PASSWORD};
use crate::passwords::reset_token;

/// The page at `path`, checked to be HTML that posts to `endpoint` and sends no referrer.
async fn assert_page(web: &Proxy, path: &str, endpoint: &str) {
    let response = reqwest::get(web.url(path))
        .await
        .unwrap_or_else(|err| panic!("GET {path}: {err}"));
    assert_eq!(response.status(), 200, "{path}");
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    assert!(header("content-type").starts_with("text/html"), "{path}");
    assert_eq!(header("referrer-policy"), "no-referrer", "{path}");
    let page = response.text().await.unwrap_or_default();
    assert!(
        page.contains(&format!("data-endpoint=\"{endpoint}\"")),
        "{path} does not post to {endpoint}"
    );
    assert!(
        page.contains("history.replaceState"),
        "{path} keeps the token in the history"
    );
}

/// POSTs `body` to `path` through the pages' origin, as the page's script does.
async fn post(web: &Proxy, path: &str, body: serde_json::Value) -> Reply {
    let response = reqwest::Client::new()
        .post(web.url(path))
        .json(&body)
        .send()
        .await
        .unwrap_or_else(|err| panic!("POST {path}: {err}"));
    Reply::read(response).await
}

async fn pages_for(app: &TestIssuer) -> Proxy {
    Proxy::web_pages(app.addr).await
}

#[tokio::test]
async fn the_verification_link_opens_a_page_whose_post_verifies_the_address() {
    let app = spawn_issuer().await;
    let web = pages_for(&app).await;
    assert_page(&web, "/verify-email?token=abc", "/api/v1/auth/verify-email").await;

    let email = unique_email();
    app.register(&email, PASSWORD).await.assert_success(201);
    let token = app.verification_token(&email).await;
    post(&web, "/api/v1/auth/verify-email", json!({ "token": token }))
        .await
        .assert_success(200);

    assert!(app.email_verified(&email).await);
}

#[tokio::test]
async fn the_reset_link_opens_a_page_whose_post_sets_the_new_password() {
    let app = spawn_issuer().await;
    let web = pages_for(&app).await;
    assert_page(
        &web,
        "/reset-password?token=abc",
        "/api/v1/auth/password-reset/confirm",
    )
    .await;

    let email = unique_email();
    app.register(&email, PASSWORD).await.assert_success(201);
    post(
        &web,
        "/api/v1/auth/password-reset/request",
        json!({ "email": email }),
    )
    .await
    .assert_success(202);
    let token = reset_token(&app, &email, 1).await;
    let new_password = format!("{PASSWORD}-new");
    post(
        &web,
        "/api/v1/auth/password-reset/confirm",
        json!({ "token": token, "password": new_password, "password_confirmation": new_password }),
    )
    .await
    .assert_success(200);

    app.login(&email, &new_password).await.assert_success(200);
    assert_eq!(app.login(&email, PASSWORD).await.status, 401);
}
