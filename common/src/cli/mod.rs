//! The one command line of both services: `serve` (the default), `check-config`,
//! `healthcheck [--ready | --live]`, `help` and `version`, plus what a [`Service`] adds (the
//! issuer's `migrate` and operator commands). Help and `check-config` come from the settings
//! tables; `healthcheck` is an HTTP(S) probe for images without curl.

use std::future::Future;
use std::process::ExitCode;

use crate::config::{CommonConfig, Shared};
use crate::settings::{self, ConfigError, Env, Var};

mod healthcheck;

pub use healthcheck::{Probe, HEALTHCHECK_TIMEOUT};

/// EX_USAGE from sysexits.h: the command line or the configuration is wrong.
pub const EX_USAGE: u8 = 64;

/// What a service brings to the shared command line.
pub trait Service: Sized {
    const NAME: &'static str;
    const VERSION: &'static str;
    /// What `serve` does, for the help.
    const SERVE: &'static str;
    /// The shared tables it reads ([`Shared::TABLES`] or [`CommonConfig::TABLES`]).
    const SHARED: &'static [&'static [Var]];
    /// Its own table; its listen address is the row [`Service::ADDR`].
    const OWN: &'static [Var];
    const ADDR: &'static str;
    /// Its commands beyond the shared ones: usage, then meaning.
    const COMMANDS: &'static [(&'static str, &'static str)] = &[];

    /// The configuration; `lookup` already reads the secrets' `<NAME>_FILE`s.
    fn from_lookup(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError>;
    /// Logging, events and traces.
    fn shared(&self) -> &Shared;
    /// Keys, HTTP limits and TLS, for a service that serves the API (`check-config` then lists
    /// its keys and loads its TLS files).
    fn common(&self) -> Option<&CommonConfig> {
        None
    }
    /// `check-config`'s lines beyond the table's values (never a secret).
    fn summary(&self) -> Result<Vec<String>, ConfigError> {
        Ok(Vec::new())
    }
    /// Runs the service until SIGTERM or SIGINT.
    fn serve(self) -> impl Future<Output = anyhow::Result<()>>;
    /// Runs one of [`Service::COMMANDS`]; `None` when `args` is not one of them.
    fn command(args: &[&str]) -> impl Future<Output = Option<ExitCode>> {
        let _ = args;
        async { None }
    }
}

/// The configuration from the environment and `.env` (secrets also from `<NAME>_FILE`).
pub fn from_env<S: Service>() -> Result<S, ConfigError> {
    lookup::<S>().and_then(|lookup| S::from_lookup(&lookup))
}

/// [`from_env`], or the one line naming the bad variable and the usage exit code.
pub fn load<S: Service>() -> Result<S, ExitCode> {
    from_env().map_err(|err| {
        eprintln!("{err}");
        ExitCode::from(EX_USAGE)
    })
}

/// Every table the service reads: the shared ones, then its own.
fn tables<S: Service>() -> Vec<&'static [Var]> {
    [S::SHARED, &[S::OWN]].concat()
}

/// Every variable the service reads.
pub fn vars<S: Service>() -> Vec<Var> {
    tables::<S>().concat()
}

/// The environment and `.env`, with the secrets of every table also read from `<NAME>_FILE`.
fn lookup<S: Service>() -> Result<impl Fn(&str) -> Option<String>, ConfigError> {
    settings::process_lookup()
        .and_then(|lookup| settings::with_secret_files(lookup, &tables::<S>()))
}

/// Runs the command `args` (the process's arguments after its name) names.
pub async fn run<S: Service>(args: &[String]) -> ExitCode {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    if let Some(code) = S::command(&args).await {
        return code;
    }
    let config = match args.as_slice() {
        ["healthcheck", flags @ ..] => match Probe::from_args(flags) {
            Some(probe) => return healthcheck::run::<S>(probe).await,
            None => return usage::<S>(),
        },
        ["help" | "--help" | "-h"] => {
            print!("{}", help::<S>());
            return ExitCode::SUCCESS;
        }
        ["version" | "--version" | "-V"] => {
            println!("{} {}", S::NAME, S::VERSION);
            return ExitCode::SUCCESS;
        }
        ["check-config"] => return check_config::<S>(),
        [] | ["serve"] => match load::<S>() {
            Ok(config) => config,
            Err(code) => return code,
        },
        _ => return usage::<S>(),
    };
    traced(config, S::serve).await
}

/// Runs `work` on `config` with the service's log lines and, when configured, its span export,
/// then flushes the last spans. Exit 0; 64 for a setting found wrong only while starting (a TLS
/// file), as check-config exits; else 1, the error logged and on stderr (also when the exporter
/// cannot be built).
pub async fn traced<S, F>(config: S, work: impl FnOnce(S) -> F) -> ExitCode
where
    S: Service,
    F: Future<Output = anyhow::Result<()>>,
{
    let (shared, name) = (config.shared(), S::NAME);
    let (level, format) = (&shared.service.log_level, shared.service.log_format);
    let traces =
        match crate::telemetry::init_with_traces(level, format, shared.traces.as_ref(), name) {
            Ok(traces) => traces,
            Err(err) => {
                eprintln!("{}: {err}", S::NAME);
                return ExitCode::FAILURE;
            }
        };
    let done = work(config).await;
    traces.shutdown().await;
    match done {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) if err.downcast_ref::<ConfigError>().is_some() => {
            eprintln!("{err}");
            ExitCode::from(EX_USAGE)
        }
        Err(err) => {
            tracing::error!(error = %format!("{err:#}"), "{} failed", S::NAME);
            eprintln!("{}: {err:#}", S::NAME);
            ExitCode::FAILURE
        }
    }
}

fn usage<S: Service>() -> ExitCode {
    let name = S::NAME;
    eprintln!(
        "usage: {name} [serve | check-config | healthcheck [--ready | --live] | help | version]"
    );
    for (command, _) in S::COMMANDS {
        eprintln!("       {name} {command}");
    }
    ExitCode::from(EX_USAGE)
}

/// The help: the commands, then every variable of both tables with its default and meaning.
pub fn help<S: Service>() -> String {
    let name = S::NAME;
    let mut out = format!("usage: {name} [COMMAND]\n\nCommands:\n");
    let shared = [
        ("serve", S::SERVE),
        ("check-config", "validate the configuration as serve does, print a summary without secrets; exit 0, or 64"),
        ("healthcheck", "GET /health/ready (the default; --live: /health/live) on the listen address's port (2 s timeout; HTTPS when TLS is set); exit 0 on 200, else 1"),
        ("help", "print this text (also --help, -h)"),
        ("version", "print the version (also --version, -V)"),
    ];
    let commands: Vec<_> = shared.iter().chain(S::COMMANDS).collect();
    let width = commands.iter().map(|(c, _)| c.len()).max().unwrap_or(0);
    for (command, meaning) in commands {
        out.push_str(&format!("  {command:<width$}  {meaning}\n"));
    }
    out.push_str(
        "\nEnvironment variables (a .env file in the working directory is read too; real \
         variables win; a secret may be given as the file named by <NAME>_FILE).\nA bad value \
         stops the process with exit code 64 and one line naming the variable.\n",
    );
    settings::help(
        &mut out,
        "Shared with the other services (give all the same SERVICE_NAME, the issuer and the \
         verifier the same keys)",
        &S::SHARED.concat(),
    );
    settings::help(&mut out, &format!("The {name}'s own"), S::OWN);
    out
}

/// `check-config`: `configuration OK` and every setting in force (secrets as set or not) on
/// stdout, exit 0; or the one-line error on stderr, exit 64. The TLS files, when set, are
/// loaded as `serve` would load them. The environment, `.env` and secret files are read once.
fn check_config<S: Service>() -> ExitCode {
    let lines = lookup::<S>().and_then(|lookup| summary(&S::from_lookup(&lookup)?, &lookup));
    match lines {
        Ok(lines) => {
            println!("configuration OK");
            for line in lines {
                println!("  {line}");
            }
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("{err}");
            ExitCode::from(EX_USAGE)
        }
    }
}

/// `check-config`'s lines: each variable's value in force, then what the service adds.
fn summary<S: Service>(
    config: &S,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<String>, ConfigError> {
    let mut extra = Vec::new();
    if let Some(common) = config.common() {
        common.serve_options()?;
        let keys = &common.tokens.keys;
        let kids = keys.kids().collect::<Vec<_>>().join(", ");
        let active = keys.active().kid();
        extra.push(format!("signing keys: kids {kids}, active {active}, HS256"));
    }
    // Where spans go, without credentials, and how many header fields (never their values).
    extra.push(match &config.shared().traces {
        Some(traces) => format!(
            "traces: OTLP/HTTP to {}, {} header(s), sampler {:?}",
            traces.shown_endpoint(),
            traces.headers.len(),
            traces.sampler
        ),
        None => "traces: off".to_owned(),
    });
    extra.push(config.shared().nats.summary());
    extra.extend(config.summary()?);
    let env = Env::new(lookup);
    let values = tables::<S>()
        .into_iter()
        .flat_map(|vars| settings::summary(&env, vars));
    Ok(values.chain(extra).collect())
}
