//! `healthcheck`: an HTTP(S) probe of the running service, for images without curl.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

use bytes::Bytes;
use http::{header, Request};
use http_body_util::Empty;
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::{rustls::pki_types::ServerName, TlsConnector};

use super::Service;
use crate::config::{HttpSettings, TLS_CERT_FILE};
use crate::settings::{self, listen_address, Env};

/// How long `healthcheck` waits for the whole exchange.
pub const HEALTHCHECK_TIMEOUT: Duration = Duration::from_secs(2);

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
pub(super) async fn run<S: Service>(probe: Probe) -> ExitCode {
    let target = settings::process_lookup().and_then(|lookup| {
        let env = Env::new(&lookup);
        // A service that does not read the TLS settings serves plain HTTP.
        let serves_tls = S::SHARED
            .iter()
            .any(|vars| vars.iter().any(|v| v.name == TLS_CERT_FILE));
        let tls = match serves_tls {
            true => HttpSettings::read(&env)?.tls()?,
            false => None,
        };
        let connector = tls.as_ref().map(crate::tls::pinned_connector).transpose()?;
        let addr = S::OWN.iter().find(|var| var.name == S::ADDR);
        let addr: SocketAddr = env.read(S::ADDR, &addr.map_or(listen_address(""), |v| v.kind))?;
        Ok((addr, connector))
    });
    let probed = match target {
        Ok((addr, tls)) => get(probe_target(addr), tls.as_ref(), probe.path()).await,
        Err(err) => Err(err.to_string()),
    };
    let Err(reason) = probed else {
        println!("healthy");
        return ExitCode::SUCCESS;
    };
    eprintln!("unhealthy: {reason}");
    ExitCode::FAILURE
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

/// One HTTP/1.1 `GET path` to `target` by hyper's client, over TLS when `tls` is given, within
/// [`HEALTHCHECK_TIMEOUT`]: `Ok` for a 200, else why not.
async fn get(target: SocketAddr, tls: Option<&TlsConnector>, path: &str) -> Result<(), String> {
    let exchange = async {
        let no_connection = |err| format!("cannot connect to {target}: {err}");
        let tcp = TcpStream::connect(target).await.map_err(no_connection)?;
        // The pinned verifier ignores the name; the address only has to be well formed.
        let name = ServerName::IpAddress(target.ip().into());
        let tls_failed = |err| format!("TLS handshake with {target} failed: {err}");
        let stream: Box<dyn Stream> = match tls {
            None => Box::new(tcp),
            Some(tls) => Box::new(tls.connect(name, tcp).await.map_err(tls_failed)?),
        };
        let failed = |err: hyper::Error| format!("{target} did not answer with HTTP/1.x: {err}");
        let io = TokioIo::new(stream);
        let (mut sender, connection) = http1::handshake(io).await.map_err(failed)?;
        tokio::spawn(connection);
        let request = Request::get(path)
            .header(header::HOST, target.to_string())
            .header(header::USER_AGENT, "healthcheck")
            .body(Empty::<Bytes>::new())
            .map_err(|err| format!("cannot build the request: {err}"))?;
        let response = sender.send_request(request).await.map_err(failed)?;
        match response.status().as_u16() {
            200 => Ok(()),
            status => Err(format!("{path} answered {status}")),
        }
    };
    let limit = HEALTHCHECK_TIMEOUT.as_millis();
    match tokio::time::timeout(HEALTHCHECK_TIMEOUT, exchange).await {
        Ok(result) => result,
        Err(_) => Err(format!("no answer from {target} within {limit} ms")),
    }
}

/// A plain or a TLS connection.
trait Stream: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Stream for T {}

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
}
