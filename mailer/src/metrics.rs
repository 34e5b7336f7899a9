//! The mailer's metrics: the shared HTTP families for its own few routes, what became of each
//! email, the consumer's backlog and NATS.

use common::envelope::Response;
use common::error::ApiError;
use common::metrics::{self as shared, HttpMetrics};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

#[derive(Debug)]
pub struct MailerMetrics {
    registry: Registry,
    pub http: HttpMetrics,
    /// Emails the SMTP server accepted.
    pub sent: Counter,
    /// Events acknowledged without an email because none can ever be sent: the server refused
    /// the message for good (5xx), or the event cannot be read.
    pub failed: Counter,
    /// Attempts given back to the stream to be tried again later (SMTP down, 4xx, login).
    pub retried: Counter,
    /// Events acknowledged without an email because the link in it could no longer be used.
    pub skipped: Counter,
    /// The consumer's pending count: events in the stream not yet delivered to the mailer.
    pub pending: Gauge,
    nats_connected: Gauge,
}

impl MailerMetrics {
    /// `routes` (method, path template) are the router's routes.
    pub fn new(routes: &[(&'static str, &'static str)]) -> Self {
        let mut registry = Registry::default();
        let http = HttpMetrics::register(&mut registry, routes);
        MailerMetrics {
            sent: shared::counter(&mut registry, "emails_sent", "Emails the SMTP server accepted"),
            failed: shared::counter(
                &mut registry,
                "emails_failed",
                "Events dropped without an email: refused for good by the SMTP server (5xx) or unreadable",
            ),
            retried: shared::counter(
                &mut registry,
                "email_retries",
                "Sending attempts put back to be retried later (SMTP unreachable, 4xx, login refused)",
            ),
            skipped: shared::counter(
                &mut registry,
                "emails_skipped",
                "Events acknowledged without an email because their link had expired",
            ),
            pending: shared::gauge(
                &mut registry,
                "email_events_pending",
                "Email events in the stream not yet delivered to the mailer (the consumer's pending count)",
            ),
            nats_connected: shared::nats_connected(&mut registry),
            registry,
            http,
        }
    }

    /// `GET /metrics`; `pending` is the consumer's count when it could be read just now.
    pub fn render(&self, nats_connected: bool, pending: Option<u64>) -> Result<Response, ApiError> {
        self.nats_connected.set(i64::from(nats_connected));
        if let Some(pending) = pending {
            self.pending.set(i64::try_from(pending).unwrap_or(i64::MAX));
        }
        shared::response(&self.registry)
    }
}
