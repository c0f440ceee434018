//! The activations against PyTorch 2.15 (fixtures from `tests/fixtures/ops/gen_activation.py`)
//! on every device, float32 and float64, with specials, large magnitudes, 0-d, empty and
//! strided inputs; and every argument torch refuses refused.
//!
//! Tolerances, per function:
//! - hardtanh, relu6, hardswish, hardsigmoid: exact (NaN matches NaN). Their formulas are
//!   comparisons, additions, one multiply and one divide by 6, each correctly rounded in IEEE
//!   arithmetic, so every implementation of the same formula gets the same bits, the sign of
//!   zero included.
//! - silu, sigmoid: `atol = MIN_POSITIVE + rtol·|y|`, `rtol = 4·eps`. Both sides call an exp
//!   accurate to ≤ 1 ulp (glibc, Sleef's u10 in torch's vector loop) or ≤ 2 ulp (CUDA expf);
//!   `1 + e` and the divide each add ≤ 0.5 ulp and pass the relative error on unchanged, so each
//!   side is within ~3 ulp of the exact formula. The absolute part covers subnormal results
//!   (sigmoid of x < -87), where relative error means nothing.
//! - gelu (both forms): `tol = 4·eps·(|x| + |y|) + MIN_POSITIVE` per element. `y = 0.5·x·(1 + t)`
//!   with t = erf(..) or tanh(..) in [-1, 1]: an error of k ulp in t is ≤ k·eps absolutely,
//!   which `1 + t` keeps as an absolute error (for x << 0 the sum cancels, so no relative bound
//!   holds), scaled by 0.5·|x|; with k ≤ 2 per side (torch's vectorised erf is its own
//!   polynomial, Sleef's tanh u10, CUDA's 2-ulp erff/tanhf) that is ≤ 2·eps·|x| for the two
//!   sides together; the products add ≤ 2·eps·|y|. The tanh form's inner argument (x³, and a
//!   possible FMA on the GPU) moves t by ≤ 3 eps·|u|·sech²(u) ≤ 1.4 eps: inside the same bound.

#[macro_use]
mod common;

use std::sync::OnceLock;

use common::closeness::{assert_tensor_close, Tol};
use common::devices::{run_on, CUDA_F32};
use common::fixtures_dir;
use serde_json::Value as Json;
use tensorport::ops::{
    gelu, hardsigmoid, hardswish, hardtanh, relu6, sigmoid, silu, GeluApproximate,
};
use tensorport::{DType, Device, Error, MapLocation, Result, StateDict, Tensor};

device_tests!(
    activations_match_torch,
    activations_refuse_what_torch_refuses
);

struct Fixtures {
    tensors: StateDict,
    cases: Json,
}

fn fixtures() -> &'static Fixtures {
    static F: OnceLock<Fixtures> = OnceLock::new();
    F.get_or_init(|| {
        let dir = fixtures_dir().join("ops/activation");
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

type Op = Box<dyn Fn(&Tensor) -> Result<Tensor>>;

/// The function a case names, with its arguments.
fn op_of(c: &Json) -> Op {
    let args = &c["args"];
    let f = |k: &str| args[k].as_f64().expect("a float argument");
    match c["op"].as_str().expect("op") {
        "hardtanh" => {
            let (lo, hi) = (f("min_val"), f("max_val"));
            Box::new(move |x| hardtanh(x, lo, hi))
        }
        "relu6" => Box::new(relu6),
        "silu" => Box::new(silu),
        "sigmoid" => Box::new(sigmoid),
        "hardswish" => Box::new(hardswish),
        "hardsigmoid" => Box::new(hardsigmoid),
        "gelu" => {
            let a = GeluApproximate::from_name(args["approximate"].as_str().unwrap_or("none"))
                .expect("a valid approximate");
            Box::new(move |x| gelu(x, a))
        }
        other => panic!("unknown op {other}"),
    }
}

/// A host tensor's values as f64, in C order.
fn as_f64(t: &Tensor) -> Vec<f64> {
    match t.dtype() {
        DType::F32 => t
            .to_vec::<f32>()
            .unwrap()
            .into_iter()
            .map(f64::from)
            .collect(),
        DType::F64 => t.to_vec::<f64>().unwrap(),
        d => panic!("no floats in {d}"),
    }
}

fn activations_match_torch(dev: &Device) {
    let (mut n, mut strided, mut f64s) = (0, 0, 0);
    for c in fixtures().cases["cases"].as_array().expect("cases") {
        let (x, want) = (tensor(&c["input"]), tensor(&c["output"]));
        let op = op_of(c);
        let ctx = format!("{} {} of {} on {dev}", c["op"], c["args"], c["input"]);
        n += 1;
        strided += !x.is_contiguous() as usize;
        f64s += (x.dtype() == DType::F64) as usize;
        let Some(ours) = run_on(dev, CUDA_F32, &[x], |i| op(&i[0])) else {
            continue;
        };
        let ours = ours.unwrap_or_else(|e| panic!("{ctx}: {e}"));
        let (eps, tiny) = match x.dtype() {
            DType::F64 => (f64::EPSILON, f64::MIN_POSITIVE),
            _ => (f64::from(f32::EPSILON), f64::from(f32::MIN_POSITIVE)),
        };
        let bounds: Vec<f64> = as_f64(x)
            .iter()
            .zip(as_f64(want))
            .map(|(x, y)| 4.0 * eps * (x.abs() + y.abs()) + tiny)
            .collect();
        let tol = match c["op"].as_str().unwrap() {
            "silu" | "sigmoid" => Tol::AbsRel {
                atol: tiny,
                rtol: 4.0 * eps,
            },
            "gelu" => Tol::Each(&bounds),
            _ => Tol::Exact,
        };
        assert_tensor_close(&ctx, &ours, want, tol);
    }
    assert!(
        n >= 140 && strided >= 40 && f64s >= 70,
        "{n} cases, {strided} strided, {f64s} float64"
    );
}

fn activations_refuse_what_torch_refuses(dev: &Device) {
    let zeros = |d: DType| Tensor::zeros(d, &[3]).unwrap().to(dev).unwrap();
    let refusals = fixtures().cases["errors"].as_array().expect("errors");
    assert!(refusals.len() >= 6);
    for r in refusals {
        let torch = r["torch_error"].as_str().unwrap();
        let dtype = DType::from_torch_name(r["dtype"].as_str().unwrap()).unwrap();
        let args = &r["args"];
        let got = match (r["op"].as_str().unwrap(), args.get("approximate")) {
            ("gelu", Some(a)) => GeluApproximate::from_name(a.as_str().unwrap()).map(|_| ()),
            _ => {
                op_of(&serde_json::json!({"op": r["op"], "args": args}))(&zeros(dtype)).map(|_| ())
            }
        };
        match got {
            Err(e @ Error::InvalidArgument { .. }) => {
                // torch: "min_val cannot be greater than max_val", "approximate argument must
                // be either none or tanh."; ours says the same inside.
                let core = torch.trim_end_matches('.');
                assert!(e.to_string().contains(core), "{e} vs {torch}");
            }
            Err(Error::DType { got, .. }) => assert_eq!(got, dtype, "{r}"),
            other => panic!("{r}: expected a refusal like torch's, got {other:?}"),
        }
    }
    // Where tensorport is stricter than torch: torch.sigmoid promotes integers to float32;
    // tensorport refuses (never a silent conversion), bool as well.
    for d in [DType::I64, DType::Bool] {
        let e = sigmoid(&zeros(d)).unwrap_err();
        assert!(matches!(e, Error::DType { got, .. } if got == d), "{e:?}");
    }
}

cuda_configs!();
