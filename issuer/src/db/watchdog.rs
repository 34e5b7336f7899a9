//! A socket that gives up on a silent Postgres.
//!
//! A stalled server (network partition, frozen host, a proxy that stops forwarding) keeps the
//! TCP connection open and simply never answers, so a query waits forever: tokio-postgres has
//! no per-query timeout, and a half-dead peer can keep acknowledging TCP segments. The
//! watchdog sits between tokio-postgres and the socket and follows the protocol's message
//! framing in both directions, which is enough to know when the server owes a reply: every
//! startup packet, simple `Query`, `Sync` and `FunctionCall` is answered by exactly one
//! `ReadyForQuery`. While a reply is owed and nothing at all arrives for `patience`, reading
//! fails with `TimedOut`; tokio-postgres then closes the connection and every query waiting on
//! it fails as closed, which `DbError` classifies as unavailable. An idle connection (nothing
//! owed) is never timed out, and any byte from the server counts as life.
//!
//! It must wrap the plain protocol stream: below a TLS layer it would see ciphertext.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

pub struct Watchdog<S> {
    socket: S,
    patience: Duration,
    sent: Frames,
    received: Frames,
    /// `ReadyForQuery` messages the server still owes.
    owed: u32,
    /// When the server's silence becomes an error; set only while a reply is owed.
    deadline: Option<Pin<Box<Sleep>>>,
}

impl<S> Watchdog<S> {
    pub fn new(socket: S, patience: Duration) -> Self {
        Watchdog {
            socket,
            patience,
            sent: Frames::client(),
            received: Frames::server(),
            owed: 0,
            deadline: None,
        }
    }

    /// Restarts the clock while a reply is owed; stops it when none is.
    fn rewind(&mut self) {
        if self.owed == 0 {
            self.deadline = None;
            return;
        }
        let at = Instant::now() + self.patience;
        match &mut self.deadline {
            Some(sleep) => sleep.as_mut().reset(at),
            None => self.deadline = Some(Box::pin(tokio::time::sleep_until(at))),
        }
    }

    /// Whether the deadline has passed; otherwise makes sure this task is woken when it does.
    fn expired(&mut self, cx: &mut Context<'_>) -> bool {
        self.deadline
            .as_mut()
            .is_some_and(|sleep| sleep.as_mut().poll(cx).is_ready())
    }
}

/// Client messages the server answers with one `ReadyForQuery`: the startup packet (untyped),
/// `Query`, `Sync` and `FunctionCall`.
fn owes_reply(tag: Option<u8>) -> bool {
    matches!(tag, None | Some(b'Q' | b'S' | b'F'))
}

const READY_FOR_QUERY: u8 = b'Z';

impl<S: AsyncRead + Unpin> AsyncRead for Watchdog<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.socket).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let fresh = &buf.filled()[before..];
                if !fresh.is_empty() {
                    let mut answered = 0;
                    this.received.feed(fresh, |tag| {
                        if tag == Some(READY_FOR_QUERY) {
                            answered += 1;
                        }
                    });
                    this.owed = this.owed.saturating_sub(answered);
                    this.rewind();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(err)) => Poll::Ready(Err(err)),
            Poll::Pending if this.expired(cx) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "Postgres sent nothing for {:?} while a reply was owed",
                    this.patience
                ),
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watchdog<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = match Pin::new(&mut this.socket).poll_write(cx, buf) {
            Poll::Ready(Ok(written)) => written,
            other => return other,
        };
        let mut asked = 0;
        this.sent.feed(&buf[..written], |tag| {
            if owes_reply(tag) {
                asked += 1;
            }
        });
        if asked > 0 {
            let was_waiting = this.owed > 0;
            this.owed = this.owed.saturating_add(asked);
            // Silence is measured from the first unanswered request (or the last sign of life).
            if !was_waiting {
                this.rewind();
            }
            // tokio-postgres polls the read side before writing: register for the deadline now.
            let _ = this.expired(cx);
        }
        Poll::Ready(Ok(written))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().socket).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().socket).poll_shutdown(cx)
    }
}

/// Follows the message framing of one direction of the protocol: a type byte (absent on the
/// client's first message, the startup packet), then a big-endian length that counts itself
/// but not the type byte.
#[derive(Debug)]
struct Frames {
    typed: bool,
    header: [u8; 5],
    filled: usize,
    /// Body bytes of the current message not seen yet.
    skip: usize,
}

impl Frames {
    fn client() -> Self {
        Frames {
            typed: false,
            header: [0; 5],
            filled: 0,
            skip: 0,
        }
    }

    fn server() -> Self {
        Frames {
            typed: true,
            ..Frames::client()
        }
    }

    /// Consumes `bytes`, calling `each` with the type byte of every message whose header
    /// completes (`None` for the untyped startup packet).
    fn feed(&mut self, mut bytes: &[u8], mut each: impl FnMut(Option<u8>)) {
        while !bytes.is_empty() {
            if self.skip > 0 {
                let n = self.skip.min(bytes.len());
                self.skip -= n;
                bytes = &bytes[n..];
                continue;
            }
            let header_len = if self.typed { 5 } else { 4 };
            let n = (header_len - self.filled).min(bytes.len());
            self.header[self.filled..self.filled + n].copy_from_slice(&bytes[..n]);
            self.filled += n;
            bytes = &bytes[n..];
            if self.filled < header_len {
                return;
            }
            let h = self.header;
            let (tag, length) = if self.typed {
                (Some(h[0]), [h[1], h[2], h[3], h[4]])
            } else {
                (None, [h[0], h[1], h[2], h[3]])
            };
            self.skip = usize::try_from(u32::from_be_bytes(length))
                .unwrap_or(usize::MAX)
                .saturating_sub(4);
            self.filled = 0;
            self.typed = true;
            each(tag);
        }
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

    use super::*;

    const PATIENCE: Duration = Duration::from_secs(2);

    fn message(tag: u8, body: &[u8]) -> Vec<u8> {
        let mut bytes = vec![tag];
        bytes.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
        bytes.extend_from_slice(body);
        bytes
    }

    fn startup() -> Vec<u8> {
        let body = b"\x00\x03\x00\x00user\x00postgres\x00\x00";
        let mut bytes = (body.len() as u32 + 4).to_be_bytes().to_vec();
        bytes.extend_from_slice(body);
        bytes
    }

    #[test]
    fn framing_counts_the_requests_that_owe_a_reply_however_the_bytes_are_split() {
        let mut stream = startup();
        stream.extend(message(b'p', b"secret\0"));
        stream.extend(message(b'Q', b"SELECT 1\0"));
        stream.extend(message(b'P', b"\0SELECT $1\0\0\0"));
        stream.extend(message(b'B', &[0; 12]));
        stream.extend(message(b'E', &[0; 5]));
        stream.extend(message(b'S', b""));
        stream.extend(message(b'X', b""));
        for chunk in 1..=stream.len() {
            let mut frames = Frames::client();
            let mut tags = Vec::new();
            for piece in stream.chunks(chunk) {
                frames.feed(piece, |tag| tags.push(tag));
            }
            assert_eq!(
                tags,
                [
                    None,
                    Some(b'p'),
                    Some(b'Q'),
                    Some(b'P'),
                    Some(b'B'),
                    Some(b'E'),
                    Some(b'S'),
                    Some(b'X')
                ],
                "chunks of {chunk}"
            );
            assert_eq!(tags.iter().filter(|t| owes_reply(**t)).count(), 3);
        }
    }

    /// Connects tokio-postgres through a watchdog to a fake server that completes the startup
    /// and then answers each query after `delay`, or never when `delay` is `None`.
    async fn connect_to_fake(
        delay: Option<Duration>,
    ) -> (tokio_postgres::Client, tokio::task::JoinHandle<()>) {
        let (client_side, server_side) = tokio::io::duplex(4096);
        tokio::spawn(fake_server(server_side, delay));
        let config: tokio_postgres::Config = "user=postgres dbname=fake".parse().unwrap();
        let (client, connection) = config
            .connect_raw(Watchdog::new(client_side, PATIENCE), tokio_postgres::NoTls)
            .await
            .unwrap();
        let task = tokio::spawn(async move {
            let _ = connection.await;
        });
        (client, task)
    }

    async fn fake_server(mut socket: DuplexStream, delay: Option<Duration>) {
        let length = socket.read_u32().await.unwrap() as usize;
        let mut startup = vec![0; length - 4];
        socket.read_exact(&mut startup).await.unwrap();
        let mut hello = message(b'R', &0u32.to_be_bytes());
        hello.extend(message(b'Z', b"I"));
        socket.write_all(&hello).await.unwrap();
        loop {
            let Ok(tag) = socket.read_u8().await else {
                return;
            };
            let length = socket.read_u32().await.unwrap() as usize;
            let mut body = vec![0; length - 4];
            socket.read_exact(&mut body).await.unwrap();
            if tag != b'Q' {
                return;
            }
            let Some(delay) = delay else {
                // Stalled: keep the connection open, never answer.
                std::future::pending::<()>().await;
                return;
            };
            tokio::time::sleep(delay).await;
            let mut reply = message(b'C', b"SELECT 1\0");
            reply.extend(message(b'Z', b"I"));
            socket.write_all(&reply).await.unwrap();
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_reply_that_never_comes_closes_the_connection_after_the_patience() {
        let (client, _connection) = connect_to_fake(None).await;
        let started = Instant::now();

        let err = client.batch_execute("SELECT 1").await.unwrap_err();

        assert!(err.is_closed(), "{err:?}");
        let waited = started.elapsed();
        assert!(
            waited >= PATIENCE && waited < PATIENCE * 2,
            "gave up after {waited:?}"
        );
        assert!(client.is_closed());
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_reply_within_the_patience_and_a_long_idle_spell_are_fine() {
        let (client, _connection) = connect_to_fake(Some(PATIENCE * 9 / 10)).await;

        client.batch_execute("SELECT 1").await.unwrap();
        tokio::time::sleep(PATIENCE * 10).await;
        client.batch_execute("SELECT 1").await.unwrap();

        assert!(!client.is_closed());
    }
}
