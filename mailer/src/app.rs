//! Building and running the mailer: its health and metrics server, and the email feed.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use common::nats::NatsHealth;
use common::server::ServeOptions;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::MailerConfig;
use crate::metrics::MailerMetrics;
use crate::state::AppState;
use crate::{consumer, routes};

/// A built mailer with its listener bound (port 0 allowed).
pub struct App {
    listener: TcpListener,
    state: Arc<AppState>,
}

impl App {
    pub async fn build(config: MailerConfig) -> Result<App, anyhow::Error> {
        let listener = TcpListener::bind(config.addr)
            .await
            .with_context(|| format!("cannot listen on {} (MAILER_ADDR)", config.addr))?;
        let smtp = config.smtp.transport().context("invalid SMTP_URL")?;
        // The same credentials and TLS as the other services; it retries by itself until NATS
        // answers, reconnects after a drop, and reports a refusal to readiness.
        let nats_health = NatsHealth::default();
        let nats = (config.shared).connect_nats("mailer", &nats_health).await?;
        let metrics = MailerMetrics::new(&routes::ROUTES.metric_routes());
        let state = AppState::new(config, nats, nats_health, smtp, metrics);
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

    /// Follows the email events and serves health and metrics until `shutdown` completes; then
    /// lets the email in hand be sent and acknowledged within the grace period. One still in
    /// hand after it is not acknowledged, so it is delivered again later.
    pub async fn run_until(self, shutdown: impl Future<Output = ()>) {
        let state = self.state;
        let grace = state.config.shared.service.shutdown_grace;
        let (stop, stopped) = watch::channel(false);
        let mut feed = tokio::spawn(consumer::follow(Arc::clone(&state), stopped));
        if let Ok(addr) = self.listener.local_addr() {
            tracing::info!(%addr, "mailer listening");
        }
        common::service::serve(
            self.listener,
            ServeOptions::default(),
            state,
            shutdown,
            grace,
        )
        .await;
        let _ = stop.send(true);
        if tokio::time::timeout(grace, &mut feed).await.is_err() {
            tracing::warn!(
                ?grace,
                "grace period over; leaving the email in hand unacknowledged"
            );
            feed.abort();
        }
        tracing::info!("mailer stopped");
    }
}
