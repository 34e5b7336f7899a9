//! HS256 tokens: the key set ([`keys`]), the two token types ([`claims`]) and signing and
//! validation ([`codec`]). The issuer and the verifier both validate through [`TokenCodec`].

pub mod claims;
pub mod codec;
pub mod keys;
pub mod raw;

use chrono::TimeDelta;

pub use claims::{AccessClaims, RefreshClaims, TokenType};
pub use codec::{TokenCodec, TokenError};
pub use keys::{KeyError, KeySet};

/// Token settings from configuration.
#[derive(Debug, Clone)]
pub struct TokenSettings {
    pub keys: KeySet,
    /// The `iss` of every token: SERVICE_NAME.
    pub issuer: String,
    /// Positive and at most a year (configuration refuses anything else).
    pub access_ttl: TimeDelta,
    /// Positive and at most ten years.
    pub refresh_ttl: TimeDelta,
    pub leeway_seconds: u64,
}
