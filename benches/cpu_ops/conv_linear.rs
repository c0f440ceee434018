//! CPU conv2d and linear throughput. Groups are named `<op>/cpu/<shape>`. Criterion has no FLOP
//! unit, so `Throughput::Elements(flops)` carries FLOPs: read its "elem/s" as FLOP/s. FLOPs
//! count a multiply-add as 2: conv `2·N·C_out·H_out·W_out·(C_in/groups)·kH·kW`, linear
//! `2·M·N·K`. After criterion, each case is re-timed (median of repeated runs) and printed as
//! GFLOP/s next to PyTorch eager's figure on the same machine where we have one.

use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use tensorport::ops::linear;
use tensorport::ops::{conv2d, Conv2dArgs};
use tensorport::Tensor;

enum Case {
    Conv {
        x: [usize; 4],
        w: [usize; 4],
        pad: usize,
    },
    /// A grouped convolution (`groups` = channels: depthwise).
    Grouped {
        x: [usize; 4],
        w: [usize; 4],
        pad: usize,
        groups: usize,
    },
    Linear {
        m: usize,
        k: usize,
        n: usize,
    },
}

/// (group name, case, PyTorch eager GFLOP/s measured on this machine, if known).
fn cases() -> Vec<(&'static str, Case, Option<f64>)> {
    use Case::*;
    vec![
        (
            "conv2d/cpu/n64_c3_32x32_o6_k5",
            Conv {
                x: [64, 3, 32, 32],
                w: [6, 3, 5, 5],
                pad: 0,
            },
            Some(56.0),
        ),
        (
            "conv2d/cpu/n8_c64_56x56_o64_k3_p1",
            Conv {
                x: [8, 64, 56, 56],
                w: [64, 64, 3, 3],
                pad: 1,
            },
            Some(187.0),
        ),
        (
            "linear/cpu/m1024_k4096_n4096",
            Linear {
                m: 1024,
                k: 4096,
                n: 4096,
            },
            Some(177.0),
        ),
        // The kernels of issue 11: batch-1 linear as a matrix-vector product streaming the
        // weights (VGG's fc1, AlexNet's fc2 at batch 4), one image split across threads (a
        // ResNet-18 stage-3 3×3 and a 1×1), and MobileNetV2's first depthwise convolution.
        (
            "linear/cpu/m1_k25088_n4096",
            Linear {
                m: 1,
                k: 25088,
                n: 4096,
            },
            None,
        ),
        (
            "linear/cpu/m4_k4096_n4096",
            Linear {
                m: 4,
                k: 4096,
                n: 4096,
            },
            None,
        ),
        (
            "conv2d/cpu/n1_c256_14x14_o256_k3_p1",
            Conv {
                x: [1, 256, 14, 14],
                w: [256, 256, 3, 3],
                pad: 1,
            },
            None,
        ),
        (
            "conv2d/cpu/n1_c64_56x56_o256_k1",
            Conv {
                x: [1, 64, 56, 56],
                w: [256, 64, 1, 1],
                pad: 0,
            },
            None,
        ),
        (
            "conv2d/cpu/n1_c32_112x112_dw_k3_p1",
            Grouped {
                x: [1, 32, 112, 112],
                w: [32, 1, 3, 3],
                pad: 1,
                groups: 32,
            },
            None,
        ),
        (
            "conv2d/cpu/net_conv1_n1",
            Conv {
                x: [1, 3, 32, 32],
                w: [6, 3, 5, 5],
                pad: 0,
            },
            None,
        ),
        (
            "conv2d/cpu/net_conv1_n1024",
            Conv {
                x: [1024, 3, 32, 32],
                w: [6, 3, 5, 5],
                pad: 0,
            },
            None,
        ),
        (
            "conv2d/cpu/net_conv2_n1",
            Conv {
                x: [1, 6, 14, 14],
                w: [16, 6, 5, 5],
                pad: 0,
            },
            None,
        ),
        (
            "conv2d/cpu/net_conv2_n1024",
            Conv {
                x: [1024, 6, 14, 14],
                w: [16, 6, 5, 5],
                pad: 0,
            },
            None,
        ),
        (
            "linear/cpu/net_fc1_m1",
            Linear {
                m: 1,
                k: 400,
                n: 120,
            },
            None,
        ),
        (
            "linear/cpu/net_fc1_m1024",
            Linear {
                m: 1024,
                k: 400,
                n: 120,
            },
            None,
        ),
    ]
}

fn filled(shape: &[usize]) -> Tensor {
    let n: usize = shape.iter().product();
    let v: Vec<f32> = (0..n)
        .map(|i| ((i * 7919) % 1000) as f32 / 1000.0 - 0.5)
        .collect();
    Tensor::from_vec(v, shape).expect("bench tensor")
}

/// A closure running the case once, and its FLOPs.
fn prepare(case: &Case) -> (Box<dyn Fn() -> Tensor>, u64) {
    match *case {
        Case::Conv { x, w, pad } => prepare(&Case::Grouped {
            x,
            w,
            pad,
            groups: 1,
        }),
        Case::Grouped { x, w, pad, groups } => {
            let (xt, wt, bt) = (filled(&x), filled(&w), filled(&[w[0]]));
            let args = Conv2dArgs {
                padding: [pad, pad],
                groups,
                ..Conv2dArgs::default()
            };
            let ho = x[2] + 2 * pad - w[2] + 1;
            let wo = x[3] + 2 * pad - w[3] + 1;
            let flops = 2 * x[0] * w[0] * ho * wo * w[1] * w[2] * w[3];
            let f = move || conv2d(&xt, &wt, Some(&bt), &args).expect("conv2d");
            (Box::new(f), flops as u64)
        }
        Case::Linear { m, k, n } => {
            let (xt, wt, bt) = (filled(&[m, k]), filled(&[n, k]), filled(&[n]));
            let f = move || linear(&xt, &wt, Some(&bt)).expect("linear");
            (Box::new(f), (2 * m * n * k) as u64)
        }
    }
}

pub fn bench(c: &mut Criterion) {
    for (name, case, _) in cases() {
        let (run, flops) = prepare(&case);
        let mut g = c.benchmark_group(name);
        g.throughput(Throughput::Elements(flops)); // FLOPs, see the file comment
        if flops > 1_000_000_000 {
            g.sample_size(10).measurement_time(Duration::from_secs(4));
        }
        g.bench_function("f32", |b| b.iter(|| std::hint::black_box(run())));
        g.finish();
    }
    summary();
}

/// This process's user + system CPU time in seconds (all threads), from /proc/self/stat, in
/// clock ticks of 10 ms; `None` off Linux.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// The median of repeated timings for every case, as GFLOP/s. Other jobs share this machine, so
/// wall-clock GFLOP/s of threaded cases drops when they run; the summary also prints GFLOP per
/// CPU-second of our own threads (total FLOPs / CPU time), which is what each core achieved.
fn summary() {
    for (name, case, torch) in cases() {
        let (run, flops) = prepare(&case);
        let reps = (20_000_000_000 / flops.max(1)).clamp(10, 200_000) as usize;
        let cpu0 = cpu_seconds();
        let mut times: Vec<f64> = (0..reps)
            .map(|_| {
                let t = Instant::now();
                std::hint::black_box(run());
                t.elapsed().as_secs_f64()
            })
            .collect();
        let per_core = match (cpu0, cpu_seconds()) {
            (Some(a), Some(b)) if b - a >= 0.2 => {
                format!(
                    ", {:.1} GFLOP per CPU-second",
                    flops as f64 * reps as f64 / (b - a) / 1e9
                )
            }
            (a, b) => format!(", CPU time too short to count ({a:?} → {b:?} s)"),
        };
        times.sort_by(f64::total_cmp);
        let med = times[times.len() / 2];
        let gf = flops as f64 / med / 1e9;
        let vs = torch.map_or(String::new(), |t| {
            format!(" (PyTorch eager here: {t:.0} GFLOP/s)")
        });
        println!(
            "summary {name}: {:.3} ms median of {reps}, {gf:.1} GFLOP/s{per_core}{vs}",
            med * 1e3
        );
    }
}
