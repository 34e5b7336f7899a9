//! The accept loop shared by both services: connection cap, optional TLS, idle and header
//! timeouts, and graceful, deadline-bound shutdown.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::Request;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;

use crate::envelope::Response;

mod idle;
mod refuse;

use idle::{Activity, IdleIo};

/// How connections are served: the limits and, for HTTPS, the TLS acceptor.
#[derive(Clone, Default)]
pub struct ServeOptions {
    pub limits: ServerLimits,
    pub tls: Option<TlsAcceptor>,
}

impl std::fmt::Debug for ServeOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServeOptions")
            .field("limits", &self.limits)
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

/// Connection-level limits applied by the accept loop and hyper.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerLimits {
    /// A request's headers must arrive within this; an HTTP/1.1 connection waiting for the next
    /// request's headers is closed after it too.
    pub header_read_timeout: Duration,
    /// A request body must arrive completely within this.
    pub body_read_timeout: Duration,
    /// A connection with no request in flight and no traffic is closed after this.
    pub keep_alive_timeout: Duration,
    /// Connections served at once; more are refused with 503.
    pub max_connections: usize,
    /// The request line plus headers, in bytes (HTTP/1.1); the header list size (HTTP/2).
    pub max_header_bytes: usize,
    /// Header fields per request (HTTP/1.1).
    pub max_headers: usize,
    /// Streams one HTTP/2 connection may have open at once.
    pub http2_max_concurrent_streams: u32,
    /// The TLS handshake must finish within this.
    pub tls_handshake_timeout: Duration,
}

impl Default for ServerLimits {
    /// The documented defaults (the settings table's).
    fn default() -> Self {
        ServerLimits {
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(10),
            keep_alive_timeout: Duration::from_secs(75),
            max_connections: 10_000,
            max_header_bytes: 32_768,
            max_headers: 100,
            http2_max_concurrent_streams: 100,
            tls_handshake_timeout: Duration::from_secs(10),
        }
    }
}

impl ServeOptions {
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }
}

/// Serves `handler` on `listener` with the default limits and no TLS; see [`serve_with`].
pub async fn serve<H, Fut>(
    listener: TcpListener,
    handler: H,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
) where
    H: Fn(Request<Incoming>, SocketAddr) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Response> + Send + 'static,
{
    serve_with(listener, ServeOptions::default(), handler, shutdown, grace).await;
}

/// Serves `handler` on `listener` until `shutdown` completes, then stops accepting and lets
/// in-flight requests finish for at most `grace`.
pub async fn serve_with<H, Fut>(
    listener: TcpListener,
    options: ServeOptions,
    handler: H,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
) where
    H: Fn(Request<Incoming>, SocketAddr) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Response> + Send + 'static,
{
    let ServeOptions { limits, tls } = options;
    let handler = Arc::new(handler);
    let builder = Arc::new(connection_builder(&limits));
    let connections = Arc::new(Semaphore::new(limits.max_connections));
    let refusals = Arc::new(Semaphore::new(refuse::AT_ONCE));
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);

    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let Ok(permit) = Arc::clone(&connections).try_acquire_owned() else {
            tracing::warn!(%peer, max = limits.max_connections, "connection limit reached; refusing");
            refuse::refuse(stream, tls.is_none(), &refusals);
            continue;
        };
        let connection = Connection {
            builder: Arc::clone(&builder),
            handler: Arc::clone(&handler),
            watcher: graceful.watcher(),
            limits: limits.clone(),
            peer,
        };
        let tls = tls.clone();
        tokio::spawn(async move {
            let _permit = permit;
            match tls {
                None => connection.serve(stream).await,
                Some(acceptor) => {
                    let handshake = tokio::time::timeout(
                        connection.limits.tls_handshake_timeout,
                        acceptor.accept(stream),
                    );
                    match handshake.await {
                        Ok(Ok(stream)) => connection.serve(stream).await,
                        Ok(Err(err)) => {
                            tracing::debug!(error = %err, %peer, "TLS handshake failed");
                        }
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                }
            }
        });
    }

    drop(listener);
    tracing::info!("stopped accepting; draining in-flight requests");
    tokio::select! {
        () = graceful.shutdown() => tracing::info!("all connections drained"),
        () = tokio::time::sleep(grace) => tracing::warn!(?grace, "grace period over; closing remaining connections"),
    }
}

/// The header count hyper enforces when none is configured (and `MAX_HEADERS`' default).
const HYPER_DEFAULT_MAX_HEADERS: usize = 100;

/// HTTP/1.1 and HTTP/2 (by preface or ALPN) with the configured limits.
///
/// hyper itself answers a head over `max_buf_size` or with more than `max_headers` fields with
/// a bare 431, and malformed framing (bad or conflicting `Content-Length`) with a bare 400. A
/// request with both `Content-Length` and `Transfer-Encoding: chunked` is read by its chunked
/// framing only and the connection is closed after the answer, so nothing can be smuggled.
fn connection_builder(limits: &ServerLimits) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(limits.max_header_bytes);
    // hyper parses up to 100 headers in a stack array; naming any count, even 100, moves that
    // array to the heap for every request, so the default is left to hyper.
    if limits.max_headers != HYPER_DEFAULT_MAX_HEADERS {
        builder.http1().max_headers(limits.max_headers);
    }
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(limits.http2_max_concurrent_streams)
        .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX))
        .max_pending_accept_reset_streams(Some(20))
        .max_local_error_reset_streams(Some(256));
    builder
}

/// One accepted connection, before its protocol is known.
struct Connection<H> {
    builder: Arc<auto::Builder<TokioExecutor>>,
    handler: Arc<H>,
    watcher: Watcher,
    limits: ServerLimits,
    peer: SocketAddr,
}

impl<H, Fut> Connection<H>
where
    H: Fn(Request<Incoming>, SocketAddr) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Response> + Send + 'static,
{
    async fn serve<IO>(self, io: IO)
    where
        IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let Connection {
            builder,
            handler,
            watcher,
            limits,
            peer,
        } = self;
        let activity = Activity::new();
        let io = IdleIo::new(
            io,
            Arc::clone(&activity),
            limits.header_read_timeout.min(limits.keep_alive_timeout),
            limits.keep_alive_timeout,
        );
        let service = service_fn(move |req| {
            let in_flight = activity.begin();
            let response = handler(req, peer);
            async move {
                let response = response.await;
                drop(in_flight);
                Ok::<_, Infallible>(response)
            }
        });
        let connection = builder
            .serve_connection(TokioIo::new(io), service)
            .into_owned();
        if let Err(err) = watcher.watch(connection).await {
            tracing::debug!(error = %err, %peer, "connection ended with an error");
        }
    }
}
