//! The command line: `mailer [serve]` runs the service, `mailer check-config` validates the
//! settings, `mailer healthcheck` probes a running mailer, `mailer help` lists the commands and
//! every environment variable, `mailer --version` prints the version.

use std::process::ExitCode;

use common::cli::{self, EX_USAGE};

use crate::app::App;
use crate::config::MailerConfig;

const USAGE: &str =
    "usage: mailer [serve | check-config | healthcheck [--ready | --live] | help | --version]";

const COMMANDS: &[(&str, &str)] = &[
    ("serve", "run the service (the default)"),
    (
        "check-config",
        "validate the configuration as serve does, print a summary without secrets; exit 0, or 64",
    ),
    (
        "healthcheck",
        "GET /health/ready (the default; --live: /health/live) on MAILER_ADDR's port (2 s timeout); exit 0 on 200, else 1",
    ),
    ("help", "print this text (also --help, -h)"),
    ("--version", "print the version (also -V)"),
];

/// The help text: commands, then the shared and the mailer's variables.
pub fn help() -> String {
    let shared = crate::config::shared_vars();
    cli::help(
        USAGE,
        COMMANDS,
        &[
            ("Shared with the issuer and the verifier", &shared),
            ("Mailer only", crate::config::VARS),
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
        "--version" | "-V" => {
            println!("mailer {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        "serve" | "check-config" => {}
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(EX_USAGE);
        }
    }
    let config = match MailerConfig::from_env() {
        Ok(config) => config,
        Err(err) => {
            eprintln!("{err}");
            return ExitCode::from(EX_USAGE);
        }
    };
    if command == "check-config" {
        return cli::report_config(Ok(summary(&config)));
    }
    common::telemetry::init_with_format(&config.log_level, config.log_format);
    tracing::info!(
        service = %config.service_name,
        version = %config.service_version,
        smtp = %config.smtp.redacted_url(),
        "mailer starting"
    );
    match App::build(config).await {
        Ok(app) => {
            app.run_until(common::shutdown::signal()).await;
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("mailer: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// What `check-config` prints after `configuration OK`; no password appears in it.
fn summary(config: &MailerConfig) -> Vec<String> {
    vec![
        format!("listen: {} (health and metrics)", config.addr),
        format!(
            "service: {} {}",
            config.service_name, config.service_version
        ),
        format!(
            "nats: {}, stream {}, consumer {}",
            cli::redact_url(&config.nats_url),
            config.nats_stream,
            crate::consumer::CONSUMER
        ),
        format!(
            "smtp: {}, security: {}, login: {}",
            config.smtp.redacted_url(),
            config.smtp.security(),
            if config.smtp.has_login() { "yes" } else { "no" }
        ),
        format!("from: {}", config.from),
        format!("verification link: {}", config.verify_email_url),
        format!("reset link: {}", config.reset_password_url),
        format!(
            "verification events older than {} h are skipped",
            config.verification_max_age.num_hours()
        ),
        format!(
            "log level: {}; shutdown grace {} s",
            config.log_level,
            config.shutdown_grace.as_secs()
        ),
    ]
}
