//! What both command lines share: the help text built from the configuration catalogue, the
//! exit code for a bad configuration, the summary `check-config` prints, and the HTTP(S) probe
//! behind `healthcheck` (for container health checks in an image without curl).

use std::fmt::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::TlsConnector;

use crate::config::{CommonConfig, ConfigError, Env, Var};
use crate::limits::TlsFiles;

/// EX_USAGE from sysexits.h: the command line or the configuration is wrong.
pub const EX_USAGE: u8 = 64;

/// How long `healthcheck` waits for the whole exchange.
pub const HEALTHCHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// The full help: usage line, commands, then every environment variable by group.
pub fn help(usage: &str, commands: &[(&str, &str)], groups: &[(&str, &[Var])]) -> String {
    let mut out = format!("{usage}\n\nCommands:\n");
    let width = commands
        .iter()
        .map(|(name, _)| name.len())
        .max()
        .unwrap_or(0);
    for (name, meaning) in commands {
        let _ = writeln!(out, "  {name:<width$}  {meaning}");
    }
    out.push_str(
        "\nEnvironment variables (a .env file in the working directory is read too; real \
         variables win).\nA bad value stops the process with exit code 64 and one line naming \
         the variable.\n",
    );
    let name_width = groups
        .iter()
        .flat_map(|(_, vars)| vars.iter().map(|v| v.name.len()))
        .max()
        .unwrap_or(0);
    let default_width = groups
        .iter()
        .flat_map(|(_, vars)| vars.iter().map(|v| shown_default(v).len()))
        .max()
        .unwrap_or(0);
    for (title, vars) in groups {
        let _ = writeln!(out, "\n{title}:");
        let _ = writeln!(
            out,
            "  {:<name_width$}  {:<default_width$}  meaning",
            "variable", "default"
        );
        for var in *vars {
            let secret = if var.secret { " (secret)" } else { "" };
            let _ = writeln!(
                out,
                "  {:<name_width$}  {:<default_width$}  {}{secret}",
                var.name,
                shown_default(var),
                var.meaning
            );
        }
    }
    out
}

fn shown_default(var: &Var) -> &'static str {
    if var.default.is_empty() {
        "-"
    } else {
        var.default
    }
}

/// The lines `check-config` prints for the shared settings; no secret appears in them. The
/// TLS files, when set, are loaded as `serve` would load them.
pub fn common_summary(config: &CommonConfig) -> Result<Vec<String>, ConfigError> {
    if let Some(files) = &config.tls {
        crate::tls::acceptor(files)?;
    }
    let keys = &config.tokens.keys;
    Ok(vec![
        format!(
            "service: {} {} ({})",
            config.service_name,
            config.service_version,
            format!("{:?}", config.environment).to_lowercase()
        ),
        format!(
            "signing keys: kids {}, active {}, HS256",
            keys.kids().collect::<Vec<_>>().join(", "),
            keys.active().kid()
        ),
        format!(
            "tokens: access {} h, refresh {} d, leeway {} s",
            config.tokens.access_ttl.num_hours(),
            config.tokens.refresh_ttl.num_days(),
            config.tokens.leeway_seconds
        ),
        format!(
            "nats: {}, stream {}, subjects {}.>",
            redact_url(&config.nats_url),
            config.nats_stream,
            config.nats_subject_prefix
        ),
        config.nats.summary(),
        format!(
            "log level: {}; max body {} bytes, {} in flight; shutdown grace {} s",
            config.log_level,
            config.max_body_bytes,
            config.body_budget.limit(),
            config.shutdown_grace.as_secs()
        ),
        format!(
            "allowed origins: {}",
            list_or_none(config.allowed_origins.as_slice())
        ),
        format!(
            "limits: header read {} s, body read {} s, keep-alive {} s, {} connections, \
             {} header bytes, {} headers, {} HTTP/2 streams",
            config.limits.header_read_timeout.as_secs(),
            config.limits.body_read_timeout.as_secs(),
            config.limits.keep_alive_timeout.as_secs(),
            config.limits.max_connections,
            config.limits.max_header_bytes,
            config.limits.max_headers,
            config.limits.http2_max_concurrent_streams
        ),
        match &config.tls {
            Some(files) => format!(
                "tls: {} and {}, handshake {} s",
                files.cert_file.display(),
                files.key_file.display(),
                config.limits.tls_handshake_timeout.as_secs()
            ),
            None => "tls: off (plain HTTP)".to_owned(),
        },
    ])
}

/// `check-config`'s output: `configuration OK` and the summary on stdout, exit 0; or the
/// one-line error on stderr, exit 64.
pub fn report_config(summary: Result<Vec<String>, ConfigError>) -> ExitCode {
    match summary {
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
    pub fn from_args(args: &[String]) -> Option<Probe> {
        match args {
            [] => Some(Probe::Ready),
            [flag] if flag == "--ready" => Some(Probe::Ready),
            [flag] if flag == "--live" => Some(Probe::Live),
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

/// `healthcheck`: exit 0 when the server bound to the address `addr` reads from the
/// environment answers the probe's path with 200 within [`HEALTHCHECK_TIMEOUT`], else 1 (what
/// container health checks expect). With `TLS_CERT_FILE` / `TLS_KEY_FILE` set the probe speaks
/// HTTPS and trusts exactly the configured certificate ([`crate::tls::pinned_connector`]).
pub async fn healthcheck(
    addr: fn(&Env) -> Result<SocketAddr, ConfigError>,
    probe: Probe,
) -> ExitCode {
    let target = crate::config::process_lookup().and_then(|lookup| {
        let env = Env::new(&lookup);
        let addr = addr(&env)?;
        let tls = TlsFiles::from_env(&env)?
            .as_ref()
            .map(crate::tls::pinned_connector)
            .transpose()?;
        Ok((addr, tls))
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
    if items.is_empty() {
        "none".to_owned()
    } else {
        items
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// A URL with any user name and password replaced by `***` (`nats://***@host:4222`).
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://***{}", &rest[at..]),
        None => url.to_owned(),
    }
}

/// Where a probe reaches a server bound to `addr`: loopback when it listens on every
/// interface, else the address itself.
pub fn probe_target(addr: SocketAddr) -> SocketAddr {
    let ip = match addr {
        SocketAddr::V4(v4) if v4.ip().is_unspecified() => Ipv4Addr::LOCALHOST.into(),
        SocketAddr::V6(v6) if v6.ip().is_unspecified() => Ipv6Addr::LOCALHOST.into(),
        other => other.ip(),
    };
    SocketAddr::new(ip, addr.port())
}

/// `GET /health/live` on the server bound to `addr`; see [`probe_path`].
pub async fn probe_live(
    addr: SocketAddr,
    tls: Option<&TlsConnector>,
    timeout: Duration,
) -> Result<u16, String> {
    probe_path(addr, tls, Probe::Live.path(), timeout).await
}

/// `GET path` on the server bound to `addr` with one minimal HTTP/1.1 request, over TLS when
/// `tls` is given; the response's status code, or why there is none. The whole exchange is
/// bounded by `timeout`.
pub async fn probe_path(
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
    fn urls_lose_their_credentials_and_keep_the_rest() {
        assert_eq!(
            redact_url("nats://user:pa55@nats:4222"),
            "nats://***@nats:4222"
        );
        assert_eq!(redact_url("nats://nats:4222"), "nats://nats:4222");
        assert_eq!(
            redact_url("postgres://u:p@db/auth?x=a@b"),
            "postgres://***@db/auth?x=a@b"
        );
        assert_eq!(redact_url("not a url"), "not a url");
    }

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
        let args = |words: &[&str]| words.iter().map(|w| (*w).to_owned()).collect::<Vec<_>>();
        assert_eq!(Probe::from_args(&args(&[])), Some(Probe::Ready));
        assert_eq!(Probe::from_args(&args(&["--ready"])), Some(Probe::Ready));
        assert_eq!(Probe::from_args(&args(&["--live"])), Some(Probe::Live));
        for bad in [&["--alive"][..], &["live"], &["--live", "--ready"], &[""]] {
            assert_eq!(Probe::from_args(&args(bad)), None, "{bad:?}");
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

    #[test]
    fn help_lists_every_variable_with_its_default_and_marks_secrets() {
        let text = help(
            "usage: x",
            &[("serve", "run")],
            &[("Shared", crate::config::VARS)],
        );
        for var in crate::config::VARS {
            let line = text
                .lines()
                .find(|l| l.split_whitespace().next() == Some(var.name));
            assert!(line.is_some_and(|l| l.contains(shown_default(var))
                && l.contains(var.meaning)
                && l.ends_with("(secret)") == var.secret));
        }
    }
}
