//! The feed: a durable JetStream consumer of the three email events, one message at a time.
//!
//! A message is acknowledged only once its fate is settled: the SMTP server accepted the email,
//! or no email can ever be sent for it (a 5xx for the message, an event that cannot be read, a
//! link that has expired). Anything else (the server unreachable or slow, a 4xx, a refused
//! login) gives the message back with a delay that doubles per attempt up to
//! [`MAX_RETRY_DELAY`]; it is tried again for as long as it takes, so nothing is lost.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::consumer::{pull, AckPolicy, DeliverPolicy, PullConsumer};
use async_nats::jetstream::{self, AckKind, Message};
use common::events::{
    Event, EventType, PasswordResetRequested, UserRegistered, VerificationRequested,
};
use common::telemetry::trace_context::continue_from_nats;
use futures_util::StreamExt;
use lettre::message::{Mailbox, MultiPart};
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::sync::watch;
use tracing::field::Empty;
use tracing::Instrument;
use uuid::Uuid;

use crate::config::MailerConfig;
use crate::smtp::{self, Delivery};
use crate::state::AppState;
use crate::templates::{self, Content};

/// The durable consumer's name on the stream.
pub const CONSUMER: &str = "mailer";

/// The events that become emails.
pub const EMAIL_EVENTS: [EventType; 3] = [
    EventType::UserRegistered,
    EventType::VerificationRequested,
    EventType::PasswordResetRequested,
];

/// How long the server waits for an ack before delivering a message again; well over
/// [`smtp::SEND_TIMEOUT`].
pub const ACK_WAIT: Duration = Duration::from_secs(60);

/// The first retry comes after this; each later one after twice the one before.
pub const FIRST_RETRY_DELAY: Duration = Duration::from_secs(1);

/// No retry waits longer than this.
pub const MAX_RETRY_DELAY: Duration = Duration::from_secs(60);

/// The wait before setting the consumer up again after a failure.
const RESUBSCRIBE_DELAY: Duration = Duration::from_secs(1);

/// The wait before the `delivered`-th attempt's retry (1 for the first attempt).
pub fn retry_delay(delivered: i64) -> Duration {
    let doublings = u32::try_from(delivered.saturating_sub(1).clamp(0, 16)).unwrap_or(16);
    FIRST_RETRY_DELAY
        .saturating_mul(1 << doublings)
        .min(MAX_RETRY_DELAY)
}

/// Follows the stream until `stop` turns true, setting the consumer up again after any failure
/// (NATS away, the stream not created yet or deleted). A stop never interrupts an email being
/// sent: it takes effect between messages, so the one in hand is sent and acknowledged first.
pub async fn follow(state: Arc<AppState>, mut stop: watch::Receiver<bool>) {
    let js = jetstream::new(state.nats.clone());
    loop {
        let subscribed = tokio::select! {
            biased;
            _ = stop.wait_for(|stopped| *stopped) => return,
            subscribed = subscribe(&js, &state.config) => subscribed,
        };
        match subscribed {
            Ok(consumer) => {
                state.set_consumer(Some(consumer.clone()));
                tracing::info!(
                    stream = %state.config.shared.events.nats_stream,
                    consumer = CONSUMER,
                    "following the email events"
                );
                let consumed = consume(&state, &consumer, &mut stop).await;
                state.set_consumer(None);
                if let Err(err) = consumed {
                    tracing::warn!(error = %err, "the email feed stopped; setting it up again");
                }
            }
            Err(err) => {
                tracing::warn!(
                    stream = %state.config.shared.events.nats_stream,
                    error = %err,
                    "cannot set up the email consumer yet"
                );
            }
        }
        tokio::select! {
            biased;
            _ = stop.wait_for(|stopped| *stopped) => return,
            () = tokio::time::sleep(RESUBSCRIBE_DELAY) => {}
        }
    }
}

/// The durable consumer, created on first use. It starts at the stream's first message, so
/// events published before the mailer ever ran are mailed too (see
/// `VERIFICATION_EMAIL_MAX_AGE_HOURS` for how old ones are skipped).
async fn subscribe(
    js: &jetstream::Context,
    config: &MailerConfig,
) -> Result<PullConsumer, async_nats::Error> {
    let stream = js.get_stream(&config.shared.events.nats_stream).await?;
    let consumer = stream
        .get_or_create_consumer(
            CONSUMER,
            pull::Config {
                durable_name: Some(CONSUMER.to_owned()),
                description: Some("verification and password-reset emails".to_owned()),
                filter_subjects: EMAIL_EVENTS
                    .iter()
                    .map(|event| event.subject(&config.shared.events.nats_subject_prefix))
                    .collect(),
                ack_policy: AckPolicy::Explicit,
                deliver_policy: DeliverPolicy::All,
                ack_wait: ACK_WAIT,
                max_deliver: -1,
                ..Default::default()
            },
        )
        .await?;
    Ok(consumer)
}

/// Handles messages one by one until the subscription fails or `stop` turns true.
async fn consume(
    state: &AppState,
    consumer: &PullConsumer,
    stop: &mut watch::Receiver<bool>,
) -> Result<(), async_nats::Error> {
    // One message per pull: none waits in a local buffer while its ack timer runs.
    let mut messages = consumer
        .stream()
        .max_messages_per_batch(1)
        .messages()
        .await?;
    loop {
        let next = tokio::select! {
            biased;
            _ = stop.wait_for(|stopped| *stopped) => return Ok(()),
            next = messages.next() => next,
        };
        let Some(message) = next else {
            return Ok(());
        };
        handle(state, &message?).await;
    }
}

/// An email ready to go, or why there is none.
enum Plan {
    Send(Box<lettre::Message>),
    /// Settled without an email; counted as skipped.
    Skip(&'static str),
    /// No email can be made from it; counted as failed.
    Drop(&'static str),
}

/// What the log line of an event names: never the token, the link or the address.
#[derive(Default)]
struct Described {
    event_id: Option<Uuid>,
    event_type: Option<&'static str>,
    user_id: Option<Uuid>,
}

/// Settles one message inside its span, which continues the trace of the request that caused
/// the event when spans are exported and the event's headers carry one. The span's fields name
/// the event and what became of it, never a token, a link or an address.
async fn handle(state: &AppState, message: &Message) {
    let span = tracing::info_span!(
        "email event",
        event_type = Empty,
        event_id = Empty,
        attempt = Empty,
        outcome = Empty,
    );
    continue_from_nats(&span, message.headers.as_ref());
    settle(state, message, &span).instrument(span.clone()).await;
}

async fn settle(state: &AppState, message: &Message, span: &tracing::Span) {
    let info = message.info().ok();
    let delivered = info.as_ref().map_or(1, |info| info.delivered);
    if let Some(info) = &info {
        state
            .metrics
            .pending
            .set(i64::try_from(info.pending).unwrap_or(i64::MAX));
    }
    let now = chrono::Utc::now();
    let (described, plan) = plan(&state.config, &message.payload, now);
    let Described {
        event_id,
        event_type,
        user_id,
    } = described;
    let event_id = event_id.map(|id| id.to_string()).unwrap_or_default();
    let user_id = user_id.map(|id| id.to_string()).unwrap_or_default();
    let event_type = event_type.unwrap_or("unknown");
    span.record("event_type", event_type)
        .record("event_id", event_id.as_str())
        .record("attempt", delivered);
    let email = match plan {
        Plan::Send(email) => email,
        Plan::Skip(reason) => {
            span.record("outcome", "skipped");
            state.metrics.skipped.inc();
            tracing::info!(%event_id, event_type, %user_id, outcome = "skipped", reason, "email event settled");
            acknowledge(message, &event_id).await;
            return;
        }
        Plan::Drop(reason) => {
            span.record("outcome", "dropped");
            state.metrics.failed.inc();
            tracing::warn!(%event_id, event_type, %user_id, subject = %message.subject, outcome = "dropped", reason, "email event settled");
            acknowledge(message, &event_id).await;
            return;
        }
    };
    let delivery = smtp::send(&state.smtp, *email)
        .instrument(tracing::info_span!("smtp.send"))
        .await;
    match delivery {
        Delivery::Accepted => {
            span.record("outcome", "sent");
            acknowledge(message, &event_id).await;
            state.metrics.sent.inc();
            tracing::info!(%event_id, event_type, %user_id, attempt = delivered, outcome = "sent", "email event settled");
        }
        Delivery::Rejected(reason) => {
            span.record("outcome", "rejected");
            acknowledge(message, &event_id).await;
            state.metrics.failed.inc();
            tracing::warn!(%event_id, event_type, %user_id, attempt = delivered, outcome = "rejected", %reason, "email event settled");
        }
        Delivery::Retry(reason) => {
            span.record("outcome", "retry");
            let delay = retry_delay(delivered);
            state.metrics.retried.inc();
            tracing::warn!(%event_id, event_type, %user_id, attempt = delivered, retry_in_ms = delay.as_millis() as u64, outcome = "retry", %reason, "email not sent; will retry");
            if let Err(err) = message.ack_with(AckKind::Nak(Some(delay))).await {
                // The ack wait brings it back anyway.
                tracing::warn!(%event_id, error = %err, "cannot give the event back; it returns after the ack wait");
            }
        }
    }
}

/// Acknowledges and waits for the server to confirm, so a settled event is not delivered again.
async fn acknowledge(message: &Message, event_id: &str) {
    if let Err(err) = message.double_ack().await {
        tracing::warn!(%event_id, error = %err, "the ack was not confirmed; the event may be handled again");
    }
}

/// Reads one event and decides what to send.
fn plan(
    config: &MailerConfig,
    payload: &[u8],
    now: chrono::DateTime<chrono::Utc>,
) -> (Described, Plan) {
    let mut described = Described::default();
    let event: Event = match serde_json::from_slice::<Value>(payload) {
        Ok(value @ Value::Object(_)) => match serde_json::from_value(value) {
            Ok(event) => event,
            Err(_) => return (described, Plan::Drop("the event envelope cannot be read")),
        },
        _ => return (described, Plan::Drop("the event is not a JSON object")),
    };
    described.event_id = Some(event.event_id);
    let Some(kind) = EMAIL_EVENTS
        .into_iter()
        .find(|kind| kind.as_str() == event.event_type)
    else {
        return (described, Plan::Drop("not an email event"));
    };
    described.event_type = Some(kind.as_str());
    let content = match kind {
        EventType::PasswordResetRequested => {
            let Some(data) = data::<PasswordResetRequested>(event.data) else {
                return (described, Plan::Drop("the event data cannot be read"));
            };
            described.user_id = Some(data.user_id);
            if data.expires_at <= now {
                return (described, Plan::Skip("the reset link has expired"));
            }
            let content = templates::password_reset(
                &config.reset_password_url,
                &data.email,
                &data.password_reset_token,
                data.expires_at,
            );
            (data.email, content)
        }
        _ => {
            // user.registered and user.verification_requested carry the same fields.
            let data = if kind == EventType::UserRegistered {
                data::<UserRegistered>(event.data)
                    .map(|d| (d.user_id, d.email, d.email_verification_token))
            } else {
                data::<VerificationRequested>(event.data)
                    .map(|d| (d.user_id, d.email, d.email_verification_token))
            };
            let Some((user_id, email, token)) = data else {
                return (described, Plan::Drop("the event data cannot be read"));
            };
            described.user_id = Some(user_id);
            if now - event.timestamp > config.verification_max_age {
                return (
                    described,
                    Plan::Skip("older than VERIFICATION_EMAIL_MAX_AGE_HOURS"),
                );
            }
            let content = templates::verification(&config.verify_email_url, &email, &token);
            (email, content)
        }
    };
    let (to, content) = content;
    match message(&config.from, &to, content) {
        Ok(email) => (described, Plan::Send(Box::new(email))),
        Err(reason) => (described, Plan::Drop(reason)),
    }
}

/// `data` as `T`, when it is a JSON object of that shape.
fn data<T: DeserializeOwned>(data: Value) -> Option<T> {
    match data {
        Value::Object(_) => serde_json::from_value(data).ok(),
        _ => None,
    }
}

/// The multipart/alternative message (plain text, then HTML) from `from` to `to`.
fn message(from: &Mailbox, to: &str, content: Content) -> Result<lettre::Message, &'static str> {
    let to: lettre::Address = to
        .parse()
        .map_err(|_| "the recipient address cannot be used")?;
    lettre::Message::builder()
        .from(from.clone())
        .to(Mailbox::new(None, to))
        .subject(content.subject)
        .multipart(MultiPart::alternative_plain_html(
            content.text,
            content.html,
        ))
        .map_err(|_| "the message cannot be built")
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use chrono::{TimeDelta, Utc};
    use common::events::Payload;
    use serde_json::json;

    use super::*;

    fn config() -> MailerConfig {
        let env: HashMap<&str, &str> = [
            ("SMTP_URL", "smtp://127.0.0.1:2525"),
            ("MAIL_FROM", "no-reply@example.com"),
            ("VERIFY_EMAIL_URL", "https://app.example/v?token={token}"),
            ("RESET_PASSWORD_URL", "https://app.example/r#{token}"),
        ]
        .into_iter()
        .collect();
        let lookup = move |name: &str| env.get(name).map(|v| (*v).to_owned());
        MailerConfig::from_lookup(&lookup).unwrap_or_else(|err| panic!("{err}"))
    }

    fn payload<P: Payload>(at: chrono::DateTime<Utc>, data: &P) -> Vec<u8> {
        Event::of(at, data).to_json().to_string().into_bytes()
    }

    fn outcome(plan: &Plan) -> String {
        match plan {
            Plan::Send(email) => {
                let to: Vec<String> = email
                    .envelope()
                    .to()
                    .iter()
                    .map(|a| a.to_string())
                    .collect();
                format!("send to {}", to.join(","))
            }
            Plan::Skip(reason) => format!("skip: {reason}"),
            Plan::Drop(reason) => format!("drop: {reason}"),
        }
    }

    #[test]
    fn each_event_is_planned_as_an_email_a_skip_or_a_drop() {
        let config = config();
        let now = Utc::now();
        let user_id = Uuid::new_v4();
        let registered = UserRegistered {
            user_id,
            email: "ada@example.com".into(),
            email_verification_token: "tok".into(),
        };
        let reset = |expires_at| PasswordResetRequested {
            user_id,
            email: "ada@example.com".into(),
            password_reset_token: "tok".into(),
            expires_at,
        };
        let bad_address = UserRegistered {
            email: "not an address".into(),
            ..registered.clone()
        };
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (payload(now, &registered), "send to ada@example.com"),
            (
                payload(now, &reset(now + TimeDelta::minutes(30))),
                "send to ada@example.com",
            ),
            (
                payload(now - TimeDelta::hours(25), &registered),
                "skip: older than VERIFICATION_EMAIL_MAX_AGE_HOURS",
            ),
            (
                payload(now, &reset(now - TimeDelta::seconds(1))),
                "skip: the reset link has expired",
            ),
            (
                payload(now, &bad_address),
                "drop: the recipient address cannot be used",
            ),
            (b"not json".to_vec(), "drop: the event is not a JSON object"),
            (b"[1, 2]".to_vec(), "drop: the event is not a JSON object"),
            (
                json!({"event_id": Uuid::new_v4(), "event_type": "user.registered",
                       "timestamp": now, "data": ["a", "b", "c"]})
                .to_string()
                .into_bytes(),
                "drop: the event data cannot be read",
            ),
            (
                json!({"event_id": Uuid::new_v4(), "event_type": "user.logged_in",
                       "timestamp": now, "data": {}})
                .to_string()
                .into_bytes(),
                "drop: not an email event",
            ),
        ];
        for (bytes, expected) in cases {
            let (described, plan) = plan(&config, &bytes, now);
            assert_eq!(
                outcome(&plan),
                expected,
                "{}",
                String::from_utf8_lossy(&bytes)
            );
            if expected.starts_with("send") || expected.starts_with("skip") {
                assert_eq!(described.user_id, Some(user_id));
            }
        }
    }

    #[test]
    fn retries_back_off_by_doubling_up_to_the_bound() {
        let delays: Vec<u64> = [0, 1, 2, 3, 4, 6, 7, 8, 1000, i64::MAX]
            .iter()
            .map(|n| retry_delay(*n).as_secs())
            .collect();
        assert_eq!(delays, [1, 1, 2, 4, 8, 32, 60, 60, 60, 60]);
    }
}
