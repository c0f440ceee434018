//! mean (aten `mean.dim`) and layer_norm against PyTorch 2.15 (fixtures from
//! `tests/fixtures/ops/gen_norm_pool.py`) on every device, and every call torch refuses.
//!
//! Tolerances (ε = the dtype's machine epsilon; n = elements reduced per output):
//! - mean: summing n terms in any order errs by at most `(n − 1)·ε·Σ|x|` (first order); torch's
//!   cascade sum and ours (16 lanes on the CPU, serial on CUDA) both do, and the division
//!   rounds once each side: `|Δ| ≤ 2(n − 1)ε·mean|x| + 2ε|mean|`, and we allow
//!   `2(n − 1)ε·mean|x| + 3ε|mean|` ([`mean_tol`]).
//! - layer_norm: `y = (x − μ)·rstd·w + b`. The mean errs by `δμ ≤ (n − 1)ε·mean|x|` per side
//!   (as above) and moves y by `|w|·rstd·δμ`; the variance (a sum of n squares, plus the
//!   squaring) errs relatively by ≤ (n + 2)ε, so rstd by ≤ (n/2 + 2)ε, moving y by
//!   `|w|·rstd·|x − μ|·(n/2 + 2)ε`; the final 4 roundings add ≤ 2ε(|y| + |b|). Torch (Welford)
//!   and we (two passes) are each within that of exact: we allow twice it ([`ln_tol`]). These
//!   are worst-case (linear in n) bounds; typical errors are far smaller.

#[macro_use]
mod common;

use std::sync::OnceLock;

use common::closeness::{assert_tensor_close, Tol};
use common::devices::{run_on, Cuda, CUDA_F32};
use common::op_fixtures::{i64s, usizes, OpFixtures};
use tensorport::ops::{layer_norm, mean_dim};
use tensorport::{DType, Device, Error, Tensor};

device_tests!(
    mean_matches_torch,
    mean_refusals,
    layer_norm_matches_torch,
    layer_norm_refusals
);

fn fx() -> &'static OpFixtures {
    static F: OnceLock<OpFixtures> = OnceLock::new();
    OpFixtures::load(&F, "norm_pool")
}

fn f64s(t: &Tensor) -> Vec<f64> {
    match t.dtype() {
        DType::F32 => t
            .to_vec::<f32>()
            .unwrap()
            .into_iter()
            .map(f64::from)
            .collect(),
        _ => t.to_vec::<f64>().unwrap(),
    }
}

fn eps_of(t: &Tensor) -> f64 {
    if t.dtype() == DType::F32 {
        f64::from(f32::EPSILON)
    } else {
        f64::EPSILON
    }
}

/// The mean bound of the module comment, per output.
fn mean_tol(x: &Tensor, dims: &[i64], keepdim: bool, want: &Tensor) -> Vec<f64> {
    let n = (x.numel() / want.numel().max(1)) as f64;
    let abs: Vec<f64> = f64s(x).iter().map(|v| v.abs()).collect();
    let abs = Tensor::from_vec(abs, x.shape()).unwrap();
    let mean_abs = f64s(&mean_dim(&abs, dims, keepdim).unwrap());
    let e = eps_of(x);
    f64s(want)
        .iter()
        .zip(mean_abs)
        .map(|(w, a)| 2.0 * (n - 1.0).max(0.0) * e * a + 3.0 * e * w.abs())
        .collect()
}

/// The layer_norm bound of the module comment, per element.
fn ln_tol(x: &Tensor, len: usize, w: Option<&Tensor>, b: Option<&Tensor>, eps: f64) -> Vec<f64> {
    let (xs, e, n) = (f64s(x), eps_of(x), len as f64);
    let (w, b) = (w.map(f64s), b.map(f64s));
    let mut tol = Vec::with_capacity(xs.len());
    for row in xs.chunks(len.max(1)) {
        let mu = row.iter().sum::<f64>() / n;
        let var = row.iter().map(|v| (v - mu) * (v - mu)).sum::<f64>() / n;
        let rstd = 1.0 / (var + eps).sqrt();
        let mean_abs = row.iter().map(|v| v.abs()).sum::<f64>() / n;
        for (j, &v) in row.iter().enumerate() {
            let wj = w.as_ref().map_or(1.0, |w| w[j]).abs();
            let bj = b.as_ref().map_or(0.0, |b| b[j]).abs();
            let y = (v - mu) * rstd * wj;
            let one = wj * rstd * ((n - 1.0) * e * mean_abs + (v - mu).abs() * (n / 2.0 + 2.0) * e)
                + 2.0 * e * (y.abs() + bj);
            tol.push(2.0 * one);
        }
    }
    tol
}

fn mean_matches_torch(dev: &Device) {
    let (mut n, mut strided) = (0, 0);
    for c in fx().cases("mean") {
        let x = fx().tensor(&c["input"]);
        let want = fx().tensor(&c["output"]);
        let dims = i64s(&c["dims"]);
        let keep = c["keepdim"].as_bool().unwrap();
        let ctx = format!("mean {} {dims:?} keepdim={keep} on {dev}", c["input"]);
        n += 1;
        strided += !x.is_contiguous() as usize;
        // Any layout on CUDA: the op gathers the reduced dims itself.
        let cuda = Cuda::AnyLayout(&[DType::F32]);
        let Some(ours) = run_on(dev, cuda, &[&x], |t| mean_dim(&t[0], &dims, keep)) else {
            continue;
        };
        let ours = ours.unwrap_or_else(|e| panic!("{ctx}: {e}"));
        let tol = mean_tol(&x, &dims, keep, &want);
        assert_tensor_close(&ctx, &ours, &want, Tol::Each(&tol));
    }
    assert!(n >= 27 && strided == 1, "{n} cases, {strided} strided");
}

fn mean_refusals(dev: &Device) {
    let x = Tensor::zeros(DType::F32, &[2, 3, 4])
        .unwrap()
        .to(dev)
        .unwrap();
    let refusals = fx().errors("mean");
    assert_eq!(refusals.len(), 4);
    for r in refusals {
        let dims = i64s(&r["args"]["dims"]);
        let e = mean_dim(&x, &dims, false).unwrap_err();
        let torch = r["torch_error"].as_str().unwrap();
        assert!(
            matches!(e, Error::InvalidArgument { .. }) && e.to_string().contains(torch),
            "{e} vs {torch}"
        );
    }
    let i = Tensor::zeros(DType::I64, &[2]).unwrap().to(dev).unwrap();
    assert!(matches!(
        mean_dim(&i, &[0], false),
        Err(Error::DType { .. })
    ));
}

fn layer_norm_matches_torch(dev: &Device) {
    let (mut n, mut affine) = (0, 0);
    for c in fx().cases("layer_norm") {
        let x = fx().tensor(&c["input"]);
        let want = fx().tensor(&c["output"]);
        let ns = usizes(&c["normalized_shape"]);
        let eps = c["eps"].as_f64().unwrap();
        let (w, b) = (fx().opt_tensor(&c["weight"]), fx().opt_tensor(&c["bias"]));
        let ctx = format!("layer_norm {} {ns:?} on {dev}", c["input"]);
        n += 1;
        affine += w.is_some() as usize;
        let mut ins = vec![&x];
        ins.extend(w.iter().chain(b.iter()));
        let (hw, hb) = (w.is_some(), b.is_some());
        let Some(ours) = run_on(dev, CUDA_F32, &ins, |t| {
            let w = hw.then(|| &t[1]);
            let b = hb.then(|| &t[1 + hw as usize]);
            layer_norm(&t[0], &ns, w, b, eps)
        }) else {
            continue;
        };
        let ours = ours.unwrap_or_else(|e| panic!("{ctx}: {e}"));
        let len = ns.iter().product();
        let tol = ln_tol(&x.contiguous().unwrap(), len, w.as_ref(), b.as_ref(), eps);
        assert_tensor_close(&ctx, &ours, &want, Tol::Each(&tol));
    }
    assert!(n >= 17 && affine >= 10, "{n} cases, {affine} affine");
}

fn layer_norm_refusals(dev: &Device) {
    let refusals = fx().errors("layer_norm");
    assert_eq!(refusals.len(), 3);
    for r in refusals {
        let x = Tensor::zeros(DType::F32, &usizes(&r["args"]["shape"]))
            .unwrap()
            .to(dev)
            .unwrap();
        let ns = usizes(&r["args"]["normalized_shape"]);
        let e = layer_norm(&x, &ns, None, None, 1e-5).unwrap_err();
        let torch = r["torch_error"].as_str().unwrap();
        assert!(
            matches!(e, Error::Shape { .. }) && e.to_string().contains(torch),
            "{e} vs {torch}"
        );
    }
    let x = Tensor::zeros(DType::F32, &[2, 3]).unwrap().to(dev).unwrap();
    let w = Tensor::zeros(DType::F32, &[2]).unwrap().to(dev).unwrap();
    let e = layer_norm(&x, &[3], Some(&w), None, 1e-5).unwrap_err();
    assert!(matches!(e, Error::Shape { .. }), "{e:?}");
    let e = layer_norm(&x, &[], None, None, 1e-5).unwrap_err();
    assert!(matches!(e, Error::InvalidArgument { .. }), "{e:?}");
}

cuda_configs!();
