//! The shared tables read as a service reads them: defaults, bounds, errors naming the variable.
use std::collections::HashMap;

use super::*;

const KEY: &str = "0123456789abcdef0123456789abcdef";

fn load(vars: &[(&str, &str)]) -> Result<CommonConfig, ConfigError> {
    let map: HashMap<&str, &str> = [(JWT_SECRET_KEY, KEY)]
        .into_iter()
        .chain(vars.iter().copied())
        .collect();
    let lookup = move |k: &str| map.get(k).map(|v| (*v).to_owned());
    CommonConfig::from_env(&Env::new(&lookup), "1.2.3")
}

fn failing(vars: &[(&str, &str)]) -> Option<String> {
    load(vars).err().map(|e| e.variable)
}

#[test]
fn every_default_in_the_tables_parses_and_the_defaults_follow_the_contract(
) -> Result<(), ConfigError> {
    let config = load(&[])?;
    let (shared, tokens) = (&config.shared, &config.tokens);
    assert_eq!(shared.service.service_name, "auth-service");
    assert_eq!(shared.version, "1.2.3");
    assert_eq!(
        (config.http.max_body_bytes, config.body_budget.limit()),
        (65_536, 16 << 20)
    );
    assert_eq!(
        (tokens.access_ttl, tokens.refresh_ttl),
        (TimeDelta::hours(24), TimeDelta::days(7))
    );
    assert_eq!(tokens.leeway_seconds, 30);
    assert_eq!(
        (
            &*shared.events.nats_stream,
            &*shared.events.nats_subject_prefix
        ),
        ("AUTH", "auth")
    );
    assert_eq!(tokens.keys.active().kid(), "default");
    assert_eq!(shared.service.log_format, LogFormat::Text);
    // `server::serve` without a configuration uses these too.
    assert_eq!(config.limits, ServerLimits::default());
    assert_eq!(config.limits.max_header_bytes, 32_768);
    assert!(config.tls.is_none() && config.http.allowed_origins.is_empty());
    Ok(())
}

#[test]
fn each_bad_value_names_its_variable_and_not_its_value() {
    let mut swept = 0;
    for var in CommonConfig::TABLES.iter().flat_map(|vars| vars.iter()) {
        for bad in var.kind.refused() {
            swept += 1;
            assert_eq!(
                failing(&[(var.name, &bad)]).as_deref(),
                Some(var.name),
                "{}={bad}",
                var.name
            );
        }
    }
    // The sweep reached every bounded row (numbers and spans), three values or more each.
    let rows = CommonConfig::TABLES.iter().flat_map(|vars| vars.iter());
    let bounded = rows.filter(|var| var.kind.bounds.is_some()).count();
    assert!(
        bounded >= 15 && swept >= 3 * bounded,
        "{bounded} rows, {swept} values"
    );
    let keys = format!("a={KEY},b={KEY}");
    let unset = [(JWT_SECRET_KEY, "")];
    assert_eq!(failing(&unset).as_deref(), Some(JWT_SECRET_KEY));
    for (name, value) in [
        (JWT_SECRET_KEY, "short"),
        (JWT_KEYS, "a=tooshort"),
        (JWT_KEYS, "a-without-equals"),
        (JWT_ALGORITHM, "RS256"),
        (ENVIRONMENT, "staging"),
        (LOG_FORMAT, "yaml"),
        (LOG_LEVEL, "info,["),
        (NATS_URL, "http://nats:4222"),
        (NATS_URL, "nats://nats:port"),
        (NATS_URL, "nats://a:4222,nats://b:4222"),
        (NATS_URL, "nats://"),
        (NATS_URL, "nats://na ts"),
        (MAX_BODY_BYTES_IN_FLIGHT, "65535"),
        (ALLOWED_ORIGINS, "*"),
    ] {
        assert_eq!(
            failing(&[(name, value)]).as_deref(),
            Some(name),
            "{name}={value}"
        );
    }
    assert_eq!(
        failing(&[(JWT_KEYS, &keys), (JWT_ACTIVE_KID, "c")]).as_deref(),
        Some(JWT_ACTIVE_KID)
    );
    // A URL with a user beside another NATS credential names the URL.
    let both = [
        (NATS_URL, "nats://u:p@nats:4222"),
        (crate::nats::NATS_TOKEN, "t"),
    ];
    assert_eq!(failing(&both).as_deref(), Some(NATS_URL));
    // A certificate without its key names the key.
    assert_eq!(
        failing(&[(TLS_CERT_FILE, "cert.pem")]).as_deref(),
        Some(TLS_KEY_FILE)
    );
    for (name, value, secret) in [
        (NATS_URL, "http://user:hunter2@nats:4222", "hunter2"),
        (JWT_SECRET_KEY, "hunter2-secret", "hunter2"),
        (JWT_ACCESS_TOKEN_EXPIRE_HOURS, "99999", "99999"),
    ] {
        let message = load(&[(name, value)]).err().map(|e| e.to_string());
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
        assert_eq!(load(&[(NATS_URL, nats)])?.shared.events.nats_url, nats);
    }
    let keys = format!("old={KEY},new={KEY}");
    let config = load(&[
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

fn export_of(vars: &[(&str, &str)]) -> Result<Option<TraceExport>, ConfigError> {
    let map: HashMap<&str, &str> = vars.iter().copied().collect();
    let lookup = move |k: &str| map.get(k).map(|v| (*v).to_owned());
    TraceSettings::read(&Env::new(&lookup))?.export()
}

#[test]
fn traces_are_off_without_an_endpoint_and_the_traces_endpoint_wins() -> Result<(), ConfigError> {
    assert_eq!(export_of(&[(OTEL_SERVICE_NAME, "x")])?, None);
    let base = export_of(&[(OTEL_EXPORTER_OTLP_ENDPOINT, "http://collector:4318/")])?;
    assert_eq!(
        base.map(|e| e.endpoint).as_deref(),
        Some("http://collector:4318/v1/traces")
    );
    let both = export_of(&[
        (OTEL_EXPORTER_OTLP_ENDPOINT, "http://collector:4318"),
        (
            OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
            "https://traces.example/ingest",
        ),
        (OTEL_TRACES_SAMPLER, "parentbased_traceidratio"),
        (OTEL_TRACES_SAMPLER_ARG, "0.25"),
    ])?;
    assert_eq!(
        both.as_ref().map(|e| e.endpoint.as_str()),
        Some("https://traces.example/ingest")
    );
    assert_eq!(
        both.map(|e| e.sampler),
        Some(Sampler::ParentBasedTraceIdRatio(0.25))
    );
    // A bad value is refused even with traces off.
    let err = export_of(&[(OTEL_TRACES_SAMPLER, "sometimes")]).err();
    assert_eq!(
        err.map(|e| e.variable).as_deref(),
        Some(OTEL_TRACES_SAMPLER)
    );
    Ok(())
}
