//! The two token types. Each is its own Rust type, so one can never be passed for the other.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The `typ` claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenType {
    Access,
    Refresh,
}

impl TokenType {
    pub const fn as_str(self) -> &'static str {
        match self {
            TokenType::Access => "access",
            TokenType::Refresh => "refresh",
        }
    }
}

/// Claims of an access token: who, which session, and whether the email is verified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccessClaims {
    pub iss: String,
    pub sub: Uuid,
    pub email: String,
    pub email_verified: bool,
    pub typ: TokenType,
    pub sid: Uuid,
    pub jti: Uuid,
    pub iat: i64,
    pub exp: i64,
}

impl AccessClaims {
    /// The `data` of a successful validate-token answer, the same from issuer and verifier.
    pub fn validation_data(&self) -> serde_json::Value {
        serde_json::json!({
            "is_valid": true,
            "user_id": self.sub,
            "email": self.email,
            "expires_at": chrono::DateTime::from_timestamp(self.exp, 0),
        })
    }
}

/// Claims of a refresh token: no identity beyond the user and session ids.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RefreshClaims {
    pub iss: String,
    pub sub: Uuid,
    pub typ: TokenType,
    pub sid: Uuid,
    pub jti: Uuid,
    pub iat: i64,
    pub exp: i64,
}

/// What a token carries on the wire, before its type is known. Every registered claim is typed:
/// an `exp` that is a string, say, fails here.
#[derive(Debug, Deserialize)]
pub(crate) struct WireClaims {
    pub iss: String,
    pub sub: Uuid,
    pub typ: Option<String>,
    pub sid: Uuid,
    pub jti: Uuid,
    pub iat: i64,
    pub exp: i64,
    /// Optional, but when sent it must be a number: `"nbf": null` is refused, not ignored.
    #[serde(default, deserialize_with = "some")]
    pub nbf: Option<i64>,
    /// Present only to refuse it: we issue no audience. `"aud": null` counts as present.
    #[serde(default)]
    pub aud: Present,
    pub email: Option<String>,
    pub email_verified: Option<bool>,
}

/// Whether a field was sent at all. Unlike `Option`, a `null` value counts as present, so a
/// field we refuse (`aud`, `crit`, …) is refused whatever its value.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Present(pub bool);

impl<'de> Deserialize<'de> for Present {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        serde::de::IgnoredAny::deserialize(deserializer).map(|_| Present(true))
    }
}

/// For `#[serde(default, deserialize_with = "some")]`: absent is `None`, `null` is an error,
/// anything else must be a `T`.
pub(crate) fn some<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}
