//! The process's termination signal.

use std::future::Future;

/// Completes on SIGTERM or SIGINT (Ctrl-C), whichever comes first.
///
/// Both handlers are installed when this is called, not when the future is first polled: a
/// signal that arrives while the server is still starting (or between the accept loop's first
/// polls) is then caught and drains the service instead of killing the process outright.
pub fn signal() -> impl Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let terminate = signal(SignalKind::terminate());
        let interrupt = signal(SignalKind::interrupt());
        async move {
            match (terminate, interrupt) {
                (Ok(mut terminate), Ok(mut interrupt)) => {
                    tokio::select! {
                        _ = terminate.recv() => tracing::info!("SIGTERM received"),
                        _ = interrupt.recv() => tracing::info!("SIGINT received"),
                    }
                }
                (Err(err), _) | (_, Err(err)) => {
                    tracing::warn!(error = %err, "cannot listen for SIGTERM or SIGINT; only Ctrl-C stops the service");
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
