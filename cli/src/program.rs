//! `run` and `inspect` for `torch.export` programs (`.pt2`).

use std::path::Path;
use std::time::Instant;

use serde_json::json;
use tensorport::graph::{Program, TensorSpec};
use tensorport::{load, save, Device, Error, MapLocation, Result, Tensor, Value};

use crate::classify::{print_top, probabilities, Classes};
use crate::run::Input;

/// Whether `path` names a `torch.export` archive (by its extension, as torch names them).
pub fn is_program(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "pt2")
}

fn shape(s: &TensorSpec) -> String {
    let dims: Vec<String> = s.shape.iter().map(|d| d.to_string()).collect();
    format!("{} {} [{}]", s.name, s.dtype, dims.join(", "))
}

/// The input tensors in a saved file: a tensor, a tuple/list of tensors, `(args, kwargs)`, or a
/// dict of tensors in its order.
fn inputs_in(v: &Value) -> Vec<Tensor> {
    match v {
        Value::Tensor(t) => vec![t.clone()],
        Value::Tuple(items) | Value::List(items) => match items.as_ref() {
            [args, Value::Dict(_)] if !matches!(args, Value::Tensor(_)) => inputs_in(args),
            _ => items.iter().flat_map(inputs_in).collect(),
        },
        Value::Dict(d) => {
            // A dict naming its input (as `run` for the Net takes it), else all its tensors.
            for k in ["input", "inputs", "x", "images"] {
                if let Some(v) = d.get_str(k) {
                    return inputs_in(v);
                }
            }
            d.iter()
                .filter_map(|(_, v)| v.as_tensor().cloned())
                .collect()
        }
        _ => Vec::new(),
    }
}

/// `tensorport run MODEL.pt2 [INPUT.pt | IMAGE...] [--device D] [--out OUT.pt]`.
pub fn run(
    model: &Path,
    input: &Input,
    device: Device,
    out: Option<&Path>,
    classes: &Classes,
) -> Result<()> {
    let human = !classes.json;
    let t0 = Instant::now();
    let spinner = crate::progress::Spinner::start(&format!("loading {}", model.display()));
    let p = Program::load(model, &MapLocation::To(device));
    spinner.finish();
    let p = p?;
    let load_ms = t0.elapsed().as_secs_f64() * 1e3;
    let mut names = Vec::new();
    let inputs = match input {
        Input::File(f) => inputs_in(load(f, &MapLocation::To(Device::Cpu))?.value()),
        Input::Images(x, n) => {
            names.clone_from(n);
            vec![x.clone()]
        }
        Input::Sample => {
            p.sample_inputs()
                .map(<[Tensor]>::to_vec)
                .ok_or_else(|| Error::NotFound {
                    what: "input",
                    key: "the archive has no sample inputs; pass an input file".into(),
                })?
        }
    };
    if human {
        println!(
            "{} on {} (loaded in {load_ms:.1} ms)",
            model.display(),
            p.device()
        );
        for (s, t) in p.inputs().iter().zip(&inputs) {
            println!("  input  {}  <- {:?}", shape(s), t.shape());
        }
    }
    // The first run pays for one-time work (kernel modules, the allocator); the second is the
    // time per batch.
    let spinner = crate::progress::Spinner::start("running");
    let outs = p.run(&inputs);
    spinner.finish();
    let outs = outs?;
    tensorport::cuda::synchronize(&p.device())?;
    let t1 = Instant::now();
    let outs2 = p.run(&inputs)?;
    tensorport::cuda::synchronize(&p.device())?;
    let batch_ms = t1.elapsed().as_secs_f64() * 1e3;
    drop(outs2);
    let host: Vec<Tensor> = outs
        .iter()
        .map(|o| o.to(&Device::Cpu))
        .collect::<Result<_>>()?;
    if human {
        for (s, t) in p.outputs().iter().zip(&host) {
            println!("  output {}  -> {:?}", shape(s), t.shape());
        }
        println!("  {batch_ms:.2} ms per batch");
    }
    let mut predictions = serde_json::Value::Null;
    // One [N, C] float output is a classifier's: logits, or already probabilities.
    if let [y] = host.as_slice() {
        if let Some((c, probs)) = probabilities(y)? {
            // A saved batch can be large; its first rows show what the model does.
            let rows = if names.is_empty() { 8 } else { names.len() };
            let shown = &probs[..probs.len().min(rows * c)];
            if human {
                print_top(shown, c, &names, classes);
            } else {
                predictions = crate::classify::top_json(shown, c, &names, classes);
            }
        }
    }
    if let Some(out) = out {
        let v = match host.as_slice() {
            [one] => Value::Tensor(one.clone()),
            many => Value::Tuple(many.iter().cloned().map(Value::Tensor).collect()),
        };
        save(&v, out)?;
        if human {
            println!("outputs saved to {}", out.display());
        }
    }
    if !human {
        let doc = json!({
            "ok": true,
            "model": model.display().to_string(),
            "device": p.device().to_string(),
            "load_ms": load_ms,
            "batch_ms": batch_ms,
            "inputs": inputs.iter().map(|t| t.shape().to_vec()).collect::<Vec<_>>(),
            "outputs": host.iter().map(|t| t.shape().to_vec()).collect::<Vec<_>>(),
            "predictions": predictions,
            "saved": out.map(|o| o.display().to_string()),
        });
        println!("{doc}");
    }
    Ok(())
}

/// `tensorport inspect MODEL.pt2 [--json]`.
pub fn inspect(model: &Path, as_json: bool) -> Result<()> {
    let p = Program::load(model, &MapLocation::To(Device::Cpu))?;
    let s = p.summary();
    // FLOPs and peak activation memory are measured by running the plan on the sample inputs.
    let stats = match p.sample_inputs() {
        Some(x) => Some(p.run_with_stats(x)?.1),
        None => None,
    };
    let specs = |v: Vec<&TensorSpec>| -> Vec<serde_json::Value> {
        v.iter()
            .map(|s| json!({"name": s.name, "dtype": s.dtype.to_string(), "shape": s.shape.iter().map(|d| d.to_string()).collect::<Vec<_>>()}))
            .collect()
    };
    if as_json {
        let doc = json!({
            "ok": true,
            "inputs": specs(p.inputs()),
            "outputs": specs(p.outputs()),
            "ops": s.op_counts,
            "aten_ops": s.aten_counts,
            "parameters": s.parameters,
            "weight_bytes": s.weight_bytes,
            "fused_relus": s.fused,
            "folded_batch_norms": s.folded_batch_norms,
            "sample_inputs": p.sample_inputs().map(|x| x.iter().map(|t| t.shape().to_vec()).collect::<Vec<_>>()),
            "flops": stats.map(|x| x.flops),
            "peak_activation_bytes": stats.map(|x| x.peak_activation_bytes),
        });
        println!("{doc}");
        return Ok(());
    }
    println!("{}", model.display());
    for i in p.inputs() {
        println!("  input   {}", shape(i));
    }
    for o in p.outputs() {
        println!("  output  {}", shape(o));
    }
    println!(
        "  parameters {} ({:.1} MB of weights)",
        s.parameters,
        s.weight_bytes as f64 / 1e6
    );
    println!(
        "  ops (as planned; {} batch norms folded into convolutions, {} relus fused):",
        s.folded_batch_norms, s.fused
    );
    for (k, n) in &s.op_counts {
        println!("    {n:5}  {k}");
    }
    if let (Some(st), Some(x)) = (stats, p.sample_inputs()) {
        let shapes: Vec<_> = x.iter().map(|t| t.shape().to_vec()).collect();
        println!(
            "  on the sample inputs {shapes:?}: {:.3} GFLOP, peak activations {:.2} MB",
            st.flops as f64 / 1e9,
            st.peak_activation_bytes as f64 / 1e6
        );
    }
    Ok(())
}
