//! Tokens as the issuer under test signs them, and tokens it would never sign, for assertions
//! and attacks.

use common::jwt::{KeySet, TokenCodec, TokenSettings};
use serde_json::{json, Value};
use test_support::accounts::unique_email;
use uuid::Uuid;

use super::issuer::SECRET;

/// Access claims for a new user and session, valid for an hour, as the issuer would sign them.
pub fn access_claims(email_verified: bool) -> common::jwt::AccessClaims {
    let now = chrono::Utc::now().timestamp();
    common::jwt::AccessClaims {
        iss: "auth-service".into(),
        sub: Uuid::new_v4(),
        email: unique_email(),
        email_verified,
        typ: common::jwt::TokenType::Access,
        sid: Uuid::new_v4(),
        jti: Uuid::new_v4(),
        iat: now,
        exp: now + 3600,
    }
}

/// `claims` signed with the tests' key, as the issuer signs them.
pub fn sign_access(claims: &common::jwt::AccessClaims) -> String {
    codec()
        .sign_access(claims)
        .unwrap_or_else(|err| panic!("sign: {err}"))
}

/// A token with exactly this header and these claims, signed with `secret`: for tokens the
/// issuer would never make.
pub fn forge(header: &Value, claims: &Value, secret: &str) -> String {
    common::jwt::raw::sign_raw(header, claims, secret.as_bytes())
        .unwrap_or_else(|err| panic!("forge: {err}"))
}

/// The header the issuer writes.
pub fn default_header() -> Value {
    json!({"alg": "HS256", "typ": "JWT", "kid": "default"})
}

/// The codec the issuer under test uses, for decoding and forging tokens in assertions.
pub fn codec() -> TokenCodec {
    let keys = KeySet::new(vec![("default".into(), SECRET.as_bytes().to_vec())], None)
        .unwrap_or_else(|err| panic!("test key: {err}"));
    TokenCodec::new(TokenSettings {
        keys,
        issuer: "auth-service".into(),
        access_ttl: chrono::TimeDelta::hours(24),
        refresh_ttl: chrono::TimeDelta::days(7),
        leeway_seconds: 30,
    })
}

/// The claims of a token, without validation.
pub fn claims(token: &str) -> Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).unwrap_or_default();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap_or_default();
    serde_json::from_slice(&bytes).unwrap_or(Value::Null)
}
