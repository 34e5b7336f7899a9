//! What every handler can reach. Built once in `App::build`; nothing is global.

use std::sync::Arc;

use common::clock::Clock;
use common::jwt::{AccessClaims, TokenCodec, TokenError};

use crate::config::VerifierConfig;
use crate::metrics::VerifierMetrics;
use crate::revocations::Revocations;

pub struct AppState {
    pub config: VerifierConfig,
    /// Keys decoded once, at start.
    pub tokens: TokenCodec,
    pub clock: Clock,
    pub revocations: Arc<Revocations>,
    pub nats: async_nats::Client,
    pub metrics: VerifierMetrics,
}

impl AppState {
    /// A valid access token whose session has not been revoked: what every route asks.
    pub fn verify(&self, token: &str) -> Result<AccessClaims, TokenError> {
        let claims = self
            .tokens
            .verify_access(token, self.clock.now().timestamp())?;
        if self.revocations.is_revoked(claims.sid) {
            return Err(TokenError::Revoked);
        }
        Ok(claims)
    }
}
