//! The mailer: follows the issuer's `user.registered`, `user.verification_requested` and
//! `user.password_reset_requested` events on JetStream and sends the emails they ask for over
//! SMTP, acknowledging each event only once its email is settled.

pub mod app;
pub mod cli;
pub mod config;
pub mod consumer;
pub mod metrics;
pub mod routes;
pub mod smtp;
pub mod state;
pub mod templates;
