//! The command line: `verifier` runs the service.

use std::process::ExitCode;

use crate::app::App;
use crate::config::VerifierConfig;

/// EX_USAGE from sysexits.h: the configuration is wrong.
const EX_USAGE: u8 = 64;

pub async fn run(args: &[String]) -> ExitCode {
    if !matches!(args.first().map(String::as_str), None | Some("serve")) {
        eprintln!("usage: verifier [serve]");
        return ExitCode::from(EX_USAGE);
    }
    let config = match VerifierConfig::from_env() {
        Ok(config) => config,
        Err(err) => {
            eprintln!("{err}");
            return ExitCode::from(EX_USAGE);
        }
    };
    common::telemetry::init_with_format(&config.common.log_level, config.common.log_format);
    tracing::info!(
        service = %config.common.service_name,
        version = %config.common.service_version,
        keys = ?config.common.tokens.keys,
        "verifier starting"
    );
    match App::build(config).await {
        Ok(app) => {
            app.run_until(common::shutdown::signal()).await;
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("verifier: {err:#}");
            ExitCode::FAILURE
        }
    }
}
