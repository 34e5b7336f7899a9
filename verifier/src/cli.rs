//! The verifier's command line: the shared one ([`common::cli`]) and nothing more.

use std::net::SocketAddr;

use common::cli::Service;
use common::config::CommonConfig;
use common::settings::{ConfigError, Env};

use crate::app::App;
use crate::config::{VerifierConfig, VerifierSettings};

impl Service for VerifierConfig {
    const NAME: &'static str = "verifier";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const SERVE: &'static str = "run the service (the default)";
    const TABLES: &'static [&'static [common::settings::Var]] = &[crate::config::VARS];

    fn from_lookup(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        VerifierConfig::from_lookup(lookup)
    }

    fn common(&self) -> Option<&CommonConfig> {
        Some(&self.common)
    }

    fn addr(env: &Env) -> Result<SocketAddr, ConfigError> {
        Ok(VerifierSettings::read(env)?.addr)
    }

    async fn serve(self) -> anyhow::Result<()> {
        tracing::info!(
            service = %self.common.settings.service_name,
            version = %self.common.service_version,
            keys = ?self.common.tokens.keys,
            "verifier starting"
        );
        App::build(self)
            .await?
            .run_until(common::shutdown::signal())
            .await;
        Ok(())
    }
}
