//! Revoked sessions, learnt from `session.revoked` events on JetStream.
//!
//! At start an ordered consumer replays everything the stream holds on the subject, then
//! follows live. Each entry is kept until its own `expires_at` (the latest access-token expiry
//! of the session, carried in the event) plus the leeway: the issuer may give tokens a longer
//! life than this verifier's own `JWT_ACCESS_TOKEN_EXPIRE_HOURS`, so the verifier's setting
//! never bounds what is replayed. Until the replay is complete the verifier is not ready and
//! refuses every token (see `AppState::ready`); once it is, it stays ready with what it knows
//! while NATS is away, and the consumer resumes by itself.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use async_nats::connection::State;
use async_nats::jetstream::{self, consumer, context::GetStreamErrorKind};
use common::clock::Clock;
use common::events::{EventType, SessionRevoked};
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::config::VerifierConfig;

/// Where the replay of the stream stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replay {
    /// Not started: NATS is unreachable or the stream cannot be read yet.
    Waiting,
    /// Started; events published before start are still being read.
    Running,
    /// Everything published before start has been read (or the stream does not exist, so
    /// nothing was ever published). Never left once reached.
    Complete,
}

impl Replay {
    fn from_u8(value: u8) -> Replay {
        match value {
            1 => Replay::Running,
            2 => Replay::Complete,
            _ => Replay::Waiting,
        }
    }

    /// The word /health/ready reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Replay::Waiting => "waiting",
            Replay::Running => "in_progress",
            Replay::Complete => "complete",
        }
    }
}

/// The revoked-session set, shared by the handlers (reads) and the follower (writes).
#[derive(Default)]
pub struct Revocations {
    /// Session id → Unix time after which none of its access tokens can pass anyway.
    sessions: RwLock<HashMap<Uuid, i64>>,
    /// A [`Replay`] as its discriminant.
    replay: AtomicU8,
}

/// What makes an event unreadable. Each event and its `data` must be JSON objects: serde maps
/// an array onto a struct by position, and `["…", "…"]` is not an event the issuer sends.
#[derive(Debug, PartialEq, Eq)]
pub enum Unreadable {
    NotAnObject,
    NotSessionRevoked,
    DataNotAnObject,
    BadData,
}

/// The session and its last expiry, from one `session.revoked` payload.
fn parse(payload: &[u8]) -> Result<SessionRevoked, Unreadable> {
    let mut event: Map<String, Value> =
        serde_json::from_slice(payload).map_err(|_| Unreadable::NotAnObject)?;
    if event.get("event_type").and_then(Value::as_str) != Some("session.revoked") {
        return Err(Unreadable::NotSessionRevoked);
    }
    let data = match event.remove("data") {
        Some(Value::Object(data)) => data,
        _ => return Err(Unreadable::DataNotAnObject),
    };
    SessionRevoked::deserialize(Value::Object(data)).map_err(|_| Unreadable::BadData)
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

    pub fn replay(&self) -> Replay {
        Replay::from_u8(self.replay.load(Ordering::Acquire))
    }

    /// Whether everything published before start has been read.
    pub fn replay_complete(&self) -> bool {
        self.replay() == Replay::Complete
    }

    /// The replay has started; a complete replay stays complete.
    fn replay_started(&self) {
        let _ = self.replay.compare_exchange(
            Replay::Waiting as u8,
            Replay::Running as u8,
            Ordering::AcqRel,
            Ordering::Acquire,
        );
    }

    fn replay_done(&self) {
        self.replay.store(Replay::Complete as u8, Ordering::Release);
    }

    /// Records one `session.revoked` event, kept until its own `expires_at` plus `leeway`;
    /// an event whose tokens have all expired by `now` is read and forgotten.
    pub fn apply(&self, payload: &[u8], now: i64, leeway: i64) -> Result<(), Unreadable> {
        let event = parse(payload)?;
        let until = event.expires_at.timestamp().saturating_add(leeway);
        if until >= now {
            self.write().insert(event.session_id, until);
        }
        Ok(())
    }

    /// Forgets sessions whose tokens have all expired.
    pub fn sweep(&self, now: i64) {
        self.write().retain(|_, until| *until >= now);
    }
}

/// Why a subscription could not be made.
enum Unavailable {
    /// NATS answers and has no such stream: nothing was ever published to it.
    NoStream,
    Other(async_nats::Error),
}

impl<E: Into<async_nats::Error>> From<E> for Unavailable {
    fn from(err: E) -> Self {
        Unavailable::Other(err.into())
    }
}

/// Follows the stream for as long as the process runs, re-subscribing after any failure.
/// `clock` is the one tokens are checked against.
pub async fn follow(
    revocations: Arc<Revocations>,
    nats: async_nats::Client,
    config: VerifierConfig,
    clock: Clock,
) {
    let js = jetstream::new(nats);
    let leeway = i64::try_from(config.common.tokens.leeway_seconds).unwrap_or(0);
    let subject =
        EventType::SessionRevoked.subject(&config.common.shared.events.nats_subject_prefix);
    // None: from the first message the stream holds. After a failure, from the last one read
    // (read again, which changes nothing).
    let mut resume: Option<chrono::DateTime<chrono::Utc>> = None;
    loop {
        match subscribe(
            &js,
            &config.common.shared.events.nats_stream,
            &subject,
            resume,
        )
        .await
        {
            Ok((mut messages, pending)) => {
                if pending == 0 {
                    revocations.replay_done();
                } else {
                    revocations.replay_started();
                }
                while let Some(message) = messages.next().await {
                    let Ok(message) = message else { break };
                    let now = clock.now().timestamp();
                    if let Err(why) = revocations.apply(&message.payload, now, leeway) {
                        tracing::warn!(subject = %message.subject, ?why, "ignored a session.revoked event that cannot be read");
                    }
                    if let Ok(info) = message.info() {
                        resume = Some(info.published);
                        if info.pending == 0 {
                            revocations.replay_done();
                        }
                    }
                }
                tracing::debug!("revocation feed ended; subscribing again");
            }
            Err(Unavailable::NoStream) => {
                if !revocations.replay_complete() {
                    tracing::warn!(
                        stream = %config.common.shared.events.nats_stream,
                        "the event stream does not exist yet, so no session was ever revoked in it: nothing to replay"
                    );
                }
                revocations.replay_done();
            }
            Err(Unavailable::Other(err)) => {
                tracing::debug!(error = %err, "revocation feed unavailable; retrying");
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

async fn subscribe(
    js: &jetstream::Context,
    stream: &str,
    subject: &str,
    resume: Option<chrono::DateTime<chrono::Utc>>,
) -> Result<(consumer::pull::Ordered, u64), Unavailable> {
    let stream = match js.get_stream(stream).await {
        Ok(stream) => stream,
        Err(err) => {
            return Err(match err.kind() {
                GetStreamErrorKind::JetStream(js_err)
                    if js_err.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND =>
                {
                    Unavailable::NoStream
                }
                _ => Unavailable::from(err),
            })
        }
    };
    let mut consumer = stream
        .create_consumer(consumer::pull::OrderedConfig {
            filter_subject: subject.to_owned(),
            deliver_policy: start_at(resume),
            ..Default::default()
        })
        .await?;
    let pending = consumer.info().await?.num_pending;
    Ok((consumer.messages().await?, pending))
}

/// Where a subscription starts: with nothing read yet, at the first message the stream holds,
/// whatever this verifier's own token lifetime (the issuer's may be longer, and each entry
/// expires by its own `expires_at`); after a failure, at the last message read.
fn start_at(resume: Option<chrono::DateTime<chrono::Utc>>) -> consumer::DeliverPolicy {
    match resume {
        None => consumer::DeliverPolicy::All,
        Some(start_time) => consumer::DeliverPolicy::ByStartTime { start_time },
    }
}

/// Drops expired entries once a minute.
pub async fn sweep_forever(revocations: Arc<Revocations>, clock: Clock) {
    loop {
        tokio::time::sleep(Duration::from_secs(60)).await;
        revocations.sweep(clock.now().timestamp());
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
        assert!(revocations.apply(&event(live, 1_000), 900, 30).is_ok());
        assert!(revocations.apply(&event(gone, 800), 900, 30).is_ok());
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
        assert!(revocations.apply(&event(before, 1_000), 900, 30).is_ok());
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
        assert!(revocations.apply(&event(after, 1_000), 900, 30).is_ok());
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
        assert_eq!(
            revocations.apply(b"{}", 0, 0),
            Err(Unreadable::NotSessionRevoked)
        );
        assert_eq!(
            revocations.apply(b"not json", 0, 0),
            Err(Unreadable::NotAnObject)
        );
        assert!(revocations.is_empty());
    }

    #[test]
    fn an_event_or_its_data_given_as_an_array_is_refused_not_read_by_position() {
        let revocations = Revocations::default();
        let session = Uuid::new_v4();
        let user = Uuid::new_v4();
        let at = "2100-01-01T00:00:00Z";
        let whole = serde_json::json!([Uuid::new_v4(), "session.revoked", at, {"session_id": session, "expires_at": at}]);
        let data =
            serde_json::json!({"event_type": "session.revoked", "data": [session, user, at]});
        let data_by_position =
            serde_json::json!({"event_type": "session.revoked", "data": [session, at]});
        for payload in [whole, data, data_by_position] {
            let result = revocations.apply(payload.to_string().as_bytes(), 0, 0);
            assert!(result.is_err(), "{payload}");
        }
        assert!(!revocations.is_revoked(session));
        assert!(revocations.is_empty());
    }

    #[test]
    fn only_session_revoked_events_with_a_session_and_an_expiry_are_recorded() {
        let revocations = Revocations::default();
        let session = Uuid::new_v4();
        let payloads = [
            serde_json::json!({"event_type": "user.registered", "data": {"session_id": session, "expires_at": "2100-01-01T00:00:00Z"}}),
            serde_json::json!({"data": {"session_id": session, "expires_at": "2100-01-01T00:00:00Z"}}),
            serde_json::json!({"event_type": "session.revoked", "data": {"session_id": session}}),
            serde_json::json!({"event_type": "session.revoked", "data": {"session_id": "not-a-uuid", "expires_at": "2100-01-01T00:00:00Z"}}),
            serde_json::json!({"event_type": "session.revoked", "data": {"session_id": session, "expires_at": 4_102_444_800_i64}}),
            serde_json::json!({"event_type": "session.revoked", "data": null}),
            serde_json::json!({"event_type": ["session.revoked"], "data": {"session_id": session, "expires_at": "2100-01-01T00:00:00Z"}}),
        ];
        for payload in payloads {
            let result = revocations.apply(payload.to_string().as_bytes(), 0, 0);
            assert!(result.is_err(), "{payload}");
        }
        assert!(revocations.is_empty());
        // Fields the contract may add later are no reason to drop a revocation.
        let later = serde_json::json!({
            "event_id": Uuid::new_v4(), "event_type": "session.revoked", "timestamp": "2026-01-01T00:00:00Z",
            "data": {"session_id": session, "user_id": Uuid::new_v4(), "expires_at": "2100-01-01T00:00:00Z", "reason": "logout", "added": 1},
            "added": true
        });
        assert_eq!(
            revocations.apply(later.to_string().as_bytes(), 0, 0),
            Ok(())
        );
        assert!(revocations.is_revoked(session));
    }

    #[test]
    fn an_entry_lives_by_its_own_expiry_whatever_this_verifier_thinks_a_token_lives() {
        let revocations = Revocations::default();
        let session = Uuid::new_v4();
        let now = 1_000_000;
        // Issued with a 72 h lifetime, revoked 25 h ago: 47 h of life left.
        let expires_at = now + 47 * 3600;
        assert_eq!(
            revocations.apply(&event(session, expires_at), now, 30),
            Ok(())
        );
        revocations.sweep(now + 24 * 3600 + 31);
        assert!(
            revocations.is_revoked(session),
            "kept past this verifier's own 24 h"
        );
        revocations.sweep(expires_at + 31);
        assert!(!revocations.is_revoked(session));
    }

    #[test]
    fn the_replay_starts_at_the_first_message_the_stream_holds_and_resumes_at_the_last_read() {
        assert!(matches!(start_at(None), consumer::DeliverPolicy::All));
        let seen = chrono::Utc::now() - chrono::TimeDelta::days(30);
        assert!(matches!(
            start_at(Some(seen)),
            consumer::DeliverPolicy::ByStartTime { start_time } if start_time == seen
        ));
    }

    #[test]
    fn the_replay_only_moves_forward() {
        let revocations = Revocations::default();
        assert_eq!(revocations.replay(), Replay::Waiting);
        revocations.replay_started();
        assert_eq!(revocations.replay(), Replay::Running);
        revocations.replay_done();
        revocations.replay_started();
        assert_eq!(
            revocations.replay(),
            Replay::Complete,
            "complete is never left"
        );
        assert!(revocations.replay_complete());
    }
}
