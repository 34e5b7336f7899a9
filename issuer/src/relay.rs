//! The outbox relay: publishes committed events to JetStream in outbox id order, and marks them
//! sent.
//!
//! It wakes on `NOTIFY outbox` (sent by a trigger at commit) and polls as a fallback. One relay
//! at a time publishes, across every issuer replica, through a transaction-level advisory lock;
//! so events leave in id order (the order the changes were written) and are not published twice
//! in a normal run. A transaction that commits after a higher id has already gone out is
//! published in a later round: reordered, never lost. A crash between publish and mark re-sends
//! the events, and the stream's duplicate window (keyed on `Nats-Msg-Id` = event id) drops the
//! copies.
//!
//! A round pipelines its publishes, and each message after the first expects the previous one
//! to be the stream's last (`Nats-Expected-Last-Msg-Id`). So if one message of the batch is
//! lost on the way (a connection drop while the ones behind it wait in the client's buffer and
//! go out after the reconnect), the stream refuses everything behind it instead of storing it
//! first; the next round starts again at the lost one.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_nats::connection::State;
use async_nats::jetstream::context::{PublishAckFuture, PublishError, PublishErrorKind};
use async_nats::jetstream::{self, message::PublishMessage};
use deadpool_postgres::Pool;
use futures_util::FutureExt;
use tokio::sync::Notify;
use tokio_postgres::AsyncMessage;

use crate::config::IssuerConfig;
use crate::db::{self, DbError};
use crate::metrics::OutboxMetrics;

#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("NATS is not connected")]
    NatsDown,
    #[error("the stream could not be set up: {0}")]
    Stream(#[source] anyhow::Error),
    #[error("publishing failed: {0}")]
    Publish(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<tokio_postgres::Error> for RelayError {
    fn from(err: tokio_postgres::Error) -> Self {
        RelayError::Db(err.into())
    }
}

pub struct Relay {
    pool: Pool,
    nats: async_nats::Client,
    js: jetstream::Context,
    config: IssuerConfig,
    /// Whether the stream has been set up; reset when a publish finds no stream, so that a
    /// deleted stream (or a NATS back with an empty store) is created again.
    stream_ready: tokio::sync::Mutex<bool>,
    metrics: OutboxMetrics,
}

impl Relay {
    pub fn new(
        pool: Pool,
        nats: async_nats::Client,
        config: IssuerConfig,
        metrics: OutboxMetrics,
    ) -> Self {
        let js = jetstream::new(nats.clone());
        Relay {
            pool,
            nats,
            js,
            config,
            stream_ready: tokio::sync::Mutex::new(false),
            metrics,
        }
    }

    /// Whether the NATS connection is up right now.
    pub fn nats_connected(&self) -> bool {
        self.nats.connection_state() == State::Connected
    }

    /// Publishes the oldest batch of pending events and marks the ones JetStream acknowledged.
    /// Returns how many were published; 0 when there was nothing to do or another relay holds
    /// the lock. Publishes are pipelined, each expecting the one before it as the stream's last
    /// message, and their acks awaited in order; at the first failure the acknowledged prefix
    /// is marked and the rest wait for the next round, which starts with no expectation.
    pub async fn relay_once(&self) -> Result<usize, RelayError> {
        if !self.nats_connected() {
            return Err(RelayError::NatsDown);
        }
        self.ensure_stream().await?;
        let mut client = db::client(&self.pool).await?;
        let tx = client.transaction().await?;
        if !db::outbox::try_lock_relay(&tx).await? {
            return Ok(0);
        }
        let pending = db::outbox::pending(&tx, self.config.settings.outbox_batch_size).await?;
        if pending.is_empty() {
            return Ok(0);
        }

        let mut acks = Vec::with_capacity(pending.len());
        let mut failure: Option<PublishError> = None;
        let mut previous = None;
        for event in &pending {
            match self.publish(event, previous).await {
                Ok(ack) => acks.push(ack),
                Err(err) => {
                    failure = Some(err);
                    break;
                }
            }
            previous = Some(event.event_id);
        }
        let mut published = Vec::with_capacity(acks.len());
        for (event, ack) in pending.iter().zip(acks) {
            match ack.await {
                Ok(_) => published.push(event.id),
                Err(err) => {
                    failure = Some(err);
                    break;
                }
            }
        }
        db::outbox::mark_published(&tx, &published, chrono::Utc::now()).await?;
        tx.commit().await?;
        self.metrics.published.inc_by(published.len() as u64);
        if let Some(err) = &failure {
            self.metrics.publish_failures.inc();
            if err.kind() == PublishErrorKind::StreamNotFound {
                // Nothing listens on our subjects: the stream was deleted, or NATS came back
                // with an empty store. Set it up again before the next round.
                tracing::warn!("no stream answers for the event subjects; setting it up again");
                *self.stream_ready.lock().await = false;
            }
        }
        let failure = failure.map(|err| RelayError::Publish(Box::new(err)));
        match failure {
            Some(err) if published.is_empty() => Err(err),
            Some(err) => {
                tracing::warn!(error = %err, published = published.len(), "relay stopped part-way through a batch");
                Ok(published.len())
            }
            None => Ok(published.len()),
        }
    }

    /// Sends one event to the stream, with `Nats-Msg-Id` = its event id, and returns the future
    /// of its ack. With `after`, the stream stores it only if its last message is the event
    /// `after` (`Nats-Expected-Last-Msg-Id`) and refuses it otherwise.
    ///
    /// A re-sent event still passes whatever `after` says. nats-server's
    /// `processJetStreamMsg` (server/stream.go, read in an early 2.x release and in the 2025
    /// main branch: the order is the same) runs the `Nats-Msg-Id` duplicate check first and
    /// answers a message whose id is in the duplicate window with a `"duplicate": true` ack at
    /// once; the `Nats-Expected-Last-Sequence` and `Nats-Expected-Last-Msg-Id` checks come
    /// after it. So a round that re-sends events the stream already holds (after a crash
    /// between publish and mark) gets them acknowledged as duplicates and goes on; the test
    /// `a_re_sent_event_is_acked_as_a_duplicate_whatever_it_expects` holds this against the
    /// server we run. A duplicate does not change the stream's last message id, which stays the
    /// event stored last: the one before in id order, since only one relay at a time writes.
    /// Past the duplicate window a re-sent event is stored again, as a new last message, and
    /// the events after it in the round still match.
    pub async fn publish(
        &self,
        event: &db::outbox::Pending,
        after: Option<uuid::Uuid>,
    ) -> Result<PublishAckFuture, PublishError> {
        let payload = serde_json::to_vec(&event.payload).unwrap_or_default();
        // The trace of the request that wrote the event, for a consumer to continue.
        let mut headers = async_nats::HeaderMap::new();
        if let Some(trace) = &event.trace {
            trace.write_nats_headers(&mut headers);
        }
        let mut publish = PublishMessage::build()
            .headers(headers)
            .payload(payload.into())
            .message_id(event.event_id.to_string());
        if let Some(previous) = after {
            publish = publish.expected_last_message_id(previous.to_string());
        }

        let subject = format!(
            "{}.{}",
            self.config.common.shared.events.nats_subject_prefix, event.event_type
        );
        self.js.send_publish(subject, publish).await
    }

    async fn ensure_stream(&self) -> Result<(), RelayError> {
        let mut ready = self.stream_ready.lock().await;
        if !*ready {
            if let Err(err) = crate::events::ensure_stream(&self.js, &self.config).await {
                self.metrics.publish_failures.inc();
                return Err(RelayError::Stream(err));
            }
            *ready = true;
        }
        Ok(())
    }

    /// Publishes until the outbox is empty (or an error stops it); returns how many went out.
    pub async fn drain(&self) -> Result<usize, RelayError> {
        let drained = self.drain_until(&mut std::future::pending()).await?;
        Ok(drained.published)
    }

    /// Like [`Relay::drain`], and stops between two rounds once `stop` has completed. A round
    /// in flight always finishes, so everything it published is marked sent.
    async fn drain_until(
        &self,
        stop: &mut (impl Future<Output = ()> + Unpin),
    ) -> Result<Drained, RelayError> {
        let mut published = 0;
        loop {
            let round = self.relay_once().await?;
            published += round;
            if (round as i64) < self.config.settings.outbox_batch_size {
                return Ok(Drained {
                    published,
                    stopped: false,
                });
            }
            if stop.now_or_never().is_some() {
                return Ok(Drained {
                    published,
                    stopped: true,
                });
            }
        }
    }

    /// Runs until `shutdown` completes: drains on every wake-up or poll. A long drain (a backlog
    /// after an outage) stops at the end of the round in flight when `shutdown` completes.
    pub async fn run(self: Arc<Self>, shutdown: impl Future<Output = ()>) {
        let wake = Arc::new(Notify::new());
        let listener = tokio::spawn(listen(self.config.clone(), Arc::clone(&wake)));
        tokio::pin!(shutdown);
        loop {
            match self.drain_until(&mut shutdown).await {
                Ok(Drained {
                    stopped: true,
                    published,
                }) => {
                    // `shutdown` has completed and must not be polled again.
                    tracing::info!(
                        published,
                        "shutdown in the middle of a drain: the rest waits for the next start"
                    );
                    break;
                }
                Ok(Drained { published: 0, .. }) => {}
                Ok(Drained { published, .. }) => tracing::debug!(published, "outbox relayed"),
                Err(RelayError::NatsDown) => tracing::debug!("outbox relay waiting for NATS"),
                Err(err) => {
                    tracing::warn!(error = %common::error::error_chain(&err), "outbox relay failed; will retry")
                }
            }
            tokio::select! {
                () = wake.notified() => {}
                () = tokio::time::sleep(self.config.settings.outbox_poll_interval) => {}
                () = &mut shutdown => break,
            }
        }
        listener.abort();
        tracing::info!("outbox relay stopped");
    }
}

/// How a drain ended: the outbox was empty, or shutdown came between two rounds.
struct Drained {
    published: usize,
    stopped: bool,
}

/// Holds a `LISTEN outbox` connection, reconnecting when it drops, and wakes the relay on
/// every notification.
async fn listen(config: IssuerConfig, wake: Arc<Notify>) {
    let postgres = config.postgres.clone();
    // Keepalives and the TCP timeouts notice a host that has gone away; the periodic poll
    // covers the wake-ups missed meanwhile.
    let tls = postgres.tls;
    let postgres = crate::db::bounded(postgres.config, config.settings.database_timeout);
    loop {
        match postgres.connect(tls.clone()).await {
            Ok((client, mut connection)) => {
                let notify = Arc::clone(&wake);
                let driver = tokio::spawn(async move {
                    while let Some(message) =
                        std::future::poll_fn(|cx| connection.poll_message(cx)).await
                    {
                        match message {
                            Ok(AsyncMessage::Notification(_)) => notify.notify_one(),
                            Ok(_) => {}
                            Err(_) => break,
                        }
                    }
                });
                if client.batch_execute("LISTEN outbox").await.is_ok() {
                    // Anything committed while we were not listening.
                    wake.notify_one();
                    let _ = driver.await;
                } else {
                    driver.abort();
                }
                tracing::debug!("outbox LISTEN connection closed; reconnecting");
            }
            Err(err) => tracing::debug!(error = %err, "outbox LISTEN connection failed; retrying"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
