//! Key rotation end to end: an issuer and a verifier given `JWT_KEYS=old=…,new=…` with
//! `JWT_ACTIVE_KID=new` sign with `new`, still accept the sessions `old` signed, and refuse a
//! kid they do not know.

use serde_json::{json, Value};

use crate::harness::{
    claims, spawn_issuer_with, spawn_verifier_with, unique_email, TestIssuer, TestVerifier,
};

const OLD_SECRET: &str = "the-old-signing-secret-0123456789abcdef";
const NEW_SECRET: &str = "the-new-signing-secret-fedcba9876543210";

fn kid(token: &str) -> Option<String> {
    jsonwebtoken::decode_header(token)
        .unwrap_or_else(|err| panic!("token header: {err}"))
        .kid
}

/// The token is live at the issuer (`/me`, validate-token) and at the verifier
/// (validate-token with the issuer's answer, forward-auth 200).
async fn accepted_everywhere(issuer: &TestIssuer, verifier: &TestVerifier, token: &str, who: &str) {
    let me = issuer.get("/api/v1/auth/me", Some(token)).await;
    me.assert_success(200);
    assert_eq!(me.data()["email"], who, "{}", me.body);
    let at_issuer = issuer.validate(token).await;
    at_issuer.assert_success(200);
    assert_eq!(at_issuer.data()["is_valid"], true);
    let at_verifier = verifier.validate(token).await;
    at_verifier.assert_success(200);
    assert_eq!(at_verifier.data(), at_issuer.data());
    assert_eq!(verifier.status_for(token).await, 200);
}

/// Fails if the active kid is ignored (tokens keep kid `old`), if the issuer or the verifier
/// stops trying the non-active keys (the `old` session is refused), or if a token whose kid
/// is unknown is verified with some other key (accepted) or answered with another code.
#[tokio::test]
async fn a_rotated_issuer_signs_with_the_active_kid_and_still_accepts_the_old_one() {
    // Before the rotation: a deployment that knows only `old`.
    let before = spawn_issuer_with(|env| {
        env.insert("JWT_KEYS".into(), format!("old={OLD_SECRET}"));
    })
    .await;
    let email = unique_email();
    let old_login = before.signed_in(&email).await;
    let old_access = old_login["access_token"].as_str().unwrap_or_default();
    assert_eq!(kid(old_access).as_deref(), Some("old"));

    // After it: the same database and stream, both keys, `new` active.
    let keys = format!("old={OLD_SECRET},new={NEW_SECRET}");
    let rotated = {
        let keys = keys.clone();
        let database_url = before.database_url.clone();
        let nats = before.nats.env();
        spawn_issuer_with(move |env| {
            env.insert("JWT_KEYS".into(), keys);
            env.insert("JWT_ACTIVE_KID".into(), "new".into());
            env.insert("DATABASE_URL".into(), database_url);
            env.extend(nats);
        })
        .await
    };
    let verifier = {
        let nats = before.nats.env();
        spawn_verifier_with(move |env| {
            env.insert("JWT_KEYS".into(), keys);
            env.insert("JWT_ACTIVE_KID".into(), "new".into());
            env.extend(nats);
        })
        .await
    };

    // New tokens carry kid `new` and are signed with the new secret: the old-only issuer
    // cannot verify them.
    let new_login = rotated.login(&email, crate::harness::PASSWORD).await;
    new_login.assert_success(200);
    let new_access = new_login.data()["access_token"]
        .as_str()
        .unwrap_or_default();
    let new_refresh = new_login.data()["refresh_token"]
        .as_str()
        .unwrap_or_default();
    assert_eq!(kid(new_access).as_deref(), Some("new"));
    assert_eq!(kid(new_refresh).as_deref(), Some("new"));
    before
        .validate(new_access)
        .await
        .assert_error(401, "INVALID_TOKEN");

    // Both the token signed before the rotation and the one signed after it pass.
    accepted_everywhere(&rotated, &verifier, old_access, &email).await;
    accepted_everywhere(&rotated, &verifier, new_access, &email).await;
    // A refresh token signed with `old` still refreshes, into a `new` pair.
    let refreshed = rotated
        .refresh(old_login["refresh_token"].as_str().unwrap_or_default())
        .await;
    refreshed.assert_success(200);
    let refreshed_access = refreshed.data()["access_token"]
        .as_str()
        .unwrap_or_default();
    assert_eq!(kid(refreshed_access).as_deref(), Some("new"));

    // The old session's claims, signed with a configured secret but under a kid nobody
    // configured: refused everywhere, with INVALID_TOKEN.
    let body: Value = claims(new_access);
    for secret in [OLD_SECRET, NEW_SECRET] {
        let unknown = common::jwt::raw::sign_raw(
            &json!({"alg": "HS256", "typ": "JWT", "kid": "retired"}),
            &body,
            secret.as_bytes(),
        )
        .unwrap_or_else(|err| panic!("sign: {err}"));
        rotated
            .get("/api/v1/auth/me", Some(&unknown))
            .await
            .assert_error(401, "INVALID_TOKEN");
        rotated
            .validate(&unknown)
            .await
            .assert_error(401, "INVALID_TOKEN");
        verifier
            .validate(&unknown)
            .await
            .assert_error(401, "INVALID_TOKEN");
        assert_eq!(verifier.status_for(&unknown).await, 401);
    }
}
