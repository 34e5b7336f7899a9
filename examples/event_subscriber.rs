//! A consumer of the auth events: prints every event and, for `user.registered` and
//! `user.verification_requested`, the verification link a mailer would send.
//!
//! ```sh
//! cargo run --example event_subscriber
//! ```
//!
//! Settings (environment): `NATS_URL` (nats://localhost:4222), `NATS_STREAM` (AUTH),
//! `NATS_SUBJECT_PREFIX` (auth), `CONSUMER_NAME` (example-mailer), `VERIFY_URL`
//! (http://localhost:3000/verify-email).
//!
//! Copy this to build your own consumer. What it shows:
//! - a *durable* consumer: restart it and it resumes where it stopped;
//! - explicit acks after the work is done: an event whose handling fails is redelivered;
//! - delivery is at least once, so handle each `event_id` idempotently (here: remember the
//!   ids seen; a real mailer would record them with the work it did).

use std::collections::HashSet;
use std::time::Duration;

use async_nats::jetstream::{self, consumer};
use futures::StreamExt;
use serde_json::Value;

fn setting(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

#[tokio::main]
async fn main() -> Result<(), async_nats::Error> {
    let url = setting("NATS_URL", "nats://localhost:4222");
    let stream_name = setting("NATS_STREAM", "AUTH");
    let prefix = setting("NATS_SUBJECT_PREFIX", "auth");
    let consumer_name = setting("CONSUMER_NAME", "example-mailer");
    let verify_url = setting("VERIFY_URL", "http://localhost:3000/verify-email");

    let client = async_nats::connect(url.as_str()).await?;
    let js = jetstream::new(client);
    // The issuer creates the stream at start; wait for it rather than creating it here.
    let stream = loop {
        match js.get_stream(&stream_name).await {
            Ok(stream) => break stream,
            Err(err) => {
                eprintln!("waiting for stream {stream_name}: {err}");
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        }
    };
    let consumer = stream
        .get_or_create_consumer(
            &consumer_name,
            consumer::pull::Config {
                durable_name: Some(consumer_name.clone()),
                filter_subject: format!("{prefix}.>"),
                ack_policy: consumer::AckPolicy::Explicit,
                ..Default::default()
            },
        )
        .await?;
    println!("consuming {prefix}.> from stream {stream_name} as {consumer_name}");

    let mut seen = HashSet::new();
    let mut messages = consumer.messages().await?;
    while let Some(message) = messages.next().await {
        let message = message?;
        let event: Value = serde_json::from_slice(&message.payload).unwrap_or(Value::Null);
        let event_id = event["event_id"].as_str().unwrap_or_default().to_owned();
        if seen.insert(event_id.clone()) {
            handle(&event, &verify_url);
        } else {
            println!("duplicate {event_id} ignored");
        }
        // Ack only after handling: if we crash before this line the event comes again.
        message.ack().await?;
    }
    Ok(())
}

fn handle(event: &Value, verify_url: &str) {
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
        println!("  mail to {email}: confirm your address at {verify_url}?token={token}");
    }
}
