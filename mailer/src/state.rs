//! What the consumer and the handlers share. Built once in `App::build`; nothing is global.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use async_nats::connection::State;
use async_nats::jetstream::consumer::PullConsumer;
use common::nats::NatsHealth;
use lettre::{AsyncSmtpTransport, Tokio1Executor};

use crate::config::MailerConfig;
use crate::metrics::MailerMetrics;

/// How long `/metrics` waits for the consumer's pending count before showing the last one.
const PENDING_QUERY_TIMEOUT: Duration = Duration::from_secs(1);

pub struct AppState {
    pub config: MailerConfig,
    pub nats: async_nats::Client,
    /// Whether NATS refused the latest connection attempt: readiness reports it.
    pub nats_health: NatsHealth,
    pub smtp: AsyncSmtpTransport<Tokio1Executor>,
    pub metrics: MailerMetrics,
    /// The durable consumer, once it exists; `None` while it is being set up.
    consumer: Mutex<Option<PullConsumer>>,
}

impl AppState {
    pub fn new(
        config: MailerConfig,
        nats: async_nats::Client,
        nats_health: NatsHealth,
        smtp: AsyncSmtpTransport<Tokio1Executor>,
        metrics: MailerMetrics,
    ) -> Self {
        AppState {
            config,
            nats,
            nats_health,
            smtp,
            metrics,
            consumer: Mutex::new(None),
        }
    }

    /// The consumer the feed reads from now (`None` while it is being set up again).
    pub fn set_consumer(&self, consumer: Option<PullConsumer>) {
        *self.consumer.lock().unwrap_or_else(PoisonError::into_inner) = consumer;
    }

    fn consumer(&self) -> Option<PullConsumer> {
        self.consumer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub fn nats_connected(&self) -> bool {
        self.nats.connection_state() == State::Connected
    }

    /// Why the mailer cannot take events yet, or `None` once its consumer exists and NATS is
    /// connected.
    pub fn not_ready(&self) -> Option<&'static str> {
        if let Some(refusal) = self.nats_health.refusal() {
            Some(refusal.reason())
        } else if !self.nats_connected() {
            Some("NATS is unreachable")
        } else if self.consumer().is_none() {
            Some("the durable consumer does not exist yet (is the stream there?)")
        } else {
            None
        }
    }

    /// The consumer's pending count, asked of the server; `None` when it cannot say now.
    pub async fn pending(&self) -> Option<u64> {
        let consumer = self.consumer()?;
        let info = tokio::time::timeout(PENDING_QUERY_TIMEOUT, consumer.get_info()).await;
        info.ok()?.ok().map(|info| info.num_pending)
    }
}
