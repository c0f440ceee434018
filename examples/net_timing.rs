//! Times the recipe's Net and its layers (median µs over repeated short runs), for A/B
//! comparisons on a busy machine: `cargo run --release --example net_timing`.

use std::time::Instant;

use tensorport::nn::{Module, Net};
use tensorport::ops::max_pool2d;
use tensorport::{Result, Tensor};

fn median_us(runs: usize, mut f: impl FnMut() -> Result<()>) -> Result<f64> {
    f()?;
    let mut t = Vec::with_capacity(runs);
    for _ in 0..runs {
        let s = Instant::now();
        f()?;
        t.push(s.elapsed().as_secs_f64() * 1e6);
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
    for batch in [1usize, 64, 1024] {
        let runs = match batch {
            1 => 20_000,
            64 => 1000,
            _ => 60,
        };
        let x = filled(&[batch, 3, 32, 32])?;
        let total = median_us(runs, || net.forward(&x).map(drop))?;
        let y1 = net.conv1.forward(&x)?;
        let c1 = median_us(runs, || net.conv1.forward(&x).map(drop))?;
        let p1 = median_us(runs, || max_pool2d(&y1, &net.pool.args).map(drop))?;
        let x2 = max_pool2d(&y1, &net.pool.args)?;
        let c2 = median_us(runs, || net.conv2.forward(&x2).map(drop))?;
        println!("b{batch}: net {total:.1} µs, conv1 {c1:.1}, pool1 {p1:.1}, conv2 {c2:.1}");
    }
    Ok(())
}
