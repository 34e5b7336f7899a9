//! The command line: `issuer [serve]` runs the service, `issuer migrate` only migrates.

use std::process::ExitCode;

use crate::app::App;
use crate::config::IssuerConfig;

/// EX_USAGE from sysexits.h: the configuration is wrong.
const EX_USAGE: u8 = 64;
const USAGE: &str = "usage: issuer [serve | migrate]";

pub async fn run(args: &[String]) -> ExitCode {
    let command = args.first().map(String::as_str).unwrap_or("serve");
    if !matches!(command, "serve" | "migrate") {
        eprintln!("{USAGE}");
        return ExitCode::from(EX_USAGE);
    }
    let config = match IssuerConfig::from_env() {
        Ok(config) => config,
        Err(err) => {
            eprintln!("{err}");
            return ExitCode::from(EX_USAGE);
        }
    };
    common::telemetry::init_with_format(&config.common.log_level, config.common.log_format);
    let result = match command {
        "migrate" => migrate(&config).await,
        _ => serve(config).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = %format!("{err:#}"), "issuer failed");
            eprintln!("issuer: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn migrate(config: &IssuerConfig) -> Result<(), anyhow::Error> {
    crate::db::prepare(&config.postgres()?).await?;
    tracing::info!("database is up to date");
    Ok(())
}

async fn serve(config: IssuerConfig) -> Result<(), anyhow::Error> {
    tracing::info!(
        service = %config.common.service_name,
        version = %config.common.service_version,
        environment = ?config.common.environment,
        keys = ?config.common.tokens.keys,
        "issuer starting"
    );
    App::build(config)
        .await?
        .run_until(common::shutdown::signal())
        .await;
    Ok(())
}
