//! Where a `torch.export` program's CPU time goes: runs it warm and prints, per ATen target and
//! per node, the median time of each node over the runs, largest first.
//!
//! `cargo run --release --example model_profile -- MODEL.pt2 [BATCH] [RUNS] [TOP]`

use std::collections::BTreeMap;

use tensorport::{Device, MapLocation, Program, Tensor};

fn median(mut t: Vec<f64>) -> f64 {
    t.sort_by(|a, b| a.total_cmp(b));
    t[t.len() / 2]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let model = args
        .first()
        .ok_or("usage: model_profile MODEL.pt2 [BATCH] [RUNS] [TOP]")?;
    let n: usize = args.get(1).map_or(Ok(1), |s| s.parse())?;
    let runs: usize = args.get(2).map_or(Ok(10), |s| s.parse())?;
    let top: usize = args.get(3).map_or(Ok(25), |s| s.parse())?;
    let p = Program::load(model, &MapLocation::To(Device::Cpu))?;
    let x = p
        .sample_inputs()
        .and_then(|s| s.first())
        .ok_or("no sample input")?
        .clone();
    let v = x.contiguous()?.to_vec::<f32>()?;
    let row = v.len() / x.shape()[0].max(1);
    let mut shape = x.shape().to_vec();
    shape[0] = n;
    let xb = Tensor::from_vec(v[..row].repeat(n), &shape)?;
    p.run(std::slice::from_ref(&xb))?;
    let mut per_node: Vec<Vec<f64>> = Vec::new();
    let mut meta = Vec::new();
    for r in 0..runs {
        let (_, times) = p.run_profiled(std::slice::from_ref(&xb))?;
        if r == 0 {
            per_node = vec![Vec::new(); times.len()];
            meta = times.clone();
        }
        for (acc, t) in per_node.iter_mut().zip(&times) {
            acc.push(t.seconds * 1e3);
        }
    }
    let med: Vec<f64> = per_node.into_iter().map(median).collect();
    let total: f64 = med.iter().sum();
    let mut by_target: BTreeMap<&str, (f64, usize)> = BTreeMap::new();
    for (m, t) in med.iter().zip(&meta) {
        let e = by_target.entry(&t.target).or_default();
        e.0 += m;
        e.1 += 1;
    }
    let mut targets: Vec<_> = by_target.into_iter().collect();
    targets.sort_by(|a, b| b.1 .0.total_cmp(&a.1 .0));
    println!("{model} batch {n}: {total:.2} ms summed over nodes (medians of {runs} runs)");
    for (t, (ms, count)) in targets {
        println!("  {ms:8.2} ms {:5.1}%  {count:4}x {t}", 100.0 * ms / total);
    }
    let mut order: Vec<usize> = (0..med.len()).collect();
    order.sort_by(|&a, &b| med[b].total_cmp(&med[a]));
    println!("top nodes:");
    for &i in order.iter().take(top) {
        let t = &meta[i];
        println!("  {:8.3} ms  {} {} {}", med[i], t.node, t.target, t.shapes);
    }
    Ok(())
}
