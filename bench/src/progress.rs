//! Progress on stderr for long runs (indicatif). Off when stdout is not a
//! terminal (CI, `> results.jsonl`), so the JSON lines are all there is.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A progress bar, or nothing.
#[derive(Clone)]
pub struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    /// Whether progress is shown at all.
    pub fn enabled() -> bool {
        std::io::stdout().is_terminal()
    }

    /// A bar for `total` steps of `what`.
    pub fn new(what: &str, total: u64) -> Progress {
        if !Self::enabled() {
            return Progress { bar: None };
        }
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template(
            "{prefix:>10} [{elapsed_precise}] {wide_bar} {pos}/{len} ({per_sec}, eta {eta})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        bar.set_prefix(what.to_string());
        Progress { bar: Some(bar) }
    }

    /// `n` more steps done.
    pub fn inc(&self, n: u64) {
        if let Some(b) = &self.bar {
            b.inc(n);
        }
    }

    /// Remove the bar.
    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

/// A one-line note on stderr when progress is enabled (phase changes).
pub fn note(msg: &str) {
    if Progress::enabled() {
        eprintln!("shoplist-bench: {msg}");
    }
}
