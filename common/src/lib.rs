//! What the issuer and the verifier share.
//!
//! - [`error`]: the contract's error-code table ([`error::ErrorCode`]) and [`error::ApiError`],
//!   the one error type every handler returns.
//! - [`envelope`]: the JSON success / error bodies; the only code that serialises them.
//! - [`api`]: the request bodies of the contract, as types.
//! - [`http`]: hyper glue: bounded body reading, strict JSON decoding, response builders.
//! - [`server`]: the accept loop: connection cap, TLS, timeouts, graceful shutdown.
//! - [`tls`]: the rustls set-up for HTTPS and the `healthcheck` client.
//! - [`body_budget`]: the request-body bytes a process holds at once, shared by all requests.
//! - [`cors`]: CORS for the browser API routes, per `ALLOWED_ORIGINS`.
//! - [`request`]: the per-request wrapper: request id, span, one log line, error to envelope.
//! - [`router`]: a service's route table and matching: 404, 405 with `Allow`, preflight.
//! - [`service`]: the shell around a service's handlers: CORS, table, wrapper, accept loop.
//! - [`cli`]: the one command line of both services (serve, check-config, healthcheck,
//!   help, version); help and `check-config` come from the settings tables.
//! - [`metrics`]: the Prometheus metrics both services share, and the `/metrics` response.
//! - [`settings`]: settings declared once per table (`settings!`): parsing, help, docs.
//! - [`config`]: the shared settings table and [`config::CommonConfig`] built from it.
//! - [`jwt`]: HS256 keys, access / refresh claims, signing and validation.
//! - [`events`]: the event envelope published to NATS and its subjects.
//! - [`nats`]: the one way to connect to NATS: credentials, TLS, and refusals for readiness.
//! - [`telemetry`] and [`shutdown`]: logging set-up and the termination signal.

pub mod api;
pub mod body_budget;
pub mod cli;
pub mod config;
pub mod cors;
pub mod envelope;
pub mod error;
pub mod events;
pub mod http;
pub mod jwt;
pub mod metrics;
pub mod nats;
pub mod request;
pub mod router;
pub mod server;
pub mod service;
pub mod settings;
pub mod shutdown;
pub mod telemetry;
pub mod tls;

/// The clock in one place, so that domain code receives `now` and tests can move it.
pub mod clock;
