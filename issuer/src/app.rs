//! Building and running the issuer: database, state, listener.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use common::clock::Clock;
use common::jwt::TokenCodec;
use tokio::net::TcpListener;

use crate::auth::password::Hasher;
use crate::config::IssuerConfig;
use crate::state::AppState;
use crate::{db, routes};

/// A built issuer: migrated database, pool, bound listener. Binding here lets callers ask for
/// port 0 and read the real address before serving.
pub struct App {
    listener: TcpListener,
    state: Arc<AppState>,
}

impl App {
    pub async fn build(config: IssuerConfig) -> Result<App, anyhow::Error> {
        let postgres = config.postgres()?;
        db::prepare(&postgres)
            .await
            .context("cannot prepare the database (DATABASE_URL)")?;
        let pool = db::pool(postgres, config.database_pool_size, config.database_timeout)?;
        let hasher = Hasher::new(
            config.hash_cost,
            config.hash_max_concurrent,
            config.hash_max_queued,
        )
        .context("invalid ARGON2_* settings")?;
        let listener = TcpListener::bind(config.addr)
            .await
            .with_context(|| format!("cannot listen on {} (ISSUER_ADDR)", config.addr))?;
        let state = AppState {
            tokens: TokenCodec::new(config.common.tokens.clone()),
            config,
            pool,
            hasher,
            clock: Clock::system(),
        };
        Ok(App {
            listener,
            state: Arc::new(state),
        })
    }

    pub fn local_addr(&self) -> Result<SocketAddr, std::io::Error> {
        self.listener.local_addr()
    }

    pub fn state(&self) -> Arc<AppState> {
        Arc::clone(&self.state)
    }

    /// Serves until `shutdown` completes, then drains in-flight requests within the grace period.
    pub async fn run_until(self, shutdown: impl Future<Output = ()>) {
        let grace = self.state.config.common.shutdown_grace;
        let state = self.state;
        if let Ok(addr) = self.listener.local_addr() {
            tracing::info!(%addr, "issuer listening");
        }
        common::server::serve(
            self.listener,
            move |req, peer| {
                let state = Arc::clone(&state);
                common::request::handle(req, move |req| routes::route(state, req, peer))
            },
            shutdown,
            grace,
        )
        .await;
        tracing::info!("issuer stopped");
    }
}
