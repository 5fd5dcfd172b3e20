//! Transport glue shared by `shoplist` (the cli) and `shoplist-cloud`.
//!
//! zeromq 0.7 has two gaps every caller must work around: `connect` keeps
//! retrying a refused connection for up to 30 s, and a DEALER never
//! reconnects once its peer has gone away (a restarted proxy is never
//! reached again). So every DEALER here is disposable: it is connected with a
//! bounded timeout, dropped on silence or on a send/receive failure, and
//! rebuilt, with jittered exponential backoff between attempts. This crate
//! writes each of those once; the *policy* (what counts as silence, when to
//! retry, what to tell the user) stays with the caller.
//!
//! # Layout
//!
//! - [`backoff`]: [`Backoff`], jittered exponential delays (over `backon`),
//!   bounded in delay, attempts and total time. No IO.
//! - [`silence`]: [`SilenceDetector`], "has the peer been quiet for too
//!   long?", driven by the caller's `Instant`s. No IO.
//! - [`endpoints`]: [`Endpoints`], the endpoint in use and failover order.
//!   No IO.
//! - [`connect`]: [`connect_dealer`] (one bounded attempt) and
//!   [`connect_with_backoff`] (bounded attempts).
//! - [`supervised`]: [`SupervisedDealer`], a lazily connected DEALER that is
//!   dropped and rebuilt on the next endpoint after a failure.
//! - [`fdlimit`]: [`fdlimit::raise_nofile`], the descriptor limit raised
//!   for a wanted count: soft to hard, and hard too when permitted
//!   (proxies and the device benchmark).
//! - [`zmtp`]: raw ZMTP 3.x bytes and a bounded sans-IO decoder, for
//!   clients that bypass zeromq (W6's simulated devices, attack tests).
//! - [`signal`]: [`shutdown_signal`], Ctrl-C or SIGTERM.
//! - [`error`]: [`NetError`], the one error type.
//!
//! `shoplist-engine` stays free of sockets and async; this crate knows
//! nothing of the wire protocol (it moves `ZmqMessage`s and ZMTP frames).

pub mod backoff;
pub mod connect;
pub mod endpoints;
pub mod error;
pub mod fdlimit;
pub mod signal;
pub mod silence;
pub mod supervised;
pub mod zmtp;

pub use backoff::{Backoff, BackoffPolicy};
pub use connect::{connect_dealer, connect_with_backoff};
pub use endpoints::Endpoints;
pub use error::NetError;
pub use signal::shutdown_signal;
pub use silence::SilenceDetector;
pub use supervised::SupervisedDealer;
