//! Revoked sessions, learnt from `session.revoked` events on JetStream.
//!
//! At start an ordered consumer replays every revocation newer than the access-token lifetime
//! (older ones can only name tokens that have expired anyway), then follows live. Entries are
//! dropped once the session's last access token has expired. With NATS away the verifier keeps
//! validating with what it knows and the consumer resumes by itself.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use async_nats::connection::State;
use async_nats::jetstream::{self, consumer};
use futures_util::StreamExt;
use serde::Deserialize;
use uuid::Uuid;

use crate::config::VerifierConfig;

/// The revoked-session set, shared by the handlers (reads) and the follower (writes).
#[derive(Default)]
pub struct Revocations {
    /// Session id → Unix time after which none of its access tokens can pass anyway.
    sessions: RwLock<HashMap<Uuid, i64>>,
    replay_complete: AtomicBool,
}

#[derive(Deserialize)]
struct SessionRevoked {
    session_id: Uuid,
    expires_at: chrono::DateTime<chrono::Utc>,
}

#[derive(Deserialize)]
struct Envelope {
    data: SessionRevoked,
}

impl Revocations {
    /// A panic while the set was held for writing poisons the lock, but every writer leaves the
    /// map whole (one insert or one retain), so its contents are still right. Refusing to read it
    /// instead would let a revoked session through: every lock path recovers the guard.
    fn read(&self) -> RwLockReadGuard<'_, HashMap<Uuid, i64>> {
        self.sessions.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, HashMap<Uuid, i64>> {
        self.sessions
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }

    pub fn is_revoked(&self, session: Uuid) -> bool {
        self.read().contains_key(&session)
    }

    pub fn len(&self) -> usize {
        self.read().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether everything published before start has been read.
    pub fn replay_complete(&self) -> bool {
        self.replay_complete.load(Ordering::Relaxed)
    }

    /// Records one `session.revoked` event; returns false when the payload is not one.
    pub fn apply(&self, payload: &[u8], now: i64, leeway: i64) -> bool {
        let Ok(event) = serde_json::from_slice::<Envelope>(payload) else {
            return false;
        };
        let until = event.data.expires_at.timestamp().saturating_add(leeway);
        if until >= now {
            self.write().insert(event.data.session_id, until);
        }
        true
    }

    /// Forgets sessions whose tokens have all expired.
    pub fn sweep(&self, now: i64) {
        self.write().retain(|_, until| *until >= now);
    }
}

/// Follows the stream for as long as the process runs, re-subscribing after any failure.
pub async fn follow(
    revocations: Arc<Revocations>,
    nats: async_nats::Client,
    config: VerifierConfig,
) {
    let js = jetstream::new(nats);
    let leeway = i64::try_from(config.common.tokens.leeway_seconds).unwrap_or(0);
    let lookback = config.common.tokens.access_ttl + chrono::TimeDelta::seconds(leeway);
    let subject = format!("{}.session.revoked", config.common.nats_subject_prefix);
    let mut since = chrono::Utc::now() - lookback;
    loop {
        match subscribe(&js, &config.common.nats_stream, &subject, since).await {
            Ok((mut messages, pending)) => {
                if pending == 0 {
                    revocations.replay_complete.store(true, Ordering::Relaxed);
                }
                while let Some(message) = messages.next().await {
                    let Ok(message) = message else { break };
                    let now = chrono::Utc::now().timestamp();
                    if !revocations.apply(&message.payload, now, leeway) {
                        tracing::warn!(subject = %message.subject, "ignored a session.revoked event that cannot be read");
                    }
                    if let Ok(info) = message.info() {
                        since = info.published;
                        if info.pending == 0 {
                            revocations.replay_complete.store(true, Ordering::Relaxed);
                        }
                    }
                }
                tracing::debug!("revocation feed ended; subscribing again");
            }
            Err(err) => tracing::debug!(error = %err, "revocation feed unavailable; retrying"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

async fn subscribe(
    js: &jetstream::Context,
    stream: &str,
    subject: &str,
    since: chrono::DateTime<chrono::Utc>,
) -> Result<(consumer::pull::Ordered, u64), async_nats::Error> {
    let stream = js.get_stream(stream).await?;
    let mut consumer = stream
        .create_consumer(consumer::pull::OrderedConfig {
            filter_subject: subject.to_owned(),
            deliver_policy: consumer::DeliverPolicy::ByStartTime { start_time: since },
            ..Default::default()
        })
        .await?;
    let pending = consumer.info().await?.num_pending;
    Ok((consumer.messages().await?, pending))
}

/// Drops expired entries once a minute.
pub async fn sweep_forever(revocations: Arc<Revocations>) {
    loop {
        tokio::time::sleep(Duration::from_secs(60)).await;
        revocations.sweep(chrono::Utc::now().timestamp());
    }
}

/// The NATS connection state, for /health.
pub fn nats_state(nats: &async_nats::Client) -> &'static str {
    match nats.connection_state() {
        State::Connected => "connected",
        State::Disconnected | State::Pending => "disconnected",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(session: Uuid, expires_at: i64) -> Vec<u8> {
        let expires_at = chrono::DateTime::from_timestamp(expires_at, 0).unwrap();
        serde_json::json!({
            "event_id": Uuid::new_v4(), "event_type": "session.revoked", "timestamp": expires_at,
            "data": {"session_id": session, "user_id": Uuid::new_v4(), "expires_at": expires_at}
        })
        .to_string()
        .into_bytes()
    }

    #[test]
    fn revoked_sessions_are_kept_until_their_tokens_expire() {
        let revocations = Revocations::default();
        let (live, gone) = (Uuid::new_v4(), Uuid::new_v4());
        assert!(revocations.apply(&event(live, 1_000), 900, 30));
        assert!(revocations.apply(&event(gone, 800), 900, 30));
        assert!(revocations.is_revoked(live));
        assert!(
            !revocations.is_revoked(gone),
            "already expired: nothing to remember"
        );
        revocations.sweep(1_030);
        assert!(revocations.is_revoked(live));
        revocations.sweep(1_031);
        assert!(!revocations.is_revoked(live));
        assert!(revocations.is_empty());
    }

    #[test]
    fn a_poisoned_lock_never_lets_a_revoked_session_through() {
        let revocations = Arc::new(Revocations::default());
        let (before, after) = (Uuid::new_v4(), Uuid::new_v4());
        assert!(revocations.apply(&event(before, 1_000), 900, 30));
        let holder = Arc::clone(&revocations);
        let panicked = std::thread::spawn(move || {
            let _guard = holder.sessions.write().unwrap();
            panic!("a writer dies holding the lock");
        })
        .join();
        assert!(panicked.is_err());
        assert!(revocations.sessions.is_poisoned());

        assert!(revocations.is_revoked(before), "read after poisoning");
        assert_eq!(revocations.len(), 1);
        assert!(revocations.apply(&event(after, 1_000), 900, 30));
        assert!(revocations.is_revoked(after), "insert after poisoning");
        revocations.sweep(1_000);
        assert!(
            revocations.is_revoked(before),
            "sweep after poisoning keeps live entries"
        );
        revocations.sweep(1_031);
        assert!(
            revocations.is_empty(),
            "sweep after poisoning drops expired entries"
        );
    }

    #[test]
    fn unreadable_events_are_reported_and_ignored() {
        let revocations = Revocations::default();
        assert!(!revocations.apply(b"{}", 0, 0));
        assert!(!revocations.apply(b"not json", 0, 0));
        assert!(revocations.is_empty());
    }
}
