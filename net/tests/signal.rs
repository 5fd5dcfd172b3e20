//! `shutdown_signal` resolves on SIGTERM (its own test binary: the signal is
//! sent to this process).

#![cfg(unix)]

use std::time::Duration;

#[tokio::test]
async fn sigterm_resolves_the_shutdown_signal() {
    let stop = shoplist_net::shutdown_signal();
    // SAFETY: plain syscall; the handler is registered by the call above, so
    // the signal is caught by tokio instead of ending the process.
    let rc = unsafe { libc::kill(libc::getpid(), libc::SIGTERM) };
    assert_eq!(rc, 0);
    tokio::time::timeout(Duration::from_secs(5), stop)
        .await
        .expect("the shutdown signal resolves after SIGTERM");
}
