//! Times `torch.export` programs on the CPU and prints medians as JSON, for
//! `scripts/bench_models_vs_torch.py`, which times torch eager on the same inputs in the same
//! run.
//!
//! `cargo run --release --example model_timing -- OUT.json MODEL.pt2 [MODEL.pt2 ...]`
//! Each model is loaded 5 times (median load time) and run at batch 1 and 8 on its sample
//! input's image size (the first row of the sample input, repeated).

use std::time::Instant;

use tensorport::{Device, MapLocation, Program, Tensor};

fn median(mut t: Vec<f64>) -> f64 {
    t.sort_by(|a, b| a.total_cmp(b));
    t[t.len() / 2]
}

fn batch(x: &Tensor, n: usize) -> tensorport::Result<Tensor> {
    let v = x.contiguous()?.to_vec::<f32>()?;
    let row = v.len() / x.shape()[0].max(1);
    let mut shape = x.shape().to_vec();
    shape[0] = n;
    Tensor::from_vec(v[..row].repeat(n), &shape)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (out, models) = args
        .split_first()
        .ok_or("usage: model_timing OUT.json MODEL.pt2...")?;
    let cpu = MapLocation::To(Device::Cpu);
    let mut rows = Vec::new();
    for m in models {
        let loads: Vec<f64> = (0..5)
            .map(|_| {
                let s = Instant::now();
                let p = Program::load(m, &cpu);
                (s.elapsed().as_secs_f64() * 1e3, p.is_ok())
            })
            .map(|(t, ok)| if ok { t } else { f64::NAN })
            .collect();
        let p = Program::load(m, &cpu)?;
        let x = p
            .sample_inputs()
            .and_then(|s| s.first())
            .ok_or("no sample input")?
            .clone();
        let mut fwd = Vec::new();
        for n in [1usize, 8] {
            let xb = batch(&x, n)?;
            p.run(std::slice::from_ref(&xb))?; // warm-up
            let runs = if n == 1 { 20 } else { 7 };
            let t: Vec<f64> = (0..runs)
                .map(|_| {
                    let s = Instant::now();
                    let _ = p.run(std::slice::from_ref(&xb));
                    s.elapsed().as_secs_f64() * 1e3
                })
                .collect();
            fwd.push(median(t));
        }
        rows.push(format!(
            "{{\"model\": {:?}, \"load_ms\": {:.3}, \"b1_ms\": {:.3}, \"b8_ms\": {:.3}}}",
            m,
            median(loads),
            fwd[0],
            fwd[1]
        ));
        eprintln!("{}", rows.last().map(String::as_str).unwrap_or(""));
    }
    std::fs::write(out, format!("[{}]\n", rows.join(",\n")))?;
    Ok(())
}
