//! add and add_relu against PyTorch 2.15 (fixtures from `tests/fixtures/ops/gen_add.py`) on
//! every device: bit for bit, NaN matching NaN (one IEEE addition per element, and integer
//! wraparound, leave no room for a tolerance); broadcasting and strided operands included;
//! every shape torch refuses refused.

#[macro_use]
mod common;

use std::sync::OnceLock;

use common::closeness::{assert_tensor_close, Tol};
use common::devices::{run_on, CUDA_F32};
use common::fixtures_dir;
use serde_json::Value as Json;
use tensorport::ops::{add, add_relu, relu};
use tensorport::{DType, Device, Error, MapLocation, StateDict, Tensor};

device_tests!(add_matches_torch, add_refuses_what_torch_refuses);

struct Fixtures {
    tensors: StateDict,
    cases: Json,
}

fn fixtures() -> &'static Fixtures {
    static F: OnceLock<Fixtures> = OnceLock::new();
    F.get_or_init(|| {
        let dir = fixtures_dir().join("ops/add");
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

fn add_matches_torch(dev: &Device) {
    let (mut n, mut strided, mut broadcast) = (0, 0, 0);
    for c in fixtures().cases["cases"].as_array().expect("cases") {
        let (a, b) = (tensor(&c["a"]), tensor(&c["b"]));
        let ctx = format!("{} + {} on {dev}", c["a"], c["b"]);
        n += 1;
        strided += (!a.is_contiguous() || a.storage_offset() != 0) as usize;
        broadcast += (a.shape() != b.shape()) as usize;
        let Some(ours) = run_on(dev, CUDA_F32, &[a, b], |i| add(&i[0], &i[1])) else {
            continue;
        };
        let ours = ours.unwrap_or_else(|e| panic!("{ctx}: {e}"));
        assert_tensor_close(&ctx, &ours, tensor(&c["out"]), Tol::Exact);
        if c.get("relu").is_some() {
            let fused = run_on(dev, CUDA_F32, &[a, b], |i| add_relu(&i[0], &i[1]));
            let fused = fused.expect("runs where add does").unwrap();
            let want = tensor(&c["relu"]);
            assert_tensor_close(&format!("relu({ctx})"), &fused, want, Tol::Exact);
            // And the same bits as add followed by relu.
            let two_pass = relu(&ours).unwrap();
            assert_tensor_close(
                &format!("{ctx}: fused vs two passes"),
                &fused,
                &two_pass,
                Tol::Bits,
            );
        }
    }
    assert!(
        n > 90 && strided >= 3 && broadcast > 40,
        "{n} cases, {strided} strided, {broadcast} broadcast"
    );
}

fn add_refuses_what_torch_refuses(dev: &Device) {
    let on = |shape: &[usize], d: DType| Tensor::zeros(d, shape).unwrap().to(dev).unwrap();
    let dims = |v: &Json| -> Vec<usize> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_u64().unwrap() as usize)
            .collect()
    };
    let refusals = fixtures().cases["errors"].as_array().expect("errors");
    assert!(refusals.len() >= 4);
    for r in refusals {
        let (sa, sb) = (dims(&r["a"]), dims(&r["b"]));
        match add(&on(&sa, DType::F32), &on(&sb, DType::F32)) {
            Err(e @ Error::Shape { .. }) => {
                // torch: "The size of tensor a (2) must match the size of tensor b (4) at
                // non-singleton dimension 0"; ours says the same inside.
                let torch = r["torch_error"].as_str().unwrap();
                let core = torch.split(" at non-singleton").next().unwrap();
                assert!(
                    e.to_string().contains(&core.to_lowercase()[..20]),
                    "{e} vs {torch}"
                );
            }
            other => panic!("{sa:?} + {sb:?}: expected a shape error, got {other:?}"),
        }
    }
    // Where tensorport is stricter than torch, with the reason named: mixed dtypes (torch
    // promotes), bool (torch's logical or), more than 8 dims.
    let e = add(&on(&[2], DType::F32), &on(&[2], DType::F64)).unwrap_err();
    assert!(
        matches!(
            e,
            Error::DTypeMismatch {
                first: "input",
                second: "other",
                ..
            }
        ),
        "{e:?}"
    );
    let e = add(&on(&[2], DType::Bool), &on(&[2], DType::Bool)).unwrap_err();
    assert!(
        matches!(
            e,
            Error::DType {
                got: DType::Bool,
                ..
            }
        ),
        "{e:?}"
    );
    let e = add(&on(&[1; 9], DType::F32), &on(&[1], DType::F32)).unwrap_err();
    assert!(matches!(e, Error::Shape { .. }), "{e:?}");
    // Mixed devices are refused, never copied.
    if dev.is_cuda() {
        let host = Tensor::zeros(DType::F32, &[2]).unwrap();
        let e = add(&on(&[2], DType::F32), &host).unwrap_err();
        assert!(matches!(e, Error::DeviceMismatch { .. }), "{e:?}");
    }
}

cuda_configs!();
