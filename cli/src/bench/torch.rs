//! `--compare-torch`: the same cases timed by PyTorch, in a Python child process running the
//! script embedded in the binary (so the command works from any directory and no file has to
//! be installed beside it). Parameters go in as JSON on stdin, raw run times come back as JSON
//! on stdout.
//!
//! A comparison that cannot run is an [`Outcome::NotRun`] with the reason, never an error:
//! tensorport's own figures are still worth printing. `TENSORPORT_REQUIRE_TORCH=1` (the tests'
//! switch) turns it into a failure, for machines where torch must be there.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::{json, Value as Json};

/// The torch side, run by `python -c`.
const SCRIPT: &str = include_str!("bench_torch.py");

/// What tensorport asks torch to time.
pub struct Request<'a> {
    /// `"program"` or `"net"`.
    pub kind: &'static str,
    /// The model file.
    pub model: &'a std::path::Path,
    /// As torch spells it: `cpu`, `cuda:N`.
    pub device: String,
    /// torch.set_num_threads.
    pub threads: usize,
    /// Batch sizes, in order.
    pub batches: &'a [usize],
    /// Which program inputs get the batch dimension.
    pub batched: Vec<bool>,
    /// The run policy (`timing::Policy::to_json`).
    pub policy: Json,
}

/// What torch measured.
pub struct TorchRun {
    /// The interpreter that ran it.
    pub python: String,
    /// `torch.__version__`.
    pub version: String,
    /// `torch.get_num_threads()` while timing.
    pub threads: usize,
    /// `torch.cuda.get_device_name` on a GPU.
    pub device_name: Option<String>,
    /// Seconds per timed run, per batch size in the request's order.
    pub times: Vec<(usize, Vec<f64>)>,
}

/// The comparison's result.
pub enum Outcome {
    /// torch ran every case.
    Ran(TorchRun),
    /// Why it did not.
    NotRun(String),
}

/// Whether a comparison that did not run must fail the command.
pub fn required() -> bool {
    std::env::var("TENSORPORT_REQUIRE_TORCH").as_deref() == Ok("1")
}

/// The Python to use: `TENSORPORT_PYTHON` when set (and then only it: a wrong path is reported,
/// not papered over by another Python), else the project's venv when present, else `python3`.
fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("TENSORPORT_PYTHON").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    if let Some(home) = std::env::var_os("HOME") {
        let venv = PathBuf::from(home).join(".cache/tensorport/venv/bin/python");
        if venv.is_file() {
            return venv;
        }
    }
    PathBuf::from("python3")
}

/// Runs the request in torch.
pub fn compare(req: &Request) -> Outcome {
    let py = python();
    match run_script(&py, req) {
        Ok(run) => Outcome::Ran(run),
        Err(why) => Outcome::NotRun(crate::one_line(&why)),
    }
}

fn run_script(py: &std::path::Path, req: &Request) -> Result<TorchRun, String> {
    let params = json!({
        "kind": req.kind,
        "model": req.model,
        "device": req.device,
        "threads": req.threads,
        "batches": req.batches,
        "batched": req.batched,
        "state_dict_keys": tensorport::checkpoint::STATE_DICT_KEYS,
        "policy": req.policy,
    });
    let mut child = Command::new(py)
        .arg("-c")
        .arg(SCRIPT)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("could not start {}: {e}", py.display()))?;
    // The script reads all of stdin before writing anything, so writing first cannot deadlock;
    // a failed write means it exited early, and its output says why.
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(params.to_string().as_bytes());
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("waiting for {}: {e}", py.display()))?;
    let doc: Option<Json> = serde_json::from_slice(&out.stdout).ok();
    let ok = doc.as_ref().and_then(|d| d["ok"].as_bool()) == Some(true);
    let doc = match doc {
        Some(d) if ok && out.status.success() => d,
        Some(d) if d["error"].is_string() => {
            return Err(format!(
                "{}: {}",
                py.display(),
                d["error"].as_str().unwrap_or("")
            ))
        }
        _ => {
            let err = String::from_utf8_lossy(&out.stderr);
            let last = err
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("");
            return Err(format!(
                "{} exited with {} without a result{}",
                py.display(),
                out.status,
                if last.is_empty() {
                    String::new()
                } else {
                    format!(": {last}")
                }
            ));
        }
    };
    parse(py, &doc, req.batches)
}

fn parse(py: &std::path::Path, doc: &Json, batches: &[usize]) -> Result<TorchRun, String> {
    let bad = || format!("{} returned an unexpected document", py.display());
    let results = doc["results"].as_array().ok_or_else(bad)?;
    let mut times = Vec::new();
    for (r, &b) in results.iter().zip(batches) {
        if r["batch"].as_u64() != Some(b as u64) {
            return Err(bad());
        }
        let t = r["times_s"].as_array().ok_or_else(bad)?;
        let t: Option<Vec<f64>> = t.iter().map(Json::as_f64).collect();
        times.push((b, t.ok_or_else(bad)?));
    }
    if times.len() != batches.len() {
        return Err(bad());
    }
    Ok(TorchRun {
        python: py.display().to_string(),
        version: doc["torch_version"].as_str().unwrap_or("?").to_string(),
        threads: doc["threads"].as_u64().map_or(0, |n| n as usize),
        device_name: doc["device_name"].as_str().map(str::to_string),
        times,
    })
}
