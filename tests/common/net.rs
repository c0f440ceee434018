//! The recipe's Net fixtures (tests/fixtures/gen_fixtures.py: net_io.pt) and the logits check.

use tensorport::{load, MapLocation, Tensor};

use super::closeness::{assert_close, Tol};
use super::fixtures_dir;

/// torch's input batch and its logits for `ok/net_state_dict.pt`.
pub fn torch_io() -> (Tensor, Vec<f32>) {
    let io = load(fixtures_dir().join("ok/net_io.pt"), &MapLocation::Keep).expect("net_io");
    let d = io.value().as_dict().expect("dict");
    let x = d
        .get_str("x")
        .and_then(|v| v.as_tensor())
        .expect("x")
        .clone();
    let logits = d
        .get_str("logits")
        .and_then(|v| v.as_tensor())
        .expect("logits");
    (x, logits.to_vec::<f32>().expect("f32"))
}

/// Logits must match torch's within fp32 rounding of the longest reduction: fc1 sums K = 400
/// products, so reordering the sum (our GEMM/direct kernels vs torch's) moves a result by at most
/// about K·u·Σ|w·x| ≈ 400 · 6e-8 · 0.5 ≈ 1.2e-5 for activations of this Net's scale (logits
/// ≈ 0.2). Bound: |ours − torch| ≤ 1e-5 + 1e-5·|torch|.
pub fn assert_logits(ours: &[f32], theirs: &[f32]) {
    let tol = Tol::AbsRel {
        atol: 1e-5,
        rtol: 1e-5,
    };
    assert_close("logits vs torch", ours, theirs, tol);
}
