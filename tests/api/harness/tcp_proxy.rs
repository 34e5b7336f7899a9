//! A TCP proxy a test puts in front of Postgres to take the database away and give it back.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// A TCP proxy that counts the connections it accepts and can cut every connection and refuse
/// new ones, or stall them: in front of Postgres it takes the database away from the issuer and
/// gives it back, or freezes it as a network partition or a hung host would.
pub struct TcpProxy {
    pub addr: SocketAddr,
    broken: Arc<AtomicBool>,
    accepted: Arc<AtomicUsize>,
    stalled: tokio::sync::watch::Sender<bool>,
    connections: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accept: JoinHandle<()>,
}

impl TcpProxy {
    /// In front of the test Postgres.
    pub async fn to_postgres() -> TcpProxy {
        TcpProxy::to(super::database::server()).await
    }

    /// In front of `upstream` (`host:port`).
    pub async fn to(upstream: String) -> TcpProxy {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|err| panic!("proxy bind: {err}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|err| panic!("proxy addr: {err}"));
        let broken = Arc::new(AtomicBool::new(false));
        let accepted = Arc::new(AtomicUsize::new(0));
        let (stalled, _) = tokio::sync::watch::channel(false);
        let connections: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let accept = {
            let broken = Arc::clone(&broken);
            let accepted = Arc::clone(&accepted);
            let stalled = stalled.clone();
            let connections = Arc::clone(&connections);
            tokio::spawn(async move {
                while let Ok((inbound, _)) = listener.accept().await {
                    accepted.fetch_add(1, Ordering::SeqCst);
                    if broken.load(Ordering::SeqCst) {
                        continue; // dropping the stream closes it
                    }
                    let upstream = upstream.clone();
                    let stalled = stalled.subscribe();
                    let task = tokio::spawn(async move {
                        if let Ok(outbound) = TcpStream::connect(upstream).await {
                            let (from_client, to_client) = inbound.into_split();
                            let (from_server, to_server) = outbound.into_split();
                            let _ = tokio::try_join!(
                                pump(from_client, to_server, stalled.clone()),
                                pump(from_server, to_client, stalled),
                            );
                        }
                    });
                    if let Ok(mut list) = connections.lock() {
                        list.push(task);
                    }
                }
            })
        };
        TcpProxy {
            addr,
            broken,
            accepted,
            stalled,
            connections,
            accept,
        }
    }

    /// How many connections clients have opened to the proxy so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    /// Closes every proxied connection and refuses new ones.
    pub fn cut(&self) {
        self.broken.store(true, Ordering::SeqCst);
        if let Ok(mut list) = self.connections.lock() {
            for task in list.drain(..) {
                task.abort();
            }
        }
    }

    pub fn restore(&self) {
        self.broken.store(false, Ordering::SeqCst);
    }

    /// Stops forwarding in both directions, on every connection and on new ones it still
    /// accepts, without closing any: bytes wait in the proxy and in the sockets' buffers.
    pub fn stall(&self) {
        self.stalled.send_replace(true);
    }

    /// Forwards again, starting with whatever waited.
    pub fn unstall(&self) {
        self.stalled.send_replace(false);
    }
}

/// Copies one direction of a proxied connection, holding bytes back while stalled.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut stalled: tokio::sync::watch::Receiver<bool>,
) -> std::io::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        if stalled.wait_for(|s| !*s).await.is_err() {
            return Ok(()); // the proxy is gone
        }
        let n = from.read(&mut buf).await?;
        if n == 0 {
            return to.shutdown().await;
        }
        if stalled.wait_for(|s| !*s).await.is_err() {
            return Ok(());
        }
        to.write_all(&buf[..n]).await?;
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.cut();
    }
}
