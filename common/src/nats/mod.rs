//! The one way to reach NATS: how a service proves who it is (a `.creds` file, an NKey seed,
//! user and password, or a token) and how it checks the server (TLS), read from the
//! environment and checked at start; the client options built from them; and what the
//! connection last failed on, for readiness.
//!
//! Every service (and the example subscriber) connects through [`connect_options`], so they
//! all retry the first connection in the background, time out the same way and log the same
//! events.

use std::sync::Arc;
use std::time::Duration;

use async_nats::ConnectOptions;
use secrecy::ExposeSecret;

mod health;
mod settings;

pub use health::{NatsHealth, Refusal};
pub use settings::{NatsAuth, NatsSettings, NatsTls};

/// The credential and TLS variables: the table [`NatsCredentialSettings`].
pub use settings::{
    NatsCredentialSettings, NATS_CREDS_FILE, NATS_NKEY_SEED, NATS_PASSWORD, NATS_TLS_CA_FILE,
    NATS_TLS_CERT_FILE, NATS_TLS_KEY_FILE, NATS_TOKEN, NATS_USER,
};

/// How long one attempt to reach the server may take.
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(2);

/// The client options every service connects with: its name, these credentials and TLS,
/// the first connection retried in the background (a service starts with NATS down),
/// [`CONNECTION_TIMEOUT`] per attempt, every connection event logged and reported to
/// `health`.
pub fn connect_options(
    settings: &NatsSettings,
    client_name: &str,
    health: &NatsHealth,
) -> ConnectOptions {
    let health = health.clone();
    let credentials = settings.auth.variables();
    let options = ConnectOptions::new()
        .name(client_name)
        .retry_on_initial_connect()
        .connection_timeout(CONNECTION_TIMEOUT)
        .event_callback(move |event| {
            let health = health.clone();
            async move {
                tracing::info!(%event, "nats connection event");
                health.observe(&event, credentials);
            }
        });
    let options = match &settings.auth {
        NatsAuth::None => options,
        NatsAuth::Credentials { jwt, key } => {
            let key = Arc::clone(key);
            options.jwt(jwt.clone(), move |nonce| {
                let key = Arc::clone(&key);
                async move { key.sign(&nonce).map_err(async_nats::AuthError::new) }
            })
        }
        NatsAuth::NKey { seed } => options.nkey(seed.expose_secret().to_owned()),
        NatsAuth::UserPassword { user, password } => {
            options.user_and_password(user.clone(), password.expose_secret().to_owned())
        }
        NatsAuth::Token { token } => options.token(token.expose_secret().to_owned()),
    };
    let mut options = options.require_tls(settings.tls.required);
    if let Some(ca) = &settings.tls.ca_file {
        options = options.add_root_certificates(ca.clone());
    }
    if let Some((cert, key)) = &settings.tls.client {
        options = options.add_client_certificate(cert.clone(), key.clone());
    }
    options
}
