//! Times single convolution layers of real CNNs on the CPU (median and minimum of 30 runs, and
//! GFLOP/s of the direct convolution's multiply-adds at the minimum), for comparing kernels.
//!
//! `cargo run --release --example conv_layers [NAME-FILTER]`
use std::time::Instant;
use tensorport::ops::{conv2d, Conv2dArgs};
use tensorport::Tensor;

fn main() -> tensorport::Result<()> {
    // (name, input, weight, stride, padding, groups)
    type Case = (&'static str, [usize; 4], [usize; 4], usize, usize, usize);
    let cases: &[Case] = &[
        ("pw 16->96 112", [1, 16, 112, 112], [96, 16, 1, 1], 1, 0, 1),
        ("pw 32->16 112", [1, 32, 112, 112], [16, 32, 1, 1], 1, 0, 1),
        ("pw 960->320 7", [1, 960, 7, 7], [320, 960, 1, 1], 1, 0, 1),
        ("dw 96 112", [1, 96, 112, 112], [96, 1, 3, 3], 1, 1, 96),
        ("3x3 s2 3->32 224", [1, 3, 224, 224], [32, 3, 3, 3], 2, 1, 1),
        ("7x7 s2 3->64 224", [1, 3, 224, 224], [64, 3, 7, 7], 2, 3, 1),
        ("3x3 64 56", [1, 64, 56, 56], [64, 64, 3, 3], 1, 1, 1),
        ("3x3 128 28", [1, 128, 28, 28], [128, 128, 3, 3], 1, 1, 1),
        ("3x3 256 14", [1, 256, 14, 14], [256, 256, 3, 3], 1, 1, 1),
        ("3x3 512 7", [1, 512, 7, 7], [512, 512, 3, 3], 1, 1, 1),
        ("3x3 64 56 N8", [8, 64, 56, 56], [64, 64, 3, 3], 1, 1, 1),
    ];
    let filter = std::env::args().nth(1).unwrap_or_default();
    for (name, xs, ws, s, p, g) in cases {
        if !name.contains(filter.as_str()) {
            continue;
        }
        let x = Tensor::from_vec(vec![0.5f32; xs.iter().product()], xs)?;
        let w = Tensor::from_vec(vec![0.01f32; ws.iter().product()], ws)?;
        let b = Tensor::from_vec(vec![0.1f32; ws[0]], &[ws[0]])?;
        let a = Conv2dArgs {
            stride: [*s, *s],
            padding: [*p, *p],
            dilation: [1, 1],
            groups: *g,
        };
        conv2d(&x, &w, Some(&b), &a)?;
        let mut t: Vec<f64> = (0..30)
            .map(|_| {
                let st = Instant::now();
                let _ = conv2d(&x, &w, Some(&b), &a);
                st.elapsed().as_secs_f64() * 1e3
            })
            .collect();
        t.sort_by(|a, b| a.total_cmp(b));
        let y = conv2d(&x, &w, Some(&b), &a)?;
        let flops = 2.0 * y.numel() as f64 * (ws[1] * ws[2] * ws[3]) as f64;
        println!(
            "{name:20} med {:8.3} ms min {:8.3} ms  {:6.1} GFLOP/s(min)",
            t[15],
            t[0],
            flops / t[0] / 1e6
        );
    }
    Ok(())
}
