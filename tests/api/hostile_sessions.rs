//! Access tokens never outlive their session, so every one of them can still be revoked: its
//! `exp` is capped at the session's end (the refresh token's `exp`) at login and at refresh,
//! `expires_in` says so, and `session.revoked` covers the latest of them.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::Value;

use crate::harness::{
    claims, eventually, spawn_issuer, spawn_issuer_with, spawn_verifier_for, unique_email, Reply,
    TestIssuer,
};

fn token(data: &Value, name: &str) -> String {
    data[name].as_str().unwrap_or_default().to_owned()
}

fn claim(token: &str, name: &str) -> i64 {
    claims(token)[name].as_i64().unwrap_or_default()
}

/// `expires_in` is exactly the token's own `exp - iat`.
#[track_caller]
fn assert_expires_in_matches(reply: &Reply) {
    let access = token(reply.data(), "access_token");
    assert_eq!(
        reply.data()["expires_in"].as_i64(),
        Some(claim(&access, "exp") - claim(&access, "iat")),
        "{}",
        reply.body
    );
}

/// The `expires_at` of the session's `session.revoked` event, as Unix seconds.
async fn revoked_until(app: &TestIssuer) -> i64 {
    let revoked = app.events("session.revoked").await;
    assert_eq!(revoked.len(), 1, "{revoked:?}");
    let at = revoked[0]["data"]["expires_at"]
        .as_str()
        .unwrap_or_default();
    chrono::DateTime::parse_from_rfc3339(at)
        .map(|t| t.timestamp())
        .unwrap_or_else(|err| panic!("expires_at {at:?}: {err}"))
}

#[tokio::test]
async fn a_login_whose_session_is_shorter_than_the_access_lifetime_gets_an_access_token_capped_at_the_session_end(
) {
    // Access 48 h, session 1 day: the access token must end with the session.
    let app = spawn_issuer_with(|env: &mut HashMap<String, String>| {
        env.insert("JWT_ACCESS_TOKEN_EXPIRE_HOURS".into(), "48".into());
        env.insert("JWT_REFRESH_TOKEN_EXPIRE_DAYS".into(), "1".into());
    })
    .await;
    let login = app.login_reply(&unique_email()).await;

    login.assert_success(200);
    let access = token(login.data(), "access_token");
    let refresh = token(login.data(), "refresh_token");
    assert_eq!(claim(&access, "exp"), claim(&refresh, "exp"));
    assert_eq!(login.data()["expires_in"], 86_400);
    assert_expires_in_matches(&login);
    let validated = app.validate(&access).await;
    validated.assert_success(200);
    let expires_at = validated.data()["expires_at"].as_str().unwrap_or_default();
    assert_eq!(
        chrono::DateTime::parse_from_rfc3339(expires_at).map(|t| t.timestamp()),
        Ok(claim(&refresh, "exp"))
    );

    // A refresh an hour before the end gets an hour, not 48.
    app.state.clock.advance(23 * 3600);
    let refreshed = app.refresh(&refresh).await;
    refreshed.assert_success(200);
    assert_expires_in_matches(&refreshed);
    let late = token(refreshed.data(), "access_token");
    assert_eq!(claim(&late, "exp"), claim(&refresh, "exp"));
    assert!(refreshed.data()["expires_in"].as_i64() <= Some(3600));

    // Logout still works, and the revocation covers every access token of the session.
    app.logout(&refresh).await.assert_success(200);
    assert_eq!(revoked_until(&app).await, claim(&late, "exp"));
    app.validate(&late).await.assert_error(401, "INVALID_TOKEN");
}

#[tokio::test]
async fn an_access_token_minted_just_before_the_session_ends_is_revocable_at_the_verifier() {
    let app = spawn_issuer().await;
    let verifier = spawn_verifier_for(&app).await;
    let login = app.signed_in(&unique_email()).await;
    let refresh = token(&login, "refresh_token");
    let session_ends = claim(&refresh, "exp");

    // Ten minutes before the 7-day session ends, a refresh would once have given 24 h more.
    app.state.clock.advance(7 * 24 * 3600 - 600);
    let refreshed = app.refresh(&refresh).await;
    refreshed.assert_success(200);
    assert_expires_in_matches(&refreshed);
    let late = token(refreshed.data(), "access_token");
    assert_eq!(claim(&late, "exp"), session_ends);
    assert!(refreshed.data()["expires_in"].as_i64() <= Some(600));
    assert_eq!(verifier.status_for(&late).await, 200);

    app.logout(&refresh).await.assert_success(200);
    let until = revoked_until(&app).await;
    assert!(until >= claim(&late, "exp"), "{until}");
    assert!(until >= claim(&token(&login, "access_token"), "exp"));
    let revoked = eventually(Duration::from_secs(15), || {
        let verifier = &verifier;
        let late = late.clone();
        async move { verifier.status_for(&late).await == 401 }
    })
    .await;
    assert!(revoked, "the late access token still passes after logout");
    app.assert_healthy().await;
}

#[tokio::test]
async fn under_rotation_a_refresh_extends_the_session_so_the_access_token_gets_its_full_lifetime() {
    let app = spawn_issuer_with(|env: &mut HashMap<String, String>| {
        env.insert("REFRESH_TOKEN_ROTATION".into(), "true".into());
    })
    .await;
    let login = app.signed_in(&unique_email()).await;
    app.state.clock.advance(7 * 24 * 3600 - 600);

    let refreshed = app.refresh(&token(&login, "refresh_token")).await;

    refreshed.assert_success(200);
    assert_eq!(refreshed.data()["expires_in"], 86_400);
    assert_expires_in_matches(&refreshed);
    let access = token(refreshed.data(), "access_token");
    assert!(claim(&access, "exp") < claim(&token(refreshed.data(), "refresh_token"), "exp"));
}

/// Hostile: stretching a session past its end. Each case answers the contract's code, never a
/// 5xx, and the service still answers afterwards.
#[tokio::test]
async fn a_session_cannot_be_stretched_past_its_end() {
    let app = spawn_issuer().await;
    let login = app.signed_in(&unique_email()).await;
    let refresh = token(&login, "refresh_token");
    app.state.clock.advance(7 * 24 * 3600 - 60);
    let late = token(app.refresh(&refresh).await.data(), "access_token");

    // Just past the end but inside the 30 s leeway: the refresh token still verifies, yet the
    // session is over, so no access token (born expired) is minted.
    app.state.clock.advance(60 + 5);
    let reply = app.refresh(&refresh).await;
    reply.assert_error(401, "EXPIRED_TOKEN");
    assert!(reply.status < 500);
    app.assert_healthy().await;

    // Past the leeway, the late access token is as dead as the session.
    app.state.clock.advance(30);
    app.validate(&late).await.assert_error(401, "EXPIRED_TOKEN");
    app.get("/api/v1/auth/me", Some(&late))
        .await
        .assert_error(401, "EXPIRED_TOKEN");
    app.refresh(&refresh)
        .await
        .assert_error(401, "EXPIRED_TOKEN");
    app.assert_healthy().await;
}

impl TestIssuer {
    /// Registers `email` and returns the whole login reply.
    async fn login_reply(&self, email: &str) -> Reply {
        self.register(email, crate::harness::PASSWORD)
            .await
            .assert_success(201);
        self.login(email, crate::harness::PASSWORD).await
    }
}
