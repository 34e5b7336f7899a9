//! Signing arbitrary header and claims JSON: how tests forge the hostile tokens a client could
//! send. Services never call it; every token they issue goes through [`super::TokenCodec`].

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey};

/// `base64url(header).base64url(claims).HS256-signature` with `secret`.
pub fn sign_raw(
    header: &serde_json::Value,
    claims: &serde_json::Value,
    secret: &[u8],
) -> Result<String, jsonwebtoken::errors::Error> {
    let message = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = jsonwebtoken::crypto::sign(
        message.as_bytes(),
        &EncodingKey::from_secret(secret),
        Algorithm::HS256,
    )?;
    Ok(format!("{message}.{signature}"))
}
