//! The mailer's command line: the shared one ([`common::cli`]), over the few shared settings
//! the mailer reads and its own.

use common::cli::Service;
use common::config::Shared;
use common::settings::{ConfigError, Var};

use crate::app::App;
use crate::config::{MailerConfig, MailerSettings, MAILER_ADDR};

impl Service for MailerConfig {
    const NAME: &'static str = "mailer";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const SERVE: &'static str = "follow the email events and send the emails (the default)";
    const SHARED: &'static [&'static [Var]] = Shared::TABLES;
    const OWN: &'static [Var] = MailerSettings::VARS;
    const ADDR: &'static str = MAILER_ADDR;

    fn from_lookup(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        MailerConfig::from_lookup(lookup)
    }

    fn shared(&self) -> &Shared {
        &self.shared
    }

    /// What the table's lines do not say; no password appears in it.
    fn summary(&self) -> Result<Vec<String>, ConfigError> {
        Ok(vec![
            format!(
                "nats: {}, stream {}, consumer {}",
                common::settings::redact_url(&self.shared.events.nats_url),
                self.shared.events.nats_stream,
                crate::consumer::CONSUMER
            ),
            format!(
                "smtp: {}, security: {}, login: {}",
                self.smtp.redacted_url(),
                self.smtp.security(),
                if self.smtp.has_login() { "yes" } else { "no" }
            ),
            format!("from: {}", self.from),
        ])
    }

    async fn serve(self) -> anyhow::Result<()> {
        tracing::info!(
            service = %self.shared.service.service_name,
            version = %self.shared.version,
            smtp = %self.smtp.redacted_url(),
            "mailer starting"
        );
        App::build(self)
            .await?
            .run_until(common::shutdown::signal())
            .await;
        Ok(())
    }
}
