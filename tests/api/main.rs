//! Integration tests: the real issuer and verifier, in process, against the real Postgres, and
//! behind real nginx and Caddy. Each test gets its own database, so they run in parallel.

#[path = "../support/binary.rs"]
mod binary;
mod built;
mod harness;
mod private_postgres;
mod raw_h2;
mod raw_http;
mod services;

mod accounts;
mod cors;
mod crash_under_load;
mod deploy;
mod docs;
mod event_delivery;
mod events;
mod events_after_cut;
mod example_subscriber;
mod examples;
mod health;
mod hostile_bodies;
mod hostile_emails;
mod hostile_forward_auth;
mod hostile_http;
mod hostile_sessions;
mod hostile_tokens;
mod http2_abuse;
mod http_hygiene;
mod key_rotation;
mod lockout;
mod login;
mod me_and_validate;
mod metrics;
mod migrations;
mod nats_auth;
mod openapi;
mod passwords;
mod postgres_tls;
mod proxies;
mod proxy_revocation;
mod rate_limits;
mod readiness;
mod refresh_logout;
mod register;
mod sessions;
mod timing;
mod tls;
mod tls_connection_cap;
mod verifier;
mod verify_email;
