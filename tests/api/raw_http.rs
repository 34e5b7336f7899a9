//! A raw HTTP/1.x client over TCP, for what reqwest will not send: dripped bytes, broken
//! framing, missing or repeated headers, pipelining.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long any single read may take before a test gives up on it.
pub const READ_DEADLINE: Duration = Duration::from_secs(5);

/// One parsed response.
#[derive(Debug)]
pub struct RawReply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Value,
    pub raw_body: Vec<u8>,
}

impl RawReply {
    /// The first value of `name` (case-insensitive), or "".
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map_or("", |(_, value)| value.as_str())
    }

    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }

    /// Asserts status, envelope code and the headers every wrapped response carries.
    #[track_caller]
    pub fn assert_envelope(&self, status: u16, code: &str) {
        assert_eq!(
            (self.status, self.code()),
            (status, code),
            "body: {}",
            String::from_utf8_lossy(&self.raw_body)
        );
        assert_eq!(self.body["success"], false);
        crate::harness::assert_timestamp(&self.body["timestamp"]);
        self.assert_security_headers();
    }

    #[track_caller]
    pub fn assert_security_headers(&self) {
        assert_eq!(self.header("x-content-type-options"), "nosniff", "{self:?}");
        assert_eq!(self.header("cache-control"), "no-store", "{self:?}");
        assert!(!self.header("x-request-id").is_empty(), "{self:?}");
    }
}

/// One client connection with what it has read and not yet parsed.
pub struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    eof: bool,
}

impl Conn {
    pub async fn open(addr: SocketAddr) -> Conn {
        let stream = TcpStream::connect(addr)
            .await
            .unwrap_or_else(|err| panic!("connect {addr}: {err}"));
        Conn {
            stream,
            buf: Vec::new(),
            eof: false,
        }
    }

    /// Writes `bytes`; an error (the server closed) is returned, not raised.
    pub async fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes).await?;
        self.stream.flush().await
    }

    /// Reads more bytes; false at end of stream, on error, or after `deadline`.
    async fn fill(&mut self, deadline: Duration) -> bool {
        if self.eof {
            return false;
        }
        let mut chunk = [0u8; 8192];
        match tokio::time::timeout(deadline, self.stream.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                self.eof = true;
                false
            }
            Ok(Ok(n)) => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
            Err(_) => false,
        }
    }

    /// The next response, or `None` when the connection ends (or stalls) before a whole one.
    pub async fn response(&mut self) -> Option<RawReply> {
        let started = Instant::now();
        let remaining = || READ_DEADLINE.saturating_sub(started.elapsed());
        let head_end = loop {
            if let Some(at) = find(&self.buf, b"\r\n\r\n") {
                break at;
            }
            if !self.fill(remaining()).await {
                return None;
            }
        };
        let head = String::from_utf8_lossy(&self.buf[..head_end]).into_owned();
        let mut lines = head.split("\r\n");
        let status: u16 = lines.next()?.split(' ').nth(1)?.parse().ok()?;
        let headers: Vec<(String, String)> = lines
            .filter_map(|line| line.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        // An interim (1xx) response, such as `100 Continue`, never has a body.
        let length = if (100..200).contains(&status) {
            Some(0)
        } else {
            headers
                .iter()
                .find(|(k, _)| k == "content-length")
                .and_then(|(_, v)| v.parse::<usize>().ok())
        };
        let body_start = head_end + 4;
        let raw_body = match length {
            Some(length) => {
                while self.buf.len() < body_start + length {
                    if !self.fill(remaining()).await {
                        return None;
                    }
                }
                let body = self.buf[body_start..body_start + length].to_vec();
                self.buf.drain(..body_start + length);
                body
            }
            None => {
                // No length: the body runs to the end of the connection.
                while self.fill(remaining()).await {}
                let body = self.buf[body_start..].to_vec();
                self.buf.clear();
                body
            }
        };
        let body = serde_json::from_slice(&raw_body).unwrap_or(Value::Null);
        Some(RawReply {
            status,
            headers,
            body,
            raw_body,
        })
    }

    /// Whether the server closes the connection within `within` (anything it sends first is
    /// kept for [`Conn::response`]).
    pub async fn closed_within(&mut self, within: Duration) -> bool {
        let started = Instant::now();
        loop {
            let remaining = within.saturating_sub(started.elapsed());
            if remaining.is_zero() {
                return self.eof;
            }
            if !self.fill(remaining).await {
                return self.eof;
            }
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

/// Sends `request` on a new connection and reads one response.
pub async fn exchange(addr: SocketAddr, request: &[u8]) -> Option<RawReply> {
    let mut conn = Conn::open(addr).await;
    conn.send(request).await.ok()?;
    conn.response().await
}

/// Asserts the service still answers `GET /health` with 200.
#[track_caller]
pub fn assert_healthy(reply: Option<RawReply>, service: &str) {
    let status = reply.map(|r| r.status);
    assert_eq!(status, Some(200), "{service} no longer answers /health");
}

pub async fn health(addr: SocketAddr) -> Option<RawReply> {
    exchange(
        addr,
        b"GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    )
    .await
}
