//! Times tensorport's checkpoint operations on given files and prints medians as JSON, for
//! `scripts/bench_checkpoint_vs_torch.py`, which times torch on the same files in the same run.
//!
//! `cargo run --release --example checkpoint_timing -- NET.pt BIG.pt MANY.pt OUT_DIR`

use std::path::Path;
use std::time::Instant;

use tensorport::{load, save, Checkpoint, Device, MapLocation};

fn median_ms(runs: usize, mut f: impl FnMut()) -> f64 {
    let mut t: Vec<f64> = (0..runs)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    t.sort_by(|a, b| a.total_cmp(b));
    t[t.len() / 2]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [net, big, many, out_dir] = args.as_slice() else {
        return Err("usage: checkpoint_timing NET.pt BIG.pt MANY.pt OUT_DIR".into());
    };
    let cpu = MapLocation::To(Device::Cpu);
    // Warm the page cache and the allocator once, as the torch side does.
    for p in [net, big, many] {
        load(p, &cpu)?;
    }
    let r = |f: &str| -> Result<(), tensorport::Error> { load(f, &cpu).map(|_| ()) };
    let net_load = median_ms(200, || r(net).expect("net"));
    let big_open = median_ms(50, || {
        Checkpoint::open(big).expect("open");
    });
    let big_load = median_ms(7, || r(big).expect("big"));
    let many_open = median_ms(20, || {
        Checkpoint::open(many).expect("open");
    });
    let many_load = median_ms(7, || r(many).expect("many"));
    let big_value = load(big, &cpu)?.into_value();
    // Owned copies, so saving reads memory as torch.save does rather than the mapped input.
    let sd = tensorport::StateDict::find(&big_value)?;
    let mut owned = tensorport::StateDict::new();
    for (k, t) in sd.iter() {
        owned.insert(
            k,
            tensorport::Tensor::from_raw_bytes(t.dtype(), t.shape(), &t.contiguous_bytes()?)?,
        );
    }
    let owned = owned.to_value();
    let target = Path::new(out_dir).join("tensorport_save.pt");
    let save_ms = median_ms(5, || save(&owned, &target).expect("save"));
    let _ = std::fs::remove_file(&target);
    println!(
        "{}",
        serde_json::json!({
            "net_load_ms": net_load, "big_open_ms": big_open, "big_load_ms": big_load,
            "many_open_ms": many_open, "many_load_ms": many_load, "save_1gb_fsync_ms": save_ms,
        })
    );
    Ok(())
}
