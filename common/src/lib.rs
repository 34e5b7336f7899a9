//! What the issuer and the verifier share.
//!
//! - [`error`]: the contract's error-code table ([`error::ErrorCode`]) and [`error::ApiError`],
//!   the one error type every handler returns.
//! - [`envelope`]: the JSON success / error bodies; the only code that serialises them.
//! - [`http`]: hyper glue: bounded body reading, strict JSON decoding, response builders.
//! - [`server`]: the accept loop with graceful, deadline-bound shutdown.
//! - [`request`]: the per-request wrapper: request id, span, one log line, error to envelope.
//! - [`metrics`]: the Prometheus metrics both services share, and the `/metrics` response.
//! - [`config`]: typed settings read from an injectable lookup (environment plus `.env`).
//! - [`jwt`]: HS256 keys, access / refresh claims, signing and validation.
//! - [`events`]: the event envelope published to NATS and its subjects.
//! - [`telemetry`] and [`shutdown`]: logging set-up and the termination signal.

pub mod config;
pub mod envelope;
pub mod error;
pub mod events;
pub mod http;
pub mod jwt;
pub mod metrics;
pub mod request;
pub mod server;
pub mod shutdown;
pub mod telemetry;

/// The clock in one place, so that domain code receives `now` and tests can move it.
pub mod clock;
