//! What the latest connection attempt said about the settings: a refusal that retrying will
//! not cure, kept for readiness.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

use async_nats::{ConnectErrorKind, Event};

/// Why the server would not have us: a refusal that retrying will not cure, unlike a server
/// that is down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The server answered "authorization violation": the credentials are wrong or unknown.
    Authorization,
    /// The TLS handshake failed: the server's certificate is not trusted, or ours is refused.
    Tls,
}

impl Refusal {
    /// The readiness reason.
    pub fn reason(self) -> &'static str {
        match self {
            Refusal::Authorization => "NATS refused the credentials (authorization violation)",
            Refusal::Tls => "the TLS handshake with NATS failed",
        }
    }
}

/// What the latest connection attempt said about the settings, shared between the
/// connection's event callback and readiness; clones share it.
#[derive(Debug, Clone, Default)]
pub struct NatsHealth {
    refusal: Arc<AtomicU8>,
}

const NOT_REFUSED: u8 = 0;
const AUTHORIZATION: u8 = 1;
const TLS: u8 = 2;

impl NatsHealth {
    /// The refusal of the latest attempt that reached the server, until a connection succeeds.
    pub fn refusal(&self) -> Option<Refusal> {
        match self.refusal.load(Ordering::Acquire) {
            AUTHORIZATION => Some(Refusal::Authorization),
            TLS => Some(Refusal::Tls),
            _ => None,
        }
    }

    /// Records what `event` says; a refusal is logged as an error naming the variables that
    /// hold the `credentials` (never their values).
    pub fn observe(&self, event: &Event, credentials: &str) {
        match refusal_of(event) {
            Some(refusal) => {
                let code = match refusal {
                    Refusal::Authorization => AUTHORIZATION,
                    Refusal::Tls => TLS,
                };
                self.refusal.store(code, Ordering::Release);
                match refusal {
                    Refusal::Authorization => tracing::error!(
                        credentials,
                        "NATS refused the connection: authorization violation; check the \
                         credentials and the server's authorization; retrying"
                    ),
                    Refusal::Tls => tracing::error!(
                        "the TLS handshake with NATS failed; check NATS_TLS_CA_FILE, \
                         NATS_TLS_CERT_FILE / NATS_TLS_KEY_FILE and the server's certificate; \
                         retrying"
                    ),
                }
            }
            None if matches!(event, Event::Connected) => {
                self.refusal.store(NOT_REFUSED, Ordering::Release);
            }
            None => {}
        }
    }
}

/// The refusal an event reports: a failed connection attempt, or the server's own error.
fn refusal_of(event: &Event) -> Option<Refusal> {
    match event {
        Event::ServerError(async_nats::ServerError::AuthorizationViolation) => {
            Some(Refusal::Authorization)
        }
        // The client reports a failed attempt by the kind of its error, as text.
        Event::ClientError(async_nats::ClientError::Other(kind)) => {
            if *kind == ConnectErrorKind::AuthorizationViolation.to_string()
                || *kind == ConnectErrorKind::Authentication.to_string()
            {
                Some(Refusal::Authorization)
            } else if *kind == ConnectErrorKind::Tls.to_string() {
                Some(Refusal::Tls)
            } else {
                None
            }
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use async_nats::ConnectErrorKind;

    use super::*;

    #[test]
    fn a_refused_attempt_is_remembered_until_a_connection_succeeds() {
        let health = NatsHealth::default();
        let attempt = |kind: ConnectErrorKind| {
            Event::ClientError(async_nats::ClientError::Other(kind.to_string()))
        };
        health.observe(&attempt(ConnectErrorKind::Io), "none");
        assert_eq!(
            health.refusal(),
            None,
            "a server that is down refuses nothing"
        );
        health.observe(&attempt(ConnectErrorKind::AuthorizationViolation), "none");
        assert_eq!(health.refusal(), Some(Refusal::Authorization));
        health.observe(&Event::Disconnected, "none");
        health.observe(&attempt(ConnectErrorKind::TimedOut), "none");
        assert_eq!(health.refusal(), Some(Refusal::Authorization));
        health.observe(&Event::Connected, "none");
        assert_eq!(health.refusal(), None);
        health.observe(
            &Event::ServerError(async_nats::ServerError::AuthorizationViolation),
            "none",
        );
        assert_eq!(health.clone().refusal(), Some(Refusal::Authorization));
    }
}
