use std::collections::HashMap;

use serde_json::Value;

use crate::harness::{claims, codec, spawn_issuer, spawn_issuer_with, unique_email, TestIssuer};

fn token(data: &Value, name: &str) -> String {
    data[name].as_str().unwrap_or_default().to_owned()
}

async fn rotating(grace: u64) -> TestIssuer {
    spawn_issuer_with(move |env: &mut HashMap<String, String>| {
        env.insert("REFRESH_TOKEN_ROTATION".into(), "true".into());
        env.insert("REFRESH_REUSE_GRACE_SECONDS".into(), grace.to_string());
    })
    .await
}

#[tokio::test]
async fn refresh_issues_a_new_access_token_and_keeps_the_refresh_token_by_default() {
    let app = spawn_issuer().await;
    let login = app.signed_in(&unique_email()).await;
    let refresh_token = token(&login, "refresh_token");

    let reply = app.refresh(&refresh_token).await;

    reply.assert_success(200);
    assert_eq!(reply.data()["token_type"], "bearer");
    assert_eq!(reply.data()["expires_in"], 86_400);
    assert!(reply.data().get("refresh_token").is_none());
    let access = token(reply.data(), "access_token");
    assert_ne!(access, token(&login, "access_token"));
    assert_eq!(claims(&access)["sid"], claims(&refresh_token)["sid"]);
    app.validate(&access).await.assert_success(200);
    // The same refresh token keeps working.
    app.refresh(&refresh_token).await.assert_success(200);
}

#[tokio::test]
async fn an_access_token_is_not_a_refresh_token() {
    let app = spawn_issuer().await;
    let login = app.signed_in(&unique_email()).await;
    let reply = app.refresh(&token(&login, "access_token")).await;
    reply.assert_error(401, "INVALID_TOKEN");
    assert_eq!(
        reply.header("www-authenticate"),
        r#"Bearer error="invalid_token", error_description="the token is of the wrong type""#
    );
}

#[tokio::test]
async fn an_expired_refresh_token_is_refused_as_expired() {
    let app = spawn_issuer().await;
    let login = app.signed_in(&unique_email()).await;
    app.state.clock.advance(7 * 24 * 3600 + 31);
    app.refresh(&token(&login, "refresh_token"))
        .await
        .assert_error(401, "EXPIRED_TOKEN");
}

#[tokio::test]
async fn logout_revokes_the_session_for_refresh_validate_and_me() {
    let app = spawn_issuer().await;
    let login = app.signed_in(&unique_email()).await;
    let (access, refresh) = (
        token(&login, "access_token"),
        token(&login, "refresh_token"),
    );

    let reply = app.logout(&refresh).await;

    reply.assert_success(200);
    app.refresh(&refresh)
        .await
        .assert_error(401, "INVALID_TOKEN");
    app.validate(&access)
        .await
        .assert_error(401, "INVALID_TOKEN");
    app.get("/api/v1/auth/me", Some(&access))
        .await
        .assert_error(401, "INVALID_TOKEN");
    let revoked = app.events("session.revoked").await;
    assert_eq!(revoked.len(), 1);
    assert_eq!(revoked[0]["data"]["session_id"], claims(&access)["sid"]);
    assert_eq!(revoked[0]["data"]["user_id"], login["user_id"]);
    let expires_at = revoked[0]["data"]["expires_at"].as_str().unwrap();
    assert_eq!(
        chrono::DateTime::parse_from_rfc3339(expires_at)
            .unwrap()
            .timestamp(),
        claims(&access)["exp"].as_i64().unwrap()
    );
    // Logging out again is harmless and publishes nothing more.
    app.logout(&refresh).await.assert_success(200);
    assert_eq!(app.events("session.revoked").await.len(), 1);
}

#[tokio::test]
async fn logout_leaves_the_users_other_sessions_alone() {
    let app = spawn_issuer().await;
    let email = unique_email();
    let first = app.signed_in(&email).await;
    let second = app.login(&email, crate::harness::PASSWORD).await;
    app.logout(&token(&first, "refresh_token"))
        .await
        .assert_success(200);
    app.validate(&token(second.data(), "access_token"))
        .await
        .assert_success(200);
    app.refresh(&token(second.data(), "refresh_token"))
        .await
        .assert_success(200);
}

#[tokio::test]
async fn logout_with_an_access_token_or_garbage_is_refused() {
    let app = spawn_issuer().await;
    let login = app.signed_in(&unique_email()).await;
    app.logout(&token(&login, "access_token"))
        .await
        .assert_error(401, "INVALID_TOKEN");
    app.logout("garbage")
        .await
        .assert_error(401, "INVALID_TOKEN");
    assert!(app.events("session.revoked").await.is_empty());
}

#[tokio::test]
async fn rotation_returns_a_new_refresh_token_and_retires_the_old_one() {
    let app = rotating(0).await;
    let login = app.signed_in(&unique_email()).await;
    let first = token(&login, "refresh_token");

    let reply = app.refresh(&first).await;
    reply.assert_success(200);
    let second = token(reply.data(), "refresh_token");
    assert!(!second.is_empty() && second != first);
    assert_eq!(claims(&second)["sid"], claims(&first)["sid"]);

    let third = token(app.refresh(&second).await.data(), "refresh_token");
    assert!(!third.is_empty() && third != second);
}

#[tokio::test]
async fn reusing_a_rotated_refresh_token_revokes_the_whole_session() {
    let app = rotating(0).await;
    let login = app.signed_in(&unique_email()).await;
    let first = token(&login, "refresh_token");
    let second = token(app.refresh(&first).await.data(), "refresh_token");

    app.refresh(&first).await.assert_error(401, "INVALID_TOKEN");

    app.refresh(&second)
        .await
        .assert_error(401, "INVALID_TOKEN");
    app.validate(&token(&login, "access_token"))
        .await
        .assert_error(401, "INVALID_TOKEN");
    let revoked = app.events("session.revoked").await;
    assert_eq!(revoked.len(), 1);
    assert_eq!(revoked[0]["data"]["session_id"], claims(&first)["sid"]);
}

#[tokio::test]
async fn within_the_reuse_grace_a_second_tab_gets_the_current_refresh_token() {
    let app = rotating(30).await;
    let login = app.signed_in(&unique_email()).await;
    let first = token(&login, "refresh_token");
    let second = token(app.refresh(&first).await.data(), "refresh_token");

    let late_tab = app.refresh(&first).await;

    late_tab.assert_success(200);
    assert_eq!(token(late_tab.data(), "refresh_token"), second);
    app.refresh(&second).await.assert_success(200);
    assert!(app.events("session.revoked").await.is_empty());
    // Past the grace, the old token is reuse again.
    app.state.clock.advance(31);
    app.refresh(&first).await.assert_error(401, "INVALID_TOKEN");
    assert_eq!(app.events("session.revoked").await.len(), 1);
}

/// With no grace, the loser of the race is a replay of a rotated token: reuse detection
/// revokes the session, so the winner's brand-new tokens die with it (docs/DESIGN.md
/// documents this under "Sessions and tokens"; the grace is the cure).
#[tokio::test]
async fn two_concurrent_refreshes_under_rotation_have_one_winner_and_then_no_session() {
    let app = rotating(0).await;
    let login = app.signed_in(&unique_email()).await;
    let first = token(&login, "refresh_token");

    let (a, b) = tokio::join!(app.refresh(&first), app.refresh(&first));

    let mut statuses = [a.status, b.status];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 401], "a: {} b: {}", a.body, b.body);
    let (winner, loser) = if a.status == 200 { (&a, &b) } else { (&b, &a) };
    loser.assert_error(401, "INVALID_TOKEN");
    let new_refresh = token(winner.data(), "refresh_token");
    let new_access = token(winner.data(), "access_token");
    assert!(!new_refresh.is_empty() && new_refresh != first);
    app.refresh(&new_refresh)
        .await
        .assert_error(401, "INVALID_TOKEN");
    app.validate(&new_access)
        .await
        .assert_error(401, "INVALID_TOKEN");
    let revoked = app.events("session.revoked").await;
    assert_eq!(revoked.len(), 1, "{revoked:?}");
    assert_eq!(revoked[0]["data"]["session_id"], claims(&first)["sid"]);
}

#[tokio::test]
async fn a_refresh_token_for_a_session_that_never_existed_is_invalid() {
    let app = spawn_issuer().await;
    let login = app.signed_in(&unique_email()).await;
    let mut forged = claims(&token(&login, "refresh_token"));
    forged["sid"] = serde_json::json!(uuid::Uuid::new_v4());
    let forged = common::jwt::raw::sign_raw(
        &serde_json::json!({"alg": "HS256", "typ": "JWT", "kid": "default"}),
        &forged,
        crate::harness::SECRET.as_bytes(),
    )
    .unwrap();
    assert!(codec()
        .verify_refresh(&forged, chrono::Utc::now().timestamp())
        .is_ok());
    app.refresh(&forged)
        .await
        .assert_error(401, "INVALID_TOKEN");
}
