//! Fixtures of the api tests, one module for each thing a test starts: its own database
//! ([`database`], [`private_postgres`], [`tcp_proxy`] in front of Postgres), the issuer and the
//! verifier in process ([`issuer`], [`verifier`]), an upstream and nginx/Caddy in front of them
//! ([`upstream`], [`proxies`]), and the workspace's other binaries ([`binaries`]); with what
//! the services answer ([`client`]) and the tokens they sign ([`tokens`]).
//!
//! What more than one test binary uses (NATS, certificates, ports, polling, binaries run as
//! processes) is in the `test-support` crate; the items tests use most are re-exported here, so
//! that a test file needs one `use crate::harness::{…}`.

pub mod binaries;
pub mod client;
pub mod database;
pub mod issuer;
pub mod private_postgres;
pub mod proxies;
pub mod tcp_proxy;
pub mod tokens;
pub mod upstream;
pub mod verifier;

pub use client::{assert_timestamp, Reply};
pub use issuer::{spawn_issuer, spawn_issuer_at, spawn_issuer_with, TestIssuer, SECRET};
pub use proxies::Proxy;
pub use tcp_proxy::TcpProxy;
pub use tokens::{access_claims, claims, codec, default_header, forge, sign_access};
pub use upstream::EchoUpstream;
pub use verifier::{
    spawn_later_verifier_with, spawn_unready_verifier_with, spawn_verifier, spawn_verifier_for,
    spawn_verifier_with, TestVerifier,
};

pub use test_support::accounts::{unique_email, PASSWORD};
pub use test_support::nats::{nats_url, NatsSettings, TestNats};
pub use test_support::poll::eventually;
