//! view/reshape/flatten, softmax and argmax against PyTorch 2.15 (fixtures from
//! `tests/fixtures/ops/gen_pool_eltwise.py`). view/reshape/flatten and argmax must match exactly
//! (values, shapes, and whether the result is a view); softmax within the tolerance below.

mod common;

use common::eltwise_fixtures::{fixtures, tensor};

use serde_json::Value as Json;
use tensorport::ops::{argmax, softmax};
use tensorport::ops::{flatten, reshape, view};
use tensorport::{DType, Device, Error, Tensor};

/// softmax tolerance, `|ours − torch| <= ATOL + RTOL·|torch|`. Both compute exp(x − max) and
/// normalise by the sum (reciprocal-multiply along the last dim, divide elsewhere), but the exp
/// differs (PyTorch's vectorised Sleef exp is within ~1-2 ulp, ours is the platform libm's,
/// within 1 ulp) and the sums round in a different order (ours: 16 lanes and a tree, like a
/// 512-bit vector reduction; PyTorch's depends on the CPU's vector width). Measured worst case
/// here: 2 ulp in float32 (rel 2.0e-7), 2 ulp in float64 (rel 3.7e-16). RTOL allows 8 ulp, which
/// absorbs another machine's libm and vector width, yet any real mistake (wrong max, missing
/// term, wrong axis) is off by 1e-3 or more. ATOL only matters for outputs near underflow.
const F32_TOL: (f64, f64) = (1e-12, 1e-6);
const F64_TOL: (f64, f64) = (1e-30, 2e-15);

fn select(key: &str, ops: &[&str]) -> Vec<&'static Json> {
    let all = fixtures().manifest[key].as_array().expect("cases");
    all.iter()
        .filter(|c| ops.iter().any(|op| c["op"] == *op))
        .collect()
}

/// The tensor on `dev`. Fixtures load on the CPU; CUDA joins with the CUDA ops.
fn on(dev: &Device, t: &Tensor) -> Tensor {
    assert_eq!(*dev, Device::Cpu, "only the CPU is wired up");
    t.clone()
}

/// Each element as (value, raw bits).
fn elems(t: &Tensor) -> Vec<(f64, u64)> {
    let v = |x: Vec<f64>, b: Vec<u64>| x.into_iter().zip(b).collect();
    match t.dtype() {
        DType::F32 => {
            let x = t.to_vec::<f32>().unwrap();
            v(
                x.iter().map(|&a| a as f64).collect(),
                x.iter().map(|a| a.to_bits() as u64).collect(),
            )
        }
        DType::F64 => {
            let x = t.to_vec::<f64>().unwrap();
            v(x.clone(), x.iter().map(|a| a.to_bits()).collect())
        }
        DType::I64 => {
            let x = t.to_vec::<i64>().unwrap();
            v(
                x.iter().map(|&a| a as f64).collect(),
                x.iter().map(|&a| a as u64).collect(),
            )
        }
        d => panic!("no comparison for {d}"),
    }
}

fn unravel(mut i: usize, shape: &[usize]) -> Vec<usize> {
    let mut idx = vec![0; shape.len()];
    for d in (0..shape.len()).rev() {
        idx[d] = i % shape[d].max(1);
        i /= shape[d].max(1);
    }
    idx
}

/// Asserts `ours` matches `want` in shape and dtype and within `atol + rtol·|want|` (`None`:
/// bit-exact, NaN matching NaN); on failure prints max abs/rel error and the first mismatches.
/// Returns the max abs and rel errors.
fn check(ctx: &str, ours: &Tensor, want: &Tensor, tol: Option<(f64, f64)>) -> (f64, f64) {
    assert_eq!(ours.shape(), want.shape(), "{ctx}: shape");
    assert_eq!(ours.dtype(), want.dtype(), "{ctx}: dtype");
    let (got, exp) = (elems(ours), elems(want));
    let (mut abs, mut rel, mut bad) = (0.0f64, 0.0f64, Vec::new());
    for (i, (g, w)) in got.iter().zip(&exp).enumerate() {
        let nan = g.0.is_nan() && w.0.is_nan();
        let (a, ok) = match tol {
            None => ((g.0 - w.0).abs(), g.1 == w.1 || nan),
            Some((at, rt)) => {
                let a = (g.0 - w.0).abs();
                (a, nan || g.0 == w.0 || a <= at + rt * w.0.abs())
            }
        };
        if !nan && g.0 != w.0 {
            abs = abs.max(a);
            rel = rel.max(a / w.0.abs());
        }
        if !ok {
            bad.push(i);
        }
    }
    if !bad.is_empty() {
        let first: Vec<String> = bad
            .iter()
            .take(5)
            .map(|&i| {
                format!(
                    "{:?}: ours {} torch {}",
                    unravel(i, want.shape()),
                    got[i].0,
                    exp[i].0
                )
            })
            .collect();
        panic!(
            "{ctx}: {} of {} outside {tol:?}, max abs {abs:e}, max rel {rel:e}; first: {first:?}",
            bad.len(),
            exp.len()
        );
    }
    (abs, rel)
}

fn dims(v: &Json) -> Vec<isize> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_i64().unwrap() as isize)
        .collect()
}

fn call(op: &str, x: &Tensor, a: &[isize]) -> tensorport::Result<Tensor> {
    match op {
        "view" => view(x, a),
        "reshape" => reshape(x, a),
        "flatten" => flatten(x, a[0], a[1]),
        "softmax" => softmax(x, a[0]),
        "argmax" => argmax(x, a[0]),
        _ => panic!("unknown op {op}"),
    }
}

macro_rules! device_tests {
    ($($name:ident),* $(,)?) => {
        mod cpu {
            $(#[test] fn $name() { super::$name(&tensorport::Device::Cpu) })*
        }
    };
}

device_tests!(
    shape_ops_match_torch,
    softmax_matches_torch,
    argmax_matches_torch,
    refusals_match_torch,
    non_float_and_device_errors,
    large_softmax_and_argmax_are_consistent,
);

fn shape_ops_match_torch(dev: &Device) {
    let (mut views, mut copies) = (0, 0);
    for c in select("cases", &["view", "reshape", "flatten"]) {
        let op = c["op"].as_str().unwrap();
        let x = on(dev, &tensor(c["input"].as_str().unwrap()));
        let ctx = format!("{op}{} on {}", c["args"]["shape"], c["input"]);
        let ours =
            call(op, &x, &dims(&c["args"]["shape"])).unwrap_or_else(|e| panic!("{ctx}: {e}"));
        check(&ctx, &ours, &tensor(c["output"].as_str().unwrap()), None);
        let is_view = c["is_view"].as_bool().unwrap();
        assert_eq!(
            ours.shares_storage(&x),
            is_view,
            "{ctx}: view or copy as torch"
        );
        if is_view {
            views += 1
        } else {
            copies += 1
        }
    }
    assert!(views > 15 && copies >= 4, "{views} views, {copies} copies");
}

fn softmax_matches_torch(dev: &Device) {
    let (mut worst32, mut worst64) = ((0.0f64, 0.0f64), (0.0f64, 0.0f64));
    for c in select("cases", &["softmax"]) {
        let x = on(dev, &tensor(c["input"].as_str().unwrap()));
        let dim = c["args"]["dim"].as_i64().unwrap() as isize;
        let ctx = format!("softmax dim {dim} of {}", c["input"]);
        let ours = softmax(&x, dim).unwrap_or_else(|e| panic!("{ctx}: {e}"));
        let f64 = x.dtype() == DType::F64;
        let (a, r) = check(
            &ctx,
            &ours,
            &tensor(c["output"].as_str().unwrap()),
            Some(if f64 { F64_TOL } else { F32_TOL }),
        );
        if std::env::var("SM_DEBUG").is_ok() {
            println!("{ctx}: abs {a:e} rel {r:e}");
        }
        let w = if f64 { &mut worst64 } else { &mut worst32 };
        *w = (w.0.max(a), w.1.max(r));
    }
    println!(
        "softmax worst error vs torch: f32 abs {:e} rel {:e}; f64 abs {:e} rel {:e}",
        worst32.0, worst32.1, worst64.0, worst64.1
    );
}

fn argmax_matches_torch(dev: &Device) {
    for c in select("cases", &["argmax"]) {
        let x = on(dev, &tensor(c["input"].as_str().unwrap()));
        let dim = c["args"]["dim"].as_i64().unwrap() as isize;
        let ctx = format!("argmax dim {dim} of {}", c["input"]);
        let ours = argmax(&x, dim).unwrap_or_else(|e| panic!("{ctx}: {e}"));
        check(&ctx, &ours, &tensor(c["output"].as_str().unwrap()), None);
    }
}

fn refusals_match_torch(dev: &Device) {
    let refused = select(
        "errors",
        &["view", "reshape", "flatten", "softmax", "argmax"],
    );
    assert!(refused.len() >= 14, "{} refusals", refused.len());
    for r in refused {
        let x = match r.get("input") {
            Some(name) => tensor(name.as_str().unwrap()),
            None => {
                let shape: Vec<usize> = dims(&r["shape"]).iter().map(|&d| d as usize).collect();
                let dtype = DType::from_torch_name(r["dtype"].as_str().unwrap()).unwrap();
                Tensor::zeros(dtype, &shape).unwrap()
            }
        };
        let x = on(dev, &x);
        let a = &r["args"];
        let args = if a["shape"].is_null() {
            vec![a["dim"].as_i64().unwrap() as isize]
        } else {
            dims(&a["shape"])
        };
        match call(r["op"].as_str().unwrap(), &x, &args) {
            Ok(t) => panic!("accepted {r}, gave {:?}", t.shape()),
            Err(e) => assert!(
                matches!(
                    e,
                    Error::Shape { .. } | Error::InvalidArgument { .. } | Error::DType { .. }
                ),
                "{r}: {e:?}"
            ),
        }
    }
}

fn non_float_and_device_errors(dev: &Device) {
    for d in [DType::F16, DType::BF16, DType::I64, DType::Bool] {
        let t = on(dev, &Tensor::zeros(d, &[2, 3]).unwrap());
        assert!(matches!(softmax(&t, 1), Err(Error::DType { .. })), "{d}");
    }
    for d in [DType::F16, DType::Bool, DType::C64] {
        let t = on(dev, &Tensor::zeros(d, &[2, 3]).unwrap());
        assert!(matches!(argmax(&t, 1), Err(Error::DType { .. })), "{d}");
    }
    // 0-d tensors: softmax is 1, argmax 0, as in torch.
    let s = on(dev, &Tensor::from_vec(vec![3.5f32], &[]).unwrap());
    assert_eq!(softmax(&s, -1).unwrap().to_vec::<f32>().unwrap(), [1.0]);
    let am = argmax(&s, 0).unwrap();
    assert_eq!(
        (am.shape(), am.to_vec::<i64>().unwrap()),
        (&[][..], vec![0])
    );
    assert!(matches!(argmax(&s, 1), Err(Error::InvalidArgument { .. })));
    // Empty tensors: softmax gives an empty tensor; argmax over a non-empty dim too.
    let e = on(dev, &Tensor::zeros(DType::F32, &[0, 3]).unwrap());
    assert_eq!(softmax(&e, 1).unwrap().shape(), [0, 3]);
    assert_eq!(argmax(&e, 1).unwrap().shape(), [0]);
}

fn large_softmax_and_argmax_are_consistent(dev: &Device) {
    // Big enough for the parallel path; checks rows sum to 1 and argmax agrees with softmax.
    let (rows, n) = (257, 1031);
    let data: Vec<f32> = (0..rows * n)
        .map(|i| ((i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 44) as f32 / 1e4 - 50.0)
        .collect();
    let x = on(dev, &Tensor::from_slice(&data, &[rows, n]).unwrap());
    for dim in [0isize, 1] {
        let sm = softmax(&x, dim).unwrap().to_vec::<f32>().unwrap();
        let am = argmax(&x, dim).unwrap().to_vec::<i64>().unwrap();
        let (outer, len, inner) = if dim == 1 { (rows, n, 1) } else { (1, rows, n) };
        for o in 0..outer {
            for i in 0..inner {
                let at = |d: usize| o * len * inner + d * inner + i;
                let sum: f64 = (0..len).map(|d| sm[at(d)] as f64).sum();
                assert!(
                    (sum - 1.0).abs() < 1e-4,
                    "dim {dim} line {o},{i} sums to {sum}"
                );
                let best = (0..len).fold(0, |b, d| if data[at(d)] > data[at(b)] { d } else { b });
                assert_eq!(am[o * inner + i], best as i64, "dim {dim} line {o},{i}");
            }
        }
    }
}
