//! Comparing float results with PyTorch's under a tolerance justified by the reduction length.

use tensorport::{DType, Tensor};

/// Tolerance for a dot product of length `k` with inputs in [-1, 1], computed in a type with
/// machine epsilon `eps`, compared with another such computation (PyTorch's) or with an exact
/// reference. Each product and partial sum rounds with relative error ≤ eps/2 and the running
/// magnitude is at most `Σ|x·w| ≤ k`; blocked or pairwise summation (gemm, our direct kernel,
/// PyTorch's kernels) typically accumulates about `sqrt(k)` such errors and `k` in the worst
/// case. So per side the error is ≲ eps/2 · sqrt(k) · k typically; we allow, for both sides,
/// `atol = 8·eps·k` (the worst-case-order bound at |Σ x·w| ≈ 1) plus `rtol = 8·eps·sqrt(k)`.
/// For f32 and k = 75 (conv1 of the Net) that is atol 7e-5, rtol 8e-6.
pub fn tol(k: usize, eps: f64) -> (f64, f64) {
    (8.0 * eps * k as f64, 8.0 * eps * (k as f64).sqrt())
}

pub fn check_close(name: &str, got: &[f64], want: &[f64], k: usize, eps: f64) {
    let (atol, rtol) = tol(k, eps);
    assert_eq!(got.len(), want.len(), "{name}: length");
    let (mut max_abs, mut max_rel, mut bad) = (0f64, 0f64, Vec::new());
    for (i, (&g, &r)) in got.iter().zip(want).enumerate() {
        let e = (g - r).abs();
        max_abs = max_abs.max(e);
        max_rel = max_rel.max(e / r.abs().max(1e-30));
        // Written so that a NaN on either side counts as a mismatch.
        let within = e <= atol + rtol * r.abs();
        if !within && bad.len() < 5 {
            bad.push((i, g, r));
        }
    }
    assert!(
        bad.is_empty(),
        "{name}: max abs {max_abs:.3e}, max rel {max_rel:.3e}, atol {atol:.1e} rtol {rtol:.1e}, \
         first mismatches (flat index, ours, ref): {bad:?}"
    );
}

/// The values of a float tensor as f64, with its dtype's epsilon.
pub fn as_f64(t: &Tensor) -> (Vec<f64>, f64) {
    match t.dtype() {
        DType::F32 => (
            t.to_vec::<f32>()
                .unwrap()
                .into_iter()
                .map(f64::from)
                .collect(),
            f32::EPSILON as f64,
        ),
        DType::F64 => (t.to_vec::<f64>().unwrap(), f64::EPSILON),
        d => panic!("unexpected dtype {d}"),
    }
}

/// Deterministic values in [-1, 1) (an LCG), for inputs checked against naive references.
pub fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}
