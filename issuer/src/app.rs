//! Building and running the issuer: database, state, listener.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use common::clock::Clock;
use common::jwt::TokenCodec;
use common::server::ServeOptions;
use tokio::net::TcpListener;

use crate::auth::password::Hasher;
use crate::config::IssuerConfig;
use crate::metrics::IssuerMetrics;
use crate::rate_limit::RateLimiter;
use crate::relay::Relay;
use crate::state::AppState;
use crate::{db, routes};

/// A built issuer: migrated database, pool, bound listener. Binding here lets callers ask for
/// port 0 and read the real address before serving.
pub struct App {
    listener: TcpListener,
    serve: ServeOptions,
    state: Arc<AppState>,
}

impl App {
    /// Checks every setting first (TLS files included), binds, then prepares the database. A
    /// database that cannot be reached or migrated yet does not stop the start: the issuer
    /// serves health (not ready) and retries with backoff in the background, logging why.
    pub async fn build(config: IssuerConfig) -> Result<App, anyhow::Error> {
        let postgres = config.postgres.clone();
        let serve = config.common.serve_options()?;
        let hasher = Hasher::new(
            config.hash_cost,
            config.hash_max_concurrent,
            config.settings.argon2_max_queued,
        )
        .context("invalid ARGON2_* settings")?;
        let pool = db::pool(
            postgres.clone(),
            config.settings.database_pool_size,
            config.settings.database_timeout,
        )?;
        let nats_health = common::nats::NatsHealth::default();
        let nats = (config.common.shared)
            .connect_nats("issuer", &nats_health)
            .await?;
        let listener = TcpListener::bind(config.settings.addr)
            .await
            .with_context(|| format!("cannot listen on {} (ISSUER_ADDR)", config.settings.addr))?;
        let metrics = IssuerMetrics::new(&routes::ROUTES.metric_routes());
        let relay = Arc::new(Relay::new(
            pool.clone(),
            nats,
            config.clone(),
            metrics.outbox.clone(),
        ));
        let limiter = RateLimiter::new(config.rate_limits);
        let startup = db::startup(postgres, config.settings.database_timeout);
        let state = Arc::new(AppState {
            tokens: TokenCodec::new(config.common.tokens.clone()),
            config,
            pool,
            hasher,
            limiter,
            clock: Clock::system(),
            relay,
            nats_health,
            metrics,
            schema_ready: AtomicBool::new(false),
        });
        match db::prepare(&startup).await {
            Ok(()) => state.schema_ready.store(true, Ordering::Release),
            Err(err) => {
                tracing::warn!(error = %format!("{err:#}"), "database not ready (DATABASE_URL); retrying in the background");
                tokio::spawn(prepare_with_backoff(startup, Arc::clone(&state)));
            }
        }
        Ok(App {
            listener,
            serve,
            state,
        })
    }

    pub fn local_addr(&self) -> Result<SocketAddr, std::io::Error> {
        self.listener.local_addr()
    }

    pub fn state(&self) -> Arc<AppState> {
        Arc::clone(&self.state)
    }

    /// Serves until `shutdown` completes, then drains in-flight requests within the grace period.
    /// The outbox relay runs alongside and stops after the last request has finished.
    pub async fn run_until(self, shutdown: impl Future<Output = ()>) {
        let grace = self.state.config.common.shared.service.shutdown_grace;
        let state = self.state;
        let (stop_relay, relay_stopped) = tokio::sync::oneshot::channel::<()>();
        let relay = tokio::spawn(Arc::clone(&state.relay).run(async {
            let _ = relay_stopped.await;
        }));
        let (stop_housekeeping, housekeeping_stopped) = tokio::sync::oneshot::channel::<()>();
        let housekeeping = tokio::spawn(crate::housekeeping::run(
            state.pool.clone(),
            state.config.clone(),
            async {
                let _ = housekeeping_stopped.await;
            },
        ));
        if let Ok(addr) = self.listener.local_addr() {
            tracing::info!(%addr, tls = self.serve.is_tls(), "issuer listening");
        }
        common::service::serve(self.listener, self.serve, state, shutdown, grace).await;
        let _ = stop_relay.send(());
        let _ = stop_housekeeping.send(());
        let _ = relay.await;
        let _ = housekeeping.await;
        tracing::info!("issuer stopped");
    }
}

/// Retries preparing the database, 1 s after the first failure and doubling up to 30 s, until
/// it succeeds; then the API opens.
async fn prepare_with_backoff(startup: db::Postgres, state: Arc<AppState>) {
    let mut delay = Duration::from_secs(1);
    loop {
        tokio::time::sleep(delay).await;
        match db::prepare(&startup).await {
            Ok(()) => {
                state.schema_ready.store(true, Ordering::Release);
                tracing::info!("database ready");
                return;
            }
            Err(err) => {
                delay = (delay * 2).min(Duration::from_secs(30));
                tracing::warn!(error = %format!("{err:#}"), retry_in_s = delay.as_secs(), "database not ready (DATABASE_URL)");
            }
        }
    }
}
