//! HS256 tokens: the key set ([`keys`]), the two token types ([`claims`]) and signing and
//! validation ([`codec`]). The issuer and the verifier both validate through [`TokenCodec`].

pub mod claims;
pub mod codec;
pub mod keys;
pub mod raw;

use std::time::Duration;

pub use claims::{AccessClaims, RefreshClaims, TokenType};
pub use codec::{TokenCodec, TokenError};
pub use keys::{KeyError, KeySet};

/// Token settings from configuration.
#[derive(Debug, Clone)]
pub struct TokenSettings {
    pub keys: KeySet,
    /// The `iss` of every token: SERVICE_NAME.
    pub issuer: String,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
    pub leeway_seconds: u64,
}
