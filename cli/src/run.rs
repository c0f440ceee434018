//! `tensorport run MODEL [INPUT...] [--device D] [--out OUT.pt]`: a `torch.export` program
//! (`.pt2`, `crate::program`), or the recipe's Net from a checkpoint, on a saved input or on
//! images (PNG/JPEG, by their bytes), which are decoded, preprocessed and batched.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use tensorport::image::Preprocess;
use tensorport::nn::{load_state_dict, LoadOptions, Module, Net};
use tensorport::ops::argmax;
use tensorport::{load, save, Device, Error, MapLocation, Result, Tensor, Value};

use crate::classify::{print_top, probabilities, read_labels, Classes};
use crate::images::{batch, is_image_file, PreprocessArgs};

/// CIFAR-10's classes, in the order the tutorial's dataset labels them.
const CLASSES: [&str; 10] = [
    "plane", "car", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
];

#[derive(clap::Args)]
#[command(
    after_help = "Images (PNG or JPEG, recognised by their bytes) are preprocessed as \
torchvision's transforms.Compose([Resize, CenterCrop, ToTensor, Normalize]) on a PIL image, \
bit for bit on PNGs. For a .pt2 program the defaults are ImageNet's (resize 256, crop 224, \
mean 0.485,0.456,0.406, std 0.229,0.224,0.225); for the recipe Net they fit its 32x32 CIFAR-10 \
input (resize 32, crop 32, mean and std 0.5 as in the tutorial's transform). All images go in \
one batch, so they must end the same size (set --crop, or --resize HxW). The top classes of \
each image are printed with softmax probabilities; --labels names them (the Net knows \
CIFAR-10's names).

Examples:
  tensorport run resnet18.pt2 cat.jpg dog.png --labels imagenet_classes.txt
  tensorport run cifar_net.pt photo.png --top 3"
)]
pub struct Args {
    /// A torch.export program (.pt2), or a checkpoint holding the recipe Net's state dict (saved
    /// on any device, plain or DataParallel `module.` keys, at the top level or under
    /// model_state_dict/state_dict/...).
    model: PathBuf,
    /// Images (PNG/JPEG), or one file holding the input: for the Net, the batch
    /// `[N, 3, 32, 32]` float32 (a bare tensor, or a dict with one tensor or a tensor under
    /// `input`/`inputs`/`x`/`images`); for a program, its inputs (a tensor, a tuple of tensors
    /// or torch.export's `(args, kwargs)`), by default the sample inputs saved in the archive.
    inputs: Vec<PathBuf>,
    /// Where to run: cpu, cuda, cuda:N.
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Save the logits tensor here (torch.load reads it).
    #[arg(long)]
    out: Option<PathBuf>,
    /// How many classes to print per input.
    #[arg(long, default_value_t = 5, value_name = "K")]
    top: usize,
    /// Class names, one per line in class order.
    #[arg(long, value_name = "FILE")]
    labels: Option<PathBuf>,
    /// Print one JSON document (outputs' shapes, the top classes of each input) instead.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    preprocess: PreprocessArgs,
}

/// What the model runs on.
pub enum Input {
    /// The program's saved sample inputs.
    Sample,
    /// A torch.save file.
    File(PathBuf),
    /// Preprocessed images, with their names.
    Images(Tensor, Vec<String>),
}

pub fn run(args: &Args) -> ExitCode {
    if args.json {
        crate::progress::set_quiet(true);
    }
    match run_any(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if args.json => crate::inspect::print_json_error(&e),
        Err(e) => crate::fail(&e),
    }
}

fn run_any(args: &Args) -> Result<()> {
    // A program is recognised by its bytes (a zip with an archive_format record).
    let program =
        crate::program::is_program(&args.model) || tensorport::graph::is_program_file(&args.model)?;
    let defaults = if program {
        Preprocess::imagenet()
    } else {
        Preprocess::cifar10()
    };
    let input = input(&args.inputs, &args.preprocess.preprocess(defaults)?)?;
    let labels = args.labels.as_deref().map(read_labels).transpose()?;
    let classes = Classes {
        top: args.top,
        labels,
        json: args.json,
    };
    if program {
        let device = args.device.parse()?;
        crate::program::run(&args.model, &input, device, args.out.as_deref(), &classes)
    } else {
        run_net(args, &input, classes)
    }
}

/// The inputs as given: images (all of them), one saved file, or nothing.
fn input(files: &[PathBuf], p: &Preprocess) -> Result<Input> {
    let kinds = files
        .iter()
        .map(|f| is_image_file(f))
        .collect::<Result<Vec<_>>>()?;
    match (files, kinds.as_slice()) {
        ([], _) => Ok(Input::Sample),
        _ if kinds.iter().all(|&k| k) => {
            let names = files.iter().map(|f| f.display().to_string()).collect();
            Ok(Input::Images(batch(files, p)?, names))
        }
        ([one], [false]) => Ok(Input::File(one.clone())),
        _ => Err(Error::InvalidArgument {
            op: "run",
            name: "INPUT",
            reason: "give one input file, or only images (PNG/JPEG)".into(),
        }),
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

fn run_net(args: &Args, input: &Input, mut classes: Classes) -> Result<()> {
    let device: Device = args.device.parse()?;
    let to = MapLocation::To(device);
    let net = load_net(&args.model, device)?;
    let (x, names) = match input {
        Input::Sample => {
            return Err(Error::NotFound {
                what: "input",
                key: "running the Net from a checkpoint needs an input file or images".into(),
            })
        }
        Input::File(f) => (input_tensor(load(f, &to)?.value())?, None),
        Input::Images(x, names) => (x.to(&device)?, Some(names)),
    };
    // Printing and saving read the logits on the host.
    let logits = net.forward(&x)?.to(&Device::Cpu)?;
    if classes.json {
        if classes.labels.is_none() {
            classes.labels = Some(CLASSES.iter().map(|s| s.to_string()).collect());
        }
        let c = logits.shape().last().copied().unwrap_or(1).max(1);
        let probs = probabilities(&logits)?.map_or_else(Vec::new, |(_, p)| p);
        let names = names.cloned().unwrap_or_default();
        if let Some(out) = &args.out {
            save(&Value::Tensor(logits.clone()), out)?;
        }
        let doc = serde_json::json!({
            "ok": true,
            "model": args.model.display().to_string(),
            "device": device.to_string(),
            "logits": logits.to_vec::<f32>()?,
            "shape": logits.shape(),
            "predictions": crate::classify::top_json(&probs, c, &names, &classes),
            "saved": args.out.as_ref().map(|o| o.display().to_string()),
        });
        println!("{doc}");
        return Ok(());
    }
    match names {
        Some(names) => {
            println!("{} on {device}:", args.model.display());
            if let Some((c, probs)) = probabilities(&logits)? {
                if classes.labels.is_none() {
                    classes.labels = Some(CLASSES.iter().map(|s| s.to_string()).collect());
                }
                print_top(&probs, c, names, &classes);
            }
        }
        None => print_logits(&logits, &device)?,
    }
    if let Some(out) = &args.out {
        save(&Value::Tensor(logits), out)?;
        println!("logits saved to {}", out.display());
    }
    Ok(())
}

/// The Net's logits on a saved batch, a row per input with its CIFAR-10 class.
fn print_logits(logits: &Tensor, device: &Device) -> Result<()> {
    let pred = argmax(logits, -1)?.to_vec::<i64>()?;
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
    Ok(())
}
