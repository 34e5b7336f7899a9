//! Integration tests: the real issuer, in process, against the real Postgres. Each test gets
//! its own database, so they run in parallel.

mod harness;

mod health;
mod http_hygiene;
mod login;
mod me_and_validate;
mod refresh_logout;
mod register;
mod timing;
mod verify_email;
