//! The verifier's command line: the shared one ([`common::cli`]) and nothing more.

use common::cli::Service;
use common::config::{CommonConfig, Shared};
use common::settings::{ConfigError, Var};

use crate::app::App;
use crate::config::{VerifierConfig, VerifierSettings, VERIFIER_ADDR};

impl Service for VerifierConfig {
    const NAME: &'static str = "verifier";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const SERVE: &'static str = "run the service (the default)";
    const SHARED: &'static [&'static [Var]] = CommonConfig::TABLES;
    const OWN: &'static [Var] = VerifierSettings::VARS;
    const ADDR: &'static str = VERIFIER_ADDR;

    fn from_lookup(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        VerifierConfig::from_lookup(lookup)
    }

    fn shared(&self) -> &Shared {
        &self.common.shared
    }

    fn common(&self) -> Option<&CommonConfig> {
        Some(&self.common)
    }

    async fn serve(self) -> anyhow::Result<()> {
        tracing::info!(
            service = %self.common.shared.service.service_name,
            version = %self.common.shared.version,
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
