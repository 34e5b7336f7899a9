//! Signing and validation. Time comes in as `now` (Unix seconds) so expiry is testable.
//!
//! Signing goes through jsonwebtoken. Validation is done here, in one pass, because it runs on
//! every request a proxy forwards: the header is parsed once and checked before a key is
//! chosen, the HMAC is checked in constant time with a key schedule computed at start
//! (`ring::hmac::verify`), and only then are the claims parsed, once.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, Header};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::claims::{some, AccessClaims, Present, RefreshClaims, TokenType, WireClaims};
use super::keys::{Key, KeySet};
use super::TokenSettings;
use crate::error::{ApiError, ErrorCode};

/// Tokens longer than this are refused before any parsing.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// Why a token was refused. Only `Expired` maps to EXPIRED_TOKEN; all else is INVALID_TOKEN.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("no token was presented")]
    Missing,
    #[error("the request carries more than one token")]
    Ambiguous,
    #[error("the token is longer than 8 KiB")]
    TooLarge,
    #[error("the token is malformed")]
    Malformed,
    #[error("the token's algorithm is not HS256")]
    UnsupportedAlgorithm,
    #[error("the token's header carries a field that is not accepted")]
    ForbiddenHeader,
    #[error("the token names an unknown key")]
    UnknownKey,
    #[error("the token's signature does not match")]
    BadSignature,
    #[error("the token is of the wrong type")]
    WrongType,
    #[error("the token was issued by someone else")]
    WrongIssuer,
    #[error("the token carries an audience")]
    Audience,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token has expired")]
    Expired,
    #[error("the token's session has been revoked")]
    Revoked,
}

impl TokenError {
    pub fn code(self) -> ErrorCode {
        match self {
            TokenError::Expired => ErrorCode::ExpiredToken,
            TokenError::Missing
            | TokenError::Ambiguous
            | TokenError::TooLarge
            | TokenError::Malformed
            | TokenError::UnsupportedAlgorithm
            | TokenError::ForbiddenHeader
            | TokenError::UnknownKey
            | TokenError::BadSignature
            | TokenError::WrongType
            | TokenError::WrongIssuer
            | TokenError::Audience
            | TokenError::NotYetValid
            | TokenError::Revoked => ErrorCode::InvalidToken,
        }
    }
}

impl From<TokenError> for ApiError {
    fn from(err: TokenError) -> Self {
        let message = match err.code() {
            ErrorCode::ExpiredToken => "The token has expired.",
            _ => "The token is invalid.",
        };
        let api = ApiError::new(err.code(), message).with_details(None, err.to_string());
        // RFC 6750 §3.1: no error attribute when the request carried no token at all.
        let challenge = if err == TokenError::Missing {
            http::HeaderValue::from_static("Bearer")
        } else {
            // The descriptions are fixed ASCII sentences without quotes.
            http::HeaderValue::from_str(&format!(
                r#"Bearer error="invalid_token", error_description="{err}""#
            ))
            .unwrap_or(http::HeaderValue::from_static(
                r#"Bearer error="invalid_token""#,
            ))
        };
        api.with_header_value(http::header::WWW_AUTHENTICATE, challenge)
    }
}

/// The JOSE header fields we look at; the rest must be absent or harmless.
#[derive(Deserialize)]
struct WireHeader {
    alg: String,
    /// Absent means the active key; `"kid": null` is refused like any other non-string.
    #[serde(default, deserialize_with = "some")]
    kid: Option<String>,
    #[serde(default)]
    crit: Present,
    #[serde(default)]
    jku: Present,
    #[serde(default)]
    x5u: Present,
    #[serde(default)]
    jwk: Present,
}

/// 9999-12-31T23:59:59Z: the last instant an RFC 3339 timestamp can name. A time claim
/// outside `0..=MAX_TIME` is refused as malformed rather than clamped or wrapped.
pub const MAX_TIME: i64 = 253_402_300_799;

/// Signs with the active key; validates with every configured key.
#[derive(Debug)]
pub struct TokenCodec {
    keys: KeySet,
    issuer: String,
    leeway: i64,
}

impl TokenCodec {
    pub fn new(settings: TokenSettings) -> Self {
        TokenCodec {
            keys: settings.keys,
            issuer: settings.issuer,
            leeway: i64::try_from(settings.leeway_seconds).unwrap_or(i64::MAX),
        }
    }

    /// The `iss` this service puts in and requires.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn sign_access(
        &self,
        claims: &AccessClaims,
    ) -> Result<String, jsonwebtoken::errors::Error> {
        self.sign(claims)
    }

    pub fn sign_refresh(
        &self,
        claims: &RefreshClaims,
    ) -> Result<String, jsonwebtoken::errors::Error> {
        self.sign(claims)
    }

    fn sign<C: Serialize>(&self, claims: &C) -> Result<String, jsonwebtoken::errors::Error> {
        let key = self.keys.active();
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(key.kid().to_owned());
        jsonwebtoken::encode(&header, claims, key.encoding())
    }

    pub fn verify_access(&self, token: &str, now: i64) -> Result<AccessClaims, TokenError> {
        let wire = self.verify(token, TokenType::Access, now)?;
        match (wire.email, wire.email_verified) {
            (Some(email), Some(email_verified)) => Ok(AccessClaims {
                iss: wire.iss,
                sub: wire.sub,
                email,
                email_verified,
                typ: TokenType::Access,
                sid: wire.sid,
                jti: wire.jti,
                iat: wire.iat,
                exp: wire.exp,
            }),
            _ => Err(TokenError::Malformed),
        }
    }

    pub fn verify_refresh(&self, token: &str, now: i64) -> Result<RefreshClaims, TokenError> {
        let wire = self.verify(token, TokenType::Refresh, now)?;
        Ok(RefreshClaims {
            iss: wire.iss,
            sub: wire.sub,
            typ: TokenType::Refresh,
            sid: wire.sid,
            jti: wire.jti,
            iat: wire.iat,
            exp: wire.exp,
        })
    }

    fn verify(&self, token: &str, expected: TokenType, now: i64) -> Result<WireClaims, TokenError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(TokenError::TooLarge);
        }
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed);
        };
        let key = self.key_for(header)?;
        let signature = decode_part(signature)?;
        let signed = &token.as_bytes()[..header.len() + 1 + payload.len()];
        ring::hmac::verify(key.verification(), signed, &signature)
            .map_err(|_| TokenError::BadSignature)?;
        let claims: WireClaims = decode_object(payload)?;

        let times = [Some(claims.iat), Some(claims.exp), claims.nbf];
        if times
            .into_iter()
            .flatten()
            .any(|t| !(0..=MAX_TIME).contains(&t))
        {
            return Err(TokenError::Malformed);
        }
        if claims.typ.as_deref() != Some(expected.as_str()) {
            return Err(TokenError::WrongType);
        }
        // An access token without its identity claims is malformed, whatever its times say.
        if expected == TokenType::Access
            && (claims.email.is_none() || claims.email_verified.is_none())
        {
            return Err(TokenError::Malformed);
        }
        if claims.iss != self.issuer {
            return Err(TokenError::WrongIssuer);
        }
        if claims.aud.0 {
            return Err(TokenError::Audience);
        }
        if claims
            .nbf
            .is_some_and(|nbf| now < nbf.saturating_sub(self.leeway))
        {
            return Err(TokenError::NotYetValid);
        }
        if now > claims.exp.saturating_add(self.leeway) {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }

    /// Reads the header, so that anything but HS256 and any dangerous field is refused before
    /// a key is chosen, and the key comes only from the configured set.
    fn key_for(&self, encoded_header: &str) -> Result<&Key, TokenError> {
        let header: WireHeader = decode_object(encoded_header)?;
        if header.alg != "HS256" {
            return Err(TokenError::UnsupportedAlgorithm);
        }
        if header.crit.0 || header.jku.0 || header.x5u.0 || header.jwk.0 {
            return Err(TokenError::ForbiddenHeader);
        }
        match header.kid {
            Some(kid) => self.keys.find(&kid).ok_or(TokenError::UnknownKey),
            None => Ok(self.keys.active()),
        }
    }
}

/// A segment that must be a JSON object (RFC 7515 section 4, RFC 7519 section 7.2). serde would
/// map an array such as `["HS256"]` onto the struct by position, so anything that does not open
/// with `{` is refused before serde sees it.
fn decode_object<T: DeserializeOwned>(part: &str) -> Result<T, TokenError> {
    let json = decode_part(part)?;
    if json.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(TokenError::Malformed);
    }
    serde_json::from_slice(&json).map_err(|_| TokenError::Malformed)
}

/// Strict base64url: no padding, no whitespace, no non-canonical trailing bits.
fn decode_part(part: &str) -> Result<Vec<u8>, TokenError> {
    URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| TokenError::Malformed)
}

#[cfg(test)]
mod tests;
