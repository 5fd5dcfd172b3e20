//! "Has the peer been quiet for too long?", without sockets or clocks.
//!
//! A zeromq DEALER gives no sign when its peer disappears: it just stops
//! receiving. So a link counts as dead after `limit` without a message (a
//! worker's link uses 3 × the heartbeat interval). The caller passes `now`,
//! so the rule is tested with hand-made instants.

use std::time::{Duration, Instant};

/// When the peer was last heard from, and how much silence is too much.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SilenceDetector {
    limit: Duration,
    last_heard: Instant,
}

impl SilenceDetector {
    /// A detector for a link that was (re)built at `now`: the peer has
    /// `limit` to say something.
    pub fn new(limit: Duration, now: Instant) -> Self {
        SilenceDetector {
            limit,
            last_heard: now,
        }
    }

    /// Something arrived at `now`.
    pub fn heard(&mut self, now: Instant) {
        self.last_heard = self.last_heard.max(now);
    }

    /// Change how much silence is too much (e.g. the peer asked for another
    /// heartbeat interval). The time last heard is kept.
    pub fn set_limit(&mut self, limit: Duration) {
        self.limit = limit;
    }

    /// The silence allowed.
    pub fn limit(&self) -> Duration {
        self.limit
    }

    /// How long the peer has been quiet at `now` (zero if `now` is earlier
    /// than the last message).
    pub fn quiet_for(&self, now: Instant) -> Duration {
        now.saturating_duration_since(self.last_heard)
    }

    /// Whether the link should be rebuilt: quiet for longer than the limit.
    pub fn is_silent(&self, now: Instant) -> bool {
        self.quiet_for(now) > self.limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_new_link_gets_the_whole_limit() {
        let t0 = Instant::now();
        let s = SilenceDetector::new(ms(300), t0);
        assert!(!s.is_silent(t0));
        assert!(
            !s.is_silent(t0 + ms(300)),
            "exactly the limit is not yet silence"
        );
        assert!(s.is_silent(t0 + ms(301)));
    }

    #[test]
    fn hearing_from_the_peer_restarts_the_count() {
        let t0 = Instant::now();
        let mut s = SilenceDetector::new(ms(300), t0);
        s.heard(t0 + ms(250));
        assert!(!s.is_silent(t0 + ms(500)));
        assert_eq!(s.quiet_for(t0 + ms(500)), ms(250));
        assert!(s.is_silent(t0 + ms(551)));
    }

    #[test]
    fn an_out_of_order_instant_never_moves_the_last_message_back() {
        let t0 = Instant::now();
        let mut s = SilenceDetector::new(ms(300), t0);
        s.heard(t0 + ms(200));
        s.heard(t0 + ms(100));
        assert_eq!(s.quiet_for(t0 + ms(200)), Duration::ZERO);
        assert_eq!(s.quiet_for(t0), Duration::ZERO);
    }

    #[test]
    fn a_new_limit_applies_to_the_current_silence() {
        let t0 = Instant::now();
        let mut s = SilenceDetector::new(ms(300), t0);
        assert!(!s.is_silent(t0 + ms(200)));
        s.set_limit(ms(150));
        assert_eq!(s.limit(), ms(150));
        assert!(s.is_silent(t0 + ms(200)));
    }
}
