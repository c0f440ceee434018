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

/// Reads every word of `v` once, as four sequential streams in lockstep (the prefetchers keep
/// more reads in flight that way than with one stream, as a matrix-vector product's rows do), by
/// a wrapping integer sum, which the compiler vectorises freely because it is associative:
/// memory read as fast as the hardware streams it.
fn sum_stream(v: &[f32]) -> u32 {
    let words: &[u32] = bytemuck::cast_slice(v);
    let quarter = words.len() / 4 / 16 * 16;
    let (a, rest) = words.split_at(quarter);
    let (b, rest) = rest.split_at(quarter);
    let (c, rest) = rest.split_at(quarter);
    let (d, tail) = rest.split_at(quarter);
    let mut acc = [[0u32; 16]; 4];
    for i in (0..quarter).step_by(16) {
        for (acc, s) in acc.iter_mut().zip([a, b, c, d]) {
            let s: &[u32; 16] = match s[i..i + 16].try_into() {
                Ok(s) => s,
                Err(_) => continue,
            };
            for j in 0..16 {
                acc[j] = acc[j].wrapping_add(s[j]);
            }
        }
    }
    let t = tail.iter().fold(0u32, |a, x| a.wrapping_add(*x));
    acc.iter().flatten().fold(t, |a, x| a.wrapping_add(*x))
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
    drop(x);
    // Batch-1 linear of VGG's first classifier layer: 411 MB of weights streamed once.
    let x = filled(&[1, 25088])?;
    let w = filled(&[4096, 25088])?;
    let b = filled(&[4096])?;
    out.insert(
        "linear_b1".into(),
        median_ms(10, 1.0, || linear(&x, &w, Some(&b)).map(drop))?.into(),
    );
    // The machine's streaming read bandwidth over the same bytes, on the same threads: a
    // plain sum of w, split in one contiguous piece per thread.
    let wv = w.to_vec::<f32>()?;
    let threads = tensorport::num_threads().max(1);
    let ms = median_ms(10, 1.0, || {
        let per = wv.len().div_ceil(threads);
        let total: u32 = std::thread::scope(|s| {
            let hs: Vec<_> = wv
                .chunks(per)
                .map(|c| s.spawn(move || sum_stream(c)))
                .collect();
            hs.into_iter()
                .map(|h| h.join().unwrap_or(0))
                .fold(0, u32::wrapping_add)
        });
        std::hint::black_box(total);
        Ok(())
    })?;
    out.insert("stream_read_ms".into(), ms.into());
    out.insert(
        "stream_read_gbs".into(),
        ((wv.len() * 4) as f64 / ms / 1e6).into(),
    );
    println!("{}", serde_json::Value::Object(out));
    Ok(())
}
