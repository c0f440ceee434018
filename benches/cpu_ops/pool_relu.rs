//! CPU max_pool2d and relu (criterion). Groups are `<op>/cpu/<shape>`:
//! - `max_pool2d/cpu/64x64x112x112`: 2×2 stride-2 pooling of a 205 MB float32 input (ResNet-
//!   sized); `max_pool2d/cpu/1x6x28x28` and `1x16x10x10`: the recipe's Net at batch 1, which must
//!   stay on the calling thread; `max_pool2d/cpu/64x64x112x112_k3s2p1`: the general path.
//! - `relu/cpu/64M`: 64 Mi float32 elements out of place in steady state (the output buffer is
//!   recycled by the host cache), out of place on a first call (cache emptied: fresh pages
//!   fault in), in place, and into an existing buffer.
//!
//! Throughput is bytes the op must move: every input byte read once plus every output byte
//! written once (a write-allocate cache also reads the output lines: not counted).

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use tensorport::clear_host_cache;
use tensorport::ops::{max_pool2d, MaxPool2dArgs};
use tensorport::ops::{relu, relu_, relu_into};
use tensorport::Tensor;

/// Deterministic values in [-1, 1).
fn data(n: usize) -> Vec<f32> {
    (0..n)
        .map(|i| {
            ((i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 41) as f32 / (1u64 << 22) as f32
                - 1.0
        })
        .collect()
}

fn napkin(what: &str, bytes: usize, secs: f64) {
    println!(
        "{what}: {:.1} MB moved in {:.3} ms = {:.1} GB/s",
        bytes as f64 / 1e6,
        secs * 1e3,
        bytes as f64 / secs / 1e9
    );
}

/// Median of `reps` timed runs of `f`, for the napkin line.
fn median_secs(reps: usize, mut f: impl FnMut() -> Duration) -> f64 {
    let mut v: Vec<f64> = (0..reps).map(|_| f().as_secs_f64()).collect();
    v.sort_by(|a, b| a.total_cmp(b));
    v[reps / 2]
}

pub fn bench_pool(c: &mut Criterion) {
    let cases: [(&str, [usize; 4], MaxPool2dArgs); 4] = [
        ("64x64x112x112", [64, 64, 112, 112], MaxPool2dArgs::new(2)),
        (
            "64x64x112x112_k3s2p1",
            [64, 64, 112, 112],
            MaxPool2dArgs {
                stride: Some([2, 2]),
                padding: [1, 1],
                ..MaxPool2dArgs::new(3)
            },
        ),
        ("1x6x28x28", [1, 6, 28, 28], MaxPool2dArgs::new(2)),
        ("1x16x10x10", [1, 16, 10, 10], MaxPool2dArgs::new(2)),
    ];
    for (name, shape, args) in cases {
        let x = Tensor::from_vec(data(shape.iter().product()), &shape).expect("input");
        let out_numel: usize = max_pool2d(&x, &args).expect("pool").numel();
        let bytes = (x.numel() + out_numel) * 4;
        let big = x.numel() > 1 << 20;
        let mut g = c.benchmark_group(format!("max_pool2d/cpu/{name}"));
        g.throughput(Throughput::Bytes(bytes as u64));
        if big {
            g.sample_size(10).measurement_time(Duration::from_secs(4));
        }
        g.bench_function("forward", |b| {
            b.iter(|| max_pool2d(black_box(&x), &args).expect("pool"))
        });
        g.finish();
        let reps = if big { 15 } else { 2001 };
        let t = median_secs(reps, || {
            let s = Instant::now();
            let out = max_pool2d(&x, &args).expect("pool");
            let d = s.elapsed();
            drop(out);
            d
        });
        napkin(
            &format!("max_pool2d/cpu/{name} (median of {reps})"),
            bytes,
            t,
        );
    }
}

pub fn bench_relu(c: &mut Criterion) {
    const N: usize = 64 << 20;
    let x = Tensor::from_vec(data(N), &[N]).expect("input");
    let bytes = 2 * N * 4;
    let mut g = c.benchmark_group("relu/cpu/64M");
    g.throughput(Throughput::Bytes(bytes as u64));
    g.sample_size(10).measurement_time(Duration::from_secs(4));
    // Steady state: each output is dropped before the next call, so its buffer is recycled.
    g.bench_function("out_of_place", |b| {
        b.iter(|| relu(black_box(&x)).expect("relu"))
    });
    // First call: the cache is emptied (untimed) so the output is fresh, page-faulting memory.
    g.bench_function("out_of_place_first_call", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                clear_host_cache();
                let s = Instant::now();
                let out = relu(black_box(&x)).expect("relu");
                total += s.elapsed();
                drop(out);
            }
            total
        })
    });
    let mut buf = Tensor::from_vec(data(N), &[N]).expect("buffer");
    // In place: after the first pass the data is non-negative, which costs the same to process.
    g.bench_function("in_place", |b| {
        b.iter(|| relu_(black_box(&mut buf)).expect("relu_"))
    });
    let mut out = Tensor::zeros(x.dtype(), x.shape()).expect("out");
    g.bench_function("into", |b| {
        b.iter(|| relu_into(black_box(&x), &mut out).expect("into"))
    });
    g.finish();

    let steady = median_secs(15, || {
        let s = Instant::now();
        let o = relu(&x).expect("relu");
        let d = s.elapsed();
        drop(o);
        d
    });
    napkin(
        "relu/cpu/64M out of place, steady (median of 15)",
        bytes,
        steady,
    );
    let first = median_secs(7, || {
        clear_host_cache();
        let s = Instant::now();
        let o = relu(&x).expect("relu");
        let d = s.elapsed();
        drop(o);
        d
    });
    napkin(
        "relu/cpu/64M out of place, first call (median of 7)",
        bytes,
        first,
    );
    let inplace = median_secs(15, || {
        let s = Instant::now();
        relu_(&mut buf).expect("relu_");
        s.elapsed()
    });
    napkin("relu/cpu/64M in place (median of 15)", bytes, inplace);
}
