//! What `bench` prints: a header naming the machine and the setup, then one row per batch size
//! (ours, and torch's beside it when compared), as a table or as one JSON document with the same
//! data under stable field names.

use std::path::Path;

use serde_json::{json, Value as Json};
use tensorport::Device;

use super::timing::{Policy, Summary};
use super::torch::Outcome;

/// The machine and setup a run was measured on.
pub struct Setup<'a> {
    /// The model file.
    pub model: &'a Path,
    /// `"program"` or `"net"`.
    pub kind: &'static str,
    /// What the model is and its inputs.
    pub description: &'a str,
    /// Where it ran.
    pub device: Device,
    /// The GPU's name on a cuda device.
    pub gpu: Option<String>,
    /// CPU threads of the kernels (`tensorport::num_threads`).
    pub threads: usize,
    /// The run policy.
    pub policy: Policy,
}

/// One batch size's figures.
pub struct Row {
    /// Items per run.
    pub batch: usize,
    /// Ours.
    pub ours: Summary,
    /// torch's, when it ran.
    pub torch: Option<Summary>,
}

impl Row {
    /// torch's median over ours: above 1, tensorport is faster.
    fn ratio(&self) -> Option<f64> {
        self.torch
            .map(|t| t.median / self.ours.median)
            .filter(|r| r.is_finite())
    }
}

/// The CPU's model name as /proc/cpuinfo gives it (the architecture elsewhere).
fn cpu_model() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    info.lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| matches!(k.trim(), "model name" | "Model" | "cpu model"))
        .map(|(_, v)| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| format!("unknown {} CPU", std::env::consts::ARCH))
}

/// CPUs this process may run on (its affinity mask and cgroup quota, not the machine's total).
fn logical_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Prints the header and table.
pub fn print_table(s: &Setup, rows: &[Row], torch: Option<&Outcome>) {
    println!("tensorport {VERSION} bench");
    println!("  model    {}", s.model.display());
    println!("           {}", s.description);
    println!(
        "  machine  {}, {} logical CPUs, CPU kernels {} (best on this CPU: {})",
        cpu_model(),
        logical_cpus(),
        tensorport::cpu_capability(),
        tensorport::best_cpu_capability()
    );
    match &s.gpu {
        Some(name) => println!(
            "  device   {} ({name}), {} CPU threads",
            s.device, s.threads
        ),
        None => println!("  device   {}, {} threads", s.device, s.threads),
    }
    println!("  timing   {}", s.policy.describe());
    match torch {
        Some(Outcome::Ran(t)) => {
            let on = t
                .device_name
                .as_deref()
                .map_or(String::new(), |n| format!(" on {n}"));
            println!(
                "  torch    {} ({}), {} threads{on}",
                t.version, t.python, t.threads
            );
        }
        Some(Outcome::NotRun(why)) => println!("  torch comparison not run: {why}"),
        None => {}
    }
    println!();
    let ran = matches!(torch, Some(Outcome::Ran(_)));
    let group = format!("{:>5}  {:<42}", "", "tensorport");
    let cols = format!(
        "{:>5}  {:>6} {:>11} {:>10} {:>12}",
        "batch", "runs", "median ms", "p90 ms", "items/s"
    );
    if ran {
        println!("{group}  torch");
        println!(
            "{cols}  {:>6} {:>11} {:>10} {:>12} {:>11}",
            "runs", "median ms", "p90 ms", "items/s", "torch/ours"
        );
    } else {
        println!("{cols}");
    }
    for r in rows {
        let o = &r.ours;
        let mut line = format!(
            "{:>5}  {:>6} {:>11.3} {:>10.3} {:>12.1}",
            r.batch,
            o.iters,
            o.median * 1e3,
            o.p90 * 1e3,
            o.items_per_s
        );
        if let Some(t) = &r.torch {
            let ratio = r.ratio().map_or("-".into(), |x| format!("{x:.2}x"));
            line.push_str(&format!(
                "  {:>6} {:>11.3} {:>10.3} {:>12.1} {:>11}",
                t.iters,
                t.median * 1e3,
                t.p90 * 1e3,
                t.items_per_s,
                ratio
            ));
        }
        println!("{line}");
    }
    if ran {
        println!("(torch/ours: torch's median over ours; above 1 means tensorport is faster)");
    }
}

/// The JSON document: `ok`, `tensorport_version`, `model`, `machine`, `device`, `threads`,
/// `policy`, `results` (one object per batch size, with `torch` and `torch_over_ours` null when
/// torch did not run) and `torch` (null when not asked; else `run` and either `reason` or the
/// interpreter and version).
pub fn to_json(s: &Setup, rows: &[Row], torch: Option<&Outcome>) -> Json {
    let results: Vec<Json> = rows
        .iter()
        .map(|r| {
            let mut o = serde_json::Map::new();
            o.insert("batch".into(), json!(r.batch));
            if let Json::Object(ours) = r.ours.to_json() {
                o.extend(ours);
            }
            o.insert("torch".into(), r.torch.map_or(Json::Null, Summary::to_json));
            o.insert("torch_over_ours".into(), json!(r.ratio()));
            Json::Object(o)
        })
        .collect();
    let torch = match torch {
        None => Json::Null,
        Some(Outcome::NotRun(why)) => json!({"run": false, "reason": why}),
        Some(Outcome::Ran(t)) => json!({
            "run": true,
            "python": t.python,
            "version": t.version,
            "threads": t.threads,
            "device_name": t.device_name,
        }),
    };
    json!({
        "ok": true,
        "tensorport_version": VERSION,
        "model": {"path": s.model, "kind": s.kind, "description": s.description},
        "machine": {
            "cpu": cpu_model(),
            "logical_cpus": logical_cpus(),
            "cpu_capability": tensorport::cpu_capability().name(),
            "best_cpu_capability": tensorport::best_cpu_capability().name(),
        },
        "device": s.device.to_string(),
        "gpu": s.gpu,
        "threads": s.threads,
        "policy": s.policy.to_json(),
        "results": results,
        "torch": torch,
    })
}
