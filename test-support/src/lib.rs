//! Fixtures the workspace's tests share, one module for each thing they start or reach:
//!
//! - [`binary`]: a service binary run as an operator runs it (its log lines, its listening
//!   address, its exit code), and plain HTTP/1.1 to it.
//! - [`database`]: the tests' Postgres: URLs, a name for a test's own database, `psql`.
//! - [`nats`]: the tests' NATS: a stream of a test's own, and a private `nats-server` that a
//!   fault test may stop and start.
//! - [`cert`]: a self-signed certificate written to files, for services that serve HTTPS.
//! - [`net`]: a free loopback port, for servers that cannot report the one they chose.
//! - [`poll`]: waiting for a condition with a deadline, never a fixed sleep.
//! - [`accounts`]: the password, register body and argon2 settings tests use for accounts.
//!
//! A fixture that fails panics: it is test code, and a failed fixture is a failed test.

// Fixtures fail by panicking, which fails the test that uses them.
#![allow(clippy::panic)]

pub mod accounts;
pub mod binary;
pub mod cert;
pub mod database;
pub mod nats;
pub mod net;
pub mod poll;
