//! The issuer's command line: the shared one ([`common::cli`]), plus `migrate` and the
//! operator commands ([`crate::operator`]).

use std::process::ExitCode;

use common::cli::{self, Service};
use common::config::{CommonConfig, Shared};
use common::settings::{ConfigError, Var};
use tokio_postgres::config::Host;

use crate::app::App;
use crate::config::{IssuerConfig, IssuerSettings, ISSUER_ADDR};

impl Service for IssuerConfig {
    const NAME: &'static str = "issuer";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const SERVE: &'static str =
        "create and migrate the database, then run the service (the default)";
    const SHARED: &'static [&'static [Var]] = CommonConfig::TABLES;
    const OWN: &'static [Var] = IssuerSettings::VARS;
    const ADDR: &'static str = ISSUER_ADDR;
    const COMMANDS: &'static [(&'static str, &'static str)] = crate::operator::COMMANDS;

    fn from_lookup(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        IssuerConfig::from_lookup(lookup)
    }

    fn shared(&self) -> &Shared {
        &self.common.shared
    }

    fn common(&self) -> Option<&CommonConfig> {
        Some(&self.common)
    }

    /// Where the database is, without its password.
    fn summary(&self) -> Result<Vec<String>, ConfigError> {
        let postgres = &self.postgres.config;
        let ports = postgres.get_ports().iter().chain(std::iter::repeat(&5432));
        let hosts: Vec<String> = (postgres.get_hosts().iter().zip(ports))
            .map(|(host, port)| match host {
                Host::Tcp(name) => format!("{name}:{port}"),
                Host::Unix(path) => format!("{}", path.display()),
            })
            .collect();
        let hosts = if hosts.is_empty() {
            "none".to_owned()
        } else {
            hosts.join(", ")
        };
        let password = if postgres.get_password().is_some() {
            "set"
        } else {
            "not set"
        };
        let database = postgres.get_dbname().unwrap_or("(user name)");
        let user = postgres.get_user().unwrap_or("(none)");
        Ok(vec![format!(
            "database: {database} at {hosts}, user {user}, password {password}"
        )])
    }

    async fn serve(self) -> anyhow::Result<()> {
        let service = &self.common.shared.service;
        tracing::info!(
            service = %service.service_name,
            version = %self.common.shared.version,
            environment = ?service.environment,
            keys = ?self.common.tokens.keys,
            "issuer starting"
        );
        App::build(self)
            .await?
            .run_until(common::shutdown::signal())
            .await;
        Ok(())
    }

    async fn command(args: &[&str]) -> Option<ExitCode> {
        if args == ["migrate"] {
            return Some(migrate().await);
        }
        Some(crate::operator::run(crate::operator::parse(args)?).await)
    }
}

/// `issuer migrate`: creates and migrates the database, then exits.
async fn migrate() -> ExitCode {
    let config = match cli::load::<IssuerConfig>() {
        Ok(config) => config,
        Err(code) => return code,
    };
    cli::traced(config, |config| async move {
        let startup = crate::db::startup(config.postgres.clone(), config.settings.database_timeout);
        crate::db::prepare(&startup).await?;
        tracing::info!("database is up to date");
        Ok(())
    })
    .await
}
