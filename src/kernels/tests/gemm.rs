//! linear_f32 through the emulator (and the reference and tolerance `conv.rs` and
//! `gemm_tiled.rs` share), against the CPU ops (`ops::linear::{linear, linear_relu}`) and a naive f64
//! reference. The reference stays because it also gives each output's magnitude Σ|x·w| + |b|,
//! which the tolerance below needs, and because it is independent of both implementations.
//!
//! Tolerance. Each output is a sum of K products (K = C_in/groups · KH · KW for conv2d, K for
//! linear) plus a bias, and the kernel, the CPU op (blocked / SIMD / im2col order) and the f64
//! reference add them in different orders. Rounding each partial sum s_i to f32 errs by at most
//! u·|s_i| (u = 2^-24) with |s_i| <= mag = Σ|x·w| + |b|, so the total error is a sum of K+1
//! terms each at most u·mag: (K+1)·u·mag in the worst case, about sqrt(K+1)·u·mag typically
//! (a random walk). The worst case is too loose to catch one missing tap at large K (a single
//! product is about mag/K), so the tolerance is TOL_SIGMAS · sqrt(K+1) · eps · mag, eps = 2u:
//! the walk's standard deviation is at most sqrt(K+1)·u/sqrt(3)·mag, so this allows about 28 of
//! them, yet it stays well below one whole product (mag/K) for every K used here (checked by
//! mutating the kernels: a wrong filter chunk fails by about 1700x the tolerance). mag comes from
//! the f64 reference.

use super::closeness::{assert_close, Tol};
use super::rng::Rng;
use super::{run, EmuArg};
use crate::kernels::{Conv2dParams, LinearF32, LinearParams};
use crate::ops::{linear, linear_relu};
use crate::tensor::Tensor;

const TOL_SIGMAS: f64 = 8.0;

pub(super) fn tolerance(k: usize, mag: &[f64]) -> Vec<f64> {
    let scale = TOL_SIGMAS * ((k + 1) as f64).sqrt() * f64::from(f32::EPSILON);
    mag.iter().map(|m| scale * m).collect()
}

/// Naive conv2d in f64: (values rounded to f32, magnitudes Σ|x·w| + |b|).
pub(super) fn conv_ref(
    p: &Conv2dParams,
    x: &[f32],
    w: &[f32],
    b: Option<&[f32]>,
) -> (Vec<f32>, Vec<f64>) {
    let [n, c_in, h, wd] = [p.n, p.c_in, p.h, p.w].map(|v| v as usize);
    let [c_out, kh, kw, ho, wo] = [p.c_out, p.kh, p.kw, p.h_out, p.w_out].map(|v| v as usize);
    let g = p.groups as usize;
    let (cg, cog) = (c_in / g, c_out / g);
    let mut val = Vec::with_capacity(n * c_out * ho * wo);
    let mut mag = Vec::with_capacity(val.capacity());
    for ni in 0..n {
        for co in 0..c_out {
            let gi = co / cog;
            for oh in 0..ho {
                for ow in 0..wo {
                    let bias = b.map_or(0.0, |b| f64::from(b[co]));
                    let (mut s, mut m) = (bias, bias.abs());
                    for ci in 0..cg {
                        for i in 0..kh {
                            for j in 0..kw {
                                let ih = (oh as i64) * p.stride_h - p.pad_h + (i as i64) * p.dil_h;
                                let iw = (ow as i64) * p.stride_w - p.pad_w + (j as i64) * p.dil_w;
                                if ih < 0 || iw < 0 || ih >= h as i64 || iw >= wd as i64 {
                                    continue;
                                }
                                let xv = x[((ni * c_in + gi * cg + ci) * h + ih as usize) * wd
                                    + iw as usize];
                                let wv = w[((co * cg + ci) * kh + i) * kw + j];
                                let t = f64::from(xv) * f64::from(wv);
                                s += t;
                                m += t.abs();
                            }
                        }
                    }
                    val.push(s as f32);
                    mag.push(m);
                }
            }
        }
    }
    (val, mag)
}

/// Naive linear in f64 (optionally relu'd): (values rounded to f32, magnitudes).
pub(super) fn linear_ref(
    p: &LinearParams,
    x: &[f32],
    w: &[f32],
    b: Option<&[f32]>,
) -> (Vec<f32>, Vec<f64>) {
    let [m, k, n] = [p.m, p.k, p.n].map(|v| v as usize);
    let mut val = Vec::with_capacity(m * n);
    let mut mag = Vec::with_capacity(m * n);
    for i in 0..m {
        for o in 0..n {
            let bias = b.map_or(0.0, |b| f64::from(b[o]));
            let (mut s, mut a) = (bias, bias.abs());
            for kk in 0..k {
                let t = f64::from(x[i * k + kk]) * f64::from(w[o * k + kk]);
                s += t;
                a += t.abs();
            }
            if p.relu != 0 && s < 0.0 {
                s = 0.0;
            }
            val.push(s as f32);
            mag.push(a);
        }
    }
    (val, mag)
}

/// The bias operand: absent when the params have none.
pub(super) fn bias_arg<'a>(has_bias: i64, b: &'a [f32]) -> EmuArg<'a> {
    if has_bias != 0 {
        EmuArg::In(b)
    } else {
        EmuArg::Absent
    }
}

fn linear_emu(
    p: &LinearParams,
    grid: Option<[u32; 3]>,
    x: &[f32],
    w: &[f32],
    b: &[f32],
) -> Vec<f32> {
    let mut y = vec![f32::NAN; (p.m * p.n) as usize];
    let mut args = [
        EmuArg::In(x),
        EmuArg::In(w),
        bias_arg(p.has_bias, b),
        EmuArg::Out(&mut y),
    ];
    run::<LinearF32>(p, grid, &mut args).unwrap();
    y
}

/// `linear` / `linear_relu` on the CPU.
pub(super) fn linear_cpu(
    m: usize,
    k: usize,
    n: usize,
    x: &[f32],
    w: &[f32],
    b: Option<&[f32]>,
    relu: bool,
) -> Vec<f32> {
    let xt = Tensor::from_vec(x.to_vec(), &[m, k]).unwrap();
    let wt = Tensor::from_vec(w.to_vec(), &[n, k]).unwrap();
    let bt = b.map(|b| Tensor::from_vec(b.to_vec(), &[n]).unwrap());
    let op = if relu { linear_relu } else { linear };
    op(&xt, &wt, bt.as_ref()).unwrap().to_vec::<f32>().unwrap()
}

#[test]
fn linear_matches_cpu_op() {
    let mut rng = Rng::new(6);
    let shapes: [(usize, usize, usize); 11] = [
        (1, 1, 1),
        (1, 3, 1),
        (2, 5, 3),
        (64, 16, 64),
        (65, 17, 63),
        (130, 33, 70),
        (3, 4099, 5),
        (7, 1000, 129),
        (5, 400, 120),
        (0, 5, 3),
        (4, 0, 3),
    ];
    for (i, &(m, k, n)) in shapes.iter().enumerate() {
        for (bias, relu) in [(true, false), (false, false), (true, true), (false, true)] {
            let p = LinearParams::new(&[m, k], &[n, k], bias.then_some(&[n][..]), relu).unwrap();
            let x = rng.vec(m * k);
            let w = rng.vec(n * k);
            let b = if bias { rng.vec(n) } else { Vec::new() };
            let (want, mag) = linear_ref(&p, &x, &w, bias.then_some(&b[..]));
            let y = linear_emu(&p, None, &x, &w, &b);
            let what = format!("linear case {i} {p:?}");
            let tol = tolerance(k, &mag);
            assert_close(
                &format!("{what} vs f64 reference"),
                &y,
                &want,
                Tol::Each(&tol),
            );
            let cpu = linear_cpu(m, k, n, &x, &w, bias.then_some(&b[..]), relu);
            assert_close(&format!("{what} vs CPU op"), &y, &cpu, Tol::Each(&tol));
            let y_small = linear_emu(&p, Some([1, 1, 1]), &x, &w, &b);
            assert_eq!(
                y, y_small,
                "{what}: grid [1, 1, 1] differs from the launch shape's"
            );
        }
    }
}

/// The prototype's benchmark shape; also exercises many full tiles.
#[test]
fn linear_256_cubed() {
    let mut rng = Rng::new(7);
    let p = LinearParams::new(&[256, 256], &[256, 256], Some(&[256]), false).unwrap();
    let (x, w, b) = (rng.vec(256 * 256), rng.vec(256 * 256), rng.vec(256));
    let (want, mag) = linear_ref(&p, &x, &w, Some(&b));
    let y = linear_emu(&p, None, &x, &w, &b);
    let tol = tolerance(256, &mag);
    assert_close("linear 256^3 vs f64 reference", &y, &want, Tol::Each(&tol));
    let cpu = linear_cpu(256, 256, 256, &x, &w, Some(&b), false);
    assert_close("linear 256^3 vs CPU op", &y, &cpu, Tol::Each(&tol));
}
