//! Typed configuration read from an injectable lookup.
//!
//! Services read the process environment plus an optional `.env` file ([`process_lookup`]);
//! tests pass a map. Nothing calls `set_var`. Every failure is a [`ConfigError`] that names the
//! variable and never contains its value.

use std::collections::HashMap;
use std::fmt;
use std::ops::RangeInclusive;
use std::str::FromStr;
use std::time::Duration;

use chrono::TimeDelta;

use crate::jwt::{KeySet, TokenSettings};
use crate::limits;

/// A setting that is missing or wrong. Displays as one line naming the variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub variable: String,
    pub reason: String,
}

impl ConfigError {
    pub fn new(variable: &str, reason: impl Into<String>) -> Self {
        ConfigError {
            variable: variable.to_owned(),
            reason: reason.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid configuration: {} {}",
            self.variable, self.reason
        )
    }
}

impl std::error::Error for ConfigError {}

/// Where settings come from: the environment, a `.env` file, or a test's map.
pub struct Env<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
}

impl<'a> Env<'a> {
    pub fn new(lookup: &'a dyn Fn(&str) -> Option<String>) -> Self {
        Env { lookup }
    }

    /// The value, with an empty string read as unset (as compose files often pass them).
    pub fn get(&self, name: &str) -> Option<String> {
        (self.lookup)(name).filter(|v| !v.trim().is_empty())
    }

    pub fn string_or(&self, name: &str, default: &str) -> String {
        self.get(name)
            .map(|v| v.trim().to_owned())
            .unwrap_or_else(|| default.to_owned())
    }

    /// Parses the value with `FromStr`; `expected` says what a valid value looks like.
    pub fn parse_or<T: FromStr>(
        &self,
        name: &str,
        default: T,
        expected: &str,
    ) -> Result<T, ConfigError> {
        match self.get(name) {
            None => Ok(default),
            Some(raw) => raw
                .trim()
                .parse()
                .map_err(|_| ConfigError::new(name, format!("must be {expected}"))),
        }
    }

    /// A whole number of at least `min`.
    pub fn number_or(&self, name: &str, default: u64, min: u64) -> Result<u64, ConfigError> {
        let value: u64 = self.parse_or(name, default, &format!("a whole number >= {min}"))?;
        if value < min {
            return Err(ConfigError::new(name, format!("must be >= {min}")));
        }
        Ok(value)
    }

    /// A whole number within `range`.
    pub fn number_in(
        &self,
        name: &str,
        default: u64,
        range: RangeInclusive<u64>,
    ) -> Result<u64, ConfigError> {
        let expected = format!("a whole number from {} to {}", range.start(), range.end());
        let value: u64 = self.parse_or(name, default, &expected)?;
        if !range.contains(&value) {
            return Err(ConfigError::new(name, format!("must be {expected}")));
        }
        Ok(value)
    }

    /// A length of time given as a count of `unit`s (seconds, hours or days) within `range`.
    /// The bound keeps every later `now + span` far from overflowing.
    pub fn span_in(
        &self,
        name: &str,
        default: u64,
        range: RangeInclusive<u64>,
        unit: TimeUnit,
    ) -> Result<TimeDelta, ConfigError> {
        let count = self.number_in(name, default, range)?;
        count
            .checked_mul(unit.seconds())
            .and_then(|seconds| i64::try_from(seconds).ok())
            .and_then(TimeDelta::try_seconds)
            .ok_or_else(|| ConfigError::new(name, "is too large"))
    }

    pub fn bool_or(&self, name: &str, default: bool) -> Result<bool, ConfigError> {
        match self.get(name).map(|v| v.trim().to_ascii_lowercase()) {
            None => Ok(default),
            Some(v) if matches!(v.as_str(), "true" | "1" | "yes" | "on") => Ok(true),
            Some(v) if matches!(v.as_str(), "false" | "0" | "no" | "off") => Ok(false),
            Some(_) => Err(ConfigError::new(name, "must be true or false")),
        }
    }

    /// A comma-separated list, blanks dropped.
    pub fn list(&self, name: &str) -> Vec<String> {
        self.get(name)
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// What a count in a duration setting counts: `_SECONDS`, `_MINUTES`, `_HOURS` or `_DAYS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeUnit {
    Seconds,
    Minutes,
    Hours,
    Days,
}

impl TimeUnit {
    fn seconds(self) -> u64 {
        match self {
            TimeUnit::Seconds => 1,
            TimeUnit::Minutes => 60,
            TimeUnit::Hours => 3600,
            TimeUnit::Days => 86_400,
        }
    }
}

/// The process environment over the `.env` file in the working directory, if there is one.
/// Real environment variables win, as with every dotenv tool.
pub fn process_lookup() -> Result<impl Fn(&str) -> Option<String>, ConfigError> {
    let mut file = HashMap::new();
    match dotenvy::dotenv_iter() {
        Ok(iter) => {
            for item in iter {
                let (key, value) =
                    item.map_err(|_| ConfigError::new(".env", "cannot be parsed"))?;
                file.insert(key, value);
            }
        }
        Err(err) if err.not_found() => {}
        Err(_) => return Err(ConfigError::new(".env", "cannot be read")),
    }
    Ok(move |name: &str| std::env::var(name).ok().or_else(|| file.get(name).cloned()))
}

/// `lookup` with every secret of `catalogues` also read from a file: `<NAME>_FILE` names a file
/// whose content is the value (the Docker and Kubernetes secrets convention), with one trailing
/// newline trimmed. Setting both `<NAME>` and `<NAME>_FILE` is an error naming the variable, and
/// so is a file that cannot be read; neither error shows the content.
pub fn with_secret_files(
    lookup: impl Fn(&str) -> Option<String>,
    catalogues: &[&[Var]],
) -> Result<impl Fn(&str) -> Option<String>, ConfigError> {
    let mut from_files = HashMap::new();
    let secrets = catalogues
        .iter()
        .flat_map(|vars| vars.iter())
        .filter(|var| var.secret);
    for var in secrets {
        let file_variable = format!("{}_FILE", var.name);
        let Some(path) = lookup(&file_variable).filter(|p| !p.trim().is_empty()) else {
            continue;
        };
        if lookup(var.name).is_some_and(|v| !v.trim().is_empty()) {
            return Err(ConfigError::new(
                var.name,
                format!("is set twice: give it or {file_variable}, not both"),
            ));
        }
        let content = std::fs::read_to_string(path.trim()).map_err(|err| {
            ConfigError::new(&file_variable, format!("cannot be read: {}", err.kind()))
        })?;
        let value = content
            .strip_suffix('\n')
            .map(|v| v.strip_suffix('\r').unwrap_or(v))
            .unwrap_or(&content);
        from_files.insert(var.name, value.to_owned());
    }
    Ok(move |name: &str| from_files.get(name).cloned().or_else(|| lookup(name)))
}

pub const SERVICE_NAME: &str = "SERVICE_NAME";
pub const SERVICE_VERSION: &str = "SERVICE_VERSION";
pub const ENVIRONMENT: &str = "ENVIRONMENT";
pub const LOG_LEVEL: &str = "LOG_LEVEL";
pub const LOG_FORMAT: &str = "LOG_FORMAT";
pub const MAX_BODY_BYTES: &str = "MAX_BODY_BYTES";
pub const JWT_SECRET_KEY: &str = "JWT_SECRET_KEY";
pub const JWT_KEYS: &str = "JWT_KEYS";
pub const JWT_ACTIVE_KID: &str = "JWT_ACTIVE_KID";
pub const JWT_ALGORITHM: &str = "JWT_ALGORITHM";
pub const JWT_ACCESS_TOKEN_EXPIRE_HOURS: &str = "JWT_ACCESS_TOKEN_EXPIRE_HOURS";
pub const JWT_REFRESH_TOKEN_EXPIRE_DAYS: &str = "JWT_REFRESH_TOKEN_EXPIRE_DAYS";
pub const JWT_LEEWAY_SECONDS: &str = "JWT_LEEWAY_SECONDS";
/// Clock skew beyond an hour is a broken clock, not skew; the bound also keeps `exp + leeway`
/// far from overflowing.
pub const MAX_LEEWAY_SECONDS: u64 = 3600;
/// An access token lives at most a year.
pub const MAX_ACCESS_TOKEN_HOURS: u64 = 8760;
/// A session lives at most ten years.
pub const MAX_REFRESH_TOKEN_DAYS: u64 = 3650;
pub const NATS_URL: &str = "NATS_URL";
pub const NATS_STREAM: &str = "NATS_STREAM";
pub const NATS_SUBJECT_PREFIX: &str = "NATS_SUBJECT_PREFIX";
pub const ALLOWED_ORIGINS: &str = "ALLOWED_ORIGINS";
pub const SHUTDOWN_GRACE_SECONDS: &str = "SHUTDOWN_GRACE_SECONDS";

/// Deployment environment; it changes defaults only where the docs say so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    Development,
    Testing,
    Production,
}

impl FromStr for Environment {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s.to_ascii_lowercase().as_str() {
            "development" => Ok(Environment::Development),
            "testing" => Ok(Environment::Testing),
            "production" => Ok(Environment::Production),
            _ => Err(()),
        }
    }
}

/// Settings both services read, with the contract's defaults.
#[derive(Debug, Clone)]
pub struct CommonConfig {
    pub service_name: String,
    pub service_version: String,
    pub environment: Environment,
    pub log_level: String,
    pub log_format: crate::telemetry::LogFormat,
    pub max_body_bytes: usize,
    /// Request-body bytes held at once by every request of the process; clones share it.
    pub body_budget: crate::body_budget::BodyBudget,
    pub tokens: TokenSettings,
    pub nats_url: String,
    /// NATS credentials and TLS.
    pub nats: crate::nats::NatsSettings,
    pub nats_stream: String,
    pub nats_subject_prefix: String,
    pub allowed_origins: crate::cors::AllowedOrigins,
    /// Connection and request limits.
    pub limits: crate::limits::ServerLimits,
    /// Certificate and key for HTTPS; plain HTTP when `None`.
    pub tls: Option<crate::limits::TlsFiles>,
    /// How long in-flight requests may run after SIGTERM before connections are closed.
    pub shutdown_grace: Duration,
}

impl CommonConfig {
    /// `default_version` is the calling crate's version, used when SERVICE_VERSION is unset.
    pub fn from_env(env: &Env, default_version: &str) -> Result<Self, ConfigError> {
        let log_level = env.string_or(LOG_LEVEL, "info");
        if !crate::telemetry::is_valid_filter(&log_level) {
            return Err(ConfigError::new(LOG_LEVEL, "is not a valid tracing filter"));
        }
        let service_name = env.string_or(SERVICE_NAME, "auth-service");
        let algorithm = env.string_or(JWT_ALGORITHM, "HS256");
        if algorithm != "HS256" {
            return Err(ConfigError::new(
                JWT_ALGORITHM,
                "must be HS256 (the only algorithm supported)",
            ));
        }
        let tokens = TokenSettings {
            keys: key_set(env)?,
            issuer: service_name.clone(),
            access_ttl: env.span_in(
                JWT_ACCESS_TOKEN_EXPIRE_HOURS,
                24,
                1..=MAX_ACCESS_TOKEN_HOURS,
                TimeUnit::Hours,
            )?,
            refresh_ttl: env.span_in(
                JWT_REFRESH_TOKEN_EXPIRE_DAYS,
                7,
                1..=MAX_REFRESH_TOKEN_DAYS,
                TimeUnit::Days,
            )?,
            leeway_seconds: env.number_in(JWT_LEEWAY_SECONDS, 30, 0..=MAX_LEEWAY_SECONDS)?,
        };
        let nats_url = nats_url(env)?;
        let max_body_bytes = usize::try_from(env.number_or(MAX_BODY_BYTES, 65_536, 64)?)
            .map_err(|_| ConfigError::new(MAX_BODY_BYTES, "is too large"))?;
        Ok(CommonConfig {
            service_name,
            service_version: env.string_or(SERVICE_VERSION, default_version),
            environment: env.parse_or(
                ENVIRONMENT,
                Environment::Development,
                "development, testing or production",
            )?,
            log_level,
            log_format: env.parse_or(LOG_FORMAT, Default::default(), "text or json")?,
            max_body_bytes,
            body_budget: limits::body_budget_from_env(env, max_body_bytes)?,
            tokens,
            nats: crate::nats::NatsSettings::from_env(env, &nats_url)?,
            nats_url,
            nats_stream: env.string_or(NATS_STREAM, "AUTH"),
            nats_subject_prefix: env.string_or(NATS_SUBJECT_PREFIX, "auth"),
            allowed_origins: crate::cors::AllowedOrigins::from_env(env)?,
            limits: crate::limits::ServerLimits::from_env(env)?,
            tls: crate::limits::TlsFiles::from_env(env)?,
            shutdown_grace: Duration::from_secs(env.number_in(
                SHUTDOWN_GRACE_SECONDS,
                30,
                0..=3600,
            )?),
        })
    }
}

/// NATS_URL as the NATS client reads it: one server URL, scheme `nats`, `tls`, `ws` or `wss`
/// (`nats://` and port 4222 when left out). The client parses the whole value as one address,
/// so a comma-separated list is refused here rather than failing at start. The error never
/// holds the value: it may carry credentials.
fn nats_url(env: &Env) -> Result<String, ConfigError> {
    let url = env.string_or(NATS_URL, "nats://localhost:4222");
    if url.contains(',') {
        return Err(ConfigError::new(
            NATS_URL,
            "must be one server URL (a comma-separated list is not supported)",
        ));
    }
    match url.parse::<async_nats::ServerAddr>() {
        Ok(addr) if !addr.host().is_empty() => Ok(url),
        Ok(_) => Err(ConfigError::new(NATS_URL, "names no host")),
        Err(_) => Err(ConfigError::new(
            NATS_URL,
            "must be a NATS server URL such as nats://host:4222 (scheme nats, tls, ws or wss)",
        )),
    }
}

/// JWT_KEYS (`kid=secret,kid2=secret2`, active one named by JWT_ACTIVE_KID, else the first)
/// or, when it is unset, JWT_SECRET_KEY under kid `default`.
fn key_set(env: &Env) -> Result<KeySet, ConfigError> {
    let (variable, pairs) = match env.get(JWT_KEYS) {
        Some(list) => {
            let mut pairs = Vec::new();
            for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
                let (kid, secret) = entry
                    .split_once('=')
                    .ok_or_else(|| ConfigError::new(JWT_KEYS, "must be a list of kid=secret"))?;
                pairs.push((kid.trim().to_owned(), secret.as_bytes().to_vec()));
            }
            (JWT_KEYS, pairs)
        }
        None => {
            let secret = env
                .get(JWT_SECRET_KEY)
                .ok_or_else(|| ConfigError::new(JWT_SECRET_KEY, "is required (or set JWT_KEYS)"))?;
            (
                JWT_SECRET_KEY,
                vec![("default".to_owned(), secret.into_bytes())],
            )
        }
    };
    let active = env.get(JWT_ACTIVE_KID);
    KeySet::new(pairs, active.as_deref()).map_err(|err| {
        let variable = if err.is_active_kid() {
            JWT_ACTIVE_KID
        } else {
            variable
        };
        ConfigError::new(variable, err.to_string())
    })
}

/// One environment variable as the help text and the drift tests know it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Var {
    pub name: &'static str,
    /// The default as text; in parentheses when it is a description rather than a value.
    pub default: &'static str,
    pub meaning: &'static str,
    /// Never printed, logged or echoed in an error.
    pub secret: bool,
}

impl Var {
    pub const fn new(name: &'static str, default: &'static str, meaning: &'static str) -> Self {
        Var {
            name,
            default,
            meaning,
            secret: false,
        }
    }

    pub const fn secret(name: &'static str, default: &'static str, meaning: &'static str) -> Self {
        Var {
            name,
            default,
            meaning,
            secret: true,
        }
    }

    /// The default is a literal value (not a description such as "(number of cores)").
    pub fn has_literal_default(&self) -> bool {
        !self.default.is_empty() && !self.default.starts_with('(')
    }
}

/// Every variable [`CommonConfig::from_env`] reads: both services take these.
pub const VARS: &[Var] = &ALL_SHARED_VARS;

const ALL_SHARED_VARS: [Var; SHARED_VARS.len() + crate::nats::NATS_VARS.len()] =
    concat_vars(SHARED_VARS, crate::nats::NATS_VARS);

/// `first` then `second`, as one array (`N` is the sum of their lengths).
const fn concat_vars<const N: usize>(first: &[Var], second: &[Var]) -> [Var; N] {
    let mut all = [Var::new("", "", ""); N];
    let mut i = 0;
    while i < first.len() {
        all[i] = first[i];
        i += 1;
    }
    while i < N {
        all[i] = second[i - first.len()];
        i += 1;
    }
    all
}

const SHARED_VARS: &[Var] = &[
    Var::new(
        SERVICE_NAME,
        "auth-service",
        "every token's iss; issuer and verifier must agree",
    ),
    Var::new(SERVICE_VERSION, "(crate version)", "reported by /health"),
    Var::new(
        ENVIRONMENT,
        "development",
        "development, testing or production",
    ),
    Var::new(LOG_LEVEL, "info", "tracing filter, e.g. info,issuer=debug"),
    Var::new(
        LOG_FORMAT,
        "text",
        "text lines, or json: one JSON object per line",
    ),
    Var::new(
        MAX_BODY_BYTES,
        "65536",
        "larger request bodies get 413 (minimum 64)",
    ),
    Var::new(
        limits::MAX_BODY_BYTES_IN_FLIGHT,
        "16777216",
        "body bytes all requests may hold at once (>= MAX_BODY_BYTES); past it, 503",
    ),
    Var::secret(
        JWT_SECRET_KEY,
        "(required unless JWT_KEYS)",
        "HS256 secret, key id `default`, at least 32 bytes",
    ),
    Var::secret(
        JWT_KEYS,
        "",
        "kid=secret,kid2=secret2 for rotation; overrides JWT_SECRET_KEY",
    ),
    Var::new(
        JWT_ACTIVE_KID,
        "(first key of JWT_KEYS)",
        "the key id that signs",
    ),
    Var::new(JWT_ALGORITHM, "HS256", "only HS256 is accepted"),
    Var::new(
        JWT_ACCESS_TOKEN_EXPIRE_HOURS,
        "24",
        "access-token lifetime (1-8760)",
    ),
    Var::new(
        JWT_REFRESH_TOKEN_EXPIRE_DAYS,
        "7",
        "refresh-token (session) lifetime (1-3650)",
    ),
    Var::new(
        JWT_LEEWAY_SECONDS,
        "30",
        "clock skew allowed on exp and nbf (0-3600)",
    ),
    Var::new(
        NATS_URL,
        "nats://localhost:4222",
        "NATS server for events (one URL)",
    ),
    Var::new(NATS_STREAM, "AUTH", "JetStream stream of the events"),
    Var::new(
        NATS_SUBJECT_PREFIX,
        "auth",
        "event subjects are <prefix>.<event_type>",
    ),
    Var::new(ALLOWED_ORIGINS, "", "CORS allow-list, comma-separated"),
    Var::new(
        SHUTDOWN_GRACE_SECONDS,
        "30",
        "how long in-flight requests may run after SIGTERM (0-3600)",
    ),
    Var::new(
        limits::HEADER_READ_TIMEOUT_SECONDS,
        "10",
        "request headers must arrive within this (1-60)",
    ),
    Var::new(
        limits::BODY_READ_TIMEOUT_SECONDS,
        "10",
        "the whole body must arrive within this, else 400",
    ),
    Var::new(
        limits::KEEP_ALIVE_TIMEOUT_SECONDS,
        "75",
        "an idle connection is closed after this",
    ),
    Var::new(
        limits::MAX_CONNECTIONS,
        "10000",
        "connections served at once; past it, 503",
    ),
    Var::new(
        limits::MAX_HEADER_BYTES,
        "32768",
        "request line plus headers (minimum 8192); past it, 431",
    ),
    Var::new(
        limits::MAX_HEADERS,
        "100",
        "header fields per request; past it, 431",
    ),
    Var::new(
        limits::HTTP2_MAX_CONCURRENT_STREAMS,
        "100",
        "open streams per HTTP/2 connection",
    ),
    Var::new(
        limits::TLS_CERT_FILE,
        "",
        "PEM certificate chain; with TLS_KEY_FILE, serve HTTPS",
    ),
    Var::new(
        limits::TLS_KEY_FILE,
        "",
        "PEM private key for TLS_CERT_FILE",
    ),
    Var::new(
        limits::TLS_HANDSHAKE_TIMEOUT_SECONDS,
        "10",
        "the TLS handshake must finish within this",
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_is_read_from_its_file_with_one_trailing_newline_trimmed() -> Result<(), ConfigError>
    {
        let dir = std::env::temp_dir().join(format!("secret-files-{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|_| ConfigError::new("test", "temp dir"))?;
        let file = dir.join("jwt");
        std::fs::write(&file, "0123456789abcdef0123456789abcdef \n")
            .map_err(|_| ConfigError::new("test", "write"))?;
        let path = file.display().to_string();
        let env = HashMap::from([("JWT_SECRET_KEY_FILE", path.clone())]);
        let lookup = with_secret_files(|n: &str| env.get(n).cloned(), &[VARS])?;
        // Only the newline goes: the space before it is part of the secret.
        assert_eq!(
            lookup(JWT_SECRET_KEY).as_deref(),
            Some("0123456789abcdef0123456789abcdef ")
        );

        let both = HashMap::from([
            ("JWT_SECRET_KEY_FILE", path),
            ("JWT_SECRET_KEY", "x".repeat(32)),
        ]);
        let err = with_secret_files(|n: &str| both.get(n).cloned(), &[VARS]).err();
        assert_eq!(err.map(|e| e.variable).as_deref(), Some(JWT_SECRET_KEY));

        let missing = HashMap::from([("JWT_KEYS_FILE", dir.join("nope").display().to_string())]);
        let err = with_secret_files(|n: &str| missing.get(n).cloned(), &[VARS]).err();
        assert_eq!(err.map(|e| e.variable).as_deref(), Some("JWT_KEYS_FILE"));

        // Not a secret: its _FILE is not read.
        let plain = HashMap::from([("LOG_LEVEL_FILE", "/nonexistent".to_owned())]);
        assert!(with_secret_files(|n: &str| plain.get(n).cloned(), &[VARS]).is_ok());
        let _ = std::fs::remove_dir_all(&dir);
        Ok(())
    }

    fn load(vars: &[(&str, &str)]) -> Result<CommonConfig, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let lookup = move |k: &str| map.get(k).cloned();
        CommonConfig::from_env(&Env::new(&lookup), "1.2.3")
    }

    const KEY: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn defaults_follow_the_contract() -> Result<(), ConfigError> {
        let config = load(&[(JWT_SECRET_KEY, KEY)])?;
        assert_eq!(config.service_name, "auth-service");
        assert_eq!(config.service_version, "1.2.3");
        assert_eq!(config.max_body_bytes, 65_536);
        assert_eq!(config.tokens.access_ttl, TimeDelta::hours(24));
        assert_eq!(config.tokens.refresh_ttl, TimeDelta::days(7));
        assert_eq!(config.tokens.leeway_seconds, 30);
        assert_eq!(config.nats_stream, "AUTH");
        assert_eq!(config.nats_subject_prefix, "auth");
        assert_eq!(config.tokens.keys.active().kid(), "default");
        assert_eq!(config.log_format, crate::telemetry::LogFormat::Text);
        Ok(())
    }

    fn failing_variable(vars: &[(&str, &str)]) -> Option<String> {
        load(vars).err().map(|e| e.variable)
    }

    #[test]
    fn each_bad_value_names_its_variable_and_not_its_value() {
        assert_eq!(failing_variable(&[]), Some(JWT_SECRET_KEY.into()));
        assert_eq!(
            failing_variable(&[(JWT_SECRET_KEY, "short")]),
            Some(JWT_SECRET_KEY.into())
        );
        assert_eq!(
            failing_variable(&[(JWT_SECRET_KEY, KEY), (JWT_ALGORITHM, "RS256")]),
            Some(JWT_ALGORITHM.into())
        );
        assert_eq!(
            failing_variable(&[(JWT_SECRET_KEY, KEY), (JWT_LEEWAY_SECONDS, "soon")]),
            Some(JWT_LEEWAY_SECONDS.into())
        );
        assert_eq!(
            failing_variable(&[(JWT_SECRET_KEY, KEY), (JWT_LEEWAY_SECONDS, "3601")]),
            Some(JWT_LEEWAY_SECONDS.into())
        );
        assert_eq!(
            failing_variable(&[(JWT_SECRET_KEY, KEY), (ENVIRONMENT, "staging")]),
            Some(ENVIRONMENT.into())
        );
        assert_eq!(
            failing_variable(&[(JWT_SECRET_KEY, KEY), (LOG_FORMAT, "yaml")]),
            Some(LOG_FORMAT.into())
        );
        assert_eq!(
            failing_variable(&[(JWT_KEYS, "a=tooshort")]),
            Some(JWT_KEYS.into())
        );
        let keys = format!("a={KEY},b={KEY}");
        assert_eq!(
            failing_variable(&[(JWT_KEYS, keys.as_str()), (JWT_ACTIVE_KID, "c")]),
            Some(JWT_ACTIVE_KID.into())
        );
        for nats in [
            "http://nats:4222",
            "nats://nats:port",
            "nats://a:4222,nats://b:4222",
            "nats://",
            "nats://na ts",
        ] {
            assert_eq!(
                failing_variable(&[(JWT_SECRET_KEY, KEY), (NATS_URL, nats)]),
                Some(NATS_URL.into()),
                "{nats}"
            );
        }
        let message = load(&[
            (JWT_SECRET_KEY, KEY),
            (NATS_URL, "http://user:hunter2@nats:4222"),
        ])
        .err()
        .map(|e| e.to_string());
        assert!(message.is_some_and(|m| !m.contains("hunter2") && m.contains(NATS_URL)));
        let message = load(&[(JWT_SECRET_KEY, "hunter2-secret")])
            .err()
            .map(|e| e.to_string());
        assert!(message.is_some_and(|m| !m.contains("hunter2") && m.contains(JWT_SECRET_KEY)));
    }

    #[test]
    fn nats_url_takes_every_form_the_client_reads() -> Result<(), ConfigError> {
        for nats in [
            "nats://localhost:4222",
            "nats://events:s3cret@nats:4222",
            "tls://nats.internal:4222",
            "ws://nats:8080",
            "nats",
            "nats:4223",
        ] {
            assert_eq!(
                load(&[(JWT_SECRET_KEY, KEY), (NATS_URL, nats)])?.nats_url,
                nats
            );
        }
        Ok(())
    }

    #[test]
    fn token_lifetimes_are_bounded_and_named_when_out_of_range() -> Result<(), ConfigError> {
        let config = load(&[
            (JWT_SECRET_KEY, KEY),
            (JWT_ACCESS_TOKEN_EXPIRE_HOURS, "8760"),
            (JWT_REFRESH_TOKEN_EXPIRE_DAYS, "3650"),
        ])?;
        assert_eq!(config.tokens.access_ttl, TimeDelta::days(365));
        assert_eq!(config.tokens.refresh_ttl, TimeDelta::days(3650));
        for (name, value) in [
            (JWT_ACCESS_TOKEN_EXPIRE_HOURS, "0"),
            (JWT_ACCESS_TOKEN_EXPIRE_HOURS, "8761"),
            // 3600 times this overflows u64: refused, not wrapped or panicking.
            (JWT_ACCESS_TOKEN_EXPIRE_HOURS, "18446744073709551615"),
            (JWT_ACCESS_TOKEN_EXPIRE_HOURS, "18446744073709551616"),
            (JWT_REFRESH_TOKEN_EXPIRE_DAYS, "0"),
            (JWT_REFRESH_TOKEN_EXPIRE_DAYS, "3651"),
            (JWT_REFRESH_TOKEN_EXPIRE_DAYS, "213503982334602"),
        ] {
            let err = load(&[(JWT_SECRET_KEY, KEY), (name, value)]).err();
            assert_eq!(
                err.as_ref().map(|e| e.variable.as_str()),
                Some(name),
                "{name}={value}"
            );
            let message = err.map(|e| e.to_string()).unwrap_or_default();
            assert!(message.contains("from 1 to"), "{message}");
        }
        Ok(())
    }

    #[test]
    fn a_span_is_checked_before_it_is_multiplied() {
        let map = HashMap::from([("HUGE", u64::MAX.to_string())]);
        let lookup = move |k: &str| map.get(k).cloned();
        let env = Env::new(&lookup);
        let err = env.span_in("HUGE", 1, 1..=u64::MAX, TimeUnit::Days).err();
        assert_eq!(err, Some(ConfigError::new("HUGE", "is too large")));
        assert_eq!(
            env.span_in("UNSET", 90, 1..=100, TimeUnit::Seconds),
            Ok(TimeDelta::seconds(90))
        );
    }

    #[test]
    fn jwt_keys_overrides_the_single_secret_and_picks_the_active_kid() -> Result<(), ConfigError> {
        let keys = format!("old={KEY},new={KEY}");
        let config = load(&[
            (JWT_SECRET_KEY, KEY),
            (JWT_KEYS, keys.as_str()),
            (JWT_ACTIVE_KID, "new"),
        ])?;
        assert_eq!(config.tokens.keys.active().kid(), "new");
        assert!(config.tokens.keys.find("old").is_some());
        Ok(())
    }
}
