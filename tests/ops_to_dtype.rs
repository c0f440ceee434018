//! `Tensor::to_dtype` against torch's `t.to(dtype)` (fixtures from
//! `tests/fixtures/ops/gen_to_dtype.py`) on every device: bit for bit, except that any NaN
//! matches any NaN (torch's own vectorised and scalar loops give bfloat16 NaNs different
//! payloads). A conversion is one correctly rounded operation, so there is no tolerance: every
//! float16 and bfloat16 value widened, float32 and float64 narrowed across every exponent,
//! with the overflow and subnormal boundaries and ties; strided, 0-d and empty inputs. Pairs
//! tensorport does not convert are refused naming both dtypes.

#[macro_use]
mod common;

use std::sync::OnceLock;

use common::devices::{run_on, Cuda};
use common::fixtures_dir;
use half::{bf16, f16};
use serde_json::Value as Json;
use tensorport::{DType, Device, Error, MapLocation, StateDict, Tensor};

device_tests!(to_dtype_matches_torch, to_dtype_refusals_and_identity);

/// What the CUDA conversion kernels take: contiguous tensors of these dtypes.
const CUDA_CONVERT: Cuda = Cuda::Contiguous(&[DType::F32, DType::F16, DType::BF16, DType::F64]);

struct Fixtures {
    tensors: StateDict,
    cases: Json,
}

fn fixtures() -> &'static Fixtures {
    static F: OnceLock<Fixtures> = OnceLock::new();
    F.get_or_init(|| {
        let dir = fixtures_dir().join("ops/to_dtype");
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

/// Each element's bits, or `None` for a NaN.
fn bits_or_nan(t: &Tensor) -> Vec<Option<u64>> {
    let keep = |bits: u64, nan: bool| (!nan).then_some(bits);
    match t.dtype() {
        DType::F16 => t
            .to_vec::<f16>()
            .unwrap()
            .into_iter()
            .map(|v| keep(u64::from(v.to_bits()), v.is_nan()))
            .collect(),
        DType::BF16 => t
            .to_vec::<bf16>()
            .unwrap()
            .into_iter()
            .map(|v| keep(u64::from(v.to_bits()), v.is_nan()))
            .collect(),
        DType::F32 => t
            .to_vec::<f32>()
            .unwrap()
            .into_iter()
            .map(|v| keep(u64::from(v.to_bits()), v.is_nan()))
            .collect(),
        DType::F64 => t
            .to_vec::<f64>()
            .unwrap()
            .into_iter()
            .map(|v| keep(v.to_bits(), v.is_nan()))
            .collect(),
        d => panic!("no floats in {d}"),
    }
}

fn to_dtype_matches_torch(dev: &Device) {
    let (mut n, mut strided, mut elements) = (0, 0, 0);
    for c in fixtures().cases["cases"].as_array().expect("cases") {
        let (x, want) = (tensor(&c["input"]), tensor(&c["output"]));
        let to = DType::from_torch_name(c["dtype"].as_str().unwrap()).unwrap();
        let ctx = format!("{} to {to} on {dev}", c["input"]);
        n += 1;
        strided += !x.is_contiguous() as usize;
        let Some(ours) = run_on(dev, CUDA_CONVERT, &[x], |i| i[0].to_dtype(to)) else {
            continue;
        };
        let ours = ours.unwrap_or_else(|e| panic!("{ctx}: {e}"));
        assert_eq!((ours.dtype(), ours.shape()), (to, want.shape()), "{ctx}");
        let (got, exp) = (bits_or_nan(&ours), bits_or_nan(want));
        let bad: Vec<usize> = (0..got.len()).filter(|&i| got[i] != exp[i]).collect();
        assert!(
            bad.is_empty(),
            "{ctx}: {} of {} elements differ; first: {:?}",
            bad.len(),
            got.len(),
            bad.iter()
                .take(5)
                .map(|&i| (i, got[i], exp[i]))
                .collect::<Vec<_>>()
        );
        elements += got.len();
    }
    assert!(
        n >= 13 && strided >= 4 && elements > 150_000,
        "{n} cases, {strided} strided, {elements} elements"
    );
}

fn to_dtype_refusals_and_identity(dev: &Device) {
    for pair in fixtures().cases["refused"].as_array().expect("refused") {
        let name = |i: usize| DType::from_torch_name(pair[i].as_str().unwrap()).unwrap();
        let (from, to) = (name(0), name(1));
        let x = Tensor::zeros(from, &[3]).unwrap().to(dev).unwrap();
        match x.to_dtype(to) {
            Err(e @ Error::InvalidArgument { .. }) => {
                let msg = e.to_string();
                assert!(
                    msg.contains(from.name()) && msg.contains(to.name()),
                    "names both: {msg}"
                );
            }
            other => panic!("{from} -> {to}: expected a refusal, got {other:?}"),
        }
    }
    // The same dtype is the tensor itself, as torch's `.to` returns self.
    let x = Tensor::from_vec(vec![1.5f32, -0.0], &[2])
        .unwrap()
        .to(dev)
        .unwrap();
    let same = x.to_dtype(DType::F32).unwrap();
    assert!(same.shares_storage(&x));
    // The result stays on the input's device (a CUDA conversion, not a host round trip).
    let h = x.to_dtype(DType::F16).unwrap();
    assert_eq!((h.device(), h.dtype()), (*dev, DType::F16));
}

cuda_configs!();
