//! How many times a case runs and what is reported of its run times. The same policy is sent to
//! the torch script (`bench_torch.py`) and its raw times come back, so both sides are summarised
//! by this one piece of code.

use std::time::Instant;

use serde_json::json;
use tensorport::Result;

/// Timed runs never fewer than this (unless `--iters` says otherwise): a median of fewer runs
/// moves with every hiccup of a shared machine.
pub const MIN_ITERS: usize = 10;
/// Seconds of timed runs per batch size when neither `--iters` nor `--time` is given.
pub const DEFAULT_SECONDS: f64 = 1.0;
/// Untimed runs per batch size by default: the first runs of a shape pay for allocator growth,
/// page faults and (on a GPU) module loading.
pub const DEFAULT_WARMUP: usize = 5;

/// Untimed and timed runs per batch size.
#[derive(Clone, Copy, Debug)]
pub struct Policy {
    /// Untimed runs before timing (after the one run that checks the inputs).
    pub warmup: usize,
    /// Exactly this many timed runs, when given.
    pub iters: Option<usize>,
    /// Otherwise: timed runs until at least [`MIN_ITERS`] runs and this many seconds.
    pub min_seconds: f64,
}

impl Policy {
    /// Whether timing may stop after `done` runs that took `elapsed` seconds of wall time.
    fn done(&self, done: usize, elapsed: f64) -> bool {
        match self.iters {
            Some(n) => done >= n,
            None => done >= MIN_ITERS && elapsed >= self.min_seconds,
        }
    }

    /// One line for the header.
    pub fn describe(&self) -> String {
        let plural = |n: usize| if n == 1 { "" } else { "s" };
        let runs = match self.iters {
            Some(n) => format!("{n} timed run{}", plural(n)),
            None => format!(
                "timed runs until at least {MIN_ITERS} and {} s",
                self.min_seconds
            ),
        };
        format!(
            "1 check run + {} warm-up run{}, then {runs} per batch size",
            self.warmup,
            plural(self.warmup)
        )
    }

    /// What the torch script needs to follow the same policy.
    pub fn to_json(self) -> serde_json::Value {
        json!({
            "warmup": self.warmup,
            "iters": self.iters,
            "min_iters": MIN_ITERS,
            "min_seconds": self.min_seconds,
        })
    }
}

/// Runs `step` `policy.warmup` times untimed, then times single runs as the policy says.
/// `step` must return only once its work is finished (a GPU synchronised). Returns seconds per
/// run.
pub fn time_runs(policy: &Policy, mut step: impl FnMut() -> Result<()>) -> Result<Vec<f64>> {
    for _ in 0..policy.warmup {
        step()?;
    }
    let mut times = Vec::new();
    let start = Instant::now();
    while !policy.done(times.len(), start.elapsed().as_secs_f64()) {
        let t0 = Instant::now();
        step()?;
        times.push(t0.elapsed().as_secs_f64());
    }
    Ok(times)
}

/// What is reported of one case's run times.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Summary {
    /// Timed runs.
    pub iters: usize,
    /// Median seconds per run.
    pub median: f64,
    /// 90th percentile seconds per run.
    pub p90: f64,
    /// Fastest run.
    pub min: f64,
    /// Mean seconds per run.
    pub mean: f64,
    /// Items (batch elements) per second at the median.
    pub items_per_s: f64,
}

impl Summary {
    /// The summary of `times` (seconds) for a batch of `batch` items; `None` without times.
    pub fn of(times: &[f64], batch: usize) -> Option<Summary> {
        let mut t: Vec<f64> = times.iter().copied().filter(|x| x.is_finite()).collect();
        if t.is_empty() {
            return None;
        }
        t.sort_by(f64::total_cmp);
        let median = percentile(&t, 0.5);
        Some(Summary {
            iters: t.len(),
            median,
            p90: percentile(&t, 0.9),
            min: t[0],
            mean: t.iter().sum::<f64>() / t.len() as f64,
            items_per_s: if median > 0.0 {
                batch as f64 / median
            } else {
                f64::INFINITY
            },
        })
    }

    /// The JSON fields of a summary (milliseconds, as the table prints them).
    pub fn to_json(self) -> serde_json::Value {
        json!({
            "iters": self.iters,
            "median_ms": self.median * 1e3,
            "p90_ms": self.p90 * 1e3,
            "min_ms": self.min * 1e3,
            "mean_ms": self.mean * 1e3,
            "items_per_s": self.items_per_s,
        })
    }
}

/// The `q` quantile of sorted, non-empty `t`, interpolated between neighbours (numpy's default
/// `linear` method, so a reader can recompute it from raw times).
fn percentile(t: &[f64], q: f64) -> f64 {
    let pos = q * (t.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    let frac = pos - lo as f64;
    t[lo] + (t[hi] - t[lo]) * frac
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_match_numpy_linear() {
        let s = Summary::of(&[4.0, 1.0, 3.0, 2.0], 8).unwrap();
        assert_eq!(s.median, 2.5);
        assert!((s.p90 - 3.7).abs() < 1e-12);
        assert_eq!(s.min, 1.0);
        assert_eq!(s.items_per_s, 8.0 / 2.5);
        assert_eq!(Summary::of(&[], 1), None);
    }

    #[test]
    fn fixed_iterations_run_exactly() {
        let p = Policy {
            warmup: 2,
            iters: Some(3),
            min_seconds: 100.0,
        };
        let mut calls = 0;
        let t = time_runs(&p, || {
            calls += 1;
            Ok(())
        })
        .unwrap();
        assert_eq!((t.len(), calls), (3, 5));
        let p = Policy {
            iters: None,
            min_seconds: 0.0,
            ..p
        };
        assert_eq!(time_runs(&p, || Ok(())).unwrap().len(), MIN_ITERS);
    }
}
