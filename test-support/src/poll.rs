//! Waiting for a condition with a deadline: the tests never sleep a fixed time to wait.

use std::time::{Duration, Instant};

/// How often a condition is asked again.
const INTERVAL: Duration = Duration::from_millis(50);

/// Polls `check` until it returns true (then true) or `deadline` passes (then false).
pub async fn eventually<F, Fut>(deadline: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if check().await {
            return true;
        }
        if start.elapsed() > deadline {
            return false;
        }
        tokio::time::sleep(INTERVAL).await;
    }
}

/// [`eventually`] for a test without a runtime: blocks the thread between checks.
pub fn eventually_blocking(deadline: Duration, mut check: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if check() {
            return true;
        }
        if start.elapsed() > deadline {
            return false;
        }
        std::thread::sleep(INTERVAL);
    }
}
