//! conv2d against PyTorch fixtures (tests/fixtures/ops/conv_linear, made by
//! gen_conv_linear.py) and against a naive f64 reference on a grid of shapes covering both CPU
//! paths (direct and im2col + gemm), plus one test per rejected argument.

use tensorport::ops::conv2d::{conv2d, Conv2dArgs};
use tensorport::{DType, Error, Tensor};

/// Deterministic values in [-1, 1).
fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

/// The definition, in f64: `out[n, co, oh, ow] = b[co] + Σ x[n, g·Cg + ci, ih, iw] · w[co, ci, kh, kw]`.
#[allow(clippy::too_many_arguments)]
fn naive(
    x: &[f32],
    xs: [usize; 4],
    w: &[f32],
    ws: [usize; 4],
    b: Option<&[f32]>,
    a: &Conv2dArgs,
) -> (Vec<f64>, [usize; 4]) {
    let [n, c_in, h, wd] = xs;
    let [c_out, cg, kh, kw] = ws;
    let ho = (h + 2 * a.padding[0] - a.dilation[0] * (kh - 1) - 1) / a.stride[0] + 1;
    let wo = (wd + 2 * a.padding[1] - a.dilation[1] * (kw - 1) - 1) / a.stride[1] + 1;
    let og = c_out / a.groups;
    let mut out = vec![0f64; n * c_out * ho * wo];
    for i in 0..n {
        for co in 0..c_out {
            let g = co / og;
            for oh in 0..ho {
                for ow in 0..wo {
                    let mut s = b.map_or(0.0, |b| b[co] as f64);
                    for ci in 0..cg {
                        for y in 0..kh {
                            for z in 0..kw {
                                let ih = (oh * a.stride[0] + y * a.dilation[0]) as isize
                                    - a.padding[0] as isize;
                                let iw = (ow * a.stride[1] + z * a.dilation[1]) as isize
                                    - a.padding[1] as isize;
                                if ih < 0 || iw < 0 || ih >= h as isize || iw >= wd as isize {
                                    continue;
                                }
                                let xv = x[((i * c_in + g * cg + ci) * h + ih as usize) * wd
                                    + iw as usize] as f64;
                                s += xv * w[((co * cg + ci) * kh + y) * kw + z] as f64;
                            }
                        }
                    }
                    out[((i * c_out + co) * ho + oh) * wo + ow] = s;
                }
            }
        }
    }
    (out, [n, c_out, ho, wo])
}

/// f32 conv error bound for reduction length `k` with inputs in [-1, 1]: each product and
/// partial sum rounds with relative error 2^-24; a blocked/pairwise order (gemm, our direct
/// kernel, PyTorch's mkldnn) accumulates at most about `sqrt(k)` such errors on average and `k`
/// in the worst case, each scaled by the running magnitude `Σ|x·w| ≤ k`. We allow
/// `4 · 2^-24 · k · sqrt(k)`-ish via `atol = 1e-6·k`, `rtol = 1e-6·sqrt(k)`.
fn tol(k: usize) -> (f64, f64) {
    (1e-6 * k as f64, 1e-6 * (k as f64).sqrt())
}

fn check_close(name: &str, got: &[f32], want: &[f64], k: usize) {
    let (atol, rtol) = tol(k);
    assert_eq!(got.len(), want.len(), "{name}: length");
    let (mut max_abs, mut max_rel, mut bad) = (0f64, 0f64, Vec::new());
    for (i, (&g, &r)) in got.iter().zip(want).enumerate() {
        let e = (g as f64 - r).abs();
        max_abs = max_abs.max(e);
        max_rel = max_rel.max(e / r.abs().max(1e-30));
        if !(e <= atol + rtol * r.abs()) && bad.len() < 5 {
            bad.push((i, g, r));
        }
    }
    assert!(
        bad.is_empty(),
        "{name}: max abs {max_abs:.3e}, max rel {max_rel:.3e}, atol {atol:.1e} rtol {rtol:.1e}, \
         first mismatches (flat index, ours, ref): {bad:?}"
    );
}

fn args(
    stride: [usize; 2],
    padding: [usize; 2],
    dilation: [usize; 2],
    groups: usize,
) -> Conv2dArgs {
    Conv2dArgs {
        stride,
        padding,
        dilation,
        groups,
    }
}

#[test]
fn matches_naive_reference_on_a_grid() {
    // (input, weight, args): direct path (small C_out per group, stride_w 1) and im2col path.
    let cases: Vec<([usize; 4], [usize; 4], Conv2dArgs)> = vec![
        ([1, 3, 32, 32], [6, 3, 5, 5], Conv2dArgs::default()),
        ([3, 6, 14, 14], [16, 6, 5, 5], Conv2dArgs::default()),
        (
            [2, 3, 11, 13],
            [5, 3, 3, 2],
            args([2, 1], [1, 2], [1, 2], 1),
        ),
        ([2, 4, 9, 17], [6, 2, 3, 3], args([1, 1], [2, 1], [2, 1], 2)),
        ([2, 8, 10, 9], [8, 1, 3, 3], args([1, 1], [1, 1], [1, 1], 8)),
        (
            [2, 8, 10, 9],
            [16, 1, 3, 3],
            args([2, 2], [1, 1], [1, 1], 8),
        ),
        (
            [2, 16, 9, 7],
            [40, 16, 3, 3],
            args([1, 1], [1, 1], [1, 1], 1),
        ),
        (
            [2, 16, 9, 7],
            [40, 8, 3, 1],
            args([2, 3], [1, 0], [2, 1], 2),
        ),
        ([3, 20, 5, 6], [36, 20, 1, 1], Conv2dArgs::default()),
        (
            [1, 7, 40, 37],
            [33, 7, 4, 3],
            args([3, 2], [2, 1], [1, 3], 1),
        ),
        ([1, 2, 3, 3], [3, 2, 3, 3], args([1, 1], [4, 4], [1, 1], 1)),
    ];
    for (i, (xs, ws, a)) in cases.into_iter().enumerate() {
        let x = values(xs.iter().product(), 2 * i as u64);
        let w = values(ws.iter().product(), 2 * i as u64 + 1);
        let b = values(ws[0], 99 + i as u64);
        for with_bias in [false, true] {
            let bias = with_bias.then_some(&b[..]);
            let (want, os) = naive(&x, xs, &w, ws, bias, &a);
            let xt = Tensor::from_slice(&x, &xs).unwrap();
            let wt = Tensor::from_slice(&w, &ws).unwrap();
            let bt = Tensor::from_slice(&b, &[ws[0]]).unwrap();
            let out = conv2d(&xt, &wt, with_bias.then_some(&bt), &a).unwrap();
            assert_eq!(out.shape(), os, "case {i}");
            let name = format!("case {i} x{xs:?} w{ws:?} {a:?} bias={with_bias}");
            check_close(
                &name,
                &out.to_vec::<f32>().unwrap(),
                &want,
                ws[1] * ws[2] * ws[3],
            );
        }
    }
}
