//! What a client may cost a service: connection and request limits, and the optional TLS files.
//!
//! Every value is read and checked at start; an error names the variable.

use std::path::PathBuf;
use std::time::Duration;

use crate::body_budget::{BodyBudget, DEFAULT_BYTES_IN_FLIGHT};
use crate::config::{ConfigError, Env};

pub const HEADER_READ_TIMEOUT_SECONDS: &str = "HEADER_READ_TIMEOUT_SECONDS";
pub const BODY_READ_TIMEOUT_SECONDS: &str = "BODY_READ_TIMEOUT_SECONDS";
pub const KEEP_ALIVE_TIMEOUT_SECONDS: &str = "KEEP_ALIVE_TIMEOUT_SECONDS";
pub const MAX_CONNECTIONS: &str = "MAX_CONNECTIONS";
pub const MAX_HEADER_BYTES: &str = "MAX_HEADER_BYTES";
pub const MAX_HEADERS: &str = "MAX_HEADERS";
pub const HTTP2_MAX_CONCURRENT_STREAMS: &str = "HTTP2_MAX_CONCURRENT_STREAMS";
pub const TLS_CERT_FILE: &str = "TLS_CERT_FILE";
pub const TLS_KEY_FILE: &str = "TLS_KEY_FILE";
pub const TLS_HANDSHAKE_TIMEOUT_SECONDS: &str = "TLS_HANDSHAKE_TIMEOUT_SECONDS";
pub const MAX_BODY_BYTES_IN_FLIGHT: &str = "MAX_BODY_BYTES_IN_FLIGHT";

/// The smallest read buffer hyper accepts; a header block must fit in it.
const MIN_HEADER_BYTES: u64 = 8192;

/// Connection-level limits applied by the accept loop and hyper.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerLimits {
    /// A request's headers must arrive within this; an HTTP/1.1 connection waiting for the next
    /// request's headers is closed after it too.
    pub header_read_timeout: Duration,
    /// A request body must arrive completely within this.
    pub body_read_timeout: Duration,
    /// A connection with no request in flight and no traffic is closed after this.
    pub keep_alive_timeout: Duration,
    /// Connections served at once; more are refused with 503.
    pub max_connections: usize,
    /// The request line plus headers, in bytes (HTTP/1.1); the header list size (HTTP/2).
    pub max_header_bytes: usize,
    /// Header fields per request (HTTP/1.1).
    pub max_headers: usize,
    /// Streams one HTTP/2 connection may have open at once.
    pub http2_max_concurrent_streams: u32,
    /// The TLS handshake must finish within this.
    pub tls_handshake_timeout: Duration,
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(10),
            keep_alive_timeout: Duration::from_secs(75),
            max_connections: 10_000,
            max_header_bytes: 32_768,
            max_headers: 100,
            http2_max_concurrent_streams: 100,
            tls_handshake_timeout: Duration::from_secs(10),
        }
    }
}

impl ServerLimits {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let defaults = ServerLimits::default();
        let seconds = |name: &str, default: Duration| -> Result<Duration, ConfigError> {
            let value = env.number_or(name, default.as_secs(), 1)?;
            if value > 3600 {
                return Err(ConfigError::new(name, "must be <= 3600"));
            }
            Ok(Duration::from_secs(value))
        };
        let size = |name: &str, default: usize, min: u64, max: u64| -> Result<usize, ConfigError> {
            let value = env.number_or(name, default as u64, min)?;
            if value > max {
                return Err(ConfigError::new(name, format!("must be <= {max}")));
            }
            usize::try_from(value).map_err(|_| ConfigError::new(name, "is too large"))
        };
        let header_read_timeout = env.number_or(
            HEADER_READ_TIMEOUT_SECONDS,
            defaults.header_read_timeout.as_secs(),
            1,
        )?;
        if header_read_timeout > 60 {
            return Err(ConfigError::new(
                HEADER_READ_TIMEOUT_SECONDS,
                "must be <= 60",
            ));
        }
        let streams = size(
            HTTP2_MAX_CONCURRENT_STREAMS,
            defaults.http2_max_concurrent_streams as usize,
            1,
            10_000,
        )?;
        Ok(ServerLimits {
            header_read_timeout: Duration::from_secs(header_read_timeout),
            body_read_timeout: seconds(BODY_READ_TIMEOUT_SECONDS, defaults.body_read_timeout)?,
            keep_alive_timeout: seconds(KEEP_ALIVE_TIMEOUT_SECONDS, defaults.keep_alive_timeout)?,
            max_connections: size(MAX_CONNECTIONS, defaults.max_connections, 1, 1_000_000)?,
            max_header_bytes: size(
                MAX_HEADER_BYTES,
                defaults.max_header_bytes,
                MIN_HEADER_BYTES,
                1 << 20,
            )?,
            max_headers: size(MAX_HEADERS, defaults.max_headers, 1, 10_000)?,
            http2_max_concurrent_streams: u32::try_from(streams)
                .map_err(|_| ConfigError::new(HTTP2_MAX_CONCURRENT_STREAMS, "is too large"))?,
            tls_handshake_timeout: seconds(
                TLS_HANDSHAKE_TIMEOUT_SECONDS,
                defaults.tls_handshake_timeout,
            )?,
        })
    }
}

/// The certificate chain and private key to serve HTTPS with (PEM files).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
}

impl TlsFiles {
    /// `None` when neither variable is set; one without the other is an error naming the
    /// missing one.
    pub fn from_env(env: &Env) -> Result<Option<Self>, ConfigError> {
        match (env.get(TLS_CERT_FILE), env.get(TLS_KEY_FILE)) {
            (None, None) => Ok(None),
            (Some(cert), Some(key)) => Ok(Some(TlsFiles {
                cert_file: PathBuf::from(cert.trim()),
                key_file: PathBuf::from(key.trim()),
            })),
            (Some(_), None) => Err(ConfigError::new(
                TLS_KEY_FILE,
                "is required when TLS_CERT_FILE is set",
            )),
            (None, Some(_)) => Err(ConfigError::new(
                TLS_CERT_FILE,
                "is required when TLS_KEY_FILE is set",
            )),
        }
    }
}

/// How much of a request body a handler reads, for how long it waits for it, and the
/// process-wide budget its bytes are held against.
#[derive(Debug, Clone)]
pub struct BodyLimits {
    pub max_bytes: usize,
    pub timeout: Duration,
    pub budget: BodyBudget,
}

impl BodyLimits {
    pub fn new(max_bytes: usize, timeout: Duration, budget: BodyBudget) -> Self {
        BodyLimits {
            max_bytes,
            timeout,
            budget,
        }
    }
}

impl crate::config::CommonConfig {
    /// `MAX_BODY_BYTES`, `BODY_READ_TIMEOUT_SECONDS` and the budget of
    /// `MAX_BODY_BYTES_IN_FLIGHT`, for [`crate::http::read_body`].
    pub fn body_limits(&self) -> BodyLimits {
        BodyLimits::new(
            self.max_body_bytes,
            self.limits.body_read_timeout,
            self.body_budget.clone(),
        )
    }
}

/// The budget of body bytes in flight: at least `max_body_bytes`, so that one body of the
/// largest size can always be read. Unset, it is 16 MiB, or `max_body_bytes` when larger.
pub fn body_budget_from_env(env: &Env, max_body_bytes: usize) -> Result<BodyBudget, ConfigError> {
    let floor = max_body_bytes as u64;
    let bytes = env.number_or(
        MAX_BODY_BYTES_IN_FLIGHT,
        (DEFAULT_BYTES_IN_FLIGHT as u64).max(floor),
        0,
    )?;
    if bytes < floor {
        return Err(ConfigError::new(
            MAX_BODY_BYTES_IN_FLIGHT,
            format!("must be >= MAX_BODY_BYTES ({max_body_bytes})"),
        ));
    }
    let bytes = usize::try_from(bytes)
        .map_err(|_| ConfigError::new(MAX_BODY_BYTES_IN_FLIGHT, "is too large"))?;
    Ok(BodyBudget::new(bytes))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn with(vars: &[(&str, &str)]) -> HashMap<String, String> {
        vars.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn limits(vars: &[(&str, &str)]) -> Result<ServerLimits, ConfigError> {
        let map = with(vars);
        let lookup = move |k: &str| map.get(k).cloned();
        ServerLimits::from_env(&Env::new(&lookup))
    }

    fn tls(vars: &[(&str, &str)]) -> Result<Option<TlsFiles>, ConfigError> {
        let map = with(vars);
        let lookup = move |k: &str| map.get(k).cloned();
        TlsFiles::from_env(&Env::new(&lookup))
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        assert_eq!(limits(&[]), Ok(ServerLimits::default()));
        let defaults = ServerLimits::default();
        assert_eq!(defaults.header_read_timeout, Duration::from_secs(10));
        assert_eq!(defaults.body_read_timeout, Duration::from_secs(10));
        assert_eq!(defaults.keep_alive_timeout, Duration::from_secs(75));
        assert_eq!(defaults.max_connections, 10_000);
        assert_eq!(defaults.max_header_bytes, 32_768);
        assert_eq!(defaults.max_headers, 100);
        assert_eq!(defaults.tls_handshake_timeout, Duration::from_secs(10));
    }

    #[test]
    fn values_are_read() -> Result<(), ConfigError> {
        let read = limits(&[
            (HEADER_READ_TIMEOUT_SECONDS, "2"),
            (BODY_READ_TIMEOUT_SECONDS, "3"),
            (KEEP_ALIVE_TIMEOUT_SECONDS, "4"),
            (MAX_CONNECTIONS, "5"),
            (MAX_HEADER_BYTES, "8192"),
            (MAX_HEADERS, "7"),
            (HTTP2_MAX_CONCURRENT_STREAMS, "8"),
            (TLS_HANDSHAKE_TIMEOUT_SECONDS, "9"),
        ])?;
        assert_eq!(
            read,
            ServerLimits {
                header_read_timeout: Duration::from_secs(2),
                body_read_timeout: Duration::from_secs(3),
                keep_alive_timeout: Duration::from_secs(4),
                max_connections: 5,
                max_header_bytes: 8192,
                max_headers: 7,
                http2_max_concurrent_streams: 8,
                tls_handshake_timeout: Duration::from_secs(9),
            }
        );
        Ok(())
    }

    #[test]
    fn each_bad_value_names_its_variable() {
        let cases: &[(&str, &str)] = &[
            (HEADER_READ_TIMEOUT_SECONDS, "0"),
            (HEADER_READ_TIMEOUT_SECONDS, "61"),
            (HEADER_READ_TIMEOUT_SECONDS, "ten"),
            (BODY_READ_TIMEOUT_SECONDS, "0"),
            (BODY_READ_TIMEOUT_SECONDS, "-1"),
            (KEEP_ALIVE_TIMEOUT_SECONDS, "0"),
            (KEEP_ALIVE_TIMEOUT_SECONDS, "3601"),
            (MAX_CONNECTIONS, "0"),
            (MAX_CONNECTIONS, "many"),
            (MAX_HEADER_BYTES, "8191"),
            (MAX_HEADER_BYTES, "99999999"),
            (MAX_HEADERS, "0"),
            (HTTP2_MAX_CONCURRENT_STREAMS, "0"),
            (TLS_HANDSHAKE_TIMEOUT_SECONDS, "0"),
            (TLS_HANDSHAKE_TIMEOUT_SECONDS, "1.5"),
        ];
        for (name, value) in cases {
            let variable = limits(&[(name, value)]).err().map(|e| e.variable);
            assert_eq!(variable.as_deref(), Some(*name), "{name}={value}");
        }
    }

    #[test]
    fn tls_needs_both_files_and_names_the_missing_one() {
        assert_eq!(tls(&[]), Ok(None));
        assert_eq!(
            tls(&[(TLS_CERT_FILE, "cert.pem"), (TLS_KEY_FILE, "key.pem")]),
            Ok(Some(TlsFiles {
                cert_file: "cert.pem".into(),
                key_file: "key.pem".into(),
            }))
        );
        let missing = |vars: &[(&str, &str)]| tls(vars).err().map(|e| e.variable);
        assert_eq!(
            missing(&[(TLS_CERT_FILE, "cert.pem")]).as_deref(),
            Some(TLS_KEY_FILE)
        );
        assert_eq!(
            missing(&[(TLS_KEY_FILE, "key.pem")]).as_deref(),
            Some(TLS_CERT_FILE)
        );
    }

    fn budget(vars: &[(&str, &str)], max_body_bytes: usize) -> Result<usize, ConfigError> {
        let map = with(vars);
        let lookup = move |k: &str| map.get(k).cloned();
        body_budget_from_env(&Env::new(&lookup), max_body_bytes).map(|b| b.limit())
    }

    #[test]
    fn the_body_budget_defaults_to_16_mib_and_holds_at_least_one_largest_body() {
        assert_eq!(budget(&[], 65_536), Ok(16 * 1024 * 1024));
        assert_eq!(budget(&[], 32 << 20), Ok(32 << 20));
        assert_eq!(
            budget(&[(MAX_BODY_BYTES_IN_FLIGHT, "1048576")], 65_536),
            Ok(1_048_576)
        );
        assert_eq!(
            budget(&[(MAX_BODY_BYTES_IN_FLIGHT, "65536")], 65_536),
            Ok(65_536)
        );
        for value in ["65535", "0", "-1", "lots", "1.5"] {
            let variable = budget(&[(MAX_BODY_BYTES_IN_FLIGHT, value)], 65_536)
                .err()
                .map(|e| e.variable);
            assert_eq!(
                variable.as_deref(),
                Some(MAX_BODY_BYTES_IN_FLIGHT),
                "{value}"
            );
        }
    }
}
