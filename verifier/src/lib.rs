//! The verifier: a stateless forward-auth sidecar. It validates access tokens with the shared
//! HS256 keys and never touches a database.

pub mod app;
pub mod cli;
pub mod config;
pub mod metrics;
pub mod revocations;
pub mod routes;
pub mod rules;
pub mod state;
