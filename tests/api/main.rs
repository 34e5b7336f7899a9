//! Integration tests: the real issuer and verifier, in process, against the real Postgres, and
//! behind real nginx and Caddy. Each test gets its own database, so they run in parallel.

mod harness;
mod services;

mod events;
mod health;
mod hostile_bodies;
mod hostile_forward_auth;
mod hostile_tokens;
mod http_hygiene;
mod login;
mod me_and_validate;
mod proxies;
mod refresh_logout;
mod register;
mod timing;
mod verifier;
mod verify_email;
