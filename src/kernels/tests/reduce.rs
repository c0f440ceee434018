//! softmax/log_softmax, mean, layer_norm and fill through the emulator against the CPU ops.
//! softmax, log_softmax and mean sum in the CPU op's order with the same libm (glibc's expf and
//! logf under g++, as Rust's f32::exp/ln on Linux), so they match bit for bit (NaN as NaN).
//! layer_norm's CPU op sums in 16 lanes and the kernel serially: within the bound derived in
//! tests/ops_reduce_norm.rs, which we restate per row here as `8·(n + 2)·ε` relative to
//! `|x − μ|·rstd·|w| + |b|` plus the mean's error.

use super::closeness::{assert_close, Tol};
use super::rng::Rng;
use super::{run, EmuArg};
use crate::kernels::{
    FillB4, FillParams, LayerNormF32, LayerNormParams, MeanF32, MeanParams, SoftmaxF32,
    SoftmaxParams,
};
use crate::ops::{layer_norm, log_softmax, mean_dim, softmax};
use crate::tensor::Tensor;

const GRIDS: [Option<[u32; 3]>; 2] = [None, Some([2, 1, 1])];

#[test]
fn softmaxes_and_mean_match_cpu() {
    let mut rng = Rng::new(31);
    for (outer, dim, inner) in [
        (3usize, 10usize, 1usize),
        (2, 37, 1),
        (4, 5, 3),
        (1, 1000, 1),
        (2, 1, 4),
    ] {
        let shape = [outer, dim, inner];
        let x: Vec<f32> = rng
            .vec_with_specials(outer * dim * inner, 40)
            .iter()
            .map(|v| v * 8.0)
            .collect();
        let xt = Tensor::from_slice(&x, &shape).unwrap();
        for log in [false, true] {
            let want = if log {
                log_softmax(&xt, 1)
            } else {
                softmax(&xt, 1)
            };
            let want = want.unwrap().to_vec::<f32>().unwrap();
            let p = SoftmaxParams {
                outer: outer as i64,
                dim: dim as i64,
                inner: inner as i64,
                log: i64::from(log),
            };
            for grid in GRIDS {
                let mut y = vec![f32::from_bits(0x7fc0_dead); x.len()];
                run::<SoftmaxF32>(&p, grid, &mut [EmuArg::In(&x), EmuArg::Out(&mut y)]).unwrap();
                assert_close(
                    &format!("softmax log={log} {shape:?}"),
                    &y,
                    &want,
                    Tol::Exact,
                );
            }
        }
        if inner == 1 {
            let want = mean_dim(&xt, &[1, 2], false)
                .unwrap()
                .to_vec::<f32>()
                .unwrap();
            let p = MeanParams {
                rows: outer as i64,
                len: dim as i64,
            };
            let mut y = vec![0.0f32; outer];
            run::<MeanF32>(&p, None, &mut [EmuArg::In(&x), EmuArg::Out(&mut y)]).unwrap();
            // The kernel sums serially, the CPU in 16 lanes: the mean bound of
            // tests/ops_reduce_norm.rs, 2(n − 1)ε·mean|x| + 3ε|mean|.
            let tol: Vec<f64> = x
                .chunks(dim)
                .zip(&want)
                .map(|(r, w)| {
                    let abs = r.iter().map(|v| f64::from(v.abs())).sum::<f64>() / dim as f64;
                    let e = f64::from(f32::EPSILON);
                    2.0 * (dim as f64 - 1.0) * e * abs + 3.0 * e * f64::from(w.abs())
                })
                .collect();
            assert_close(&format!("mean {shape:?}"), &y, &want, Tol::Each(&tol));
        }
    }
}

#[test]
fn layer_norm_and_fill_match_cpu() {
    let mut rng = Rng::new(32);
    let (rows, len) = (5usize, 48usize);
    let x = rng.vec(rows * len);
    let (w, b) = (rng.vec(len), rng.vec(len));
    let t = |d: &[f32], s: &[usize]| Tensor::from_slice(d, s).unwrap();
    let want = layer_norm(
        &t(&x, &[rows, len]),
        &[len],
        Some(&t(&w, &[len])),
        Some(&t(&b, &[len])),
        1e-5,
    )
    .unwrap()
    .to_vec::<f32>()
    .unwrap();
    let p = LayerNormParams {
        rows: rows as i64,
        len: len as i64,
        has_weight: 1,
        has_bias: 1,
        eps_bits: 1e-5f64.to_bits() as i64,
    };
    let mut y = vec![0.0f32; rows * len];
    run::<LayerNormF32>(
        &p,
        Some([1, 1, 1]),
        &mut [
            EmuArg::In(&x),
            EmuArg::In(&w),
            EmuArg::In(&b),
            EmuArg::Out(&mut y),
        ],
    )
    .unwrap();
    // Inputs in [-1, 1): |x − μ|·rstd ≲ 4 and |w|, |b| < 1; 8(n + 2)ε of that, plus as much
    // again for the means, is 1e-3 at n = 48 (worst case; typical errors are ~1e-7).
    let e = f64::from(f32::EPSILON);
    let bound = 2.0 * 8.0 * (len as f64 + 2.0) * e * 5.0;
    assert_close(
        "layer_norm",
        &y,
        &want,
        Tol::AbsRel {
            atol: bound,
            rtol: 0.0,
        },
    );
    let p = FillParams {
        n: 7,
        value_bits: i64::from(1.5f32.to_bits()),
    };
    let mut y = vec![0.0f32; 7];
    run::<FillB4>(&p, GRIDS[1], &mut [EmuArg::Out(&mut y)]).unwrap();
    assert_eq!(y, vec![1.5f32; 7]);
}

/// argmax through the emulator against the CPU op: indices are exact (the first maximum, the
/// first NaN when there is one), lines along the middle axis of `[outer, dim, inner]`.
#[test]
fn argmax_matches_cpu() {
    use crate::kernels::ArgmaxF32;
    use crate::ops::argmax;
    let mut rng = Rng::new(32);
    for (outer, dim, inner) in [
        (3usize, 10usize, 1usize),
        (2, 37, 1),
        (4, 5, 3),
        (1, 1000, 1),
        (2, 1, 4),
    ] {
        let shape = [outer, dim, inner];
        let mut x: Vec<f32> = rng.vec_with_specials(outer * dim * inner, 40);
        // Ties: the first of equal maxima wins.
        if x.len() > 6 {
            x[5] = 1e30;
            x[6] = 1e30;
        }
        let want = argmax(&Tensor::from_slice(&x, &shape).unwrap(), 1)
            .unwrap()
            .to_vec::<i64>()
            .unwrap();
        let p = SoftmaxParams {
            outer: outer as i64,
            dim: dim as i64,
            inner: inner as i64,
            log: 0,
        };
        for grid in GRIDS {
            let mut y = vec![-1i64; outer * inner];
            let bytes: &mut [u8] = bytemuck::cast_slice_mut(&mut y);
            run::<ArgmaxF32>(&p, grid, &mut [EmuArg::In(&x), EmuArg::OutRaw(bytes)]).unwrap();
            assert_eq!(y, want, "argmax {shape:?} grid {grid:?}");
        }
    }
}
