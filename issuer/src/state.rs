//! What every handler can reach. Built once in `App::build`; nothing is global.

use std::sync::atomic::{AtomicBool, Ordering};

use common::clock::Clock;
use common::jwt::TokenCodec;
use deadpool_postgres::Pool;

use crate::auth::password::Hasher;
use crate::config::IssuerConfig;
use crate::metrics::IssuerMetrics;
use crate::rate_limit::RateLimiter;
use crate::relay::Relay;

pub struct AppState {
    pub config: IssuerConfig,
    pub pool: Pool,
    pub tokens: TokenCodec,
    pub hasher: Hasher,
    /// Attempt limits per client address and per account, in this process only.
    pub limiter: RateLimiter,
    pub clock: Clock,
    /// The outbox relay, also asked by /health about NATS.
    pub relay: std::sync::Arc<Relay>,
    /// Whether NATS refused the latest connection attempt: readiness reports it.
    pub nats_health: common::nats::NatsHealth,
    pub metrics: IssuerMetrics,
    /// Set once the database exists and every migration is applied; until then the API
    /// answers 503 (the issuer serves health while it waits for Postgres at start).
    pub schema_ready: AtomicBool,
}

impl AppState {
    pub fn schema_ready(&self) -> bool {
        self.schema_ready.load(Ordering::Acquire)
    }
}
