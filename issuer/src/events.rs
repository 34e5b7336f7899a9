//! NATS JetStream: the connection (never awaited by a request) and the stream the relay
//! publishes to.

use std::time::Duration;

use anyhow::Context as _;
use async_nats::jetstream::{self, stream};

use crate::config::IssuerConfig;

/// Connects in the background: the issuer starts and serves with NATS down.
pub async fn connect(config: &IssuerConfig) -> Result<async_nats::Client, anyhow::Error> {
    let client = async_nats::ConnectOptions::new()
        .name(format!("{} issuer", config.common.service_name))
        .retry_on_initial_connect()
        .connection_timeout(Duration::from_secs(2))
        .event_callback(|event| async move {
            tracing::info!(%event, "nats connection event");
        })
        .connect(config.common.nats_url.as_str())
        .await?;
    Ok(client)
}

/// The stream's settings: subjects `<prefix>.>`, file storage, events kept at least as long
/// as a refresh token lives, and re-sent events dropped within the duplicate window.
pub fn stream_config(config: &IssuerConfig) -> Result<stream::Config, anyhow::Error> {
    let tokens = &config.common.tokens;
    let max_age = tokens
        .refresh_ttl
        .max(tokens.access_ttl)
        .to_std()
        .context("token lifetimes must be positive")?;
    Ok(stream::Config {
        name: config.common.nats_stream.clone(),
        subjects: vec![format!("{}.>", config.common.nats_subject_prefix)],
        storage: stream::StorageType::File,
        max_age,
        duplicate_window: config.nats_duplicate_window,
        ..Default::default()
    })
}

/// Creates the stream, or brings an existing one to our settings.
pub async fn ensure_stream(
    js: &jetstream::Context,
    config: &IssuerConfig,
) -> Result<(), anyhow::Error> {
    let wanted = stream_config(config)?;
    js.get_or_create_stream(wanted.clone()).await?;
    js.update_stream(wanted).await?;
    Ok(())
}
