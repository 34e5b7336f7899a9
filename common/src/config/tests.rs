//! The shared table read as a service reads it: defaults, bounds, errors naming the variable.
use std::collections::HashMap;

use super::*;

const KEY: &str = "0123456789abcdef0123456789abcdef";

fn load(vars: &[(&str, &str)]) -> Result<CommonConfig, ConfigError> {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let lookup = move |k: &str| map.get(k).cloned();
    CommonConfig::from_env(&Env::new(&lookup), "1.2.3")
}

fn failing(vars: &[(&str, &str)]) -> Option<String> {
    load(vars).err().map(|e| e.variable)
}

#[test]
fn every_default_in_the_table_parses_and_the_defaults_follow_the_contract(
) -> Result<(), ConfigError> {
    let config = load(&[(JWT_SECRET_KEY, KEY)])?;
    let (settings, tokens) = (&config.settings, &config.tokens);
    assert_eq!(settings.service_name, "auth-service");
    assert_eq!(config.service_version, "1.2.3");
    assert_eq!(settings.max_body_bytes, 65_536);
    assert_eq!(config.body_budget.limit(), 16 << 20);
    assert_eq!(tokens.access_ttl, TimeDelta::hours(24));
    assert_eq!(tokens.refresh_ttl, TimeDelta::days(7));
    assert_eq!(tokens.leeway_seconds, 30);
    assert_eq!(settings.nats_stream, "AUTH");
    assert_eq!(settings.nats_subject_prefix, "auth");
    assert_eq!(tokens.keys.active().kid(), "default");
    assert_eq!(settings.log_format, LogFormat::Text);
    // `server::serve` without a configuration uses these too.
    assert_eq!(config.limits, ServerLimits::default());
    assert_eq!(config.limits.max_header_bytes, 32_768);
    assert_eq!(config.limits.http2_max_concurrent_streams, 100);
    assert!(config.tls.is_none() && settings.allowed_origins.is_empty());
    Ok(())
}

#[test]
fn each_bad_value_names_its_variable_and_not_its_value() {
    let keys = format!("a={KEY},b={KEY}");
    let cases: &[&[(&str, &str)]] = &[
        &[(JWT_SECRET_KEY, "short")],
        &[(JWT_KEYS, "a=tooshort")],
        &[(JWT_KEYS, "a-without-equals")],
        &[(JWT_KEYS, &keys), (JWT_ACTIVE_KID, "c")],
    ];
    assert_eq!(failing(&[]).as_deref(), Some(JWT_SECRET_KEY));
    for vars in cases {
        assert_eq!(
            failing(vars).as_deref(),
            vars.last().map(|(name, _)| *name),
            "{vars:?}"
        );
    }
    let with_key = |name, value| failing(&[(JWT_SECRET_KEY, KEY), (name, value)]);
    for (name, value) in [
        (JWT_ALGORITHM, "RS256"),
        (JWT_LEEWAY_SECONDS, "soon"),
        (JWT_LEEWAY_SECONDS, "3601"),
        (JWT_ACCESS_TOKEN_EXPIRE_HOURS, "0"),
        (JWT_ACCESS_TOKEN_EXPIRE_HOURS, "8761"),
        (JWT_ACCESS_TOKEN_EXPIRE_HOURS, "18446744073709551616"),
        (JWT_REFRESH_TOKEN_EXPIRE_DAYS, "3651"),
        (JWT_REFRESH_TOKEN_EXPIRE_DAYS, "213503982334602"),
        (ENVIRONMENT, "staging"),
        (LOG_FORMAT, "yaml"),
        (LOG_LEVEL, "info,["),
        (SHUTDOWN_GRACE_SECONDS, "3601"),
        (NATS_URL, "http://nats:4222"),
        (NATS_URL, "nats://nats:port"),
        (NATS_URL, "nats://a:4222,nats://b:4222"),
        (NATS_URL, "nats://"),
        (NATS_URL, "nats://na ts"),
        (HEADER_READ_TIMEOUT_SECONDS, "61"),
        (BODY_READ_TIMEOUT_SECONDS, "0"),
        (KEEP_ALIVE_TIMEOUT_SECONDS, "3601"),
        (MAX_CONNECTIONS, "many"),
        (MAX_HEADER_BYTES, "8191"),
        (MAX_HEADER_BYTES, "99999999"),
        (MAX_HEADERS, "0"),
        (HTTP2_MAX_CONCURRENT_STREAMS, "0"),
        (TLS_HANDSHAKE_TIMEOUT_SECONDS, "1.5"),
        (MAX_BODY_BYTES, "63"),
        (MAX_BODY_BYTES_IN_FLIGHT, "65535"),
        (MAX_BODY_BYTES_IN_FLIGHT, "-1"),
        (TLS_CERT_FILE, "cert.pem"),
        (ALLOWED_ORIGINS, "*"),
    ] {
        // A certificate without its key names the key.
        let expected = if name == TLS_CERT_FILE {
            TLS_KEY_FILE
        } else {
            name
        };
        let failed = with_key(name, value);
        assert_eq!(failed.as_deref(), Some(expected), "{name}={value}");
    }
    for (name, value, secret) in [
        (NATS_URL, "http://user:hunter2@nats:4222", "hunter2"),
        (JWT_SECRET_KEY, "hunter2-secret", "hunter2"),
        (JWT_ACCESS_TOKEN_EXPIRE_HOURS, "99999", "99999"),
    ] {
        let message = load(&[(JWT_SECRET_KEY, KEY), (name, value)])
            .err()
            .map(|e| e.to_string());
        assert!(
            message.is_some_and(|m| !m.contains(secret) && m.contains(name)),
            "{name}"
        );
    }
}

#[test]
fn values_within_their_bounds_are_read() -> Result<(), ConfigError> {
    for nats in [
        "nats://events:s3cret@nats:4222",
        "tls://nats.internal:4222",
        "ws://nats:8080",
        "nats",
        "nats:4223",
    ] {
        assert_eq!(
            load(&[(JWT_SECRET_KEY, KEY), (NATS_URL, nats)])?
                .settings
                .nats_url,
            nats
        );
    }
    let keys = format!("old={KEY},new={KEY}");
    let config = load(&[
        (JWT_SECRET_KEY, KEY),
        (JWT_KEYS, &keys),
        (JWT_ACTIVE_KID, "new"),
        (JWT_ACCESS_TOKEN_EXPIRE_HOURS, "8760"),
        (JWT_REFRESH_TOKEN_EXPIRE_DAYS, "3650"),
        (MAX_BODY_BYTES, "33554432"),
        (TLS_CERT_FILE, "c.pem"),
        (TLS_KEY_FILE, "k.pem"),
    ])?;
    assert_eq!(config.tokens.keys.active().kid(), "new");
    assert!(config.tokens.keys.find("old").is_some());
    assert_eq!(config.tokens.access_ttl, TimeDelta::days(365));
    assert_eq!(config.tokens.refresh_ttl, TimeDelta::days(3650));
    assert_eq!(config.body_budget.limit(), 32 << 20);
    assert_eq!(config.tls.map(|t| t.key_file), Some(PathBuf::from("k.pem")));
    Ok(())
}
