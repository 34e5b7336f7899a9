//! The mailer's command line: the shared one ([`common::cli`]), over the few shared settings
//! the mailer reads and its own.

use std::net::SocketAddr;

use common::cli::Service;
use common::config::CommonConfig;
use common::settings::{ConfigError, Env, Var};
use common::telemetry::{LogFormat, TraceExport};

use crate::app::App;
use crate::config::{MailerConfig, MailerSettings};

impl Service for MailerConfig {
    const NAME: &'static str = "mailer";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const SERVE: &'static str = "follow the email events and send the emails (the default)";
    const TABLES: &'static [&'static [Var]] = &[crate::config::VARS];

    fn from_lookup(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        MailerConfig::from_lookup(lookup)
    }

    /// The mailer reads no key and serves no HTTPS: it has no shared configuration to check.
    fn common(&self) -> Option<&CommonConfig> {
        None
    }

    fn logging(&self) -> (&str, LogFormat) {
        (&self.log_level, self.log_format)
    }

    fn traces(&self) -> Option<&TraceExport> {
        self.traces.as_ref()
    }

    fn shared_vars() -> Vec<Var> {
        crate::config::shared_vars()
    }

    fn addr(env: &Env) -> Result<SocketAddr, ConfigError> {
        Ok(MailerSettings::read(env)?.addr)
    }

    /// What the table's lines do not say; no password appears in it.
    fn summary(&self) -> Result<Vec<String>, ConfigError> {
        Ok(vec![
            format!(
                "nats: {}, stream {}, consumer {}",
                common::settings::redact_url(&self.nats_url),
                self.nats_stream,
                crate::consumer::CONSUMER
            ),
            format!(
                "smtp: {}, security: {}, login: {}",
                self.smtp.redacted_url(),
                self.smtp.security(),
                if self.smtp.has_login() { "yes" } else { "no" }
            ),
            self.nats.summary(),
            format!("from: {}", self.from),
        ])
    }

    async fn serve(self) -> anyhow::Result<()> {
        tracing::info!(
            service = %self.service_name,
            version = %self.service_version,
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
