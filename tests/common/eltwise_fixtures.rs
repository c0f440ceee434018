//! The pool/relu/softmax/argmax/shape fixtures made by tests/fixtures/ops/gen_pool_eltwise.py:
//! every input and PyTorch output in one tensors.pt, the cases in cases.json.

use std::sync::OnceLock;

use serde_json::Value as Json;
use tensorport::{MapLocation, StateDict, Tensor};

pub struct Fixtures {
    pub tensors: StateDict,
    pub manifest: Json,
}

/// Loaded once per test binary.
pub fn fixtures() -> &'static Fixtures {
    static F: OnceLock<Fixtures> = OnceLock::new();
    F.get_or_init(|| {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/ops/pool_eltwise");
        let ckpt = tensorport::load(dir.join("tensors.pt"), &MapLocation::Keep).expect("load");
        let text = std::fs::read_to_string(dir.join("cases.json")).expect("cases.json");
        Fixtures {
            tensors: ckpt.state_dict().expect("state dict"),
            manifest: serde_json::from_str(&text).expect("json"),
        }
    })
}

/// The fixture tensor `name`.
pub fn tensor(name: &str) -> Tensor {
    fixtures()
        .tensors
        .get(name)
        .unwrap_or_else(|| panic!("fixture tensor {name}"))
        .clone()
}
