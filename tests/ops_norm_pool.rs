//! batch_norm (inference), avg_pool2d and adaptive_avg_pool2d against PyTorch 2.15 (fixtures
//! from `tests/fixtures/ops/gen_norm_pool.py`) on every device, and every call torch refuses.
//!
//! Tolerances. avg_pool2d and adaptive_avg_pool2d perform torch's CPU roundings in torch's
//! order (row-major window sums, the same divisions), so they are compared bit for bit (NaN
//! matching NaN), except:
//! - adaptive_avg_pool2d to 1×1: torch computes `mean` over H·W with its vectorised cascade sum.
//!   Any order of summing n terms errs by at most `(n − 1)·ε·Σ|x|` (first order), both sides
//!   that, plus 3 roundings of the division(s): `2(n − 1)ε·Σ|x|/n + 3ε|mean|`
//!   ([`mean_tol`]; at n = 49 in float32, about 1e-5·mean|x|).
//!
//! batch_norm: torch takes `invstd` from vectorised approximations (an rsqrt within 0.75 ulp on
//! its fast path, a reciprocal of sqrt that is not correctly rounded on its generic path, for
//! strided inputs); ours is `1/sqrt(var + eps)` correctly rounded (≤ 0.5 ulp): they differ by
//! at most 1.25ε relative. That carries into `alpha = invstd·w` (plus one rounding each side:
//! ≤ 3ε·|alpha|), into `beta = fma(−mean, alpha, b)` (≤ 3ε·|mean·alpha| + ε|beta|), and into
//! `y = fma(x, alpha, beta)` (≤ 3ε·|x·alpha| + the beta error + ε|y|). We allow
//! `4ε·(|x·alpha| + |mean·alpha| + |b|) + ε|y|` ([`bn_tol`]). That also covers the generic
//! formula `((x − mean)·invstd)·w + b` (used by torch and by our CPU op for strided inputs; a
//! GPU run takes a contiguous copy, so the fast one): each is within 2ε·(|x·alpha| +
//! |mean·alpha|) + ε/2·|y| of exact, given the same invstd.
//! On a GPU the result must also be our CPU op's, bit for bit: the kernel makes the same
//! roundings in the same order.

#[macro_use]
mod common;

use std::sync::OnceLock;

use common::closeness::{assert_tensor_close, Tol};
use common::devices::{run_on, CUDA_F32};
use common::op_fixtures::{pair, usizes, OpFixtures};
use serde_json::Value as Json;
use tensorport::ops::{adaptive_avg_pool2d, avg_pool2d, batch_norm, AvgPool2dArgs};
use tensorport::{DType, Device, Error, Tensor};

device_tests!(
    batch_norm_matches_torch,
    batch_norm_refuses_what_torch_refuses,
    avg_pool2d_matches_torch,
    avg_pool2d_refuses_what_torch_refuses,
    adaptive_avg_pool2d_matches_torch,
    adaptive_avg_pool2d_refuses_what_torch_refuses,
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
    match t.dtype() {
        DType::F32 => f64::from(f32::EPSILON),
        _ => f64::EPSILON,
    }
}

/// The bound derived in the module comment for batch norm's fast path against torch's.
fn bn_tol(x: &Tensor, ch: [Option<&Tensor>; 4], eps: f64, want: &Tensor) -> Vec<f64> {
    let [w, b, m, v] = ch.map(|t| t.map(f64s));
    let (m, v) = (m.unwrap(), v.unwrap());
    let (c, inner) = (x.shape()[1], x.shape()[2..].iter().product::<usize>());
    let e = eps_of(x);
    let y = f64s(want);
    f64s(x)
        .iter()
        .enumerate()
        .map(|(i, &xv)| {
            let k = (i / inner) % c;
            let wk = w.as_ref().map_or(1.0, |w| w[k]);
            let bk = b.as_ref().map_or(0.0, |b| b[k]);
            let alpha = (wk / (v[k] + eps).sqrt()).abs();
            4.0 * e * (xv.abs() * alpha + m[k].abs() * alpha + bk.abs()) + e * y[i].abs()
        })
        .collect()
}

/// The bound derived in the module comment for a mean of `n`-element windows, per output.
fn mean_tol(x: &Tensor, n: usize, want: &Tensor) -> Vec<f64> {
    let e = eps_of(x);
    let xs = f64s(x);
    f64s(want)
        .iter()
        .enumerate()
        .map(|(i, &w)| {
            let abs: f64 = xs[i * n..(i + 1) * n].iter().map(|v| v.abs()).sum();
            2.0 * (n as f64 - 1.0) * e * abs / n as f64 + 3.0 * e * w.abs()
        })
        .collect()
}

// ----------------------------------------------------------------------------- batch_norm

fn batch_norm_matches_torch(dev: &Device) {
    let (mut n, mut strided, mut affine) = (0, 0, 0);
    for c in fx().cases("batch_norm") {
        let x = fx().tensor(&c["input"]);
        let (m, v) = (fx().tensor(&c["mean"]), fx().tensor(&c["var"]));
        let (w, b) = (fx().opt_tensor(&c["weight"]), fx().opt_tensor(&c["bias"]));
        let eps = c["eps"].as_f64().unwrap();
        let want = fx().tensor(&c["output"]);
        let ctx = format!("batch_norm {} on {dev}", c["input"]);
        n += 1;
        affine += (w.is_some() && b.is_some()) as usize;
        let mut ins = vec![&x, &m, &v];
        ins.extend(w.iter().chain(b.iter()));
        let (hw, hb) = (w.is_some(), b.is_some());
        let Some(ours) = run_on(dev, CUDA_F32, &ins, |t| {
            let w = hw.then(|| &t[3]);
            let b = hb.then(|| &t[3 + hw as usize]);
            batch_norm(&t[0], w, b, &t[1], &t[2], eps)
        }) else {
            continue;
        };
        let ours = ours.unwrap_or_else(|e| panic!("{ctx}: {e}"));
        strided += !x.is_contiguous() as usize;
        let tol = bn_tol(&x, [w.as_ref(), b.as_ref(), Some(&m), Some(&v)], eps, &want);
        assert_tensor_close(&ctx, &ours, &want, Tol::Each(&tol));
        if dev.is_cuda() {
            let xc = x.contiguous().unwrap();
            let cpu = batch_norm(&xc, w.as_ref(), b.as_ref(), &m, &v, eps).unwrap();
            assert_tensor_close(&format!("{ctx} vs the CPU op"), &ours, &cpu, Tol::Bits);
        }
    }
    assert!(
        n > 60 && strided == 3 && affine > 20,
        "{n} cases, {strided} strided, {affine} affine"
    );
}

fn batch_norm_refuses_what_torch_refuses(dev: &Device) {
    let on = |shape: &[usize]| Tensor::zeros(DType::F32, shape).unwrap().to(dev).unwrap();
    let refusals = fx().errors("batch_norm");
    assert_eq!(refusals.len(), 4);
    for r in refusals {
        let shape = usizes(&r["args"]["shape"]);
        let s = usizes(&r["args"]["sizes"]);
        let [m, v, w, b] = [0, 1, 2, 3].map(|i| on(&[s[i]]));
        let e = batch_norm(&on(&shape), Some(&w), Some(&b), &m, &v, 1e-5).unwrap_err();
        let torch = r["torch_error"].as_str().unwrap();
        assert!(
            matches!(e, Error::Shape { .. }) && e.to_string().contains(torch),
            "{e} vs {torch}"
        );
    }
    let c3 = on(&[3]);
    let e = batch_norm(&on(&[3]), None, None, &c3, &c3, 1e-5).unwrap_err();
    assert!(matches!(e, Error::Shape { .. }), "{e:?}");
    let e = batch_norm(
        &on(&[2, 3]),
        None,
        None,
        &c3,
        &c3.to(&Device::Cpu).unwrap(),
        1e-5,
    );
    if dev.is_cuda() {
        assert!(matches!(e, Err(Error::DeviceMismatch { .. })), "{e:?}");
    }
    let i = Tensor::zeros(DType::I64, &[2, 3]).unwrap().to(dev).unwrap();
    let ci = Tensor::zeros(DType::I64, &[3]).unwrap().to(dev).unwrap();
    let e = batch_norm(&i, None, None, &ci, &ci, 1e-5).unwrap_err();
    assert!(matches!(e, Error::DType { .. }), "{e:?}");
}

// ----------------------------------------------------------------------------- avg_pool2d

fn avg_args(a: &Json) -> AvgPool2dArgs {
    AvgPool2dArgs {
        kernel_size: pair(&a["kernel"]),
        stride: (!a["stride"].is_null()).then(|| pair(&a["stride"])),
        padding: pair(&a["padding"]),
        ceil_mode: a["ceil_mode"].as_bool().unwrap(),
        count_include_pad: a["count_include_pad"].as_bool().unwrap(),
        divisor_override: a["divisor_override"].as_i64(),
    }
}

fn avg_pool2d_matches_torch(dev: &Device) {
    let (mut n, mut ceil, mut div, mut excl) = (0, 0, 0, 0);
    for c in fx().cases("avg_pool2d") {
        let x = fx().tensor(&c["input"]);
        let want = fx().tensor(&c["output"]);
        let args = avg_args(&c["args"]);
        let ctx = format!("avg_pool2d {} {args:?} on {dev}", c["input"]);
        n += 1;
        ceil += args.ceil_mode as usize;
        div += args.divisor_override.is_some() as usize;
        excl += !args.count_include_pad as usize;
        let Some(ours) = run_on(dev, CUDA_F32, &[&x], |t| avg_pool2d(&t[0], &args)) else {
            continue;
        };
        let ours = ours.unwrap_or_else(|e| panic!("{ctx}: {e}"));
        assert_tensor_close(&ctx, &ours, &want, Tol::Exact);
    }
    assert!(
        n >= 33 && ceil >= 16 && div >= 4 && excl >= 12,
        "{n} cases, {ceil} ceil, {div} divisor, {excl} exclude pad"
    );
}

fn avg_pool2d_refuses_what_torch_refuses(dev: &Device) {
    let refusals = fx().errors("avg_pool2d");
    assert_eq!(refusals.len(), 6);
    for r in refusals {
        let a = &r["args"];
        let x = Tensor::zeros(DType::F32, &usizes(&a["shape"]))
            .unwrap()
            .to(dev)
            .unwrap();
        let k = a["kernel"].as_u64().unwrap() as usize;
        let p = a["padding"].as_u64().unwrap() as usize;
        let args = AvgPool2dArgs {
            padding: [p, p],
            divisor_override: a["divisor_override"].as_i64(),
            ..AvgPool2dArgs::new(k)
        };
        let torch = r["torch_error"].as_str().unwrap();
        match avg_pool2d(&x, &args) {
            Ok(t) => panic!("accepted {r}, gave {:?}", t.shape()),
            Err(e @ (Error::Shape { .. } | Error::InvalidArgument { .. })) => {
                // Where torch's wording is about our checks, ours carries it.
                for phrase in ["pad should be at most half", "divisor must be not zero"] {
                    if torch.contains(phrase) {
                        assert!(e.to_string().contains(phrase), "{e} vs {torch}");
                    }
                }
            }
            Err(e) => panic!("{r}: {e:?}"),
        }
    }
    let x = Tensor::zeros(DType::I64, &[1, 1, 4, 4]).unwrap();
    let e = avg_pool2d(&x, &AvgPool2dArgs::new(2)).unwrap_err();
    assert!(matches!(e, Error::DType { .. }), "{e:?}");
}

// ----------------------------------------------------------------------------- adaptive

fn adaptive_avg_pool2d_matches_torch(dev: &Device) {
    let (mut n, mut global) = (0, 0);
    for c in fx().cases("adaptive_avg_pool2d") {
        let x = fx().tensor(&c["input"]);
        let want = fx().tensor(&c["output"]);
        let size = pair(&c["output_size"]);
        let ctx = format!("adaptive_avg_pool2d {} to {size:?} on {dev}", c["input"]);
        n += 1;
        let Some(ours) = run_on(dev, CUDA_F32, &[&x], |t| adaptive_avg_pool2d(&t[0], size)) else {
            continue;
        };
        let ours = ours.unwrap_or_else(|e| panic!("{ctx}: {e}"));
        if size == [1, 1] {
            global += 1;
            let hw = x.shape()[x.ndim() - 2..].iter().product();
            let tol = mean_tol(&x.contiguous().unwrap(), hw, &want);
            assert_tensor_close(&ctx, &ours, &want, Tol::Each(&tol));
        } else {
            assert_tensor_close(&ctx, &ours, &want, Tol::Exact);
        }
    }
    assert!(n >= 20 && global >= 3, "{n} cases, {global} global");
}

fn adaptive_avg_pool2d_refuses_what_torch_refuses(dev: &Device) {
    let refusals = fx().errors("adaptive_avg_pool2d");
    assert_eq!(refusals.len(), 3);
    for r in refusals {
        let x = Tensor::zeros(DType::F32, &usizes(&r["args"]["shape"]))
            .unwrap()
            .to(dev)
            .unwrap();
        let e = adaptive_avg_pool2d(&x, [2, 2]).unwrap_err();
        assert!(matches!(e, Error::Shape { .. }), "{r}: {e:?}");
        let torch = r["torch_error"].as_str().unwrap();
        if torch.starts_with("adaptive_avg_pool2d(): Expected input") {
            assert!(e.to_string().contains("non-zero size"), "{e} vs {torch}");
        }
    }
}

cuda_configs!();
