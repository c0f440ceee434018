//! Checkpoint read/write throughput (criterion). Groups are `<operation>/<file>`:
//! - `load/net_state_dict`: the recipe's Net state dict written by real PyTorch (fixture), loaded
//!   fully (CRCs checked) in-process;
//! - `open/1gb_4_tensors`, `load/1gb_4_tensors`: open + index (zero-copy) and fully resident load
//!   (every CRC checked, so every page is read) of a 1 GiB file of 4 tensors;
//! - `open/10k_tensors`, `load/10k_tensors`: metadata only, and full load, of 1.08 GB in 10,000 tensors;
//! - `save/1gb_fsync`: save of 1 GiB in 4 tensors, including fsync and the atomic rename.
//!
//! The large files are written once into target/bench-data by our own writer.

use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tensorport::{load, save, Checkpoint, Device, MapLocation, StateDict, Tensor};

fn data_dir() -> PathBuf {
    let d = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-data");
    std::fs::create_dir_all(&d).expect("creating target/bench-data");
    d
}

/// `n` f32 tensors of `numel` elements each, with non-trivial bytes.
fn state_dict(n: usize, numel: usize) -> StateDict {
    let mut sd = StateDict::new();
    for i in 0..n {
        let v: Vec<f32> = (0..numel).map(|j| (i * 31 + j) as f32 * 0.5).collect();
        sd.insert(
            &format!("layer{i}.weight"),
            Tensor::from_vec(v, &[numel]).expect("tensor"),
        );
    }
    sd
}

fn ensure(path: &Path, make: impl FnOnce() -> StateDict) {
    if !path.exists() {
        save(&make().to_value(), path).expect("writing bench file");
    }
}

fn bench(c: &mut Criterion) {
    let cpu = MapLocation::To(Device::Cpu);
    let net = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/net_state_dict.pt");
    if net.exists() {
        let bytes = std::fs::metadata(&net).map(|m| m.len()).unwrap_or(0);
        let mut g = c.benchmark_group("load");
        g.throughput(Throughput::Bytes(bytes));
        g.bench_function("net_state_dict", |b| {
            b.iter(|| load(&net, &cpu).expect("load"))
        });
        g.finish();
    }

    let big = data_dir().join("big_4_tensors.pt");
    ensure(&big, || state_dict(4, 1 << 26));
    let many = data_dir().join("many_10k_tensors.pt");
    ensure(&many, || state_dict(10_000, 27_000));

    for (name, path) in [("1gb_4_tensors", &big), ("10k_tensors", &many)] {
        let bytes = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        let mut g = c.benchmark_group("open");
        g.sample_size(20).measurement_time(Duration::from_secs(5));
        g.bench_function(name, |b| b.iter(|| Checkpoint::open(path).expect("open")));
        g.finish();
        let mut g = c.benchmark_group("load");
        g.sample_size(10).measurement_time(Duration::from_secs(10));
        g.throughput(Throughput::Bytes(bytes));
        g.bench_function(name, |b| b.iter(|| load(path, &cpu).expect("load")));
        g.finish();
    }

    let sd = state_dict(4, 1 << 26).to_value();
    let out = data_dir().join("save_target.pt");
    let mut g = c.benchmark_group("save");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    g.throughput(Throughput::Bytes(1 << 30));
    g.bench_function("1gb_fsync", |b| b.iter(|| save(&sd, &out).expect("save")));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
