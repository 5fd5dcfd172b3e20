//! The one "stop now" signal of every long-running command: Ctrl-C
//! (SIGINT) or SIGTERM.

use std::future::Future;

/// A future that resolves on Ctrl-C or, on Unix, SIGTERM.
///
/// SIGTERM is registered when this is *called* (not first polled), so a
/// SIGTERM that arrives between the call and the first poll is not lost.
/// Call it inside a tokio runtime. If a signal cannot be listened for, that
/// is logged and the other one still works; the future never resolves
/// because of a registration failure.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send {
    #[cfg(unix)]
    let term = {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(term) => Some(term),
            Err(e) => {
                tracing::warn!("cannot listen for SIGTERM: {e}");
                None
            }
        }
    };
    async move {
        #[cfg(unix)]
        if let Some(mut term) = term {
            tokio::select! {
                _ = ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
        ctrl_c().await;
    }
}

/// Ctrl-C, or never if it cannot be listened for.
async fn ctrl_c() {
    if let Err(e) = tokio::signal::ctrl_c().await {
        tracing::warn!("cannot listen for Ctrl-C: {e}");
        std::future::pending::<()>().await;
    }
}
