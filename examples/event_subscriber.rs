//! A consumer of the auth events: prints every event and, for `user.registered` and
//! `user.verification_requested`, the verification link a mailer would send; for
//! `user.password_reset_requested`, the reset link.
//!
//! ```sh
//! cargo run --example event_subscriber
//! ```
//!
//! Settings (environment): `NATS_URL` (nats://localhost:4222), `NATS_STREAM` (AUTH),
//! `NATS_SUBJECT_PREFIX` (auth), `CONSUMER_NAME` (example-mailer), `VERIFY_URL`
//! (http://localhost:3000/verify-email), `RESET_URL` (http://localhost:3000/reset-password),
//! and the services' NATS credential and TLS variables (`NATS_CREDS_FILE`, `NATS_USER`, ...,
//! `NATS_TLS_CA_FILE`; docs/CONFIGURATION.md), read and checked the way the services do.
//!
//! Copy this to build your own consumer. What it shows:
//! - a *durable* consumer: restart it and it resumes where it stopped;
//! - explicit acks after the work is done: an event whose handling fails is redelivered;
//! - delivery is at least once, so handle each `event_id` idempotently (here: remember the
//!   ids seen; a real mailer would record them with the work it did);
//! - it outlives NATS trouble: a stream error (a missed heartbeat while NATS restarts, the
//!   consumer deleted, the stream gone) is logged and the consumer is opened again, waiting
//!   longer after each failure (1 s doubling to 30 s); nothing unacked is lost, it comes again;
//! - it continues the trace of the request that caused each event: the handling runs in a span
//!   whose parent comes from the event's `traceparent` header
//!   (`common::telemetry::trace_context::continue_from_nats`), exported over OTLP when
//!   `OTEL_EXPORTER_OTLP_ENDPOINT` is set (the same `OTEL_*` variables as the services), and the
//!   trace id is printed.

use std::collections::HashSet;
use std::time::Duration;

use async_nats::jetstream::{self, consumer};
use common::config::TraceSettings;
use common::nats::{connect_options, NatsHealth, NatsSettings};
use common::settings::{with_secret_files, Env};
use common::telemetry::trace_context::{continue_from_nats, TraceContext};
use futures::StreamExt;
use serde_json::Value;

fn setting(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

struct Settings {
    stream: String,
    prefix: String,
    consumer: String,
    verify_url: String,
    reset_url: String,
}

#[tokio::main]
async fn main() -> Result<(), async_nats::Error> {
    let url = setting("NATS_URL", "nats://localhost:4222");
    let settings = Settings {
        stream: setting("NATS_STREAM", "AUTH"),
        prefix: setting("NATS_SUBJECT_PREFIX", "auth"),
        consumer: setting("CONSUMER_NAME", "example-mailer"),
        verify_url: setting("VERIFY_URL", "http://localhost:3000/verify-email"),
        reset_url: setting("RESET_URL", "http://localhost:3000/reset-password"),
    };

    // The services' own settings: the same credentials and TLS for NATS, checked here, and
    // the span export, set up only when an OTLP endpoint is set (without one, nothing is logged).
    let lookup = with_secret_files(
        |name: &str| std::env::var(name).ok(),
        common::config::Shared::TABLES,
    )?;
    let env = Env::new(&lookup);
    let traces = TraceSettings::read(&env)?.export()?;
    let _traces = match &traces {
        Some(traces) => Some(common::telemetry::init_with_traces(
            "info",
            common::telemetry::LogFormat::Text,
            Some(traces),
            "event-subscriber",
        )?),
        None => None,
    };

    // Keeps trying when NATS is not up yet, and reconnects by itself when it goes away.
    let nats = NatsSettings::from_env(&env, &url)?;
    let client = connect_options(&nats, &settings.consumer, &NatsHealth::default())
        .connect(url.as_str())
        .await?;
    let js = jetstream::new(client);
    let mut seen = HashSet::new();
    let mut delay = RETRY_FIRST;
    loop {
        match consume(&js, &settings, &mut seen, &mut delay).await {
            Ok(()) => eprintln!("the consumer's message stream ended"),
            Err(err) => eprintln!("consuming stopped: {err}"),
        }
        eprintln!("opening the consumer again in {} s", delay.as_secs());
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(RETRY_MAX);
    }
}

const RETRY_FIRST: Duration = Duration::from_secs(1);
const RETRY_MAX: Duration = Duration::from_secs(30);

/// Opens the durable consumer and handles messages until its stream fails or ends. `delay` is
/// the wait before the next attempt; a message that arrives resets it.
async fn consume(
    js: &jetstream::Context,
    settings: &Settings,
    seen: &mut HashSet<String>,
    delay: &mut Duration,
) -> Result<(), async_nats::Error> {
    // The issuer creates the stream at start; wait for it rather than creating it here.
    let stream = js.get_stream(&settings.stream).await?;
    // Get or create: after NATS came back with an empty store, the consumer is made again.
    let consumer = stream
        .get_or_create_consumer(
            &settings.consumer,
            consumer::pull::Config {
                durable_name: Some(settings.consumer.clone()),
                filter_subject: format!("{}.>", settings.prefix),
                ack_policy: consumer::AckPolicy::Explicit,
                ..Default::default()
            },
        )
        .await?;
    let mut messages = consumer.messages().await?;
    println!(
        "consuming {}.> from stream {} as {}",
        settings.prefix, settings.stream, settings.consumer
    );
    while let Some(message) = messages.next().await {
        // A missed heartbeat (NATS restarting), a deleted consumer: open it again.
        let message = message?;
        *delay = RETRY_FIRST;
        let event: Value = serde_json::from_slice(&message.payload).unwrap_or(Value::Null);
        let event_id = event["event_id"].as_str().unwrap_or_default().to_owned();
        // The request that caused the event is this span's parent.
        let span = tracing::info_span!("handle event", event_id = %event_id);
        continue_from_nats(&span, message.headers.as_ref());
        let trace = message
            .headers
            .as_ref()
            .and_then(TraceContext::from_nats_headers);
        if let Some(trace_id) = trace.as_ref().and_then(TraceContext::trace_id) {
            println!("{event_id} continues trace {trace_id}");
        }
        if seen.contains(&event_id) {
            println!("duplicate {event_id} ignored");
        } else {
            span.in_scope(|| handle(&event, settings));
            seen.insert(event_id);
        }
        // Ack only after handling: if we crash before this line the event comes again. A
        // failed ack means the same: the event is redelivered after the ack wait, and skipped
        // as a duplicate.
        if let Err(err) = message.ack().await {
            eprintln!("ack failed ({err}); the event will be delivered again");
        }
    }
    Ok(())
}

fn handle(event: &Value, settings: &Settings) {
    let kind = event["event_type"].as_str().unwrap_or("?");
    println!(
        "{} {kind} {}",
        event["timestamp"].as_str().unwrap_or(""),
        event["data"]
    );
    if matches!(kind, "user.registered" | "user.verification_requested") {
        let email = event["data"]["email"].as_str().unwrap_or("");
        let token = event["data"]["email_verification_token"]
            .as_str()
            .unwrap_or("");
        // The token is base64url: safe in a query string as it is.
        let verify_url = &settings.verify_url;
        println!("  mail to {email}: confirm your address at {verify_url}?token={token}");
    }
    if kind == "user.password_reset_requested" {
        let email = event["data"]["email"].as_str().unwrap_or("");
        let token = event["data"]["password_reset_token"].as_str().unwrap_or("");
        let expires_at = event["data"]["expires_at"].as_str().unwrap_or("");
        let reset_url = &settings.reset_url;
        println!(
            "  mail to {email}: choose a new password at {reset_url}?token={token} (until {expires_at})"
        );
    }
}
