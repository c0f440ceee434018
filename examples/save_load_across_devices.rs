//! PyTorch's recipe "Saving and loading models across devices", in Rust, with no Python.
//!
//! Builds the tutorial's Net, saves its state dict, loads it back with each `map_location` the
//! recipe shows, runs the same input through every copy and checks the predictions agree; then
//! saves a `DataParallel`-style (`module.`) state dict and loads it into a plain Net. Steps that
//! need a GPU run when one is present and otherwise say why they were skipped.
//!
//! `cargo run --release --example save_load_across_devices`

use std::path::Path;

use tensorport::checkpoint::{save_with, SaveOptions};
use tensorport::nn::{load_state_dict, LoadOptions, Module, Net};
use tensorport::ops::argmax;
use tensorport::{load, save, Device, MapLocation, Result, Storage, Tensor};

/// A fixed input batch: 4 "images" of 3×32×32.
fn input() -> Result<Tensor> {
    // A fixed pseudo-random batch (an LCG), so the example needs no data files.
    let mut state = 0x2545_f491u32;
    let v: Vec<f32> = (0..4 * 3 * 32 * 32)
        .map(|_| {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (state >> 8) as f32 / (1u32 << 24) as f32 * 2.0 - 1.0
        })
        .collect();
    Tensor::from_vec(v, &[4, 3, 32, 32])
}

fn predict(net: &Net, x: &Tensor) -> Result<(Vec<i64>, Vec<f32>)> {
    let logits = net.forward(x)?;
    Ok((
        argmax(&logits, 1)?.to_vec::<i64>()?,
        logits.to_vec::<f32>()?,
    ))
}

/// Loads `path` with `map_location` into a fresh Net (on the CPU, as `Net()` is in PyTorch:
/// `load_state_dict` copies each tensor onto its parameter's device).
fn load_net(path: &Path, map_location: &MapLocation, opts: LoadOptions) -> Result<Net> {
    let ckpt = load(path, map_location)?;
    let mut net = Net::new(12345)?; // different init: only the loaded weights can make it agree
    load_state_dict(&mut net, "Net", &ckpt.state_dict()?, opts)?;
    Ok(net)
}

/// The recipe's GPU steps: `model.load_state_dict(torch.load(PATH, map_location=...))`, then
/// `model.to(device)`.
fn load_net_on(path: &Path, map_location: &MapLocation, device: Device) -> Result<Net> {
    let mut net = load_net(path, map_location, LoadOptions::default())?;
    net.to_device(&device)?;
    Ok(net)
}

fn main() -> Result<()> {
    let dir = tempfile::tempdir().map_err(|e| tensorport::Error::Io {
        op: "creating",
        path: std::env::temp_dir(),
        source: e,
    })?;
    let x = input()?;
    let net = Net::new(0)?;
    let (want, want_logits) = predict(&net, &x)?;
    println!("Net predictions on the input batch: {want:?}");
    let strict = LoadOptions::default();
    let agree = |step: &str, got: Result<Net>| -> Result<()> {
        let net = got?;
        let on = net.conv1.weight.device();
        let (p, logits) = predict(&net, &x)?;
        // On the CPU the same kernels run on the same weights, so the logits are bit-identical.
        // A GPU sums in another order: there the logits agree within fp32 rounding of the
        // longest reduction (fc1, 400 terms), about 1e-5 for this Net's activations.
        let close = logits
            .iter()
            .zip(&want_logits)
            .all(|(a, b)| (a - b).abs() <= 1e-5 + 1e-5 * b.abs());
        let (same, how) = if on == Device::Cpu {
            (p == want && logits == want_logits, "logits bit-identical")
        } else {
            (p == want && close, "logits within 1e-5")
        };
        let verdict = if same {
            format!("agree ({how})")
        } else {
            "DIFFER".into()
        };
        println!("  {step} on {on}: predictions {p:?} {verdict}");
        if !same {
            return Err(tensorport::Error::InvalidArgument {
                op: "recipe",
                name: "predictions",
                reason: format!("{step} changed the model's output"),
            });
        }
        Ok(())
    };

    let cuda = tensorport::cuda::device_count();
    let gpu_reason = match tensorport::cuda::availability() {
        Ok(_) => String::new(),
        Err(reason) => format!("no CUDA device is available to this process: {reason}"),
    };

    // 1. Save on CPU, load on CPU.
    println!("\n1. save on CPU, load on CPU (map_location=None)");
    let cpu_path = dir.path().join("net_cpu.pt");
    save(&net.state_dict().to_value(), &cpu_path)?;
    agree(
        "torch.load(PATH)",
        load_net(&cpu_path, &MapLocation::Keep, strict),
    )?;

    // 2. Save on GPU, load on CPU.
    println!("\n2. save on GPU, load on CPU (map_location=torch.device('cpu'))");
    let gpu_path = dir.path().join("net_gpu.pt");
    if cuda == 0 {
        println!("  saving from a GPU: skipped, {gpu_reason}");
        // The file a GPU machine writes: the same bytes with every storage tagged cuda:0.
        let cuda0 = |_: &Storage| "cuda:0".to_string();
        let opts = SaveOptions {
            location_of: Some(&cuda0),
            ..SaveOptions::default()
        };
        save_with(&net.state_dict().to_value(), &gpu_path, &opts)?;
        println!("  wrote a checkpoint tagged cuda:0, as torch.save writes one on a GPU");
    } else {
        let mut on_gpu = net.clone();
        on_gpu.to_device(&Device::Cuda(0))?;
        agree("model.to('cuda:0')", Ok(on_gpu.clone()))?;
        save(&on_gpu.state_dict().to_value(), &gpu_path)?;
        println!("  saved the state dict of the model on cuda:0 (storages tagged cuda:0)");
    }
    if cuda == 0 {
        match load(&gpu_path, &MapLocation::Keep) {
            Err(e) => println!("  without map_location it is refused, as torch refuses it: {e}"),
            Ok(_) => println!("  loaded onto cuda:0 without a mapping"),
        }
    }
    agree(
        "map_location=cpu",
        load_net(&gpu_path, &MapLocation::To(Device::Cpu), strict),
    )?;
    let remap = MapLocation::parse("cuda:0=cpu")?;
    agree(
        "map_location={'cuda:0': 'cpu'}",
        load_net(&gpu_path, &remap, strict),
    )?;

    // 3. Save on GPU, load on GPU; 4. save on CPU, load on GPU.
    println!("\n3. save on GPU, load on GPU (map_location=None, then model.to(device))");
    println!("4. save on CPU, load on GPU (map_location='cuda:0')");
    if cuda == 0 {
        println!("  skipped: {gpu_reason}");
        match load(&cpu_path, &MapLocation::To(Device::Cuda(0))) {
            Err(e) => {
                println!("  asking for cuda:0 anyway is an error, never a silent CPU run: {e}")
            }
            Ok(_) => println!("  loaded onto cuda:0"),
        }
    } else {
        agree(
            "map_location=None on cuda:0",
            load_net_on(&gpu_path, &MapLocation::Keep, Device::Cuda(0)),
        )?;
        agree(
            "map_location='cuda:0'",
            load_net_on(
                &cpu_path,
                &MapLocation::To(Device::Cuda(0)),
                Device::Cuda(0),
            ),
        )?;
    }

    // 5. DataParallel: keys prefixed `module.`.
    println!("\n5. a torch.nn.DataParallel model's state dict (keys prefixed module.)");
    let mut dp = net.state_dict();
    dp.add_prefix("module.")?;
    let dp_path = dir.path().join("net_dataparallel.pt");
    save(&dp.to_value(), &dp_path)?;
    println!(
        "  keys: {}",
        dp.keys().take(3).collect::<Vec<_>>().join(", ")
    );
    match load_net(&dp_path, &MapLocation::Keep, strict) {
        Err(e) => {
            let msg = e.to_string();
            let mut lines = msg.lines();
            let first = lines.next().unwrap_or("");
            println!("  strict load into a plain Net fails as in PyTorch: {first}");
            println!("    {}", lines.next().unwrap_or("").trim());
        }
        Ok(_) => println!("  unexpectedly loaded without stripping"),
    }
    let lenient = LoadOptions {
        strict: true,
        strip_wrapper_prefixes: true,
    };
    agree(
        "load_state_dict(strip module.)",
        load_net(&dp_path, &MapLocation::Keep, lenient),
    )?;

    println!("\nall copies agree");
    Ok(())
}
