//! Jittered exponential backoff between retries, bounded three ways.
//!
//! A [`Backoff`] hands out the delays of one *round* of retries: each delay
//! is below [`BackoffPolicy::ceiling`], there are at most
//! [`BackoffPolicy::max_attempts`] of them, and together they add up to at
//! most [`BackoffPolicy::max_total`]. After that [`Backoff::next_delay`]
//! returns `None` and the caller decides: a request gives up, a long-running
//! loop (a worker's link, the cluster supervisor, a watcher) logs and starts
//! a new round with [`Backoff::reset`]. A success also calls `reset`.
//!
//! The delays come from `backon`'s `ExponentialBuilder` with jitter. backon
//! adds a random jitter of up to the current delay, so it is given half of
//! the policy's figures: the n-th delay (from 0) lies in
//! `[first/2 · 2ⁿ, first · 2ⁿ)`, capped to `[ceiling/2, ceiling)`. Two
//! processes that lost the same peer at the same moment therefore do not
//! retry in lockstep, and every delay still stays below the ceiling.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBackoff, ExponentialBuilder};

/// The shape and the bounds of one round of retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackoffPolicy {
    /// The first delay is in `[first/2, first)`; each next one doubles.
    pub first: Duration,
    /// Every delay is below this (and, once reached, in `[ceiling/2, ceiling)`).
    pub ceiling: Duration,
    /// Delays handed out in one round, at most.
    pub max_attempts: usize,
    /// Sum of the delays of one round, at most.
    pub max_total: Duration,
}

impl BackoffPolicy {
    fn builder(&self) -> ExponentialBuilder {
        ExponentialBuilder::new()
            .with_jitter()
            .with_min_delay(self.first / 2)
            .with_max_delay(self.ceiling / 2)
            .with_max_times(self.max_attempts)
            .with_total_delay(Some(self.max_total))
    }
}

/// One round of jittered exponential delays. See the module docs.
#[derive(Debug)]
pub struct Backoff {
    policy: BackoffPolicy,
    seed: Option<u64>,
    delays: ExponentialBackoff,
    attempts: usize,
}

impl Backoff {
    /// A backoff whose jitter comes from a randomly seeded generator.
    pub fn new(policy: BackoffPolicy) -> Self {
        Backoff {
            policy,
            seed: None,
            delays: policy.builder().build(),
            attempts: 0,
        }
    }

    /// A backoff whose jitter is reproducible (for tests).
    pub fn with_seed(policy: BackoffPolicy, seed: u64) -> Self {
        Backoff {
            policy,
            seed: Some(seed),
            delays: policy.builder().with_jitter_seed(seed).build(),
            attempts: 0,
        }
    }

    /// The policy in use.
    pub fn policy(&self) -> &BackoffPolicy {
        &self.policy
    }

    /// Delays handed out since the round started.
    pub fn attempts(&self) -> usize {
        self.attempts
    }

    /// How long to wait before the next attempt, or `None` when this round's
    /// attempts or total time are used up.
    pub fn next_delay(&mut self) -> Option<Duration> {
        let delay = self.delays.next()?;
        self.attempts += 1;
        Some(delay)
    }

    /// Start a new round from the smallest delay (after a success, or when a
    /// loop that runs until stopped has used up a round).
    pub fn reset(&mut self) {
        let builder = self.policy.builder();
        self.delays = match self.seed {
            // A reseeded generator would repeat the last round's jitter.
            Some(seed) => builder
                .with_jitter_seed(seed.wrapping_add(self.attempts as u64 + 1))
                .build(),
            None => builder.build(),
        };
        self.attempts = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// backon computes delays in `f32` seconds: allow for its rounding.
    const SLACK: Duration = Duration::from_micros(1);

    fn policy() -> BackoffPolicy {
        BackoffPolicy {
            first: ms(40),
            ceiling: ms(1000),
            max_attempts: 20,
            max_total: Duration::from_secs(60),
        }
    }

    /// Every delay is in `[first/2 · 2ⁿ, first · 2ⁿ)` capped to
    /// `[ceiling/2, ceiling)`, whatever the jitter.
    #[test]
    fn every_delay_lies_within_its_jitter_band_and_below_the_ceiling() {
        let p = policy();
        for seed in 0..300 {
            let mut b = Backoff::with_seed(p, seed);
            for n in 0..p.max_attempts as u32 {
                let d = b
                    .next_delay()
                    .unwrap_or_else(|| panic!("seed {seed}: none at {n}"));
                let base = (p.first / 2 * 2u32.pow(n.min(20))).min(p.ceiling / 2);
                assert!(
                    d + SLACK >= base,
                    "seed {seed}, attempt {n}: {d:?} < {base:?}"
                );
                assert!(
                    d < base * 2 + SLACK,
                    "seed {seed}, attempt {n}: {d:?} >= {:?}",
                    base * 2
                );
                assert!(
                    d < p.ceiling,
                    "seed {seed}, attempt {n}: {d:?} over the ceiling"
                );
            }
        }
    }

    #[test]
    fn delays_grow_until_the_ceiling() {
        let p = policy();
        for seed in 0..100 {
            let mut b = Backoff::with_seed(p, seed);
            let mut last = Duration::ZERO;
            // 40 ms → 1 s: the base doubles five times before it is capped.
            for n in 0..5 {
                let d = b.next_delay().unwrap_or_default();
                assert!(d > last, "seed {seed}, attempt {n}: {d:?} <= {last:?}");
                last = d;
            }
        }
    }

    #[test]
    fn a_round_ends_after_max_attempts() {
        let p = BackoffPolicy {
            max_attempts: 4,
            ..policy()
        };
        let mut b = Backoff::with_seed(p, 7);
        let got: Vec<Duration> = std::iter::from_fn(|| b.next_delay()).take(100).collect();
        assert_eq!(got.len(), 4);
        assert_eq!(b.attempts(), 4);
        assert_eq!(b.next_delay(), None);
    }

    #[test]
    fn a_round_ends_before_its_delays_exceed_max_total() {
        let p = BackoffPolicy {
            max_attempts: 1000,
            max_total: ms(3000),
            ..policy()
        };
        for seed in 0..100 {
            let mut b = Backoff::with_seed(p, seed);
            let total: Duration = std::iter::from_fn(|| b.next_delay()).take(2000).sum();
            assert!(total <= p.max_total, "seed {seed}: {total:?}");
            // The round does not stop early: one more ceiling-sized delay
            // would not have fit.
            assert!(total + p.ceiling > p.max_total, "seed {seed}: {total:?}");
        }
    }

    #[test]
    fn reset_starts_a_new_round_from_the_first_delay() {
        let p = BackoffPolicy {
            max_attempts: 6,
            ..policy()
        };
        let mut b = Backoff::with_seed(p, 11);
        while b.next_delay().is_some() {}
        b.reset();
        assert_eq!(b.attempts(), 0);
        let d = b.next_delay().unwrap_or_default();
        assert!(d >= p.first / 2 && d < p.first, "{d:?}");
    }

    #[test]
    fn unseeded_backoffs_respect_the_same_bounds() {
        let p = policy();
        let mut b = Backoff::new(p);
        let d = b.next_delay().unwrap_or_default();
        assert!(d >= p.first / 2 && d < p.first, "{d:?}");
    }
}
