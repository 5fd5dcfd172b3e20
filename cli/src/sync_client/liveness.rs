//! "Is the proxy still there?", decided without sockets or clocks.
//!
//! A zeromq DEALER gives no sign when its proxy is SIGKILLed: requests just
//! go unanswered. Waiting for a request's own deadline would cost the whole
//! deadline, which must be longer than the proxy's (a slow quorum is not a
//! dead proxy; PROTOCOL §8.1). So while the client expects something (a
//! request in flight, or always for a watcher), it sends a `ping` whenever
//! the link has been quiet for a third of the silence limit; the proxy
//! answers pings itself, without its replicas. Anything received counts as
//! a sign of life. Quiet for longer than the limit: the proxy is presumed
//! dead, and the connection actor fails over to the next endpoint.
//!
//! The actor passes `now`; this module only decides ([`Liveness::due`]) and
//! says when to look again ([`Liveness::next_check`]).

use std::time::{Duration, Instant};

use shoplist_net::SilenceDetector;

/// What the link needs at some instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    /// Nothing.
    Nothing,
    /// Send a `ping`.
    Probe,
    /// Quiet past the limit: drop the socket and fail over.
    Dead,
}

/// The liveness state of one connection. See the module docs.
#[derive(Debug, Clone, Copy)]
pub struct Liveness {
    silence: SilenceDetector,
    last_probe: Option<Instant>,
}

impl Liveness {
    /// A link (re)built, or starting to wait for an answer, at `now`.
    pub fn new(limit: Duration, now: Instant) -> Self {
        Liveness {
            silence: SilenceDetector::new(limit, now),
            last_probe: None,
        }
    }

    /// How long the link is quiet before a probe is sent.
    pub fn probe_after(&self) -> Duration {
        self.silence.limit() / 3
    }

    /// Something arrived at `now`.
    pub fn heard(&mut self, now: Instant) {
        self.silence.heard(now);
    }

    /// Start counting afresh at `now` (a request sent on an idle link: the
    /// time it was idle is no silence).
    pub fn restart(&mut self, now: Instant) {
        *self = Liveness::new(self.silence.limit(), now);
    }

    /// What to do at `now` while an answer is expected. A probe is planned
    /// at most once per [`Self::probe_after`].
    pub fn due(&mut self, now: Instant) -> Due {
        if self.silence.is_silent(now) {
            return Due::Dead;
        }
        let quiet = self.silence.quiet_for(now);
        let since_probe = self
            .last_probe
            .map_or(Duration::MAX, |p| now.saturating_duration_since(p));
        if quiet >= self.probe_after() && since_probe >= self.probe_after() {
            self.last_probe = Some(now);
            return Due::Probe;
        }
        Due::Nothing
    }

    /// When [`Self::due`] may next say something other than `Nothing`.
    pub fn next_check(&self, now: Instant) -> Instant {
        let heard = now - self.silence.quiet_for(now);
        let dead = heard + self.silence.limit() + Duration::from_millis(1);
        let probe_base = match self.last_probe {
            Some(p) if p > heard => p,
            _ => heard,
        };
        dead.min(probe_base + self.probe_after()).max(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_quiet_link_is_probed_every_third_of_the_limit_then_declared_dead() {
        let t0 = Instant::now();
        let mut l = Liveness::new(ms(600), t0);
        assert_eq!(l.due(t0 + ms(100)), Due::Nothing);
        assert_eq!(l.next_check(t0 + ms(100)), t0 + ms(200));
        assert_eq!(l.due(t0 + ms(200)), Due::Probe);
        assert_eq!(l.due(t0 + ms(250)), Due::Nothing, "one probe per period");
        assert_eq!(l.next_check(t0 + ms(250)), t0 + ms(400));
        assert_eq!(l.due(t0 + ms(400)), Due::Probe);
        assert_eq!(l.due(t0 + ms(600)), Due::Probe);
        assert_eq!(l.next_check(t0 + ms(600)), t0 + ms(601));
        assert_eq!(l.due(t0 + ms(601)), Due::Dead);
    }

    #[test]
    fn an_answer_keeps_the_link_alive() {
        let t0 = Instant::now();
        let mut l = Liveness::new(ms(600), t0);
        assert_eq!(l.due(t0 + ms(200)), Due::Probe);
        l.heard(t0 + ms(210));
        assert_eq!(l.due(t0 + ms(700)), Due::Probe);
        assert_ne!(l.due(t0 + ms(800)), Due::Dead);
        assert_eq!(l.due(t0 + ms(811)), Due::Dead);
    }

    #[test]
    fn restarting_forgets_idle_time() {
        let t0 = Instant::now();
        let mut l = Liveness::new(ms(600), t0);
        l.restart(t0 + ms(5_000));
        assert_eq!(l.due(t0 + ms(5_100)), Due::Nothing);
        assert_eq!(l.due(t0 + ms(5_200)), Due::Probe);
    }
}
