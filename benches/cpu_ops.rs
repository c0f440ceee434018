//! Criterion benchmarks of the CPU path, groups named `<op>/cpu/<shape>`: conv2d and linear
//! (FLOP throughput, with a GFLOP/s summary), max_pool2d and relu (byte throughput), and the
//! recipe's Net forward at batch 1, 64 and 1024.
//!
//! `cargo bench --bench cpu_ops`; `scripts/bench_ops_vs_torch.py` times PyTorch beside us.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tensorport::nn::{Module, Net};
use tensorport::Tensor;

#[path = "cpu_ops/conv_linear.rs"]
mod conv_linear;
#[path = "cpu_ops/pool_relu.rs"]
mod pool_relu;

/// The Net forward; throughput in images.
fn net(c: &mut Criterion) {
    let net = Net::new(0).expect("net");
    for batch in [1usize, 64, 1024] {
        let n = batch * 3 * 32 * 32;
        let v: Vec<f32> = (0..n).map(|i| (i % 251) as f32 / 125.0 - 1.0).collect();
        let x = Tensor::from_vec(v, &[batch, 3, 32, 32]).expect("input");
        let mut g = c.benchmark_group(format!("net/cpu/b{batch}"));
        g.throughput(Throughput::Elements(batch as u64));
        g.bench_function("forward", |b| {
            b.iter(|| std::hint::black_box(net.forward(&x).expect("forward")))
        });
        g.finish();
    }
}

criterion_group!(
    benches,
    net,
    conv_linear::bench,
    pool_relu::bench_pool,
    pool_relu::bench_relu
);
criterion_main!(benches);
