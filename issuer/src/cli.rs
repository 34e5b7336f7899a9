//! The command line: `issuer [serve]` runs the service, `issuer migrate` only migrates,
//! `issuer check-config` validates the settings, `issuer healthcheck` probes a running issuer,
//! `issuer help` lists the commands and every environment variable; the operator commands
//! (`issuer users …`, `issuer sessions …`) are in [`crate::operator`].

use std::process::ExitCode;

use common::cli::{self, EX_USAGE};
use common::config::ConfigError;

use crate::app::App;
use crate::config::IssuerConfig;

const USAGE: &str = "usage: issuer [serve | migrate | check-config | healthcheck [--ready | --live] | help]\n       \
                     issuer users (disable | enable | unlock | delete) EMAIL | issuer sessions revoke EMAIL";

const COMMANDS: &[(&str, &str)] = &[
    (
        "serve",
        "create and migrate the database, then run the service (the default)",
    ),
    ("migrate", "create and migrate the database, then exit"),
    (
        "check-config",
        "validate the configuration as serve does, print a summary without secrets; exit 0, or 64",
    ),
    (
        "healthcheck",
        "GET /health/ready (the default; --live: /health/live) on ISSUER_ADDR's port (2 s timeout; HTTPS when TLS is set); exit 0 on 200, else 1",
    ),
    ("help", "print this text (also --help, -h)"),
];

/// The help text: commands, then the shared and the issuer's variables.
pub fn help() -> String {
    let commands: Vec<(&str, &str)> = COMMANDS
        .iter()
        .chain(crate::operator::COMMANDS)
        .copied()
        .collect();
    cli::help(
        USAGE,
        &commands,
        &[
            (
                "Shared with the verifier (give both the same keys and SERVICE_NAME)",
                common::config::VARS,
            ),
            (
                "Traces, both services (off unless an endpoint is set)",
                common::telemetry::VARS,
            ),
            ("Issuer only", crate::config::VARS),
        ],
    )
}

pub async fn run(args: &[String]) -> ExitCode {
    if let Some(parsed) = crate::operator::parse(args) {
        return crate::operator::run(parsed).await;
    }
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
        "serve" | "migrate" | "check-config" => {}
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(EX_USAGE);
        }
    }
    let config = match load_config() {
        Ok(config) => config,
        Err(code) => return code,
    };
    if command == "check-config" {
        return cli::report_config(summary(&config));
    }
    let traces = match common::telemetry::init_with_traces(
        &config.common.log_level,
        config.common.log_format,
        config.common.traces.as_ref(),
        "issuer",
    ) {
        Ok(traces) => traces,
        Err(err) => {
            eprintln!("issuer: {}", err);
            return ExitCode::FAILURE;
        }
    };
    let result = match command {
        "migrate" => migrate(&config).await,
        _ => serve(config).await,
    };
    // After the drain: the spans of the last requests go out before the process ends.
    traces.shutdown().await;
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // A setting found wrong only while starting (a TLS file): the same exit as check-config.
        Err(err) if err.downcast_ref::<ConfigError>().is_some() => {
            eprintln!("{err}");
            ExitCode::from(EX_USAGE)
        }
        Err(err) => {
            tracing::error!(error = %format!("{err:#}"), "issuer failed");
            eprintln!("issuer: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// The configuration from the environment, or the one line naming the bad variable and the
/// usage exit code.
pub fn load_config() -> Result<IssuerConfig, ExitCode> {
    IssuerConfig::from_env().map_err(|err| {
        eprintln!("{err}");
        ExitCode::from(EX_USAGE)
    })
}

/// What `check-config` prints after `configuration OK`: every setting that matters to an
/// operator, and none of the secrets (keys, the database password).
fn summary(config: &IssuerConfig) -> Result<Vec<String>, ConfigError> {
    let postgres = config.postgres()?.config;
    let hosts = postgres
        .get_hosts()
        .iter()
        .zip(postgres.get_ports().iter().chain(std::iter::repeat(&5432)))
        .map(|(host, port)| match host {
            tokio_postgres::config::Host::Tcp(name) => format!("{name}:{port}"),
            tokio_postgres::config::Host::Unix(path) => format!("{}", path.display()),
        })
        .collect::<Vec<_>>();
    let mut lines = vec![format!("listen: {}", config.addr)];
    lines.extend(cli::common_summary(&config.common)?);
    lines.extend([
        format!(
            "database: {} at {}, user {}, password {}; pool {}, timeout {} s",
            postgres.get_dbname().unwrap_or("(user name)"),
            cli::list_or_none(&hosts),
            postgres.get_user().unwrap_or("(none)"),
            if postgres.get_password().is_some() {
                "set"
            } else {
                "not set"
            },
            config.database_pool_size,
            config.database_timeout.as_secs()
        ),
        format!(
            "passwords: policy {}; argon2id m={} KiB t={} p={}; {} running, {} queued",
            format!("{:?}", config.password_policy).to_lowercase(),
            config.hash_cost.memory_kib,
            config.hash_cost.iterations,
            config.hash_cost.parallelism,
            config.hash_max_concurrent,
            config.hash_max_queued
        ),
        format!(
            "sessions: refresh rotation {}, reuse grace {} s; verified email required {}; \
             verification token {} h",
            config.refresh_rotation,
            config.refresh_reuse_grace.num_seconds(),
            config.require_verified_email,
            config.verification_token_ttl.num_hours()
        ),
        format!(
            "trusted proxies: {}",
            cli::list_or_none(&config.trusted_proxies)
        ),
        format!(
            "outbox: batch {}, poll {} ms, retention {} h; duplicate window {} s",
            config.outbox_batch_size,
            config.outbox_poll_interval.as_millis(),
            config.outbox_retention.as_secs() / 3600,
            config.nats_duplicate_window.as_secs()
        ),
    ]);
    Ok(lines)
}

async fn migrate(config: &IssuerConfig) -> Result<(), anyhow::Error> {
    let startup = crate::db::startup(config.postgres()?, config.database_timeout);
    crate::db::prepare(&startup).await?;
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
