//! The one command line of both services: `serve` (the default), `check-config`,
//! `healthcheck [--ready | --live]`, `help` and `version`, plus what a [`Service`] adds (the
//! issuer's `migrate` and operator commands). Help and `check-config` come from the settings
//! tables; `healthcheck` is an HTTP(S) probe for images without curl.

use std::future::Future;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::TlsConnector;

use crate::config::CommonConfig;
use crate::settings::{self, ConfigError, Env, Var};

/// EX_USAGE from sysexits.h: the command line or the configuration is wrong.
pub const EX_USAGE: u8 = 64;

/// How long `healthcheck` waits for the whole exchange.
pub const HEALTHCHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// What a service brings to the shared command line.
pub trait Service: Sized {
    /// The binary's name.
    const NAME: &'static str;
    /// The binary's version.
    const VERSION: &'static str;
    /// What `serve` does, for the help.
    const SERVE: &'static str;
    /// Its own settings tables, beyond [`crate::config::VARS`] (a crate it uses may bring one).
    const TABLES: &'static [&'static [Var]];
    /// Its commands beyond the shared ones: usage, then each with its meaning.
    const COMMANDS: &'static [(&'static str, &'static str)] = &[];

    /// The configuration; `lookup` already reads the secrets' `<NAME>_FILE`s.
    fn from_lookup(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError>;
    /// The shared part of the configuration.
    fn common(&self) -> &CommonConfig;
    /// The listen address alone, for `healthcheck`.
    fn addr(env: &Env) -> Result<SocketAddr, ConfigError>;
    /// What `check-config` prints beyond the table's values (never a secret); it may check
    /// what only a start would otherwise find wrong.
    fn summary(&self) -> Result<Vec<String>, ConfigError>;
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

/// The environment and `.env`, with the secrets of both tables also read from `<NAME>_FILE`.
fn lookup<S: Service>() -> Result<impl Fn(&str) -> Option<String>, ConfigError> {
    let tables = [&[crate::config::VARS], S::TABLES].concat();
    settings::process_lookup().and_then(|lookup| settings::with_secret_files(lookup, &tables))
}

/// Runs the command `args` (the process's arguments after its name) names.
pub async fn run<S: Service>(args: &[String]) -> ExitCode {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    if let Some(code) = S::command(&args).await {
        return code;
    }
    let config = match args.as_slice() {
        ["healthcheck", flags @ ..] => match Probe::from_args(flags) {
            Some(probe) => return healthcheck::<S>(probe).await,
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
        [] | ["serve"] | ["check-config"] => match load::<S>() {
            Ok(config) => config,
            Err(code) => return code,
        },
        _ => return usage::<S>(),
    };
    if args == ["check-config"] {
        return check_config(&config);
    }
    let common = config.common();
    crate::telemetry::init_with_format(&common.log_level, common.log_format);
    match config.serve().await {
        Ok(()) => ExitCode::SUCCESS,
        // A setting found wrong only while starting (a TLS file): the same exit as check-config.
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
        "Shared by both services (give both the same keys and SERVICE_NAME)",
        crate::config::VARS,
    );
    for vars in S::TABLES {
        settings::help(&mut out, &format!("The {name}'s own"), vars);
    }
    out
}

/// `check-config`: `configuration OK` and every setting in force (secrets as set or not) on
/// stdout, exit 0; or the one-line error on stderr, exit 64. The TLS files, when set, are
/// loaded as `serve` would load them.
fn check_config<S: Service>(config: &S) -> ExitCode {
    let keys = &config.common().tokens.keys;
    let kids = keys.kids().collect::<Vec<_>>().join(", ");
    let signing = format!(
        "signing keys: kids {kids}, active {}, HS256",
        keys.active().kid()
    );
    let lines = config
        .common()
        .serve_options()
        .and_then(|_| config.summary());
    let lines = lines.map(|lines| [vec![signing], lines].concat());
    let table = lookup::<S>().map(|lookup| {
        let env = Env::new(&lookup);
        let tables = [&[crate::config::VARS], S::TABLES].concat();
        tables
            .iter()
            .flat_map(|vars| settings::summary(&env, vars))
            .collect::<Vec<_>>()
    });
    match lines.and_then(|lines| Ok([table?, lines].concat())) {
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

/// What `healthcheck` asks: `--ready` (the default) or `--live`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    /// `/health/live`: the process answers.
    Live,
    /// `/health/ready`: the service can do its whole job. The default, because what runs the
    /// probe with no flag (compose's `service_healthy`, the images' `HEALTHCHECK`) decides
    /// whether to send traffic.
    Ready,
}

impl Probe {
    /// The probe the arguments after `healthcheck` name; `None` for anything else.
    pub fn from_args(args: &[&str]) -> Option<Probe> {
        match args {
            [] | ["--ready"] => Some(Probe::Ready),
            ["--live"] => Some(Probe::Live),
            _ => None,
        }
    }

    pub fn path(self) -> &'static str {
        match self {
            Probe::Live => "/health/live",
            Probe::Ready => "/health/ready",
        }
    }
}

/// `healthcheck`: exit 0 when the server bound to the service's listen address answers the
/// probe's path with 200 within [`HEALTHCHECK_TIMEOUT`], else 1 (what container health checks
/// expect). With `TLS_CERT_FILE` / `TLS_KEY_FILE` set the probe speaks HTTPS and trusts exactly
/// the configured certificate ([`crate::tls::pinned_connector`]).
async fn healthcheck<S: Service>(probe: Probe) -> ExitCode {
    let target = settings::process_lookup().and_then(|lookup| {
        let env = Env::new(&lookup);
        let tls = crate::config::CommonSettings::read(&env)?.tls()?;
        let connector = tls.as_ref().map(crate::tls::pinned_connector).transpose()?;
        Ok((S::addr(&env)?, connector))
    });
    let (addr, tls) = match target {
        Ok(target) => target,
        Err(err) => {
            eprintln!("unhealthy: {err}");
            return ExitCode::FAILURE;
        }
    };
    match probe_path(addr, tls.as_ref(), probe.path(), HEALTHCHECK_TIMEOUT).await {
        Ok(200) => {
            println!("healthy");
            ExitCode::SUCCESS
        }
        Ok(status) => {
            eprintln!("unhealthy: {} answered {status}", probe.path());
            ExitCode::FAILURE
        }
        Err(reason) => {
            eprintln!("unhealthy: {reason}");
            ExitCode::FAILURE
        }
    }
}

/// `a, b` or `none`.
pub fn list_or_none<T: ToString>(items: &[T]) -> String {
    match items {
        [] => "none".to_owned(),
        items => items
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", "),
    }
}

/// Where a probe reaches a server bound to `addr`: loopback when it listens on every
/// interface, else the address itself.
fn probe_target(addr: SocketAddr) -> SocketAddr {
    let ip = match addr {
        SocketAddr::V4(v4) if v4.ip().is_unspecified() => Ipv4Addr::LOCALHOST.into(),
        SocketAddr::V6(v6) if v6.ip().is_unspecified() => Ipv6Addr::LOCALHOST.into(),
        other => other.ip(),
    };
    SocketAddr::new(ip, addr.port())
}

/// `GET path` on the server bound to `addr` with one minimal HTTP/1.1 request, over TLS when
/// `tls` is given; the response's status code, or why there is none. The whole exchange is
/// bounded by `timeout`.
async fn probe_path(
    addr: SocketAddr,
    tls: Option<&TlsConnector>,
    path: &str,
    timeout: Duration,
) -> Result<u16, String> {
    let target = probe_target(addr);
    match tokio::time::timeout(timeout, status_of(target, tls, path)).await {
        Ok(result) => result,
        Err(_) => Err(format!(
            "no answer from {target} within {} ms",
            timeout.as_millis()
        )),
    }
}

async fn status_of(
    target: SocketAddr,
    tls: Option<&TlsConnector>,
    path: &str,
) -> Result<u16, String> {
    let tcp = TcpStream::connect(target)
        .await
        .map_err(|err| format!("cannot connect to {target}: {err}"))?;
    match tls {
        None => exchange(tcp, target, path).await,
        Some(connector) => {
            // The pinned verifier ignores the name; the address only has to be well formed.
            let stream = connector
                .connect(ServerName::IpAddress(target.ip().into()), tcp)
                .await
                .map_err(|err| format!("TLS handshake with {target} failed: {err}"))?;
            exchange(stream, target, path).await
        }
    }
}

async fn exchange<S>(mut stream: S, target: SocketAddr, path: &str) -> Result<u16, String>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {target}\r\nUser-Agent: healthcheck\r\n\
         Connection: close\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|err| format!("cannot send to {target}: {err}"))?;
    // Only the status line matters: read until it is complete.
    let mut head = Vec::with_capacity(256);
    while !head.contains(&b'\n') && head.len() < 1024 {
        let read = stream
            .read_buf(&mut head)
            .await
            .map_err(|err| format!("cannot read from {target}: {err}"))?;
        if read == 0 {
            break;
        }
    }
    parse_status_line(&head).ok_or_else(|| format!("{target} did not answer with HTTP/1.x"))
}

/// `HTTP/1.1 200 OK` → 200.
fn parse_status_line(head: &[u8]) -> Option<u16> {
    let line = head.split(|&b| b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?;
    let mut parts = line.split_whitespace();
    let version = parts.next()?;
    if !version.starts_with("HTTP/1.") {
        return None;
    }
    let code = parts.next()?;
    if code.len() != 3 {
        return None;
    }
    code.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_probe_goes_to_loopback_for_a_wildcard_address() {
        let target = probe_target(([0, 0, 0, 0], 8000).into());
        assert_eq!(target, SocketAddr::from(([127, 0, 0, 1], 8000)));
        let target = probe_target("[::]:8001".parse().unwrap_or(target));
        assert_eq!(target, "[::1]:8001".parse().unwrap_or(target));
        let bound: SocketAddr = ([10, 1, 2, 3], 9000).into();
        assert_eq!(probe_target(bound), bound);
    }

    #[test]
    fn healthcheck_probes_readiness_unless_told_live_and_refuses_anything_else() {
        assert_eq!(Probe::from_args(&[]), Some(Probe::Ready));
        assert_eq!(Probe::from_args(&["--ready"]), Some(Probe::Ready));
        assert_eq!(Probe::from_args(&["--live"]), Some(Probe::Live));
        for bad in [&["--alive"][..], &["live"], &["--live", "--ready"], &[""]] {
            assert_eq!(Probe::from_args(bad), None, "{bad:?}");
        }
        assert_eq!(Probe::Ready.path(), "/health/ready");
        assert_eq!(Probe::Live.path(), "/health/live");
    }

    #[test]
    fn status_lines_parse_and_anything_else_does_not() {
        assert_eq!(parse_status_line(b"HTTP/1.1 200 OK\r\n"), Some(200));
        assert_eq!(parse_status_line(b"HTTP/1.0 503 Busy\r\n"), Some(503));
        assert_eq!(parse_status_line(b"SSH-2.0-OpenSSH\r\n"), None);
        assert_eq!(parse_status_line(b"HTTP/1.1 2000 OK\r\n"), None);
        assert_eq!(parse_status_line(b""), None);
    }
}
