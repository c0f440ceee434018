//! Times one `torch.export` program on the CPU on given inputs and keeps its outputs, for
//! `scripts/bench_models_vs_torch.py`, which times torch eager, `torch.compile` and ONNX Runtime
//! on the same inputs in the same run and checks that every runtime's outputs agree.
//!
//! `cargo run --release --example model_timing -- MODEL.pt2 IN.pt OUT.pt REPORT.json NAME:WARMUP:RUNS...`
//!
//! `IN.pt` is a `torch.save`d dict of tensors with one input per `NAME`. Each is run `WARMUP`
//! times untimed, then `RUNS` times timed; the last output of each goes into `OUT.pt` under its
//! name (`torch.load` reads it). `REPORT.json` gets the load time (median of 5 loads), the number
//! of threads the kernels used (set it with `RAYON_NUM_THREADS`, as any program using the
//! default pool would) and every timed run in milliseconds.

use std::time::Instant;

use tensorport::{load, save, Device, MapLocation, Program, StateDict, Tensor};

fn median(mut t: Vec<f64>) -> f64 {
    t.sort_by(|a, b| a.total_cmp(b));
    t.get(t.len() / 2).copied().unwrap_or(f64::NAN)
}

/// One `NAME:WARMUP:RUNS` argument.
struct Timing {
    name: String,
    warmup: usize,
    runs: usize,
}

fn parse_timing(arg: &str) -> Result<Timing, String> {
    let bad = || format!("{arg:?}: expected NAME:WARMUP:RUNS, RUNS at least 1");
    let mut it = arg.split(':');
    let (Some(name), Some(w), Some(r), None) = (it.next(), it.next(), it.next(), it.next()) else {
        return Err(bad());
    };
    let warmup = w.parse().map_err(|_| bad())?;
    let runs = r.parse().map_err(|_| bad())?;
    if name.is_empty() || runs == 0 {
        return Err(bad());
    }
    Ok(Timing {
        name: name.to_string(),
        warmup,
        runs,
    })
}

/// The single output of `p` on `x`: these models return one tensor, and a second one would
/// have no name in `OUT.pt`.
fn run_one(p: &Program, x: &Tensor) -> Result<Tensor, Box<dyn std::error::Error>> {
    let mut ys = p.run(std::slice::from_ref(x))?;
    match (ys.pop(), ys.is_empty()) {
        (Some(y), true) => Ok(y),
        _ => Err(format!("the program returned {} outputs, expected 1", ys.len() + 1).into()),
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: model_timing MODEL.pt2 IN.pt OUT.pt REPORT.json NAME:WARMUP:RUNS...";
    let [model, inputs, outputs, report, timings @ ..] = &args[..] else {
        return Err(usage.into());
    };
    let timings = timings
        .iter()
        .map(|t| parse_timing(t))
        .collect::<Result<Vec<_>, _>>()?;
    if timings.is_empty() {
        return Err(usage.into());
    }
    let cpu = MapLocation::To(Device::Cpu);
    let xs = load(inputs, &cpu)?.state_dict()?;

    let mut loads = Vec::new();
    for _ in 0..5 {
        let s = Instant::now();
        let p = Program::load(model, &cpu)?;
        loads.push(s.elapsed().as_secs_f64() * 1e3);
        drop(p);
    }
    let p = Program::load(model, &cpu)?;

    let mut ys = StateDict::new();
    let mut runs = serde_json::Map::new();
    for t in &timings {
        let x = xs
            .get(&t.name)
            .ok_or_else(|| format!("{inputs} has no tensor {:?}", t.name))?;
        for _ in 0..t.warmup {
            run_one(&p, x)?;
        }
        let mut ms = Vec::with_capacity(t.runs);
        let mut last = None;
        for _ in 0..t.runs {
            let s = Instant::now();
            let y = run_one(&p, x)?;
            ms.push(s.elapsed().as_secs_f64() * 1e3);
            // Dropped after the clock stops, as the Python side frees its previous output.
            last = Some(y);
        }
        if let Some(y) = last {
            ys.insert(&t.name, y);
        }
        runs.insert(
            t.name.clone(),
            serde_json::json!({ "median_ms": median(ms.clone()), "times_ms": ms }),
        );
    }
    save(&ys.to_value(), outputs)?;
    let out = serde_json::json!({
        "model": model,
        "threads": tensorport::num_threads(),
        "load_ms": median(loads),
        "runs": runs,
    });
    std::fs::write(report, format!("{out:#}\n"))?;
    Ok(())
}
