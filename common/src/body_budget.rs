//! The budget of request-body bytes a process holds in memory at once, shared by every request.
//!
//! [`crate::http::read_body`] reserves from it before its buffer grows and gives the bytes back
//! when the body is dropped ([`Reservation`] is the RAII guard). A request that would take the
//! budget past its limit is refused with 503 instead of allocating.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// `MAX_BODY_BYTES_IN_FLIGHT` when unset: 16 MiB, 256 bodies of the default 64 KiB limit at
/// once. The contract's bodies are a few hundred bytes, so thousands of ordinary requests fit;
/// a client that sends large bodies slowly to pin memory gets 503 once it holds this much.
pub const DEFAULT_BYTES_IN_FLIGHT: usize = 16 * 1024 * 1024;

/// A limit and the bytes reserved against it; clones share both.
#[derive(Clone)]
pub struct BodyBudget {
    inner: Arc<Inner>,
}

struct Inner {
    limit: usize,
    used: AtomicUsize,
}

impl BodyBudget {
    pub fn new(limit: usize) -> Self {
        BodyBudget {
            inner: Arc::new(Inner {
                limit,
                used: AtomicUsize::new(0),
            }),
        }
    }

    pub fn limit(&self) -> usize {
        self.inner.limit
    }

    /// Bytes reserved right now, by every request of the process.
    pub fn in_use(&self) -> usize {
        self.inner.used.load(Ordering::Acquire)
    }

    /// An empty reservation, grown as the body arrives.
    pub fn reservation(&self) -> Reservation {
        Reservation {
            budget: Arc::clone(&self.inner),
            bytes: 0,
        }
    }
}

impl fmt::Debug for BodyBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BodyBudget")
            .field("limit", &self.limit())
            .field("in_use", &self.in_use())
            .finish()
    }
}

/// The budget would go past its limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the {limit} bytes of request bodies a process may hold at once are in use")]
pub struct Exhausted {
    pub limit: usize,
}

/// Bytes one request holds against the budget; given back when it is dropped.
#[must_use]
pub struct Reservation {
    budget: Arc<Inner>,
    bytes: usize,
}

impl Reservation {
    /// Takes `more` bytes, or nothing when that would pass the limit.
    pub fn grow(&mut self, more: usize) -> Result<(), Exhausted> {
        let limit = self.budget.limit;
        self.budget
            .used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(more).filter(|total| *total <= limit)
            })
            .map_err(|_| Exhausted { limit })?;
        self.bytes += more;
        Ok(())
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.budget.used.fetch_sub(self.bytes, Ordering::AcqRel);
    }
}

impl fmt::Debug for Reservation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reservation")
            .field("bytes", &self.bytes)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_share_the_limit_and_give_back_on_drop() {
        let budget = BodyBudget::new(100);
        let mut first = budget.reservation();
        let mut second = budget.clone().reservation();
        assert_eq!(first.grow(60), Ok(()));
        assert_eq!(second.grow(41), Err(Exhausted { limit: 100 }));
        assert_eq!(second.bytes(), 0, "a refused grow takes nothing");
        assert_eq!(second.grow(40), Ok(()));
        assert_eq!(budget.in_use(), 100);
        drop(first);
        assert_eq!(budget.in_use(), 40);
        assert_eq!(second.grow(60), Ok(()));
        drop(second);
        assert_eq!(budget.in_use(), 0);
    }

    #[test]
    fn a_grow_that_would_overflow_is_refused() {
        let budget = BodyBudget::new(usize::MAX);
        let mut first = budget.reservation();
        assert_eq!(first.grow(usize::MAX), Ok(()));
        let mut second = budget.reservation();
        assert_eq!(second.grow(1), Err(Exhausted { limit: usize::MAX }));
        drop(first);
        assert_eq!(budget.in_use(), 0);
    }
}
