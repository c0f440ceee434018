//! The whole-model accuracy rule of the `.pt2` tests (tests/program_pt2.rs,
//! tests/program_models.rs): our error against torch's float64 forward of the same model and
//! input is at most 10 times torch's own float32 error, elementwise, with a floor of 8 float32
//! ulps of the output's largest magnitude (where torch's float32 happens to round exactly, its
//! error is 0 and any reordering of a sum would fail a pure ratio).

/// Asserts the rule for `ours` against torch's `y32` and `y64`; returns the worst ratio of our
/// error to torch's (with the floor in the denominator).
pub fn assert_rule(what: &str, ours: &[f32], y32: &[f32], y64: &[f64]) -> f64 {
    assert_eq!(ours.len(), y64.len(), "{what}: output length");
    assert_eq!(y32.len(), y64.len(), "{what}: torch's outputs");
    let scale = y64.iter().fold(0f64, |m, v| m.max(v.abs()));
    let floor = 8.0 * f64::from(f32::EPSILON) * scale;
    let mut worst = 0f64;
    for (i, ((&o, &t32), &t64)) in ours.iter().zip(y32).zip(y64).enumerate() {
        let torch_err = (f64::from(t32) - t64).abs().max(floor);
        let err = (f64::from(o) - t64).abs();
        assert!(
            err <= 10.0 * torch_err,
            "{what}[{i}]: ours {o} vs float64 {t64}: error {err:.3e} > 10 x torch's {torch_err:.3e}"
        );
        worst = worst.max(err / torch_err);
    }
    worst
}
