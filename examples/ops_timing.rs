//! Times tensorport's CPU ops and the recipe's Net and prints medians (ms) as JSON, for
//! `scripts/bench_ops_vs_torch.py`, which times PyTorch on the same shapes in the same run.
//!
//! `cargo run --release --example ops_timing`

use std::time::Instant;

use tensorport::nn::{Module, Net};
use tensorport::ops::linear;
use tensorport::ops::relu;
use tensorport::ops::{conv2d, Conv2dArgs};
use tensorport::ops::{max_pool2d, MaxPool2dArgs};
use tensorport::{Result, Tensor};

fn median_ms(min_runs: usize, min_secs: f64, mut f: impl FnMut() -> Result<()>) -> Result<f64> {
    f()?; // warm caches, thread pool and the output-buffer cache
    let mut t = Vec::new();
    let start = Instant::now();
    while t.len() < min_runs || start.elapsed().as_secs_f64() < min_secs {
        let s = Instant::now();
        f()?;
        t.push(s.elapsed().as_secs_f64() * 1e3);
        if t.len() >= 100_000 {
            break;
        }
    }
    t.sort_by(|a, b| a.total_cmp(b));
    Ok(t[t.len() / 2])
}

fn filled(shape: &[usize]) -> Result<Tensor> {
    let n: usize = shape.iter().product();
    let v: Vec<f32> = (0..n)
        .map(|i| ((i * 2_654_435_761) % 1000) as f32 / 500.0 - 1.0)
        .collect();
    Tensor::from_vec(v, shape)
}

fn main() -> Result<()> {
    let net = Net::new(0)?;
    let mut out = serde_json::Map::new();
    for batch in [1usize, 64, 1024] {
        let x = filled(&[batch, 3, 32, 32])?;
        let runs = if batch == 1024 { 10 } else { 50 };
        let ms = median_ms(runs, 1.0, || net.forward(&x).map(drop))?;
        out.insert(format!("net_b{batch}"), ms.into());
    }
    let x = filled(&[64, 3, 32, 32])?;
    let w = filled(&[6, 3, 5, 5])?;
    let b = filled(&[6])?;
    let args = Conv2dArgs::default();
    out.insert(
        "conv_small".into(),
        median_ms(20, 1.0, || conv2d(&x, &w, Some(&b), &args).map(drop))?.into(),
    );
    let x = filled(&[8, 64, 56, 56])?;
    let w = filled(&[64, 64, 3, 3])?;
    let b = filled(&[64])?;
    let args = Conv2dArgs {
        padding: [1, 1],
        ..Conv2dArgs::default()
    };
    out.insert(
        "conv_large".into(),
        median_ms(10, 1.0, || conv2d(&x, &w, Some(&b), &args).map(drop))?.into(),
    );
    let x = filled(&[1024, 4096])?;
    let w = filled(&[4096, 4096])?;
    let b = filled(&[4096])?;
    out.insert(
        "linear".into(),
        median_ms(5, 1.0, || linear(&x, &w, Some(&b)).map(drop))?.into(),
    );
    let x = filled(&[64, 64, 112, 112])?;
    out.insert(
        "max_pool".into(),
        median_ms(10, 1.0, || max_pool2d(&x, &MaxPool2dArgs::new(2)).map(drop))?.into(),
    );
    let x = filled(&[64 << 20])?;
    out.insert(
        "relu".into(),
        median_ms(10, 1.0, || relu(&x).map(drop))?.into(),
    );
    println!("{}", serde_json::Value::Object(out));
    Ok(())
}
