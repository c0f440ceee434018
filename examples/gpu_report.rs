//! The GPU report of `scripts/gpu_check.sh`: op throughput on each device (each kernel family
//! the host picks: the implicit GEMM, the small-channel and depthwise convolutions, the tiled
//! and the general linear), the recipe Net's images per second at batch 1, 1024 and 65536 with
//! the data on the device and end to end from host memory (also through `Net::cuda_plan`'s
//! replayed CUDA graph, and its batch-1 latency), real models from their `.pt2` at
//! batch 1 and 64, and checkpoint-to-GPU GB/s, as one markdown table. GPU and CPU figures come
//! from the same run, so their ratio is the number to quote.
//!
//! `cargo run --release --example gpu_report [-- --quick] [-- --pt2 DIR]`: DIR holds
//! `resnet18.pt2` and `mobilenet_v2.pt2` (as `scripts/bench_models_vs_torch.py` exports them);
//! each one present is run at its exported image size. Absent ones get a row saying so.
//!
//! On a machine without a GPU it runs on the project's CPU-backed driver double (loaded the way
//! the tests load it); its times say nothing about a GPU, so `--quick` (tiny sizes) is the only
//! sensible use there: a smoke test of the report itself.

use std::time::Instant;

use tensorport::checkpoint::StateDict;
use tensorport::cuda::{device_name, empty_cache, synchronize};
use tensorport::nn::{Module, Net};
use tensorport::ops::{conv2d, linear, max_pool2d, relu, Conv2dArgs, MaxPool2dArgs};
use tensorport::{load, save, Device, MapLocation, Program, Tensor};

/// Median seconds of `runs` calls of `f` on `dev` (each waited for), after one warm-up call.
fn median_s(dev: &Device, runs: usize, mut f: impl FnMut() -> tensorport::Result<Tensor>) -> f64 {
    let mut once = || {
        let s = Instant::now();
        let y = f().expect("op");
        synchronize(dev).expect("synchronize");
        drop(y);
        s.elapsed().as_secs_f64()
    };
    once();
    let mut t: Vec<f64> = (0..runs).map(|_| once()).collect();
    t.sort_by(|a, b| a.total_cmp(b));
    t[t.len() / 2]
}

fn random(shape: &[usize], seed: u64) -> Tensor {
    let n: usize = shape.iter().product();
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let v: Vec<f32> = (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
        })
        .collect();
    Tensor::from_vec(v, shape).expect("tensor")
}

struct Row {
    what: String,
    unit: &'static str,
    cpu: Option<f64>,
    gpu: Option<f64>,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    let pt2_dir = args
        .iter()
        .position(|a| a == "--pt2")
        .and_then(|i| args.get(i + 1))
        .map(std::path::PathBuf::from);
    let on_double = matches!(
        tensorport_emu::driver::install()?,
        tensorport_emu::driver::Installed::Double(_)
    );
    let gpu = Device::Cuda(0);
    println!(
        "device: {} ({})",
        device_name(0)?,
        if on_double {
            "the CPU-backed driver double: times are not GPU times"
        } else {
            "a real GPU"
        }
    );
    let runs = if quick { 3 } else { 20 };
    let mut rows = Vec::new();
    let both = |f: &dyn Fn(&Device) -> f64| (Some(f(&Device::Cpu)), Some(f(&gpu)));

    // Elementwise and pooling: GB/s of bytes read + written.
    let n = if quick { 1 << 16 } else { 64 << 20 };
    let x = random(&[n], 1);
    let (cpu, g) = both(&|d| {
        let xd = x.to(d).expect("x");
        let s = median_s(d, runs, || relu(&xd));
        (2 * n * 4) as f64 / s / 1e9
    });
    rows.push(Row {
        what: format!("relu, {n} floats"),
        unit: "GB/s",
        cpu,
        gpu: g,
    });
    let shape = if quick {
        [2, 8, 32, 32]
    } else {
        [64, 64, 112, 112]
    };
    let xp = random(&shape, 2);
    let (cpu, g) = both(&|d| {
        let xd = xp.to(d).expect("x");
        let s = median_s(d, runs, || max_pool2d(&xd, &MaxPool2dArgs::new(2)));
        (xp.numel() * 4 * 5 / 4) as f64 / s / 1e9
    });
    rows.push(Row {
        what: format!("max_pool2d 2x2, {shape:?}"),
        unit: "GB/s",
        cpu,
        gpu: g,
    });

    // conv2d and linear: GFLOP/s.
    let (b, c, hw) = if quick { (1, 8, 16) } else { (32, 64, 56) };
    let xc = random(&[b, c, hw, hw], 3);
    let wc = random(&[c, c, 3, 3], 4);
    let flops = 2.0 * (b * c * c * 9 * hw * hw) as f64;
    let (cpu, g) = both(&|d| {
        let (xd, wd) = (xc.to(d).expect("x"), wc.to(d).expect("w"));
        let args = Conv2dArgs {
            padding: [1, 1],
            ..Conv2dArgs::default()
        };
        let s = median_s(d, runs, || conv2d(&xd, &wd, None, &args));
        flops / s / 1e9
    });
    rows.push(Row {
        what: format!("conv2d {c}->{c} 3x3, {b}x{hw}x{hw}"),
        unit: "GFLOP/s",
        cpu,
        gpu: g,
    });
    // The small-channel kernel: the Net's conv2 (6 -> 16, 5x5) over a large batch.
    let bn = if quick { 2 } else { 4096 };
    let xs = random(&[bn, 6, 14, 14], 11);
    let ws = random(&[16, 6, 5, 5], 12);
    let flops = 2.0 * (bn * 16 * 6 * 25 * 10 * 10) as f64;
    let (cpu, g) = both(&|d| {
        let (xd, wd) = (xs.to(d).expect("x"), ws.to(d).expect("w"));
        let s = median_s(d, runs, || conv2d(&xd, &wd, None, &Conv2dArgs::default()));
        flops / s / 1e9
    });
    rows.push(Row {
        what: format!("conv2d 6->16 5x5 (small-channel), {bn}x14x14"),
        unit: "GFLOP/s",
        cpu,
        gpu: g,
    });
    // Depthwise 3x3 (MobileNet): bound by memory, so GB/s of input read + output written.
    let (bd, cd, hd) = if quick { (1, 8, 16) } else { (32, 96, 56) };
    let xdw = random(&[bd, cd, hd, hd], 13);
    let wdw = random(&[cd, 1, 3, 3], 14);
    let (cpu, g) = both(&|d| {
        let (xd, wd) = (xdw.to(d).expect("x"), wdw.to(d).expect("w"));
        let args = Conv2dArgs {
            padding: [1, 1],
            groups: cd,
            ..Conv2dArgs::default()
        };
        let s = median_s(d, runs, || conv2d(&xd, &wd, None, &args));
        (2 * xdw.numel() * 4) as f64 / s / 1e9
    });
    rows.push(Row {
        what: format!("conv2d depthwise 3x3, {bd}x{cd}x{hd}x{hd}"),
        unit: "GB/s",
        cpu,
        gpu: g,
    });
    let (m, k) = if quick { (8, 64) } else { (256, 4096) };
    let xl = random(&[m, k], 5);
    let wl = random(&[k, k], 6);
    let (cpu, g) = both(&|d| {
        let (xd, wd) = (xl.to(d).expect("x"), wl.to(d).expect("w"));
        let s = median_s(d, runs, || linear(&xd, &wd, None));
        2.0 * (m * k * k) as f64 / s / 1e9
    });
    rows.push(Row {
        what: format!("linear {k}->{k}, batch {m}"),
        unit: "GFLOP/s",
        cpu,
        gpu: g,
    });

    // A batch-1 linear reads its weight once: GB/s of weight.
    let k1 = if quick { 64 } else { 4096 };
    let x1 = random(&[1, k1], 15);
    let w1 = random(&[k1, k1], 16);
    let (cpu, g) = both(&|d| {
        let (xd, wd) = (x1.to(d).expect("x"), w1.to(d).expect("w"));
        let s = median_s(d, runs, || linear(&xd, &wd, None));
        (k1 * k1 * 4) as f64 / s / 1e9
    });
    rows.push(Row {
        what: format!("linear {k1}->{k1}, batch 1 (weight bytes)"),
        unit: "GB/s",
        cpu,
        gpu: g,
    });

    // The recipe's Net: images per second.
    let batches: &[usize] = if quick { &[1, 4] } else { &[1, 1024, 65536] };
    for &batch in batches {
        let x = random(&[batch, 3, 32, 32], 7);
        let per = |d: &Device| {
            let mut net = Net::new(1).expect("net");
            net.to_device(d).expect("net to device");
            let xd = x.to(d).expect("x");
            let r = if batch >= 65536 { 3 } else { runs };
            batch as f64 / median_s(d, r, || net.forward(&xd))
        };
        // The CPU at 65536 images would take minutes for one figure; its 1024 rate is the
        // comparison.
        let cpu = (batch < 65536).then(|| per(&Device::Cpu));
        rows.push(Row {
            what: format!("Net forward, batch {batch}"),
            unit: "images/s",
            cpu,
            gpu: Some(per(&gpu)),
        });
        // End to end: the batch starts in host memory and the logits end there.
        let mut net = Net::new(1).expect("net");
        net.to_device(&gpu).expect("net to device");
        let r = if batch >= 65536 { 3 } else { runs };
        let e2e = median_s(&gpu, r, || net.forward(&x.to(&gpu)?)?.to(&Device::Cpu));
        rows.push(Row {
            what: format!("Net forward from host memory, batch {batch}"),
            unit: "images/s",
            cpu: None,
            gpu: Some(batch as f64 / e2e),
        });
        // The planned Net: buffers allocated once, the forward a replayed CUDA graph, host
        // memory in and out (Net::cuda_plan).
        let mut plan = net.cuda_plan(batch)?;
        let xs = x.to_vec::<f32>()?;
        let mut logits = vec![0.0f32; batch * 10];
        let planned = median_s(&gpu, r, || {
            plan.forward_host(&xs, &mut logits)?;
            Tensor::from_vec(vec![0.0f32], &[1])
        });
        rows.push(Row {
            what: format!("Net plan (CUDA graph) from host memory, batch {batch}"),
            unit: "images/s",
            cpu: None,
            gpu: Some(batch as f64 / planned),
        });
        // Several batches pipelined: uploads and downloads on a copy stream beside the graphs.
        let k = match batch {
            1 => 16,
            b if b >= 65536 => 2,
            _ => 4,
        };
        let many: Vec<f32> = (0..k).flat_map(|_| xs.iter().copied()).collect();
        let mut many_out = vec![0.0f32; k * batch * 10];
        let piped = median_s(&gpu, r, || {
            plan.forward_host_many(&many, &mut many_out)?;
            Tensor::from_vec(vec![0.0f32], &[1])
        });
        let ips = (k * batch) as f64 / piped;
        rows.push(Row {
            what: format!("Net plan pipelined from host memory, {k} x batch {batch}"),
            unit: "images/s",
            cpu: None,
            gpu: Some(ips),
        });
        rows.push(Row {
            what: format!("  its input stream, {k} x batch {batch} (compare: PCIe H2D)"),
            unit: "GB/s",
            cpu: None,
            gpu: Some(ips * (3 * 32 * 32 * 4) as f64 / 1e9),
        });
        if batch == 1 {
            rows.push(Row {
                what: "Net plan (CUDA graph) latency, batch 1".into(),
                unit: "us",
                cpu: None,
                gpu: Some(planned * 1e6),
            });
        }
        empty_cache(&gpu)?;
    }

    // Real models from their .pt2, at the image size they were exported with.
    for name in ["resnet18", "mobilenet_v2"] {
        let path = pt2_dir.as_ref().map(|d| d.join(format!("{name}.pt2")));
        let Some(path) = path.filter(|p| p.exists()) else {
            rows.push(Row {
                what: format!("{name}: no {name}.pt2 (pass --pt2 DIR)"),
                unit: "images/s",
                cpu: None,
                gpu: None,
            });
            continue;
        };
        for batch in if quick { [1, 2] } else { [1, 64] } {
            let per = |d: &Device| {
                let p = Program::load(&path, &MapLocation::To(*d)).expect("load .pt2");
                let shape = p
                    .sample_inputs()
                    .and_then(|s| s.first())
                    .map(|t| t.shape().to_vec())
                    .unwrap_or_else(|| vec![1, 3, 224, 224]);
                let mut shape = shape;
                shape[0] = batch;
                let xd = random(&shape, 17).to(d).expect("x");
                let s = median_s(d, if quick { 2 } else { 10 }, || {
                    let mut out = p.run(std::slice::from_ref(&xd))?;
                    Ok(out.swap_remove(0))
                });
                (batch as f64 / s, shape)
            };
            let (cpu, shape) = per(&Device::Cpu);
            let (g, _) = per(&gpu);
            rows.push(Row {
                what: format!("{name} from .pt2, {shape:?}"),
                unit: "images/s",
                cpu: Some(cpu),
                gpu: Some(g),
            });
            empty_cache(&gpu)?;
        }
    }

    // Checkpoint to GPU: a state dict saved to disk, loaded with map_location=cuda:0.
    let dir = std::env::temp_dir().join(format!("tp_gpu_report_{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("big.pt");
    let per_tensor = if quick { 1 << 18 } else { 64 << 20 };
    let mut sd = StateDict::new();
    for i in 0..4 {
        sd.insert(&format!("w{i}"), random(&[per_tensor], 10 + i));
    }
    save(&sd.to_value(), &path)?;
    drop(sd);
    let bytes = (4 * per_tensor * 4) as f64;
    let load_to = |d: &Device| {
        let map = MapLocation::To(*d);
        let s = median_s(d, if quick { 2 } else { 5 }, || {
            let ck = load(&path, &map)?;
            ck.state_dict()?
                .get("w0")
                .cloned()
                .ok_or(tensorport::Error::NotFound {
                    what: "tensor",
                    key: "w0".into(),
                })
        });
        bytes / s / 1e9
    };
    let (cpu, g) = (Some(load_to(&Device::Cpu)), Some(load_to(&gpu)));
    rows.push(Row {
        what: format!("checkpoint load, {:.0} MB", bytes / 1e6),
        unit: "GB/s",
        cpu,
        gpu: g,
    });
    std::fs::remove_dir_all(&dir)?;

    println!("\n| measurement | unit | cpu | cuda:0 | cuda:0 / cpu |");
    println!("|---|---|---:|---:|---:|");
    let f = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.1}"));
    for r in rows {
        let ratio = match (r.cpu, r.gpu) {
            (Some(c), Some(g)) if c > 0.0 => format!("{:.2}x", g / c),
            _ => "-".into(),
        };
        println!(
            "| {} | {} | {} | {} | {} |",
            r.what,
            r.unit,
            f(r.cpu),
            f(r.gpu),
            ratio
        );
    }
    Ok(())
}
