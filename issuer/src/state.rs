//! What every handler can reach. Built once in `App::build`; nothing is global.

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
    pub metrics: IssuerMetrics,
}
