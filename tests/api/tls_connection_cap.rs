//! `MAX_CONNECTIONS` over HTTPS: past the cap a TLS client gets a closed connection (no
//! handshake is spent on it, docs/SECURITY.md "HTTP limits"), and serving resumes as soon as
//! connections end.

use std::net::SocketAddr;
use std::time::Duration;

use test_support::cert::TestCert;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::harness::{eventually, spawn_issuer_with, spawn_verifier_with};
use crate::tls::{owned_env, tls_connect};

/// The cap, and timeouts long enough that neither a held connection nor a silent one is
/// closed for idleness while the test runs.
fn limits(cert: &TestCert) -> Vec<(String, String)> {
    let mut env = owned_env(cert);
    env.extend(
        [
            ("MAX_CONNECTIONS", "2"),
            ("TLS_HANDSHAKE_TIMEOUT_SECONDS", "3600"),
            ("HEADER_READ_TIMEOUT_SECONDS", "60"),
            ("KEEP_ALIVE_TIMEOUT_SECONDS", "3600"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned())),
    );
    env
}

type Tls = tokio_rustls::client::TlsStream<tokio::net::TcpStream>;

/// Sends `GET /health/live` on `tls` and reads the whole answer; its status, or why none.
async fn live(tls: &mut Tls) -> Result<u16, String> {
    tls.write_all(b"GET /health/live HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .map_err(|err| format!("write: {err}"))?;
    let mut received = Vec::new();
    let mut buf = [0u8; 1024];
    let head_end = loop {
        if let Some(at) = received.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let n = tls
            .read(&mut buf)
            .await
            .map_err(|err| format!("read: {err}"))?;
        if n == 0 {
            return Err(format!("closed after {received:?}"));
        }
        received.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&received[..head_end]).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| format!("no content-length: {head}"))?;
    while received.len() < head_end + length {
        let n = tls
            .read(&mut buf)
            .await
            .map_err(|err| format!("read body: {err}"))?;
        if n == 0 {
            return Err("closed in the body".to_owned());
        }
        received.extend_from_slice(&buf[..n]);
    }
    head.split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("no status: {head}"))
}

/// An HTTPS connection that has had `GET /health/live` answered 200, or why not.
async fn served(cert: &TestCert, addr: SocketAddr) -> Result<Tls, String> {
    let mut tls = tls_connect(cert, addr, &[b"http/1.1"])
        .await
        .map_err(|err| format!("handshake: {err}"))?;
    match live(&mut tls).await? {
        200 => Ok(tls),
        status => Err(format!("status {status}")),
    }
}

/// Fails if the cap is not enforced on TLS connections (the third is served), if a refused
/// TLS client is sent anything (a plain-HTTP 503 or a TLS alert would be bytes), or if the
/// places are not given back when connections end.
async fn assert_cap_over_tls(cert: &TestCert, addr: SocketAddr, service: &str) {
    let mut held = Vec::new();
    for n in 0..2 {
        let conn = served(cert, addr)
            .await
            .unwrap_or_else(|err| panic!("{service}: held connection {n}: {err}"));
        held.push(conn);
    }

    // A third TLS client: the handshake fails, the server closes the connection.
    let refused = tokio::time::timeout(
        Duration::from_secs(30),
        tls_connect(cert, addr, &[b"http/1.1"]),
    )
    .await
    .unwrap_or_else(|_| panic!("{service}: the third handshake neither failed nor completed"));
    assert!(
        refused.is_err(),
        "{service}: a third TLS connection was served past MAX_CONNECTIONS=2"
    );
    // And at the TCP level: closed, without a single byte (no 503, no alert).
    let mut raw = tokio::net::TcpStream::connect(addr)
        .await
        .unwrap_or_else(|err| panic!("{service}: connect: {err}"));
    let mut received = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(30), raw.read_to_end(&mut received))
        .await
        .unwrap_or_else(|_| panic!("{service}: the refused connection stayed open"));
    // A close is either EOF or a reset; both are "a closed connection".
    let closed = match &read {
        Ok(_) => true,
        Err(err) => err.kind() == std::io::ErrorKind::ConnectionReset,
    };
    assert!(closed, "{service}: {read:?}");
    assert!(
        received.is_empty(),
        "{service}: the refused TLS client got bytes: {:?}",
        String::from_utf8_lossy(&received)
    );

    // The held connections are still served.
    for (n, conn) in held.iter_mut().enumerate() {
        assert_eq!(live(conn).await, Ok(200), "{service}: held connection {n}");
    }

    drop(held);
    let recovered = eventually(Duration::from_secs(30), || async {
        served(cert, addr).await.is_ok()
    })
    .await;
    assert!(
        recovered,
        "{service}: not served again after the held connections closed"
    );
}

#[tokio::test]
async fn the_verifier_over_https_closes_connections_past_the_cap_and_recovers() {
    let cert = TestCert::localhost();
    let env = limits(&cert);
    let verifier = spawn_verifier_with(move |vars| vars.extend(env)).await;
    assert_cap_over_tls(&cert, verifier.addr, "verifier").await;
}

#[tokio::test]
async fn the_issuer_over_https_closes_connections_past_the_cap_and_recovers() {
    let cert = TestCert::localhost();
    let env = limits(&cert);
    let issuer = spawn_issuer_with(move |vars| vars.extend(env)).await;
    assert_cap_over_tls(&cert, issuer.addr, "issuer").await;
}
