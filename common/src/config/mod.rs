//! The shared settings tables (service, events, traces for every service; tokens and HTTP for
//! the issuer and the verifier) and what they become: [`Shared`] and [`CommonConfig`]. How a row is read is [`crate::settings`]; what the values mean is the
//! business of the modules that use them ([`crate::server`], [`crate::cors`], [`crate::jwt`],
//! [`crate::telemetry`]).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use chrono::TimeDelta;
use secrecy::{ExposeSecret, SecretString};

use crate::body_budget::{BodyBudget, DEFAULT_BYTES_IN_FLIGHT};
use crate::cors::AllowedOrigins;
use crate::http::BodyLimits;
use crate::jwt::{KeySet, TokenSettings};
use crate::nats::{NatsAuth, NatsCredentialSettings, NatsHealth, NatsSettings};
use crate::server::{ServeOptions, ServerLimits};
use crate::settings::{
    checked, number, optional, pair, secret, span, text, ConfigError, Env, FromSetting, Kind, Var,
    DAYS, HOURS, MILLIS, NO_MAX, SECONDS,
};
use crate::telemetry::{self, LogFormat, Sampler, TraceExport};
use crate::tls::{TlsError, TlsFiles};

crate::settings! {
    /// Who a service is, how it logs and how long it drains: read by every service.
    #[derive(Debug, Clone)]
    pub struct ServiceSettings;
    "service" {
        service_name: String = SERVICE_NAME, text("auth-service", ""), "every token's `iss`; the same on issuers and verifiers";
        service_version: Option<String> = SERVICE_VERSION, optional(""), "reported by `/health` (unset: the crate version)";
        environment: Environment = ENVIRONMENT, text("development", "`development`, `testing`, `production`"),
            "a label, shown by `check-config` and the issuer's start-up log line; it changes no behaviour (key length and every other check hold in every environment)";
        shutdown_grace: Duration = SHUTDOWN_GRACE_SECONDS, span("30", 0, 3600, SECONDS), "how long in-flight requests may run after SIGTERM";
        log_level: String = LOG_LEVEL, checked("info", "`tracing` filter syntax", log_filter),
            "e.g. `info,issuer=debug`; dependencies stay at `info` unless named ([OPERATIONS.md](OPERATIONS.md#logs))";
        log_format: LogFormat = LOG_FORMAT, text("text", "`text`, `json`"),
            "`json`: one JSON object per line with `timestamp`, `level`, `fields` (with `message`) and the request's span";
    }

    /// Where events go: read by every service. How a service proves itself to NATS is the
    /// table [`NatsCredentialSettings`].
    #[derive(Debug, Clone)]
    pub struct EventSettings;
    "events" {
        nats_url: String = NATS_URL, checked("nats://localhost:4222", "one server URL", nats_url),
            "neither service waits for NATS to start or answer. Scheme `nats`, `tls`, `ws` or `wss` (`nats://` and port 4222 when left out); anything the NATS client cannot read, a comma-separated list included, is refused at start (the error never shows the value: it may carry credentials)";
        nats_stream: String = NATS_STREAM, text("AUTH", ""), "the JetStream stream";
        nats_subject_prefix: String = NATS_SUBJECT_PREFIX, text("auth", ""), "subjects are `<prefix>.<event_type>`; the stream holds `<prefix>.>`";
    }

    /// Span export over OTLP: read by every service.
    #[derive(Debug, Clone)]
    pub struct TraceSettings;
    "traces" {
        otlp_endpoint: Option<String> = OTEL_EXPORTER_OTLP_ENDPOINT, optional("an `http://` or `https://` URL with a host"),
            "the collector's base URL; spans are sent to `<it>/v1/traces`. Unset (and no traces endpoint): no span is exported, no trace header read or written";
        otlp_traces_endpoint: Option<String> = OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, optional("an `http://` or `https://` URL with a host"),
            "the full URL spans are sent to, as it is; wins over `OTEL_EXPORTER_OTLP_ENDPOINT`";
        otlp_protocol: () = OTEL_EXPORTER_OTLP_PROTOCOL, checked("http/protobuf", "`http/protobuf` only", crate::telemetry::http_protobuf_only),
            "`grpc` and `http/json` are not built in and refused at start";
        otlp_headers: Option<SecretString> = OTEL_EXPORTER_OTLP_HEADERS, secret("`name=value,...`, values percent-encoded"),
            "sent with every export, e.g. a vendor's API key; never logged or shown";
        otlp_timeout: Duration = OTEL_EXPORTER_OTLP_TIMEOUT, span("10000", 1, 600_000, MILLIS), "milliseconds one export request may take";
        otel_service_name: Option<String> = OTEL_SERVICE_NAME, optional(""), "`service.name` of the exported spans (unset: `issuer`, `verifier` or `mailer`)";
        traces_sampler: String = OTEL_TRACES_SAMPLER, checked("parentbased_always_on", "`always_on`, `always_off`, `traceidratio`, `parentbased_always_on`, `parentbased_always_off`, `parentbased_traceidratio`", crate::telemetry::sampler_name),
            "which traces are recorded; the `parentbased_` ones follow the sampled flag of an incoming `traceparent`";
        traces_sampler_arg: f64 = OTEL_TRACES_SAMPLER_ARG, checked("1.0", "0–1", crate::telemetry::sampler_ratio),
            "the ratio of the `traceidratio` samplers";
        bsp_schedule_delay: Duration = OTEL_BSP_SCHEDULE_DELAY, span("5000", 1, 600_000, MILLIS), "milliseconds between two exports of the queued spans";
        bsp_max_queue_size: usize = OTEL_BSP_MAX_QUEUE_SIZE, number("2048", 1, 1_000_000), "spans waiting for export at most; past it new spans are dropped, requests never wait";
    }

    /// The signing keys and token lifetimes: the issuer's and the verifier's.
    #[derive(Debug, Clone)]
    pub struct JwtSettings;
    "tokens" {
        jwt_secret_key: Option<SecretString> = JWT_SECRET_KEY, secret("at least 32 bytes"),
            "HS256 secret, key id `default`; required unless `JWT_KEYS` is set, ignored when it is";
        jwt_keys: Option<SecretString> = JWT_KEYS, secret("each secret at least 32 bytes; no `,` in a secret"),
            "`kid=secret,kid2=secret2`: every key verifies, the active one signs. Overrides `JWT_SECRET_KEY` ([key rotation](SECURITY.md#key-rotation))";
        jwt_active_kid: Option<String> = JWT_ACTIVE_KID, optional("must name a configured key"),
            "the key that signs (unset: the first key), and the one a token without `kid` is checked against";
        jwt_algorithm: () = JWT_ALGORITHM, checked("HS256", "`HS256` only", hs256_only),
            "anything else is refused at start";
        access_ttl: TimeDelta = JWT_ACCESS_TOKEN_EXPIRE_HOURS, span("24", 1, 8760, HOURS), "access-token lifetime";
        refresh_ttl: TimeDelta = JWT_REFRESH_TOKEN_EXPIRE_DAYS, span("7", 1, 3650, DAYS), "refresh-token (session) lifetime";
        leeway_seconds: u64 = JWT_LEEWAY_SECONDS, number("30", 0, 3600), "clock skew allowed on `exp` and `nbf`, exactly";
    }

    /// The HTTP server's limits, TLS and CORS: the issuer's and the verifier's.
    #[derive(Debug, Clone)]
    pub struct HttpSettings;
    "http" {
        max_body_bytes: usize = MAX_BODY_BYTES, number("65536", 64, NO_MAX), "past it, 413 `PAYLOAD_TOO_LARGE`, with or without `Content-Length`";
        body_bytes_in_flight: Option<usize> = MAX_BODY_BYTES_IN_FLIGHT, number("", 0, NO_MAX),
            "request-body bytes held by the whole process at once, at least `MAX_BODY_BYTES` (unset: 16 MiB, or `MAX_BODY_BYTES` if larger); past it, 503 `SERVICE_UNAVAILABLE` with `Retry-After` ([memory bounds](SECURITY.md))";
        header_read_timeout: Duration = HEADER_READ_TIMEOUT_SECONDS, span("10", 1, 60, SECONDS),
            "headers not complete in time: the connection is closed without an answer. An HTTP/1.1 connection waiting for its next request is also closed after this";
        body_read_timeout: Duration = BODY_READ_TIMEOUT_SECONDS, span("10", 1, 3600, SECONDS),
            "past it, 400 `VALIDATION_ERROR` (`details.field = \"body\"`) and the connection is closed (the contract has no timeout code; the request is refused as not received)";
        keep_alive_timeout: Duration = KEEP_ALIVE_TIMEOUT_SECONDS, span("75", 1, 3600, SECONDS),
            "a connection with no request in flight for this long is closed, whatever it sends meanwhile (HTTP/2 PINGs or a header block that never ends do not keep it open; before its first request a connection gets the header timeout); for HTTP/1.1 the shorter of this and the header timeout wins";
        max_connections: usize = MAX_CONNECTIONS, number("10000", 1, 1_000_000),
            "past it, over HTTP: a complete 503 `SERVICE_UNAVAILABLE` envelope with `Connection: close` and `Retry-After: 1`; over HTTPS the connection is closed. Serving resumes as soon as connections end";
        max_header_bytes: usize = MAX_HEADER_BYTES, number("32768", 8192, 1 << 20), "past it, a bare `431` from the HTTP library (no envelope); also caps the HTTP/2 header list";
        max_headers: usize = MAX_HEADERS, number("100", 1, 10_000), "header fields per request; past it, a bare `431` from the HTTP library (no envelope)";
        http2_max_concurrent_streams: u32 = HTTP2_MAX_CONCURRENT_STREAMS, number("100", 1, 10_000), "further HTTP/2 streams are refused by the protocol";
        tls_cert_file: Option<PathBuf> = TLS_CERT_FILE, optional("a PEM certificate chain; with `TLS_KEY_FILE`"),
            "with `TLS_KEY_FILE`: serve HTTPS only ([DEPLOYMENT.md](DEPLOYMENT.md#tls))";
        tls_key_file: Option<PathBuf> = TLS_KEY_FILE, optional("a PEM private key; with `TLS_CERT_FILE`"), "the private key of `TLS_CERT_FILE`";
        tls_handshake_timeout: Duration = TLS_HANDSHAKE_TIMEOUT_SECONDS, span("10", 1, 3600, SECONDS), "past it, the connection is closed";
        allowed_origins: AllowedOrigins = ALLOWED_ORIGINS, text("", "exact origins, comma separated; `*` is refused"),
            "browser origins allowed by CORS ([DESIGN.md](DESIGN.md#cors))";
    }
}

fn hs256_only(value: &str) -> Result<(), &'static str> {
    match value {
        "HS256" => Ok(()),
        _ => Err("must be HS256 (the only algorithm supported)"),
    }
}

fn log_filter(value: &str) -> Result<(), &'static str> {
    match crate::telemetry::is_valid_filter(value) {
        true => Ok(()),
        false => Err("is not a valid tracing filter"),
    }
}

/// NATS_URL as the NATS client reads it: one server URL, scheme `nats`, `tls`, `ws` or `wss`
/// (`nats://` and port 4222 when left out). The client parses the whole value as one address,
/// so a comma-separated list is refused here rather than failing at start.
fn nats_url(url: &str) -> Result<(), &'static str> {
    if url.contains(',') {
        return Err("must be one server URL (a comma-separated list is not supported)");
    }
    match url.parse::<async_nats::ServerAddr>() {
        Ok(addr) if !addr.host().is_empty() => Ok(()),
        Ok(_) => Err("names no host"),
        Err(_) => {
            Err("must be a NATS server URL such as nats://host:4222 (scheme nats, tls, ws or wss)")
        }
    }
}

/// A label only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    Development,
    Testing,
    Production,
}

impl FromSetting for Environment {
    fn from_setting(text: &str, _: &Kind) -> Result<Self, String> {
        match text.to_ascii_lowercase().as_str() {
            "development" => Ok(Environment::Development),
            "testing" => Ok(Environment::Testing),
            "production" => Ok(Environment::Production),
            _ => Err("must be development, testing or production".to_owned()),
        }
    }
}

impl FromSetting for AllowedOrigins {
    fn from_setting(text: &str, _: &Kind) -> Result<Self, String> {
        AllowedOrigins::parse(text).map_err(str::to_owned)
    }
}

/// What every service reads ([`Shared::TABLES`]) and what it makes.
#[derive(Debug, Clone)]
pub struct Shared {
    pub service: ServiceSettings,
    pub events: EventSettings,
    /// The NATS credentials and TLS, checked; `Debug` shows no secret.
    pub nats: NatsSettings,
    /// `None` (the default) exports nothing.
    pub traces: Option<TraceExport>,
    /// `SERVICE_VERSION`, unset: the crate's version.
    pub version: String,
}

impl Shared {
    pub const TABLES: &'static [&'static [Var]] = &[
        ServiceSettings::VARS,
        EventSettings::VARS,
        NatsCredentialSettings::VARS,
        TraceSettings::VARS,
    ];

    /// `default_version` is the calling crate's version, used when SERVICE_VERSION is unset.
    pub fn from_env(env: &Env, default_version: &str) -> Result<Self, ConfigError> {
        let (service, events) = (ServiceSettings::read(env)?, EventSettings::read(env)?);
        let nats = NatsSettings::from_env(env, &events.nats_url)?;
        let url_has_user = (events.nats_url.parse::<async_nats::ServerAddr>())
            .is_ok_and(|addr| addr.has_user_pass());
        if url_has_user && !matches!(nats.auth, NatsAuth::None) {
            let other = nats.auth.variables();
            let reason = format!("carries a user and password and {other} is set too: give one");
            return Err(ConfigError::new(NATS_URL, reason));
        }
        Ok(Shared {
            nats,
            traces: TraceSettings::read(env)?.export()?,
            version: (service.service_version.clone()).unwrap_or_else(|| default_version.into()),
            service,
            events,
        })
    }
}

impl Shared {
    /// The service's NATS client, named `<SERVICE_NAME> <role>`, with these credentials and
    /// TLS. It connects in the background: a service starts and serves with NATS down, and a
    /// refusal of the credentials is recorded in `health` (readiness reports it). An error
    /// means a NATS_URL the client cannot use.
    pub async fn connect_nats(
        &self,
        role: &str,
        health: &NatsHealth,
    ) -> anyhow::Result<async_nats::Client> {
        let name = format!("{} {role}", self.service.service_name);
        let options = crate::nats::connect_options(&self.nats, &name, health);
        let client = options.connect(self.events.nats_url.as_str()).await;
        client.context("invalid NATS_URL")
    }
}

/// What the issuer and the verifier read ([`CommonConfig::TABLES`]) and make together.
#[derive(Debug, Clone)]
pub struct CommonConfig {
    pub shared: Shared,
    pub http: HttpSettings,
    pub tokens: TokenSettings,
    /// Request-body bytes held at once by every request of the process; clones share it.
    pub body_budget: BodyBudget,
    pub limits: ServerLimits,
    /// Plain HTTP when `None`.
    pub tls: Option<TlsFiles>,
}

impl CommonConfig {
    pub const TABLES: &'static [&'static [Var]] = &[
        ServiceSettings::VARS,
        JwtSettings::VARS,
        EventSettings::VARS,
        NatsCredentialSettings::VARS,
        HttpSettings::VARS,
        TraceSettings::VARS,
    ];

    /// `default_version` is the calling crate's version, used when SERVICE_VERSION is unset.
    pub fn from_env(env: &Env, default_version: &str) -> Result<Self, ConfigError> {
        let shared = Shared::from_env(env, default_version)?;
        let (jwt, http) = (JwtSettings::read(env)?, HttpSettings::read(env)?);
        Ok(CommonConfig {
            tokens: TokenSettings {
                keys: key_set(&jwt)?,
                issuer: shared.service.service_name.clone(),
                access_ttl: jwt.access_ttl,
                refresh_ttl: jwt.refresh_ttl,
                leeway_seconds: jwt.leeway_seconds,
            },
            body_budget: body_budget(http.max_body_bytes, http.body_bytes_in_flight)?,
            tls: http.tls()?,
            limits: ServerLimits {
                header_read_timeout: http.header_read_timeout,
                body_read_timeout: http.body_read_timeout,
                keep_alive_timeout: http.keep_alive_timeout,
                max_connections: http.max_connections,
                max_header_bytes: http.max_header_bytes,
                max_headers: http.max_headers,
                http2_max_concurrent_streams: http.http2_max_concurrent_streams,
                tls_handshake_timeout: http.tls_handshake_timeout,
            },
            http,
            shared,
        })
    }

    /// For [`crate::http::read_body`].
    pub fn body_limits(&self) -> BodyLimits {
        let (max_bytes, timeout) = (self.http.max_body_bytes, self.limits.body_read_timeout);
        BodyLimits::new(max_bytes, timeout, self.body_budget.clone())
    }

    /// The limits, and the TLS acceptor when HTTPS is configured; an unreadable or invalid
    /// certificate or key is an error naming its variable.
    pub fn serve_options(&self) -> Result<ServeOptions, ConfigError> {
        Ok(ServeOptions {
            limits: self.limits.clone(),
            tls: self.tls.as_ref().map(crate::tls::acceptor).transpose()?,
        })
    }
}

impl HttpSettings {
    /// The TLS files: `None` when neither is set; one without the other names the missing one.
    pub fn tls(&self) -> Result<Option<TlsFiles>, ConfigError> {
        let files = pair(
            (TLS_CERT_FILE, self.tls_cert_file.clone()),
            (TLS_KEY_FILE, self.tls_key_file.clone()),
        )?;
        Ok(files.map(|(cert_file, key_file)| TlsFiles {
            cert_file,
            key_file,
        }))
    }
}

impl TraceSettings {
    /// The span export the `OTEL_*` rows ask for: `None`, and nothing to pay, when neither
    /// endpoint is set. Every row is checked either way, so a bad value is found at start
    /// whether or not traces are on.
    pub fn export(self) -> Result<Option<TraceExport>, ConfigError> {
        let s = self;
        let endpoint = match (s.otlp_traces_endpoint, s.otlp_endpoint) {
            (Some(full), _) => Some(telemetry::endpoint(
                OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
                &full,
                "",
            )?),
            (None, Some(base)) => Some(telemetry::endpoint(
                OTEL_EXPORTER_OTLP_ENDPOINT,
                &base,
                "/v1/traces",
            )?),
            (None, None) => None,
        };
        let headers = s
            .otlp_headers
            .map(|headers| headers.expose_secret().to_owned());
        let headers = telemetry::headers(OTEL_EXPORTER_OTLP_HEADERS, headers)?;
        let sampler = Sampler::parse(&s.traces_sampler, s.traces_sampler_arg)
            .ok_or_else(|| ConfigError::new(OTEL_TRACES_SAMPLER, telemetry::SAMPLERS))?;
        Ok(endpoint.map(|endpoint| TraceExport {
            endpoint,
            headers,
            timeout: s.otlp_timeout,
            service_name: s.otel_service_name,
            sampler,
            schedule_delay: s.bsp_schedule_delay,
            max_queue_size: s.bsp_max_queue_size,
        }))
    }
}

impl From<TlsError> for ConfigError {
    fn from(err: TlsError) -> Self {
        match err {
            TlsError::Cert(reason) => ConfigError::new(TLS_CERT_FILE, reason),
            TlsError::Key(reason) => ConfigError::new(TLS_KEY_FILE, reason),
        }
    }
}

/// The budget of body bytes in flight: at least `max_body_bytes`, so that one body of the
/// largest size can always be read. Unset, it is 16 MiB, or `max_body_bytes` when larger.
fn body_budget(max_body_bytes: usize, in_flight: Option<usize>) -> Result<BodyBudget, ConfigError> {
    let bytes = in_flight.unwrap_or(DEFAULT_BYTES_IN_FLIGHT.max(max_body_bytes));
    if bytes < max_body_bytes {
        let reason = format!("must be >= MAX_BODY_BYTES ({max_body_bytes})");
        return Err(ConfigError::new(MAX_BODY_BYTES_IN_FLIGHT, reason));
    }
    Ok(BodyBudget::new(bytes))
}

/// JWT_KEYS (`kid=secret,kid2=secret2`, active one named by JWT_ACTIVE_KID, else the first)
/// or, when it is unset, JWT_SECRET_KEY under kid `default`.
fn key_set(s: &JwtSettings) -> Result<KeySet, ConfigError> {
    let (variable, pairs) = match (&s.jwt_keys, &s.jwt_secret_key) {
        (Some(list), _) => {
            let mut pairs = Vec::new();
            for entry in list
                .expose_secret()
                .split(',')
                .map(str::trim)
                .filter(|e| !e.is_empty())
            {
                let (kid, secret) = entry
                    .split_once('=')
                    .ok_or_else(|| ConfigError::new(JWT_KEYS, "must be a list of kid=secret"))?;
                pairs.push((kid.trim().to_owned(), secret.as_bytes().to_vec()));
            }
            (JWT_KEYS, pairs)
        }
        (None, Some(secret)) => {
            let key = secret.expose_secret().as_bytes().to_vec();
            (JWT_SECRET_KEY, vec![("default".to_owned(), key)])
        }
        (None, None) => {
            return Err(ConfigError::new(
                JWT_SECRET_KEY,
                "is required (or set JWT_KEYS)",
            ))
        }
    };
    KeySet::new(pairs, s.jwt_active_kid.as_deref()).map_err(|err| {
        let variable = if err.is_active_kid() {
            JWT_ACTIVE_KID
        } else {
            variable
        };
        ConfigError::new(variable, err.to_string())
    })
}

#[cfg(test)]
mod tests;
