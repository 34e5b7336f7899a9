//! The issuer: registration, email verification, login and sessions, on Postgres.

pub mod app;
pub mod auth;
pub mod cli;
pub mod client_ip;
pub mod config;
pub mod db;
pub mod error;
pub mod events;
pub mod housekeeping;
pub mod metrics;
pub mod operator;
pub mod rate_limit;
pub mod relay;
pub mod routes;
pub mod state;
