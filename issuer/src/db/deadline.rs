//! One deadline per use case. Postgres bounds each statement itself (`statement_timeout`) and
//! the kernel bounds unacknowledged data (`tcp_user_timeout`), but a peer that acknowledges
//! and never answers defeats both: the use case's database work is therefore given
//! `DATABASE_TIMEOUT_SECONDS` plus a grace in all, and on expiry every connection it holds is
//! detached from the pool and closed, so the next request opens a fresh one instead of queueing
//! behind a reply that will never come.

use std::future::Future;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Object, Pool};

use super::{DbError, NoAnswer};

/// How much longer than the server's `statement_timeout` a use case may take: the server needs
/// a moment to report its own timeout, and that report (a 503 for one statement) is better than
/// a dropped connection.
pub const GRACE: Duration = Duration::from_secs(1);

tokio::task_local! {
    /// Set when the enclosing deadline fired, read by the leases taken under it.
    static EXPIRED: Arc<AtomicBool>;
}

/// Runs `work` within the pool's timeout plus [`GRACE`]; past it, answers `Unavailable` (503)
/// and closes the connections `work` leased. Inside another deadline, the outer one governs.
pub async fn deadline<T, E, F>(pool: &Pool, work: F) -> Result<T, E>
where
    F: Future<Output = Result<T, E>>,
    E: From<DbError>,
{
    if EXPIRED.try_with(|_| ()).is_ok() {
        return work.await;
    }
    let limit = pool.timeouts().wait.unwrap_or(Duration::from_secs(5)) + GRACE;
    let expired = Arc::new(AtomicBool::new(false));
    let mut work = Box::pin(EXPIRED.scope(Arc::clone(&expired), work));
    match tokio::time::timeout(limit, work.as_mut()).await {
        Ok(result) => result,
        Err(_) => {
            expired.store(true, Ordering::Release);
            drop(work);
            Err(DbError::Unavailable(Box::new(NoAnswer(limit))).into())
        }
    }
}

/// A pooled connection that goes back to the pool when dropped, unless the deadline it was
/// taken under fired: then it is detached and closed.
pub struct Lease {
    object: Option<Object>,
    expired: Option<Arc<AtomicBool>>,
}

/// A connection from the pool, bound to the enclosing [`deadline`] if any.
pub async fn client(pool: &Pool) -> Result<Lease, DbError> {
    let object = pool.get().await?;
    Ok(Lease {
        object: Some(object),
        expired: EXPIRED.try_with(Arc::clone).ok(),
    })
}

impl Deref for Lease {
    type Target = Object;

    fn deref(&self) -> &Object {
        // Only `drop` takes the object out.
        self.object.as_ref().unwrap_or_else(|| unreachable!())
    }
}

impl DerefMut for Lease {
    fn deref_mut(&mut self) -> &mut Object {
        self.object.as_mut().unwrap_or_else(|| unreachable!())
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let expired = self
            .expired
            .as_ref()
            .is_some_and(|flag| flag.load(Ordering::Acquire));
        if let (true, Some(object)) = (expired, self.object.take()) {
            // Dropping the detached client aborts its connection task, closing the socket.
            drop(Object::take(object));
            tracing::warn!("a database connection was closed: its use case ran out of time");
        }
    }
}
