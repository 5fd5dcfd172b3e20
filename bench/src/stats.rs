//! Latency samples and their percentiles (nearest-rank), in milliseconds.

use std::time::Duration;

/// Percentiles of a set of latency samples, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Summary {
    /// Samples.
    pub count: usize,
    /// Median.
    pub p50: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest.
    pub max: f64,
    /// Mean.
    pub mean: f64,
}

/// Round to 3 decimals (microsecond resolution in ms) for the JSON output.
pub fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

impl Summary {
    /// Summarize `samples` (any order). All zeros when empty.
    pub fn of(samples: &[Duration]) -> Summary {
        let mut ms: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1e3).collect();
        Summary::of_ms(&mut ms)
    }

    /// Summarize samples already in milliseconds (sorted in place).
    pub fn of_ms(ms: &mut [f64]) -> Summary {
        if ms.is_empty() {
            return Summary::default();
        }
        ms.sort_by(f64::total_cmp);
        let rank = |q: f64| {
            let i = ((q * ms.len() as f64).ceil() as usize).clamp(1, ms.len()) - 1;
            round3(ms[i])
        };
        Summary {
            count: ms.len(),
            p50: rank(0.50),
            p99: rank(0.99),
            max: round3(ms[ms.len() - 1]),
            mean: round3(ms.iter().sum::<f64>() / ms.len() as f64),
        }
    }
}

/// `count / elapsed`, 0 when nothing elapsed, rounded to 0.1.
pub fn rate(count: usize, elapsed: Duration) -> f64 {
    let s = elapsed.as_secs_f64();
    if s <= 0.0 {
        0.0
    } else {
        (count as f64 / s * 10.0).round() / 10.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let samples: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        let s = Summary::of(&samples);
        assert_eq!((s.count, s.p50, s.p99, s.max), (100, 50.0, 99.0, 100.0));
        assert_eq!(Summary::of(&[]).count, 0);
        let one = Summary::of(&[Duration::from_micros(1500)]);
        assert_eq!((one.p50, one.p99, one.max), (1.5, 1.5, 1.5));
    }

    #[test]
    fn rate_is_per_second() {
        assert_eq!(rate(500, Duration::from_millis(250)), 2000.0);
        assert_eq!(rate(5, Duration::ZERO), 0.0);
    }
}
