//! The regression guard of `--quick` runs (issue 11 deliverable 9): a
//! baseline is a map `"WORKLOAD.figure" → value`; a run is compared figure
//! by figure. Pure logic, no IO: [`figures`] extracts the guarded figures
//! of the result lines, [`compare`] judges them.
//!
//! Only figures whose direction is known are guarded ([`Direction::of`]):
//! rates (`*_per_s`, higher is better) and medians (`*_p50_ms`,
//! `*_median_ms`, `open_ms`, lower is better). Tails (p99, max) of a quick
//! run are too noisy to judge. A figure worse than the baseline warns; one
//! [`FAIL_RATIO`] times worse fails; a baseline figure missing from the run
//! warns (a renamed figure must not pass silently, nor break CI).

use std::collections::BTreeMap;

use serde_json::Value;

/// How much worse than the baseline a figure may be before the run fails.
pub const FAIL_RATIO: f64 = 2.0;

/// Which way a figure improves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Rates: more is better.
    Higher,
    /// Latencies: less is better.
    Lower,
}

impl Direction {
    /// The direction of a figure by its name, `None` if it is not guarded.
    /// Not guarded either: CPU use per second (lower is better and tiny
    /// when idle) and `rate_per_s`, a setting echoed back (W6's write rate).
    pub fn of(name: &str) -> Option<Direction> {
        let leaf = name.rsplit('.').next().unwrap_or(name);
        if leaf.contains("cpu") || leaf == "rate_per_s" {
            None
        } else if name.ends_with("_per_s") {
            Some(Direction::Higher)
        } else if name.ends_with("_p50_ms") || name.ends_with("_median_ms") || name == "open_ms" {
            Some(Direction::Lower)
        } else {
            None
        }
    }
}

/// The guarded figures of result lines: `"W2.lists_per_s"`, and for lines
/// with a `results` array (transport) `"transport.clients=1.sync_p50_ms"`.
pub fn figures(lines: &[Value]) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for line in lines {
        let Some(workload) = line.get("workload").and_then(Value::as_str) else {
            continue;
        };
        collect(workload, line, &mut out);
        for sub in line
            .get("results")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let clients = sub.get("clients").and_then(Value::as_u64).unwrap_or(0);
            collect(&format!("{workload}.clients={clients}"), sub, &mut out);
        }
    }
    out
}

fn collect(prefix: &str, obj: &Value, out: &mut BTreeMap<String, f64>) {
    let Some(map) = obj.as_object() else { return };
    for (k, v) in map {
        if let (Some(_), Some(x)) = (Direction::of(k), v.as_f64()) {
            if x.is_finite() && x > 0.0 {
                out.insert(format!("{prefix}.{k}"), x);
            }
        }
    }
}

/// Keep the best value of each figure over repeated runs.
pub fn best_of(runs: &[BTreeMap<String, f64>]) -> BTreeMap<String, f64> {
    let mut out: BTreeMap<String, f64> = BTreeMap::new();
    for run in runs {
        for (k, &v) in run {
            let dir = k.rsplit('.').next().and_then(Direction::of);
            out.entry(k.clone())
                .and_modify(|best| {
                    *best = match dir {
                        Some(Direction::Higher) => best.max(v),
                        _ => best.min(v),
                    }
                })
                .or_insert(v);
        }
    }
    out
}

/// The verdict on one figure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// As good as the baseline or better.
    Ok,
    /// Worse, but less than [`FAIL_RATIO`] times.
    Warn,
    /// [`FAIL_RATIO`] times worse or more.
    Fail,
    /// In the baseline, not in the run.
    Missing,
}

/// One compared figure: `worse` is how many times worse than the baseline
/// (1.0 = same, 0.5 = twice as good).
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub figure: String,
    pub baseline: f64,
    pub now: Option<f64>,
    pub worse: Option<f64>,
    pub verdict: Verdict,
}

/// Compare a run with the baseline, figure by figure (baseline order).
pub fn compare(baseline: &BTreeMap<String, f64>, now: &BTreeMap<String, f64>) -> Vec<Row> {
    baseline
        .iter()
        .filter_map(|(figure, &base)| {
            let dir = Direction::of(figure.rsplit('.').next()?)?;
            let Some(&v) = now.get(figure) else {
                return Some(Row {
                    figure: figure.clone(),
                    baseline: base,
                    now: None,
                    worse: None,
                    verdict: Verdict::Missing,
                });
            };
            let worse = match dir {
                Direction::Higher => base / v,
                Direction::Lower => v / base,
            };
            let verdict = if worse >= FAIL_RATIO {
                Verdict::Fail
            } else if worse > 1.0 {
                Verdict::Warn
            } else {
                Verdict::Ok
            };
            Some(Row {
                figure: figure.clone(),
                baseline: base,
                now: Some(v),
                worse: Some(worse),
                verdict,
            })
        })
        .collect()
}

/// The workloads (`W4`, `transport`, ...) with a failing figure, once each.
pub fn failing_workloads(rows: &[Row]) -> Vec<String> {
    let mut out: Vec<String> = rows
        .iter()
        .filter(|r| r.verdict == Verdict::Fail)
        .filter_map(|r| r.figure.split_once('.').map(|(w, _)| w.to_string()))
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Whether any row fails the run.
pub fn failed(rows: &[Row]) -> bool {
    rows.iter().any(|r| r.verdict == Verdict::Fail)
}

/// One printable line per row.
pub fn render(row: &Row) -> String {
    let verdict = match row.verdict {
        Verdict::Ok => "ok",
        Verdict::Warn => "WARN (worse)",
        Verdict::Fail => "FAIL (2x worse)",
        Verdict::Missing => "WARN (missing from this run)",
    };
    match (row.now, row.worse) {
        (Some(now), Some(worse)) => format!(
            "{:<45} baseline {:>10.3}  now {:>10.3}  {:>5.2}x worse  {verdict}",
            row.figure, row.baseline, now, worse
        ),
        _ => format!(
            "{:<45} baseline {:>10.3}  {verdict}",
            row.figure, row.baseline
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(pairs: &[(&str, f64)]) -> BTreeMap<String, f64> {
        pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    #[test]
    fn failing_workloads_are_named_once() {
        let base = map(&[
            ("W4.read_sync_start_p50_ms", 1.0),
            ("W4.load_lists_per_s", 100.0),
            ("transport.clients=1.sync_p50_ms", 1.0),
            ("W5.edit_p50_ms", 1.0),
        ]);
        let now = map(&[
            ("W4.read_sync_start_p50_ms", 2.5),
            ("W4.load_lists_per_s", 40.0),
            ("transport.clients=1.sync_p50_ms", 2.0),
            ("W5.edit_p50_ms", 1.9),
        ]);
        assert_eq!(
            failing_workloads(&compare(&base, &now)),
            vec!["W4".to_string(), "transport".to_string()]
        );
        assert!(failing_workloads(&compare(&base, &base)).is_empty());
    }

    #[test]
    fn direction_by_name() {
        assert_eq!(Direction::of("lists_per_s"), Some(Direction::Higher));
        assert_eq!(Direction::of("open_p50_ms"), Some(Direction::Lower));
        assert_eq!(
            Direction::of("propagation_median_ms"),
            Some(Direction::Lower)
        );
        assert_eq!(Direction::of("open_p99_ms"), None);
        assert_eq!(Direction::of("lists"), None);
        assert_eq!(Direction::of("W6.proxy_cpu_idle_per_s"), None);
        assert_eq!(Direction::of("W6.rate_per_s"), None);
        assert_eq!(
            Direction::of("transport.clients=1.sync_per_s"),
            Some(Direction::Higher)
        );
    }

    #[test]
    fn higher_is_better_figures() {
        let base = map(&[("W2.lists_per_s", 100.0)]);
        let v = |now| compare(&base, &map(&[("W2.lists_per_s", now)]))[0].verdict;
        assert_eq!(v(150.0), Verdict::Ok);
        assert_eq!(v(100.0), Verdict::Ok);
        assert_eq!(v(60.0), Verdict::Warn);
        assert_eq!(v(50.0), Verdict::Fail);
        assert_eq!(v(10.0), Verdict::Fail);
    }

    #[test]
    fn lower_is_better_figures() {
        let base = map(&[("W5.edit_p50_ms", 0.4)]);
        let row = |now| compare(&base, &map(&[("W5.edit_p50_ms", now)])).remove(0);
        assert_eq!(row(0.2).verdict, Verdict::Ok);
        assert_eq!(row(0.6).verdict, Verdict::Warn);
        assert_eq!(row(0.8).verdict, Verdict::Fail);
        assert!((row(0.6).worse.unwrap() - 1.5).abs() < 1e-9);
        assert!(failed(&[row(0.8)]));
        assert!(!failed(&[row(0.6)]));
    }

    #[test]
    fn a_missing_figure_warns_and_does_not_fail() {
        let base = map(&[("W3.open_ms", 90.0)]);
        let rows = compare(&base, &BTreeMap::new());
        assert_eq!(rows[0].verdict, Verdict::Missing);
        assert!(!failed(&rows));
        assert!(render(&rows[0]).contains("missing"));
    }

    #[test]
    fn figures_of_lines_and_best_of_runs() {
        let line = |rate: f64, p50: f64| {
            json!({"workload": "W2", "lists_per_s": rate, "open_p50_ms": p50, "open_p99_ms": 9.0,
                   "results": [{"clients": 64, "sync_p50_ms": p50}]})
        };
        let a = figures(&[line(100.0, 3.0)]);
        assert_eq!(
            a,
            map(&[
                ("W2.lists_per_s", 100.0),
                ("W2.open_p50_ms", 3.0),
                ("W2.clients=64.sync_p50_ms", 3.0)
            ])
        );
        let best = best_of(&[a, figures(&[line(120.0, 4.0)])]);
        assert_eq!(best["W2.lists_per_s"], 120.0);
        assert_eq!(best["W2.open_p50_ms"], 3.0);
    }
}
