//! mul, add with alpha, and tensor-with-scalar add/mul against PyTorch 2.15 (fixtures from
//! `tests/fixtures/ops/gen_mul.py`) on every device. Broadcasting, strided operands, float64
//! and integer dtypes included; every shape torch refuses refused.
//!
//! Tolerances:
//! - mul, add_scalar, mul_scalar: exact (NaN matches NaN). Each output is one IEEE multiply or
//!   add of the operands (integers wrapping around), the same bits in every implementation.
//! - add_scaled (`torch.add(a, b, alpha=)`): tensorport computes `fma(alpha, b, a)`, one
//!   rounding, as ATen's vector loop (`vec::fmadd`) and torch's CUDA kernel do; ATen's scalar
//!   loop (short rows, broadcasts, the remainder of a vector loop) computes `a + round(alpha·b)`
//!   instead, so torch's own result depends on an element's position. The two differ by the
//!   product's rounding, ≤ eps/2·|alpha·b|, plus at most one rounding of the result, ≤ eps·|y|:
//!   per element `tol = eps·(|alpha·b| + |y|)`. (The emulator test holds the CPU op and the
//!   CUDA kernel to each other bit for bit.)

#[macro_use]
mod common;

use std::sync::OnceLock;

use common::closeness::{assert_tensor_close, Tol};
use common::devices::{run_on, CUDA_F32};
use common::fixtures_dir;
use serde_json::Value as Json;
use tensorport::ops::{add, add_scalar, add_scaled, mul, mul_scalar};
use tensorport::{DType, Device, Error, MapLocation, StateDict, Tensor};

device_tests!(
    mul_family_matches_torch,
    mul_family_refuses_what_torch_refuses
);

struct Fixtures {
    tensors: StateDict,
    cases: Json,
}

fn fixtures() -> &'static Fixtures {
    static F: OnceLock<Fixtures> = OnceLock::new();
    F.get_or_init(|| {
        let dir = fixtures_dir().join("ops/mul");
        let ckpt = tensorport::load(dir.join("tensors.pt"), &MapLocation::Keep).expect("load");
        let text = std::fs::read_to_string(dir.join("cases.json")).expect("cases.json");
        Fixtures {
            tensors: ckpt.state_dict().expect("state dict"),
            cases: serde_json::from_str(&text).expect("json"),
        }
    })
}

fn tensor(name: &Json) -> &'static Tensor {
    let name = name.as_str().expect("a tensor name");
    fixtures()
        .tensors
        .get(name)
        .unwrap_or_else(|| panic!("fixture tensor {name}"))
}

/// A scalar the generator wrote as Python's repr ("0.1", "-0.0", "inf").
fn scalar(v: &Json) -> f64 {
    v.as_str()
        .expect("a scalar as a string")
        .parse()
        .expect("a float")
}

fn mul_family_matches_torch(dev: &Device) {
    let mut counts = std::collections::BTreeMap::new();
    let (mut strided, mut f64s) = (0, 0);
    for c in fixtures().cases["cases"].as_array().expect("cases") {
        let op = c["op"].as_str().unwrap();
        let a = tensor(&c["a"]);
        let want = tensor(&c["out"]);
        let ctx = format!("{c} on {dev}");
        let ours = match op {
            "mul" => run_on(dev, CUDA_F32, &[a, tensor(&c["b"])], |i| mul(&i[0], &i[1])),
            "add_scaled" => {
                let alpha = scalar(&c["alpha"]);
                run_on(dev, CUDA_F32, &[a, tensor(&c["b"])], |i| {
                    add_scaled(&i[0], &i[1], alpha)
                })
            }
            "add_scalar" => {
                let s = scalar(&c["s"]);
                run_on(dev, CUDA_F32, &[a], |i| add_scalar(&i[0], s))
            }
            "mul_scalar" => {
                let s = scalar(&c["s"]);
                run_on(dev, CUDA_F32, &[a], |i| mul_scalar(&i[0], s))
            }
            other => panic!("unknown op {other}"),
        };
        *counts.entry(op).or_insert(0) += 1;
        strided += (!a.is_contiguous() || a.storage_offset() != 0) as usize;
        f64s += (a.dtype() == DType::F64) as usize;
        let Some(ours) = ours else { continue };
        let ours = ours.unwrap_or_else(|e| panic!("{ctx}: {e}"));
        if op == "add_scaled" {
            let bounds = fma_bounds(a, tensor(&c["b"]), scalar(&c["alpha"]), want);
            assert_tensor_close(&ctx, &ours, want, Tol::Each(&bounds));
        } else {
            assert_tensor_close(&ctx, &ours, want, Tol::Exact);
        }
    }
    assert!(
        counts.get("mul") > Some(&70)
            && counts.get("add_scaled") > Some(&70)
            && counts.get("add_scalar") > Some(&140)
            && counts.get("mul_scalar") > Some(&140)
            && strided >= 12
            && f64s > 100,
        "{counts:?}, {strided} strided, {f64s} float64"
    );
}

/// `eps·(|alpha·b| + |y|)` per output element (see the header): fused against unfused.
fn fma_bounds(a: &Tensor, b: &Tensor, alpha: f64, y: &Tensor) -> Vec<f64> {
    // alpha·b broadcast to the output's shape, rounded once: 0 + alpha·b through our own op.
    let zeros = Tensor::zeros(a.dtype(), a.shape()).unwrap();
    let ab = add_scaled(&zeros, b, alpha).unwrap();
    let (ab, y, eps) = match y.dtype() {
        DType::F32 => {
            let f = |t: &Tensor| -> Vec<f64> {
                t.to_vec::<f32>()
                    .unwrap()
                    .into_iter()
                    .map(f64::from)
                    .collect()
            };
            (f(&ab), f(y), f64::from(f32::EPSILON))
        }
        _ => (
            ab.to_vec::<f64>().unwrap(),
            y.to_vec::<f64>().unwrap(),
            f64::EPSILON,
        ),
    };
    ab.iter()
        .zip(&y)
        .map(|(p, y)| eps * (p.abs() + y.abs()))
        .collect()
}

fn mul_family_refuses_what_torch_refuses(dev: &Device) {
    let on = |shape: &[usize], d: DType| Tensor::zeros(d, shape).unwrap().to(dev).unwrap();
    let dims = |v: &Json| -> Vec<usize> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_u64().unwrap() as usize)
            .collect()
    };
    for r in fixtures().cases["errors"].as_array().expect("errors") {
        let (sa, sb) = (dims(&r["a"]), dims(&r["b"]));
        let torch = r["torch_error"].as_str().unwrap();
        match r["op"].as_str().unwrap() {
            "mul" => match mul(&on(&sa, DType::F32), &on(&sb, DType::F32)) {
                // torch: "The size of tensor a (2) must match the size of tensor b (4) at
                // non-singleton dimension 0"; ours says the same inside.
                Err(e @ Error::Shape { .. }) => {
                    let core = torch.split(" at non-singleton").next().unwrap();
                    assert!(
                        e.to_string().contains(&core.to_lowercase()[..20]),
                        "{e} vs {torch}"
                    );
                }
                other => panic!("{sa:?} * {sb:?}: expected a shape error, got {other:?}"),
            },
            // torch: "For integral input tensors, argument alpha must not be a floating point
            // number."; tensorport refuses every integer tensor for add_scaled (alpha is f64).
            "add_scaled" => {
                let d = DType::from_torch_name(r["dtype"].as_str().unwrap()).unwrap();
                let e = add_scaled(&on(&sa, d), &on(&sb, d), 0.5).unwrap_err();
                assert!(matches!(e, Error::DType { got, .. } if got == d), "{e:?}");
            }
            other => panic!("unknown refusal {other}"),
        }
    }
    // Where tensorport is stricter than torch: mixed dtypes (torch promotes), bool (torch's
    // logical and), an integer tensor with a float scalar (torch promotes to float32).
    let e = mul(&on(&[2], DType::F32), &on(&[2], DType::F64)).unwrap_err();
    assert!(matches!(e, Error::DTypeMismatch { .. }), "{e:?}");
    let e = mul(&on(&[2], DType::Bool), &on(&[2], DType::Bool)).unwrap_err();
    assert!(matches!(e, Error::DType { .. }), "{e:?}");
    for f in [add_scalar, mul_scalar] {
        let e = f(&on(&[2], DType::I64), 2.0).unwrap_err();
        assert!(
            matches!(
                e,
                Error::DType {
                    got: DType::I64,
                    ..
                }
            ),
            "{e:?}"
        );
    }
    let e = add_scaled(&on(&[1; 9], DType::F32), &on(&[1], DType::F32), 2.0).unwrap_err();
    assert!(matches!(e, Error::Shape { .. }), "{e:?}");
    // alpha = 1 is add, bit for bit (the fused multiply-add of 1·b rounds once, as a + b).
    let a = Tensor::from_vec(vec![0.1f32, -3e38, f32::NAN, 1.5], &[4]).unwrap();
    let b = Tensor::from_vec(vec![0.2f32, -3e38, 1.0, -1.5], &[4]).unwrap();
    let (a, b) = (a.to(dev).unwrap(), b.to(dev).unwrap());
    let one = add_scaled(&a, &b, 1.0).unwrap().to(&Device::Cpu).unwrap();
    let plain = add(&a, &b).unwrap().to(&Device::Cpu).unwrap();
    assert_tensor_close("alpha = 1 vs add", &one, &plain, Tol::Bits);
    // Mixed devices are refused, never copied.
    if dev.is_cuda() {
        let host = Tensor::zeros(DType::F32, &[2]).unwrap();
        let e = mul(&on(&[2], DType::F32), &host).unwrap_err();
        assert!(matches!(e, Error::DeviceMismatch { .. }), "{e:?}");
    }
}

cuda_configs!();
