//! What every handler can reach. Built once in `App::build`; nothing is global.

use common::clock::Clock;
use common::jwt::TokenCodec;

use crate::config::VerifierConfig;

pub struct AppState {
    pub config: VerifierConfig,
    /// Keys decoded once, at start.
    pub tokens: TokenCodec,
    pub clock: Clock,
}
