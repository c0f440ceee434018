//! Every op on the CPU and on each GPU present (criterion), groups `<op>/<device>/<shape>`, plus
//! checkpoint loading onto each GPU compared with the raw pinned host→device bandwidth.
//!
//! GPU timings synchronise the device's stream inside the timed region (`iter_custom`), so they
//! measure finished kernels, not queued launches. Inputs are on the device before timing;
//! outputs stay there. Throughput is FLOPs for conv2d/linear (2 per multiply-add) and bytes that
//! must move (each input byte read once, each output byte written once) for relu/max_pool2d.
//! After each group a napkin line prints the achieved GFLOP/s or GB/s of the median run.
//! With no GPU the CPU rows run and the GPU rows print that they were skipped.
//! `net_forward` is the recipe's whole `tensorport::nn::Net` (batch 1 and 64).

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tensorport::checkpoint::StateDict;
use tensorport::cuda::{availability as cuda_availability, device_count as cuda_device_count};
use tensorport::nn::{Module, Net};
use tensorport::ops::relu;
use tensorport::ops::{conv2d, Conv2dArgs};
use tensorport::ops::{linear, linear_relu};
use tensorport::ops::{max_pool2d, MaxPool2dArgs};
use tensorport::{load, save, Device, MapLocation, Result, Tensor};

/// Deterministic values in [-1, 1).
fn data(n: usize) -> Vec<f32> {
    (0..n)
        .map(|i| {
            ((i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 41) as f32 / (1u64 << 22) as f32
                - 1.0
        })
        .collect()
}

/// The CPU and every GPU; prints why GPU rows are skipped when there are none.
fn devices() -> Vec<Device> {
    let mut v = vec![Device::Cpu];
    match cuda_availability() {
        Ok(n) => v.extend((0..n).map(Device::Cuda)),
        Err(reason) => {
            static ONCE: std::sync::Once = std::sync::Once::new();
            ONCE.call_once(|| println!("GPU rows skipped: {reason}"));
        }
    }
    v
}

/// Waits for queued work on `dev`.
fn sync(dev: &Device) {
    #[cfg(feature = "cuda")]
    tensorport::cuda::synchronize(dev).expect("synchronize");
    #[cfg(not(feature = "cuda"))]
    let _ = dev;
}

/// What a row's throughput counts, for criterion and for the napkin line.
#[derive(Clone, Copy)]
enum Work {
    Flops(u64),
    Bytes(u64),
}

fn napkin(group: &str, work: Work, secs: f64) {
    match work {
        Work::Flops(f) => println!(
            "{group}: {:.3} MFLOP in {:.3} ms = {:.1} GFLOP/s",
            f as f64 / 1e6,
            secs * 1e3,
            f as f64 / secs / 1e9
        ),
        Work::Bytes(b) => println!(
            "{group}: {:.3} MB moved in {:.3} ms = {:.1} GB/s",
            b as f64 / 1e6,
            secs * 1e3,
            b as f64 / secs / 1e9
        ),
    }
}

/// Times `f` (which runs on `dev`) as criterion group `<op>/<device>/<shape>`, then prints the
/// napkin line for the median of a few synchronised runs.
fn bench_row<T>(
    c: &mut Criterion,
    op: &str,
    dev: &Device,
    shape: &str,
    work: Work,
    f: impl Fn() -> Result<T>,
) {
    let name = format!("{op}/{dev}/{shape}");
    let run = || {
        sync(dev);
        let s = Instant::now();
        black_box(f().expect(op));
        sync(dev);
        s.elapsed()
    };
    let first = run(); // warm-up: module load, caches
    let heavy = first > Duration::from_millis(20);
    let mut g = c.benchmark_group(&name);
    g.throughput(match work {
        Work::Flops(n) => Throughput::Elements(n),
        Work::Bytes(n) => Throughput::Bytes(n),
    });
    if heavy {
        g.sample_size(10).measurement_time(Duration::from_secs(3));
    }
    g.bench_function("forward", |b| {
        b.iter_custom(|iters| {
            sync(dev);
            let s = Instant::now();
            for _ in 0..iters {
                black_box(f().expect(op));
            }
            sync(dev);
            s.elapsed()
        })
    });
    g.finish();
    let reps = if heavy { 5 } else { 101 };
    let mut t: Vec<f64> = (0..reps).map(|_| run().as_secs_f64()).collect();
    t.sort_by(|a, b| a.total_cmp(b));
    napkin(&name, work, t[reps / 2]);
}

fn shape_name(s: &[usize]) -> String {
    s.iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join("x")
}

fn bench_relu(c: &mut Criterion) {
    for shape in [vec![1usize, 6, 28, 28], vec![16 << 20]] {
        let host = Tensor::from_vec(data(shape.iter().product()), &shape).expect("input");
        let bytes = 2 * host.numel() as u64 * 4;
        for dev in devices() {
            let x = host.to(&dev).expect("to device");
            bench_row(
                c,
                "relu",
                &dev,
                &shape_name(&shape),
                Work::Bytes(bytes),
                || relu(&x),
            );
        }
    }
}

fn bench_max_pool2d(c: &mut Criterion) {
    for shape in [[1usize, 6, 28, 28], [16, 64, 56, 56]] {
        let host = Tensor::from_vec(data(shape.iter().product()), &shape).expect("input");
        let args = MaxPool2dArgs::new(2);
        let out = max_pool2d(&host, &args).expect("pool").numel();
        let bytes = (host.numel() + out) as u64 * 4;
        for dev in devices() {
            let x = host.to(&dev).expect("to device");
            bench_row(
                c,
                "max_pool2d",
                &dev,
                &shape_name(&shape),
                Work::Bytes(bytes),
                || max_pool2d(&x, &args),
            );
        }
    }
}

/// The recipe's Net layers at batch 1 and a heavier ResNet-like layer.
fn bench_conv2d(c: &mut Criterion) {
    let cases: [([usize; 4], [usize; 4], [usize; 2]); 3] = [
        ([1, 3, 32, 32], [6, 3, 5, 5], [0, 0]),
        ([1, 6, 14, 14], [16, 6, 5, 5], [0, 0]),
        ([8, 64, 56, 56], [64, 64, 3, 3], [1, 1]),
    ];
    for (xs, ws, padding) in cases {
        let x = Tensor::from_vec(data(xs.iter().product()), &xs).expect("input");
        let w = Tensor::from_vec(data(ws.iter().product()), &ws).expect("weight");
        let b = Tensor::from_vec(data(ws[0]), &[ws[0]]).expect("bias");
        let args = Conv2dArgs {
            padding,
            ..Conv2dArgs::default()
        };
        let out = conv2d(&x, &w, Some(&b), &args).expect("conv").numel() as u64;
        // 2 FLOPs per multiply-add: each output sums C_in/groups · kH · kW products.
        let flops = 2 * out * (ws[1] * ws[2] * ws[3]) as u64;
        let name = format!("{}_k{}x{}", shape_name(&xs), ws[0], ws[2]);
        for dev in devices() {
            let (x, w, b) = (
                x.to(&dev).expect("x"),
                w.to(&dev).expect("w"),
                b.to(&dev).expect("b"),
            );
            bench_row(c, "conv2d", &dev, &name, Work::Flops(flops), || {
                conv2d(&x, &w, Some(&b), &args)
            });
        }
    }
}

/// `linear` or `linear_relu`.
type LinearFn = fn(&Tensor, &Tensor, Option<&Tensor>) -> Result<Tensor>;

/// The recipe's fully connected layers at batch 1 and a batched GEMM-sized one.
fn bench_linear(c: &mut Criterion) {
    for (m, k, n, fused_relu) in [
        (1usize, 400usize, 120usize, true),
        (1, 84, 10, false),
        (256, 1024, 1024, true),
    ] {
        let x = Tensor::from_vec(data(m * k), &[m, k]).expect("x");
        let w = Tensor::from_vec(data(n * k), &[n, k]).expect("w");
        let b = Tensor::from_vec(data(n), &[n]).expect("b");
        let flops = 2 * (m * k * n) as u64;
        let (op, f): (&str, LinearFn) = if fused_relu {
            ("linear_relu", linear_relu)
        } else {
            ("linear", linear)
        };
        for dev in devices() {
            let (x, w, b) = (
                x.to(&dev).expect("x"),
                w.to(&dev).expect("w"),
                b.to(&dev).expect("b"),
            );
            bench_row(
                c,
                op,
                &dev,
                &format!("{m}x{k}x{n}"),
                Work::Flops(flops),
                || f(&x, &w, Some(&b)),
            );
        }
    }
}

/// The recipe's Net forward (conv-relu-pool ×2, three linear layers) at batch 1 and 64.
fn bench_net(c: &mut Criterion) {
    let cpu_net = Net::new(0).expect("net");
    for batch in [1usize, 64] {
        let shape = [batch, 3, 32, 32];
        let x = Tensor::from_vec(data(shape.iter().product()), &shape).expect("input");
        // conv1 6·28·28 outputs × 75 taps, conv2 16·10·10 × 150, fc 400·120 + 120·84 + 84·10.
        let macs = 6 * 28 * 28 * 75 + 16 * 10 * 10 * 150 + 400 * 120 + 120 * 84 + 84 * 10;
        let flops = 2 * (batch * macs) as u64;
        for dev in devices() {
            let mut net = cpu_net.clone();
            net.to_device(&dev).expect("parameters to device");
            let x = x.to(&dev).expect("x");
            bench_row(
                c,
                "net_forward",
                &dev,
                &shape_name(&shape),
                Work::Flops(flops),
                || net.forward(&x),
            );
        }
    }
}

/// Loading a 256 MB checkpoint (8 storages of 32 MB, file pages cached) onto each GPU: the
/// mapped file goes through the pinned staging buffers. For comparison: `Tensor::to` of a
/// resident host tensor of the same size, and the raw pinned host→device copy (the ceiling).
fn bench_checkpoint_to_gpu(c: &mut Criterion) {
    let gpus = cuda_device_count();
    if gpus == 0 {
        println!("checkpoint_load/cuda rows skipped: no GPU");
        return;
    }
    const PER: usize = 8 << 20; // f32 elements per storage: 32 MB
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bench.pt");
    let mut sd = StateDict::new();
    for i in 0..8 {
        sd.insert(
            &format!("layer{i}.weight"),
            Tensor::from_vec(data(PER), &[PER]).expect("tensor"),
        );
    }
    save(&sd.to_value(), &path).expect("save");
    let bytes = 8 * PER as u64 * 4;
    let host = Tensor::from_vec(data(8 * PER), &[8 * PER]).expect("tensor");
    for i in 0..gpus {
        let dev = Device::Cuda(i);
        bench_row(
            c,
            "checkpoint_load",
            &dev,
            "256MB",
            Work::Bytes(bytes),
            || load(&path, &MapLocation::To(dev)),
        );
        bench_row(c, "upload", &dev, "256MB", Work::Bytes(bytes), || {
            host.to(&dev)
        });
        #[cfg(feature = "cuda")]
        match pinned_htod_gbps(i, 8 * PER * 4) {
            Ok(gbps) => println!("raw pinned host->device on {dev}: {gbps:.1} GB/s (best of 5)"),
            Err(code) => println!("raw pinned host->device on {dev}: driver error {code}"),
        }
    }
}

/// The best of 5 raw pinned host→device copies of `bytes`, in GB/s (cudarc directly).
#[cfg(feature = "cuda")]
fn pinned_htod_gbps(ordinal: usize, bytes: usize) -> std::result::Result<f64, i32> {
    use cudarc::driver::CudaContext;
    let run = || -> std::result::Result<f64, cudarc::driver::DriverError> {
        let ctx = CudaContext::new(ordinal)?;
        let stream = ctx.default_stream();
        // SAFETY: filled below before any copy reads it.
        let mut src = unsafe { ctx.alloc_pinned::<u8>(bytes) }?;
        src.as_mut_slice()?.fill(1);
        // SAFETY: fully overwritten by the copies; never read.
        let mut dst = unsafe { stream.alloc::<u8>(bytes) }?;
        let mut best = f64::MAX;
        for _ in 0..6 {
            let s = Instant::now();
            stream.memcpy_htod(&src, &mut dst)?;
            stream.synchronize()?;
            best = best.min(s.elapsed().as_secs_f64());
        }
        Ok(bytes as f64 / best / 1e9)
    };
    run().map_err(|e| e.0 as i32)
}

criterion_group!(
    benches,
    bench_relu,
    bench_max_pool2d,
    bench_conv2d,
    bench_linear,
    bench_net,
    bench_checkpoint_to_gpu
);
criterion_main!(benches);
