//! Turning a connection away when the server is at its connection limit.
//!
//! Over plain HTTP the client gets a complete `503 SERVICE_UNAVAILABLE` envelope with
//! `Connection: close`; over HTTPS (no handshake is spent on it) the connection is closed.
//! A small, separate budget bounds the work spent on refusals; past it connections are dropped.

use std::sync::Arc;
use std::time::Duration;

use http_body_util::BodyExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

use crate::envelope;
use crate::error::{ApiError, ErrorCode};

/// Refusals answered at once.
pub const AT_ONCE: usize = 64;

/// How long one refusal may take, writing and then waiting for the client to close.
const REFUSAL_TIME: Duration = Duration::from_secs(2);

pub fn refuse(stream: TcpStream, plain_http: bool, budget: &Arc<Semaphore>) {
    let Ok(permit) = Arc::clone(budget).try_acquire_owned() else {
        return;
    };
    if !plain_http {
        return;
    }
    tokio::spawn(async move {
        let _permit = permit;
        let _ = tokio::time::timeout(REFUSAL_TIME, answer(stream)).await;
    });
}

async fn answer(mut stream: TcpStream) -> std::io::Result<()> {
    stream.write_all(&response().await).await?;
    stream.shutdown().await?;
    // Read what the client sent until it closes: closing with unread data would reset the
    // connection and could destroy the answer before the client reads it.
    let mut sink = [0u8; 1024];
    while stream.read(&mut sink).await? > 0 {}
    Ok(())
}

/// The whole HTTP/1.1 response, headers as the request wrapper would set them.
async fn response() -> Vec<u8> {
    let err = ApiError::new(
        ErrorCode::ServiceUnavailable,
        "The server is at its connection limit; retry later.",
    );
    let body = envelope::error(&err)
        .into_body()
        .collect()
        .await
        .map(|collected| collected.to_bytes())
        .unwrap_or_default();
    let head = format!(
        "HTTP/1.1 503 Service Unavailable\r\n\
         content-type: application/json\r\n\
         content-length: {}\r\n\
         connection: close\r\n\
         retry-after: 1\r\n\
         x-content-type-options: nosniff\r\n\
         cache-control: no-store\r\n\
         x-request-id: {}\r\n\r\n",
        body.len(),
        uuid::Uuid::new_v4(),
    );
    let mut out = head.into_bytes();
    out.extend_from_slice(&body);
    out
}
