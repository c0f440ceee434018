//! Fixtures of one `tests/fixtures/ops/gen_<name>.py` generator: every input and PyTorch output
//! in `<dir>/tensors.pt`, the cases (and PyTorch's refusals) in `<dir>/cases.json`, loaded once
//! per test binary, with the JSON accessors the conformance tests share.

use std::sync::OnceLock;

use serde_json::Value as Json;
use tensorport::{MapLocation, StateDict, Tensor};

/// One generator's output.
pub struct OpFixtures {
    pub tensors: StateDict,
    pub cases: Json,
}

impl OpFixtures {
    /// Loads `tests/fixtures/ops/<dir>` into `cell` the first time.
    pub fn load(cell: &'static OnceLock<OpFixtures>, dir: &str) -> &'static OpFixtures {
        cell.get_or_init(|| {
            let dir = super::fixtures_dir().join("ops").join(dir);
            let ckpt = tensorport::load(dir.join("tensors.pt"), &MapLocation::Keep).expect("load");
            let text = std::fs::read_to_string(dir.join("cases.json")).expect("cases.json");
            OpFixtures {
                tensors: ckpt.state_dict().expect("state dict"),
                cases: serde_json::from_str(&text).expect("json"),
            }
        })
    }

    /// The cases of `op` (at least one).
    pub fn cases(&self, op: &str) -> Vec<&Json> {
        let v: Vec<_> = self.cases["cases"]
            .as_array()
            .expect("cases")
            .iter()
            .filter(|c| c["op"] == op)
            .collect();
        assert!(!v.is_empty(), "no {op} cases");
        v
    }

    /// PyTorch's refusals of `op`.
    pub fn errors(&self, op: &str) -> Vec<&Json> {
        self.cases["errors"]
            .as_array()
            .expect("errors")
            .iter()
            .filter(|c| c["op"] == op)
            .collect()
    }

    /// The fixture tensor named by `name` (a JSON string).
    pub fn tensor(&self, name: &Json) -> Tensor {
        let name = name.as_str().expect("a tensor name");
        self.tensors
            .get(name)
            .unwrap_or_else(|| panic!("fixture tensor {name}"))
            .clone()
    }

    /// The optional fixture tensor named by `name` (absent or null: `None`).
    pub fn opt_tensor(&self, name: &Json) -> Option<Tensor> {
        name.as_str().map(|_| self.tensor(name))
    }
}

/// A JSON array of non-negative integers.
pub fn usizes(v: &Json) -> Vec<usize> {
    v.as_array()
        .expect("an array")
        .iter()
        .map(|d| d.as_u64().expect("a size") as usize)
        .collect()
}

/// A JSON array of integers.
pub fn i64s(v: &Json) -> Vec<i64> {
    v.as_array()
        .expect("an array")
        .iter()
        .map(|d| d.as_i64().expect("an integer"))
        .collect()
}

/// A JSON pair `[a, b]` of sizes.
pub fn pair(v: &Json) -> [usize; 2] {
    let v = usizes(v);
    [v[0], v[1]]
}
