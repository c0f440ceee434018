//! `tensorport bench MODEL [--device D] [--batch 1,8,64] [--threads N] [--json]
//! [--compare-torch] [--warmup N] [--iters N | --time S]`: latency and throughput of a
//! torch.export program or the recipe's Net, per batch size, optionally beside torch's.
//!
//! The model is loaded once; every batch size gets one check run first (so a size the model
//! cannot run fails before anything is timed), then warm-up runs, then timed single runs.

mod cases;
mod report;
mod timing;
mod torch;

use std::path::PathBuf;
use std::process::ExitCode;

use serde_json::json;
use tensorport::{Device, Error, NoCudaReason, Result};

use cases::Case;
use report::{Row, Setup};
use timing::{Policy, Summary};
use torch::Outcome;

#[derive(clap::Args)]
pub struct Args {
    /// A torch.export program (.pt2; its saved sample inputs, with the batch dimension set to
    /// each batch size by repeating their rows), or a checkpoint holding the recipe Net's state
    /// dict (input float32 [N, 3, 32, 32], uniform in [-1, 1)).
    model: PathBuf,
    /// Where to run: cpu, cuda, cuda:N (a GPU that is not there is an error, never a CPU run).
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Batch sizes, comma-separated (default: 1,8,64; for a program exported with a fixed
    /// batch dimension, that size).
    #[arg(long, value_name = "LIST")]
    batch: Option<String>,
    /// CPU threads for tensorport's kernels, and torch.set_num_threads with --compare-torch
    /// (default: one per logical CPU).
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
    /// Print one JSON document instead of the table.
    #[arg(long)]
    json: bool,
    /// Also time the same cases in PyTorch (the Python in TENSORPORT_PYTHON, else
    /// ~/.cache/tensorport/venv/bin/python, else python3) and print the ratio torch/ours. When
    /// torch cannot run, our figures are still printed with a line saying why, and the exit
    /// status is 0 (1 with TENSORPORT_REQUIRE_TORCH=1).
    #[arg(long)]
    compare_torch: bool,
    /// Untimed runs per batch size, after one check run.
    #[arg(long, value_name = "N", default_value_t = timing::DEFAULT_WARMUP)]
    warmup: usize,
    /// Exactly N timed runs per batch size (default: runs until at least 10 runs and 1 s).
    #[arg(long, value_name = "N", conflicts_with = "time")]
    iters: Option<usize>,
    /// Timed runs per batch size until at least 10 runs and SECONDS seconds (default 1).
    #[arg(long, value_name = "SECONDS", allow_negative_numbers = true)]
    time: Option<f64>,
}

fn bad(name: &'static str, reason: String) -> Error {
    Error::InvalidArgument {
        op: "bench",
        name,
        reason,
    }
}

/// `--batch 1,8,64`.
fn parse_batches(text: &str) -> Result<Vec<usize>> {
    let sizes = text
        .split(',')
        .map(|s| match s.trim().parse::<usize>() {
            Ok(0) => Err(bad("--batch", "a batch size must be at least 1".into())),
            Ok(n) => Ok(n),
            Err(_) => Err(bad(
                "--batch",
                format!("{text:?} is not a comma-separated list of batch sizes (like 1,8,64)"),
            )),
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(sizes)
}

fn policy(args: &Args) -> Result<Policy> {
    if args.iters == Some(0) {
        return Err(bad("--iters", "at least 1 timed run is needed".into()));
    }
    let min_seconds = args.time.unwrap_or(timing::DEFAULT_SECONDS);
    if !(min_seconds.is_finite() && min_seconds >= 0.0) {
        return Err(bad(
            "--time",
            format!("{min_seconds} is not a number of seconds"),
        ));
    }
    Ok(Policy {
        warmup: args.warmup,
        iters: args.iters,
        min_seconds,
    })
}

/// The device, checked before anything loads; on a GPU, its name.
fn device(text: &str) -> Result<(Device, Option<String>)> {
    let device: Device = text.parse()?;
    let Device::Cuda(ordinal) = device else {
        return Ok((device, None));
    };
    let unavailable = |reason| Error::CudaUnavailable {
        device,
        reason,
        saved_location: None,
    };
    let count = tensorport::cuda::availability().map_err(unavailable)?;
    if ordinal >= count {
        return Err(unavailable(NoCudaReason::OrdinalOutOfRange {
            ordinal,
            count,
        }));
    }
    Ok((device, Some(tensorport::cuda::device_name(ordinal)?)))
}

pub fn run(args: &Args) -> ExitCode {
    match bench(args) {
        Ok(code) => code,
        Err(e) if args.json => {
            let doc = json!({"ok": false, "error": {"message": e.to_string()}});
            println!("{doc}");
            ExitCode::FAILURE
        }
        Err(e) => crate::fail(&e),
    }
}

fn bench(args: &Args) -> Result<ExitCode> {
    // Every flag is checked before the model loads: a typo costs no load time.
    let asked = args.batch.as_deref().map(parse_batches).transpose()?;
    let policy = policy(args)?;
    match args.threads {
        Some(0) => return Err(bad("--threads", "at least 1 thread is needed".into())),
        Some(n) => tensorport::set_num_threads(n)?,
        None => {}
    }
    let (device, gpu) = device(&args.device)?;
    let case = Case::load(&args.model, device)?;
    let batches = asked.unwrap_or_else(|| case.default_batches());
    for &b in &batches {
        case.check_batch(b)?;
    }
    let mut inputs = Vec::with_capacity(batches.len());
    for &b in &batches {
        let x = case.inputs(b)?;
        case.run(&x)?;
        inputs.push(x);
    }
    let mut rows = Vec::with_capacity(batches.len());
    for (&b, x) in batches.iter().zip(&inputs) {
        let times = timing::time_runs(&policy, || case.run(x))?;
        let ours =
            Summary::of(&times, b).ok_or_else(|| bad("--iters", "no run was timed".into()))?;
        rows.push(Row {
            batch: b,
            ours,
            torch: None,
        });
    }
    drop(inputs);
    let threads = tensorport::num_threads();
    // torch runs after ours, so that the two never compete for the cores.
    let outcome = args.compare_torch.then(|| {
        torch::compare(&torch::Request {
            kind: case.kind(),
            model: &args.model,
            device: device.to_string(),
            threads,
            batches: &batches,
            batched: case.batched(),
            policy: policy.to_json(),
        })
    });
    if let Some(Outcome::Ran(t)) = &outcome {
        for (row, (_, times)) in rows.iter_mut().zip(&t.times) {
            row.torch = Summary::of(times, row.batch);
        }
    }
    let setup = Setup {
        model: &args.model,
        kind: case.kind(),
        description: &case.description,
        device,
        gpu,
        threads,
        policy,
    };
    if args.json {
        println!("{}", report::to_json(&setup, &rows, outcome.as_ref()));
    } else {
        report::print_table(&setup, &rows, outcome.as_ref());
    }
    match &outcome {
        Some(Outcome::NotRun(why)) if torch::required() => {
            eprintln!(
                "error: TENSORPORT_REQUIRE_TORCH=1 and the torch comparison did not run: {why}"
            );
            Ok(ExitCode::FAILURE)
        }
        _ => Ok(ExitCode::SUCCESS),
    }
}
