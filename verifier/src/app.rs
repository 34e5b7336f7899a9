//! Building and running the verifier.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use common::clock::Clock;
use common::jwt::TokenCodec;
use common::server::ServeOptions;
use tokio::net::TcpListener;

use crate::config::VerifierConfig;
use crate::metrics::VerifierMetrics;
use crate::state::AppState;
use crate::{revocations, routes};

/// A built verifier with its listener bound (port 0 allowed).
pub struct App {
    listener: TcpListener,
    serve: ServeOptions,
    state: Arc<AppState>,
}

impl App {
    pub async fn build(config: VerifierConfig) -> Result<App, anyhow::Error> {
        let serve = config.common.serve_options()?;
        let listener = TcpListener::bind(config.settings.addr)
            .await
            .with_context(|| {
                format!("cannot listen on {} (VERIFIER_ADDR)", config.settings.addr)
            })?;
        let nats_health = common::nats::NatsHealth::default();
        let nats = (config.common.shared)
            .connect_nats("verifier", &nats_health)
            .await?;
        let state = AppState {
            tokens: TokenCodec::new(config.common.tokens.clone()),
            config,
            clock: Clock::system(),
            revocations: Arc::default(),
            nats,
            nats_health,
            metrics: VerifierMetrics::new(&routes::ROUTES.metric_routes()),
        };
        Ok(App {
            listener,
            serve,
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
    /// The revocation feed runs alongside.
    pub async fn run_until(self, shutdown: impl Future<Output = ()>) {
        let grace = self.state.config.common.shared.service.shutdown_grace;
        let state = self.state;
        let feed = tokio::spawn(revocations::follow(
            Arc::clone(&state.revocations),
            state.nats.clone(),
            state.config.clone(),
            state.clock.clone(),
        ));
        let sweeper = tokio::spawn(revocations::sweep_forever(
            Arc::clone(&state.revocations),
            state.clock.clone(),
        ));
        if let Ok(addr) = self.listener.local_addr() {
            tracing::info!(%addr, tls = self.serve.is_tls(), "verifier listening");
        }
        common::service::serve(self.listener, self.serve, state, shutdown, grace).await;
        feed.abort();
        sweeper.abort();
        tracing::info!("verifier stopped");
    }
}
