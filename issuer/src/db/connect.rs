//! Opening the pool's connections over a [`Watchdog`] socket.
//!
//! `Config::connect` keeps its socket to itself, so this is its connection logic again over a
//! socket we own: every host (TCP or Unix socket) in order, with `connect_timeout`, TCP
//! keepalives, `tcp_user_timeout` and `target_session_attrs` as the URL sets them. Not
//! supported: `load_balance_hosts=random` (hosts are tried in order) and TLS (the issuer
//! connects without TLS, as before).

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use deadpool_postgres::Connect;
use futures_util::future::BoxFuture;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio_postgres::config::{Host, TargetSessionAttrs};
use tokio_postgres::{Client, Config, Error, NoTls, SimpleQueryMessage};

use super::watchdog::Watchdog;

/// What deadpool calls to open a connection.
pub struct Connector {
    /// How long the server may stay silent while it owes a reply.
    pub patience: Duration,
}

impl Connect for Connector {
    fn connect(&self, config: &Config) -> BoxFuture<'_, Result<(Client, JoinHandle<()>), Error>> {
        let config = config.clone();
        Box::pin(async move { open(&config, self.patience).await })
    }
}

/// The first host that accepts a session of the kind the URL asks for.
pub async fn open(config: &Config, patience: Duration) -> Result<(Client, JoinHandle<()>), Error> {
    let mut refused: Option<Error> = None;
    let mut unreachable: Option<io::Error> = None;
    for i in 0..config.get_hosts().len().max(config.get_hostaddrs().len()) {
        match candidate(config, i, patience).await {
            Ok(Some(connected)) => return Ok(connected),
            Ok(None) => {
                unreachable = Some(io::Error::new(
                    io::ErrorKind::PermissionDenied,
                    "no host offers the session kind target_session_attrs asks for",
                ))
            }
            Err(Failure::Socket(err)) => unreachable = Some(err),
            Err(Failure::Postgres(err)) => refused = Some(err),
        }
    }
    match (refused, unreachable) {
        (Some(err), _) => Err(err),
        (None, Some(err)) => report(err, config).await,
        (None, None) => {
            let err = io::Error::new(io::ErrorKind::InvalidInput, "DATABASE_URL names no host");
            report(err, config).await
        }
    }
}

/// The `i`th host of the URL (its `hostaddr` when given), on its port.
async fn candidate(
    config: &Config,
    i: usize,
    patience: Duration,
) -> Result<Option<(Client, JoinHandle<()>)>, Failure> {
    let ports = config.get_ports();
    let port = ports
        .get(i)
        .or_else(|| ports.first())
        .copied()
        .unwrap_or(5432);
    match (config.get_hostaddrs().get(i), config.get_hosts().get(i)) {
        (Some(ip), _) => {
            let socket = tcp(&[SocketAddr::new(*ip, port)], config).await?;
            handshake(socket, config, patience).await
        }
        (None, Some(Host::Tcp(name))) => {
            let addrs = resolve(name, port, config).await?;
            handshake(tcp(&addrs, config).await?, config, patience).await
        }
        #[cfg(unix)]
        (None, Some(Host::Unix(dir))) => {
            let path = dir.join(format!(".s.PGSQL.{port}"));
            let socket = within(config, tokio::net::UnixStream::connect(path)).await?;
            handshake(socket, config, patience).await
        }
        (None, None) => Err(Failure::Socket(io::ErrorKind::InvalidInput.into())),
    }
}

enum Failure {
    /// No socket: DNS, refused, unreachable, timed out.
    Socket(io::Error),
    /// The socket opened but the startup failed (authentication, missing database, …).
    Postgres(Error),
}

async fn within<T>(
    config: &Config,
    connect: impl std::future::Future<Output = io::Result<T>>,
) -> Result<T, Failure> {
    let result = match config.get_connect_timeout() {
        Some(limit) => tokio::time::timeout(*limit, connect)
            .await
            .unwrap_or_else(|_| {
                Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "connection timed out",
                ))
            }),
        None => connect.await,
    };
    result.map_err(Failure::Socket)
}

async fn resolve(name: &str, port: u16, config: &Config) -> Result<Vec<SocketAddr>, Failure> {
    within(config, async {
        Ok(tokio::net::lookup_host((name, port)).await?.collect())
    })
    .await
}

/// The first address that accepts a TCP connection, tuned as the URL asks.
async fn tcp(addrs: &[SocketAddr], config: &Config) -> Result<TcpStream, Failure> {
    let mut last = io::Error::new(io::ErrorKind::NotFound, "the host name resolved to nothing");
    for addr in addrs {
        match within(config, TcpStream::connect(addr)).await {
            Ok(stream) => {
                tune(&stream, config).map_err(Failure::Socket)?;
                return Ok(stream);
            }
            Err(Failure::Socket(err)) => last = err,
            Err(other) => return Err(other),
        }
    }
    Err(Failure::Socket(last))
}

fn tune(stream: &TcpStream, config: &Config) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let socket = socket2::SockRef::from(stream);
    #[cfg(target_os = "linux")]
    if let Some(limit) = config.get_tcp_user_timeout() {
        socket.set_tcp_user_timeout(Some(*limit))?;
    }
    if config.get_keepalives() {
        let mut keepalive = socket2::TcpKeepalive::new().with_time(config.get_keepalives_idle());
        #[cfg(any(target_os = "linux", target_os = "macos"))]
        if let Some(interval) = config.get_keepalives_interval() {
            keepalive = keepalive.with_interval(interval);
        }
        #[cfg(any(target_os = "linux", target_os = "macos"))]
        if let Some(retries) = config.get_keepalives_retries() {
            keepalive = keepalive.with_retries(retries);
        }
        socket.set_tcp_keepalive(&keepalive)?;
    }
    Ok(())
}

/// Runs the startup over a watched socket and checks `target_session_attrs`; `None` when the
/// server is not the kind of session asked for.
async fn handshake<S>(
    socket: S,
    config: &Config,
    patience: Duration,
) -> Result<Option<(Client, JoinHandle<()>)>, Failure>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (client, connection) = config
        .connect_raw(Watchdog::new(socket, patience), NoTls)
        .await
        .map_err(Failure::Postgres)?;
    let task = tokio::spawn(async move {
        if let Err(err) = connection.await {
            tracing::debug!(error = %common::error::error_chain(&err), "database connection ended");
        }
    });
    let wanted = match config.get_target_session_attrs() {
        TargetSessionAttrs::ReadWrite => "off",
        TargetSessionAttrs::ReadOnly => "on",
        // `Any`, and whatever a later tokio-postgres adds (the enum is non-exhaustive).
        _ => return Ok(Some((client, task))),
    };
    let rows = client
        .simple_query("SHOW transaction_read_only")
        .await
        .map_err(Failure::Postgres)?;
    let read_only = rows.iter().find_map(|message| match message {
        SimpleQueryMessage::Row(row) => row.get(0),
        _ => None,
    });
    if read_only == Some(wanted) {
        Ok(Some((client, task)))
    } else {
        task.abort();
        Ok(None)
    }
}

/// tokio-postgres errors cannot be built outside the crate, yet a connection that could not
/// even open a socket must be reported as one: let tokio-postgres run its startup on a socket
/// that fails with `err`, and return what it makes of that.
async fn report(err: io::Error, config: &Config) -> Result<(Client, JoinHandle<()>), Error> {
    let (client, connection) = config.connect_raw(Failed(Some(err)), NoTls).await?;
    Ok((
        client,
        tokio::spawn(async move {
            let _ = connection.await;
        }),
    ))
}

/// A socket whose every operation fails with the error it carries (once, then `BrokenPipe`).
struct Failed(Option<io::Error>);

impl Failed {
    fn error(&mut self) -> io::Error {
        self.0
            .take()
            .unwrap_or_else(|| io::ErrorKind::BrokenPipe.into())
    }
}

impl AsyncRead for Failed {
    fn poll_read(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        _: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Poll::Ready(Err(self.get_mut().error()))
    }
}

impl AsyncWrite for Failed {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, _: &[u8]) -> Poll<io::Result<usize>> {
        Poll::Ready(Err(self.get_mut().error()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Err(self.get_mut().error()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
