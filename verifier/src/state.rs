//! What every handler can reach. Built once in `App::build`; nothing is global.

use std::sync::Arc;

use async_nats::connection::State;
use common::clock::Clock;
use common::error::ApiError;
use common::jwt::{AccessClaims, TokenCodec, TokenError};

use crate::config::VerifierConfig;
use crate::metrics::VerifierMetrics;
use crate::revocations::{Replay, Revocations};

pub struct AppState {
    pub config: VerifierConfig,
    /// Keys decoded once, at start.
    pub tokens: TokenCodec,
    pub clock: Clock,
    pub revocations: Arc<Revocations>,
    pub nats: async_nats::Client,
    /// Whether NATS refused the latest connection attempt: readiness reports it.
    pub nats_health: common::nats::NatsHealth,
    pub metrics: VerifierMetrics,
}

impl AppState {
    /// Why the verifier cannot do its whole job yet, or `None` once it can: its keys are
    /// loaded at start, so what it waits for is the end of the revocation replay.
    pub fn not_ready(&self) -> Option<&'static str> {
        match self.revocations.replay() {
            Replay::Complete => None,
            Replay::Running => Some("the replay of revoked sessions is in progress"),
            Replay::Waiting => Some(match self.nats_health.refusal() {
                Some(refusal) => refusal.reason(),
                None if self.nats.connection_state() != State::Connected => {
                    "NATS is unreachable: the revoked sessions cannot be replayed yet"
                }
                None => "the event stream cannot be read yet: the revoked sessions are not known",
            }),
        }
    }

    /// 503 SERVICE_UNAVAILABLE with `Retry-After` until the verifier is ready: one that does
    /// not yet know the revoked sessions must never pass a token, so it passes none.
    pub fn ready(&self) -> Result<(), ApiError> {
        match self.not_ready() {
            None => Ok(()),
            Some(reason) => Err(ApiError::unavailable(format!("not ready: {reason}"))
                .with_details(None, "the verifier does not know the revoked sessions yet")),
        }
    }

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
