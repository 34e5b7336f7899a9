//! Closing connections that sit idle: no request in flight for too long.
//!
//! hyper closes an HTTP/1.1 connection whose next request headers do not arrive within the
//! header timeout; this covers what it does not: a connection that never sends a byte, and
//! HTTP/2 connections with no open stream. Idle time counts from the end of the last request
//! (or from the connection's start), never from the last byte received: otherwise an HTTP/2
//! client could hold a connection forever by dripping PING frames or a header block that never
//! ends, which hyper's HTTP/2 server has no timeout for.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// What the connection's requests tell its I/O: how many are in flight and when the last ended.
#[derive(Debug)]
pub struct Activity {
    in_flight: AtomicUsize,
    last_request_end: Mutex<Option<Instant>>,
}

impl Activity {
    pub fn new() -> Arc<Activity> {
        Arc::new(Activity {
            in_flight: AtomicUsize::new(0),
            last_request_end: Mutex::new(None),
        })
    }

    /// Marks a request in flight until the returned guard is dropped.
    pub fn begin(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        InFlight {
            activity: Arc::clone(self),
        }
    }

    fn busy(&self) -> bool {
        self.in_flight.load(Ordering::SeqCst) > 0
    }

    fn last_request_end(&self) -> Option<Instant> {
        self.last_request_end.lock().ok().and_then(|last| *last)
    }
}

/// A request in flight; dropping it (response ready, or the request abandoned) ends it.
#[derive(Debug)]
pub struct InFlight {
    activity: Arc<Activity>,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Ok(mut last) = self.activity.last_request_end.lock() {
            *last = Some(Instant::now());
        }
        self.activity.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The connection's I/O, reporting end of stream once it has been idle too long.
pub struct IdleIo<IO> {
    inner: IO,
    activity: Arc<Activity>,
    /// Before the first request.
    first_byte: Duration,
    /// Between requests.
    keep_alive: Duration,
    started: Instant,
    timer: Pin<Box<Sleep>>,
}

impl<IO> IdleIo<IO> {
    pub fn new(
        inner: IO,
        activity: Arc<Activity>,
        first_byte: Duration,
        keep_alive: Duration,
    ) -> Self {
        let started = Instant::now();
        IdleIo {
            inner,
            activity,
            first_byte,
            keep_alive,
            started,
            timer: Box::pin(tokio::time::sleep_until(started + first_byte)),
        }
    }

    /// When the connection counts as idle, given what has happened on it so far.
    fn deadline(&self) -> Instant {
        match self.activity.last_request_end() {
            Some(last) => last + self.keep_alive,
            None => self.started + self.first_byte,
        }
    }

    /// Whether the idle deadline has passed; registers the waker when it has not.
    ///
    /// The timer is moved only when it fires: the deadline never moves earlier (requests only
    /// end later), so a timer set for an older deadline fires at or before the current one,
    /// and is then set again. A busy connection so touches the timer once per keep-alive
    /// period, not once per request.
    fn poll_idle(&mut self, cx: &mut Context<'_>) -> bool {
        if self.activity.busy() {
            return false;
        }
        if self.timer.as_mut().poll(cx).is_pending() {
            return false;
        }
        let deadline = self.deadline();
        if self.timer.deadline() >= deadline {
            return true;
        }
        self.timer.as_mut().reset(deadline);
        self.timer.as_mut().poll(cx).is_ready()
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for IdleIo<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(result) => Poll::Ready(result),
            Poll::Pending => {
                if this.poll_idle(cx) {
                    tracing::debug!("closing an idle connection");
                    // End of stream: hyper closes the connection as if the client had.
                    return Poll::Ready(Ok(()));
                }
                Poll::Pending
            }
        }
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for IdleIo<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
