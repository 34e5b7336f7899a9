//! The command line: `verifier [serve]` runs the service, `verifier check-config` validates the
//! settings, `verifier healthcheck` probes a running verifier, `verifier help` lists the
//! commands and every environment variable.

use std::process::ExitCode;

use common::cli::{self, EX_USAGE};

use crate::app::App;
use crate::config::VerifierConfig;

const USAGE: &str =
    "usage: verifier [serve | check-config | healthcheck [--ready | --live] | help]";

const COMMANDS: &[(&str, &str)] = &[
    ("serve", "run the service (the default)"),
    (
        "check-config",
        "validate the configuration as serve does, print a summary without secrets; exit 0, or 64",
    ),
    (
        "healthcheck",
        "GET /health/ready (the default; --live: /health/live) on VERIFIER_ADDR's port (2 s timeout; HTTPS when TLS is set); exit 0 on 200, else 1",
    ),
    ("help", "print this text (also --help, -h)"),
];

/// The help text: commands, then the shared and the verifier's variables.
pub fn help() -> String {
    cli::help(
        USAGE,
        COMMANDS,
        &[
            (
                "Shared with the issuer (give both the same keys and SERVICE_NAME)",
                common::config::VARS,
            ),
            (
                "Traces, both services (off unless an endpoint is set)",
                common::telemetry::VARS,
            ),
            ("Verifier only", crate::config::VARS),
        ],
    )
}

pub async fn run(args: &[String]) -> ExitCode {
    let command = args.first().map(String::as_str).unwrap_or("serve");
    if command == "healthcheck" {
        let Some(probe) = cli::Probe::from_args(&args[1..]) else {
            eprintln!("{USAGE}");
            return ExitCode::from(EX_USAGE);
        };
        return cli::healthcheck(crate::config::addr, probe).await;
    }
    if args.len() > 1 {
        eprintln!("{USAGE}");
        return ExitCode::from(EX_USAGE);
    }
    match command {
        "help" | "--help" | "-h" => {
            print!("{}", help());
            return ExitCode::SUCCESS;
        }
        "serve" | "check-config" => {}
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(EX_USAGE);
        }
    }
    let config = match VerifierConfig::from_env() {
        Ok(config) => config,
        Err(err) => {
            eprintln!("{err}");
            return ExitCode::from(EX_USAGE);
        }
    };
    if command == "check-config" {
        return cli::report_config(summary(&config));
    }
    let traces = match common::telemetry::init_with_traces(
        &config.common.log_level,
        config.common.log_format,
        config.common.traces.as_ref(),
        "verifier",
    ) {
        Ok(traces) => traces,
        Err(err) => {
            eprintln!("verifier: {}", err);
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(
        service = %config.common.service_name,
        version = %config.common.service_version,
        keys = ?config.common.tokens.keys,
        "verifier starting"
    );
    let code = match App::build(config).await {
        Ok(app) => {
            app.run_until(common::shutdown::signal()).await;
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("verifier: {err:#}");
            ExitCode::FAILURE
        }
    };
    // After the drain: the spans of the last requests go out before the process ends.
    traces.shutdown().await;
    code
}

/// What `check-config` prints after `configuration OK`; no key appears in it.
fn summary(config: &VerifierConfig) -> Result<Vec<String>, common::config::ConfigError> {
    let mut lines = vec![format!("listen: {}", config.addr)];
    lines.extend(cli::common_summary(&config.common)?);
    lines.push(format!("auth cookie: {}", config.cookie_name));
    Ok(lines)
}
