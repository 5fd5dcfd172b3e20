//! Bounded polling, for conditions no event announces: a file written by
//! another process, a cluster that `status` reports ready.
//!
//! Every wait has a deadline and says what it waited for and why it last
//! failed, so a hung test fails with a reason instead of hanging.

use std::time::{Duration, Instant};

use crate::LaunchError;

/// How often a deadline-bounded wait polls.
pub const POLL: Duration = Duration::from_millis(20);

/// One check of a condition.
#[derive(Debug)]
pub enum Poll<T> {
    /// It holds, with this value.
    Ready(T),
    /// Not yet, because of this.
    NotYet(String),
}

/// Checks `condition` every [`POLL`] until it is [`Poll::Ready`] (its value
/// is returned), it fails (its error is returned at once), or `timeout` has
/// passed ([`LaunchError::Timeout`] naming `what` and the last reason).
pub fn poll_until<T>(
    what: &str,
    timeout: Duration,
    mut condition: impl FnMut() -> Result<Poll<T>, LaunchError>,
) -> Result<T, LaunchError> {
    let deadline = Instant::now() + timeout;
    loop {
        match condition()? {
            Poll::Ready(value) => return Ok(value),
            Poll::NotYet(last) if Instant::now() >= deadline => {
                return Err(LaunchError::Timeout {
                    what: what.to_string(),
                    timeout,
                    last,
                })
            }
            Poll::NotYet(_) => std::thread::sleep(POLL),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_condition_that_never_holds_times_out_with_its_reason() {
        let mut checks = 0;
        let err = poll_until::<()>("nothing", Duration::from_millis(60), || {
            checks += 1;
            Ok(Poll::NotYet(format!("check {checks}")))
        })
        .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("nothing") && text.contains("check"), "{text}");
        assert!((2..=10).contains(&checks), "{checks} checks");
    }

    #[test]
    fn ready_and_failed_conditions_end_the_wait_at_once() {
        let mut n = 0;
        let value = poll_until("the third check", Duration::from_secs(5), || {
            n += 1;
            Ok(if n == 3 {
                Poll::Ready(n)
            } else {
                Poll::NotYet(String::new())
            })
        })
        .unwrap();
        assert_eq!(value, 3);
        let err = poll_until::<()>("a dead process", Duration::from_secs(5), || {
            Err(LaunchError::Exited("gone".into()))
        })
        .unwrap_err();
        assert!(matches!(err, LaunchError::Exited(_)));
    }
}
