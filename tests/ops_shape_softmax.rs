//! view/reshape/flatten, softmax and argmax against PyTorch 2.15 (fixtures from
//! `tests/fixtures/ops/gen_pool_eltwise.py`). view/reshape/flatten and argmax must match exactly
//! (values, shapes, and whether the result is a view); softmax within the tolerance below.

mod common;

use common::closeness::{assert_tensor_close, Tol};
use common::devices::{run_on, CUDA_F32};
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

/// The largest abs and rel differences of two float tensors (for the report, not the check).
fn worst(ours: &Tensor, want: &Tensor) -> (f64, f64) {
    let as_f64 = |t: &Tensor| match t.dtype() {
        DType::F32 => t
            .to_vec::<f32>()
            .unwrap()
            .into_iter()
            .map(f64::from)
            .collect(),
        _ => t.to_vec::<f64>().unwrap(),
    };
    as_f64(ours)
        .iter()
        .zip(as_f64(want))
        .filter(|(g, w)| g.is_finite() && w.is_finite() && *g != w)
        .fold((0.0, 0.0), |(a, r), (g, w)| {
            let e = (g - w).abs();
            (f64::max(a, e), f64::max(r, e / w.abs()))
        })
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
        let x = tensor(c["input"].as_str().unwrap()).to(dev).unwrap();
        let ctx = format!("{op}{} on {} on {dev}", c["args"]["shape"], c["input"]);
        let is_view = c["is_view"].as_bool().unwrap();
        let ours = call(op, &x, &dims(&c["args"]["shape"]));
        // A copy on a GPU runs the strided-copy kernel (Tensor::contiguous).
        let ours = ours.unwrap_or_else(|e| panic!("{ctx}: {e}"));
        let want = tensor(c["output"].as_str().unwrap());
        assert_tensor_close(&ctx, &ours.to(&Device::Cpu).unwrap(), &want, Tol::Exact);
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
        let x = tensor(c["input"].as_str().unwrap());
        let dim = c["args"]["dim"].as_i64().unwrap() as isize;
        let ctx = format!("softmax dim {dim} of {} on {dev}", c["input"]);
        let Some(ours) = run_on(dev, CUDA_F32, &[&x], |i| softmax(&i[0], dim)) else {
            continue;
        };
        let ours = ours.unwrap_or_else(|e| panic!("{ctx}: {e}"));
        let f64 = x.dtype() == DType::F64;
        let (atol, rtol) = if f64 { F64_TOL } else { F32_TOL };
        let want = tensor(c["output"].as_str().unwrap());
        assert_tensor_close(&ctx, &ours, &want, Tol::AbsRel { atol, rtol });
        let (a, r) = worst(&ours, &want);
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
        let x = tensor(c["input"].as_str().unwrap());
        let dim = c["args"]["dim"].as_i64().unwrap() as isize;
        let ctx = format!("argmax dim {dim} of {} on {dev}", c["input"]);
        let Some(ours) = run_on(dev, CUDA_F32, &[&x], |i| argmax(&i[0], dim)) else {
            continue;
        };
        let ours = ours.unwrap_or_else(|e| panic!("{ctx}: {e}"));
        let want = tensor(c["output"].as_str().unwrap());
        assert_tensor_close(&ctx, &ours, &want, Tol::Exact);
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
        let x = x.to(dev).unwrap();
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
    let on = |t: Tensor| t.to(dev).unwrap();
    if dev.is_cuda() {
        // softmax and argmax have float32 kernels; other dtypes are refused (never copied to
        // the host silently).
        let t = on(Tensor::zeros(DType::F32, &[2, 3]).unwrap());
        assert!(softmax(&t, 1).is_ok());
        assert_eq!(
            argmax(&t, 1)
                .unwrap()
                .to(&Device::Cpu)
                .unwrap()
                .to_vec::<i64>()
                .unwrap(),
            [0, 0]
        );
        let i = on(Tensor::zeros(DType::I64, &[2, 3]).unwrap());
        assert!(matches!(softmax(&i, 1), Err(Error::DType { .. })));
        assert!(matches!(argmax(&i, 1), Err(Error::DType { .. })));
        return;
    }
    for d in [DType::F16, DType::BF16, DType::I64, DType::Bool] {
        let t = on(Tensor::zeros(d, &[2, 3]).unwrap());
        assert!(matches!(softmax(&t, 1), Err(Error::DType { .. })), "{d}");
    }
    for d in [DType::F16, DType::Bool, DType::C64] {
        let t = on(Tensor::zeros(d, &[2, 3]).unwrap());
        assert!(matches!(argmax(&t, 1), Err(Error::DType { .. })), "{d}");
    }
    // 0-d tensors: softmax is 1, argmax 0, as in torch.
    let s = on(Tensor::from_vec(vec![3.5f32], &[]).unwrap());
    assert_eq!(softmax(&s, -1).unwrap().to_vec::<f32>().unwrap(), [1.0]);
    let am = argmax(&s, 0).unwrap();
    assert_eq!(
        (am.shape(), am.to_vec::<i64>().unwrap()),
        (&[][..], vec![0])
    );
    assert!(matches!(argmax(&s, 1), Err(Error::InvalidArgument { .. })));
    // Empty tensors: softmax gives an empty tensor; argmax over a non-empty dim too.
    let e = on(Tensor::zeros(DType::F32, &[0, 3]).unwrap());
    assert_eq!(softmax(&e, 1).unwrap().shape(), [0, 3]);
    assert_eq!(argmax(&e, 1).unwrap().shape(), [0]);
}

fn large_softmax_and_argmax_are_consistent(dev: &Device) {
    // Big enough for the parallel path; checks rows sum to 1 and argmax agrees with softmax.
    let (rows, n) = (257, 1031);
    let data: Vec<f32> = (0..rows * n)
        .map(|i| ((i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 44) as f32 / 1e4 - 50.0)
        .collect();
    let x = Tensor::from_slice(&data, &[rows, n])
        .unwrap()
        .to(dev)
        .unwrap();
    for dim in [0isize, 1] {
        let host = |t: Tensor| t.to(&Device::Cpu).unwrap();
        let sm = host(softmax(&x, dim).unwrap()).to_vec::<f32>().unwrap();
        let am = host(argmax(&x, dim).unwrap()).to_vec::<i64>().unwrap();
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

cuda_configs!();
