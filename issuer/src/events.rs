//! NATS JetStream: the connection (never awaited by a request) and the stream the relay
//! publishes to.

use std::time::Duration;

use async_nats::jetstream::{self, stream};

use crate::config::IssuerConfig;

/// The stream we create: subjects `<prefix>.>`, file storage, events kept at least as long as a
/// refresh token lives, and re-sent events dropped within the duplicate window.
pub fn stream_config(config: &IssuerConfig) -> stream::Config {
    stream::Config {
        name: config.common.shared.events.nats_stream.clone(),
        subjects: vec![subject_filter(config)],
        storage: stream::StorageType::File,
        max_age: retention(config),
        duplicate_window: config.settings.nats_duplicate_window,
        ..Default::default()
    }
}

/// `current` with our settings applied and everything else left as it is: replicas, limits,
/// placement and the rest belong to whoever runs NATS. Our subject filter is added if missing
/// (other subjects stay), storage is file, a `max_age` shorter than ours is raised (a longer
/// one, or 0 for no limit, is kept), and the duplicate window is ours.
pub fn with_our_settings(mut current: stream::Config, config: &IssuerConfig) -> stream::Config {
    let subject = subject_filter(config);
    if !current.subjects.contains(&subject) {
        current.subjects.push(subject);
    }
    current.storage = stream::StorageType::File;
    let retention = retention(config);
    if !current.max_age.is_zero() && current.max_age < retention {
        current.max_age = retention;
    }
    current.duplicate_window = config.settings.nats_duplicate_window;
    current
}

fn subject_filter(config: &IssuerConfig) -> String {
    format!("{}.>", config.common.shared.events.nats_subject_prefix)
}

/// Revocations must outlive every token they can name.
fn retention(config: &IssuerConfig) -> Duration {
    let tokens = &config.common.tokens;
    // Both lifetimes are positive and bounded (the configuration checks them).
    tokens
        .refresh_ttl
        .max(tokens.access_ttl)
        .to_std()
        .unwrap_or(Duration::from_secs(7 * 86_400))
}

/// Creates the stream, or brings an existing one to our settings without touching the others
/// (an update is sent only when one of ours differs). A stream created with memory storage
/// cannot be changed to file: the server refuses, and the error says so.
pub async fn ensure_stream(
    js: &jetstream::Context,
    config: &IssuerConfig,
) -> Result<(), anyhow::Error> {
    let stream = js.get_or_create_stream(stream_config(config)).await?;
    let current = stream.cached_info().config.clone();
    let wanted = with_our_settings(current.clone(), config);
    if wanted != current {
        js.update_stream(wanted).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn config() -> IssuerConfig {
        let env = HashMap::from([
            ("JWT_SECRET_KEY", "0123456789abcdef0123456789abcdef"),
            ("NATS_STREAM", "AUTH"),
            ("NATS_SUBJECT_PREFIX", "auth"),
            ("NATS_DUPLICATE_WINDOW_SECONDS", "120"),
        ]);
        IssuerConfig::from_lookup(&|name| env.get(name).map(|v| (*v).to_owned()))
            .unwrap_or_else(|err| panic!("test config: {err}"))
    }

    const DAY: Duration = Duration::from_secs(86_400);

    #[test]
    fn an_operators_settings_survive_and_ours_are_applied() {
        let tuned = stream::Config {
            name: "AUTH".into(),
            subjects: vec!["audit.>".into()],
            storage: stream::StorageType::File,
            num_replicas: 3,
            max_bytes: 10 << 30,
            max_messages: 1_000_000,
            max_age: DAY,
            duplicate_window: Duration::from_secs(30),
            description: Some("tuned".into()),
            ..Default::default()
        };

        let updated = with_our_settings(tuned.clone(), &config());

        assert_eq!(updated.subjects, ["audit.>", "auth.>"]);
        assert_eq!(
            updated.max_age,
            7 * DAY,
            "raised to the refresh-token lifetime"
        );
        assert_eq!(updated.duplicate_window, Duration::from_secs(120));
        assert_eq!(
            stream::Config {
                subjects: tuned.subjects.clone(),
                max_age: tuned.max_age,
                duplicate_window: tuned.duplicate_window,
                ..updated
            },
            tuned,
            "nothing else changed"
        );
    }

    #[test]
    fn a_longer_or_unlimited_retention_is_kept_and_a_stream_already_ours_is_unchanged() {
        let config = config();
        for max_age in [30 * DAY, Duration::ZERO] {
            let current = stream::Config {
                max_age,
                ..stream_config(&config)
            };
            assert_eq!(with_our_settings(current.clone(), &config), current);
        }
        let memory = stream::Config {
            storage: stream::StorageType::Memory,
            ..stream_config(&config)
        };
        assert_eq!(with_our_settings(memory, &config), stream_config(&config));
    }
}
