//! `tensorport run MODEL [INPUT.pt] [--device D] [--out OUT.pt]`: a `torch.export` program
//! (`.pt2`, `crate::program`), or the recipe's Net from a checkpoint, on a saved input.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use tensorport::nn::{load_state_dict, LoadOptions, Module, Net};
use tensorport::ops::argmax;
use tensorport::{load, save, Device, Error, MapLocation, Result, Tensor, Value};

/// CIFAR-10's classes, in the order the tutorial's dataset labels them.
const CLASSES: [&str; 10] = [
    "plane", "car", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
];

#[derive(clap::Args)]
pub struct Args {
    /// A torch.export program (.pt2), or a checkpoint holding the recipe Net's state dict (saved
    /// on any device, plain or DataParallel `module.` keys, at the top level or under
    /// model_state_dict/state_dict/...).
    model: PathBuf,
    /// A file holding the input: for the Net, the batch `[N, 3, 32, 32]` float32 (a bare tensor,
    /// or a dict with one tensor or a tensor under `input`/`inputs`/`x`/`images`); for a
    /// program, its inputs (a tensor, a tuple of tensors or torch.export's `(args, kwargs)`),
    /// by default the sample inputs saved in the archive.
    input: Option<PathBuf>,
    /// Where to run: cpu, cuda, cuda:N.
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Save the logits tensor here (torch.load reads it).
    #[arg(long)]
    out: Option<PathBuf>,
}

pub fn run(args: &Args) -> ExitCode {
    let result = if crate::program::is_program(&args.model) {
        args.device.parse().and_then(|d| {
            crate::program::run(&args.model, args.input.as_deref(), d, args.out.as_deref())
        })
    } else {
        run_net(args)
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => crate::fail(&e),
    }
}

fn input_tensor(v: &Value) -> Result<Tensor> {
    if let Some(t) = v.as_tensor() {
        return Ok(t.clone());
    }
    if let Some(d) = v.as_dict() {
        for k in ["input", "inputs", "x", "images"] {
            if let Some(t) = d.get_str(k).and_then(Value::as_tensor) {
                return Ok(t.clone());
            }
        }
        let tensors: Vec<&Tensor> = d.iter().filter_map(|(_, v)| v.as_tensor()).collect();
        if let [t] = tensors.as_slice() {
            return Ok((*t).clone());
        }
    }
    Err(Error::NotFound {
        what: "input tensor",
        key: "expected a tensor, or a dict with one tensor or an input/inputs/x/images key".into(),
    })
}

/// The recipe's Net with the state dict in the checkpoint at `model`, on `device`.
pub(crate) fn load_net(model: &Path, device: Device) -> Result<Net> {
    let ckpt = load(model, &MapLocation::To(device))?;
    let mut net = Net::new(0)?;
    // load_state_dict puts each tensor on its parameter's device (torch's copy_), so the model
    // goes to the device first and the weights land there without a detour.
    net.to_device(&device)?;
    let opts = LoadOptions {
        strict: true,
        strip_wrapper_prefixes: true,
    };
    load_state_dict(&mut net, "Net", &ckpt.state_dict()?, opts)?;
    Ok(net)
}

fn run_net(args: &Args) -> Result<()> {
    let device: Device = args.device.parse()?;
    let to = MapLocation::To(device);
    let net = load_net(&args.model, device)?;
    let input = args.input.as_ref().ok_or_else(|| Error::NotFound {
        what: "input",
        key: "running the Net from a checkpoint needs an input file".into(),
    })?;
    let x = input_tensor(load(input, &to)?.value())?;
    // Printing and saving read the logits on the host.
    let logits = net.forward(&x)?.to(&Device::Cpu)?;
    let pred = argmax(&logits, -1)?.to_vec::<i64>()?;
    let values = logits.to_vec::<f32>()?;
    let classes = logits.shape().last().copied().unwrap_or(1).max(1);
    println!("logits {:?} on {device}:", logits.shape());
    for (row, p) in values.chunks(classes).zip(&pred) {
        let cells: Vec<String> = row.iter().map(|v| format!("{v:8.4}")).collect();
        let name = usize::try_from(*p)
            .ok()
            .and_then(|i| CLASSES.get(i))
            .unwrap_or(&"?");
        println!("  [{}]  -> {p} ({name})", cells.join(" "));
    }
    if let Some(out) = &args.out {
        save(&Value::Tensor(logits), out)?;
        println!("logits saved to {}", out.display());
    }
    Ok(())
}
