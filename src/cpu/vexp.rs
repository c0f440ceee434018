//! Vectorised `exp` for f32, and silu and sigmoid built on it: the activations of EfficientNet,
//! RegNet's squeeze-excitation and MobileNet V3, where a scalar libm call per element cost more
//! than the convolution that produced the values.
//!
//! `exp(x) = 2ⁿ · e^r` with `n = round(x / ln 2)` and `r = x − n·ln 2` in `[−ln2/2, ln2/2]`
//! (Cody–Waite: ln 2 split into a 9-bit head, exact in f32, and a tail, so `n·head` is exact),
//! `e^r = 1 + r + r²·P(r)` with Cephes' degree-5 minimax `P` (relative error ≤ 1.2e-7 on the
//! interval), and `2ⁿ` applied as two halves `2^⌊n/2⌋ · 2^(n−⌊n/2⌋)` so results just below the
//! overflow threshold and in the subnormal range are formed without a premature overflow or
//! flush. Inputs are clamped to `[−104, 89]`, outside of which the result is 0 or ∞ anyway; NaN
//! passes through. The unit test bounds the error against f64 over the whole range.
//!
//! Written over fixed-size lane arrays, compiled per [`CpuCapability`].

use super::isa::{active, CpuCapability};

const LOG2E: f32 = std::f32::consts::LOG2_E;
/// Adding and subtracting 1.5·2²³ rounds an f32 of magnitude < 2²² to the nearest integer.
const ROUND: f32 = 12_582_912.0;
const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;
const P: [f32; 6] = [
    1.987_569_1e-4,
    1.398_199_9e-3,
    8.333_452e-3,
    4.166_579_6e-2,
    0.166_666_65,
    0.5,
];

#[inline(always)]
fn madd<const FMA: bool>(a: f32, b: f32, c: f32) -> f32 {
    if FMA {
        a.mul_add(b, c)
    } else {
        a * b + c
    }
}

#[inline(always)]
fn exp1<const FMA: bool>(x: f32) -> f32 {
    // NaN stays NaN.
    let v = x.clamp(-104.0, 89.0);
    let n = (v * LOG2E + ROUND) - ROUND;
    let r = madd::<FMA>(n, -LN2_LO, madd::<FMA>(n, -LN2_HI, v));
    let mut p = P[0];
    for c in &P[1..] {
        p = madd::<FMA>(p, r, *c);
    }
    let e = madd::<FMA>(r * r, p, r) + 1.0;
    // n is an integer in [-150, 129] (NaN: the cast gives 0 and e stays NaN).
    let ni = n as i32;
    let h = ni >> 1;
    let s1 = f32::from_bits(((h + 127) as u32) << 23);
    let s2 = f32::from_bits(((ni - h + 127) as u32) << 23);
    e * s1 * s2
}

/// What is computed per element.
#[derive(Copy, Clone)]
pub(crate) enum Kind {
    /// `x / (1 + exp(−x))`.
    Silu,
    /// `1 / (1 + exp(−x))`.
    Sigmoid,
}

#[inline(always)]
fn lanes<const L: usize, const FMA: bool>(kind: Kind, v: &mut [f32]) {
    let mut chunks = v.chunks_exact_mut(L);
    for c in &mut chunks {
        let c: &mut [f32; L] = match c.try_into() {
            Ok(c) => c,
            Err(_) => return,
        };
        for x in c.iter_mut() {
            let d = 1.0 + exp1::<FMA>(-*x);
            *x = match kind {
                Kind::Silu => *x / d,
                Kind::Sigmoid => 1.0 / d,
            };
        }
    }
    for x in chunks.into_remainder() {
        let d = 1.0 + exp1::<FMA>(-*x);
        *x = match kind {
            Kind::Silu => *x / d,
            Kind::Sigmoid => 1.0 / d,
        };
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,fma")]
unsafe fn lanes_avx512(kind: Kind, v: &mut [f32]) {
    lanes::<16, true>(kind, v)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn lanes_avx2(kind: Kind, v: &mut [f32]) {
    lanes::<8, true>(kind, v)
}

/// Applies `kind` to every element of `v`, in place, on the calling thread.
pub(crate) fn apply(kind: Kind, v: &mut [f32]) {
    match active() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `active()` only returns a capability the CPU was detected to have.
        CpuCapability::Avx512 => unsafe { lanes_avx512(kind, v) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above.
        CpuCapability::Avx2 => unsafe { lanes_avx2(kind, v) },
        _ => lanes::<8, false>(kind, v),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Distance in units in the last place of `want` (f64, rounded to f32 first).
    fn ulps(got: f32, want: f64) -> f64 {
        let w = want as f32;
        if got == w {
            return 0.0;
        }
        let ulp = if w == 0.0 || w.is_subnormal() {
            f64::from(f32::from_bits(1))
        } else {
            f64::from(w.abs()) * f64::from(f32::EPSILON)
        };
        (f64::from(got) - want).abs() / ulp
    }

    #[test]
    fn exp_is_within_two_ulp_of_f64_over_the_whole_range_on_every_path() {
        for fma in [false, true] {
            let mut worst = 0.0f64;
            let mut x = -103.9f32;
            while x < 88.72 {
                let got = if fma {
                    exp1::<true>(x)
                } else {
                    exp1::<false>(x)
                };
                let want = f64::from(x).exp();
                // Below 2^-126 the result is subnormal: its absolute error is what matters.
                if want > f64::from(f32::MIN_POSITIVE) {
                    worst = worst.max(ulps(got, want));
                } else {
                    assert!(
                        (f64::from(got) - want).abs() <= f64::from(f32::from_bits(1)),
                        "{x}"
                    );
                }
                x += 0.000_731;
            }
            assert!(worst <= 2.0, "fma={fma}: worst {worst} ulp");
        }
        assert_eq!(exp1::<true>(89.0), f32::INFINITY);
        assert_eq!(exp1::<true>(-200.0), 0.0);
        assert!(exp1::<true>(f32::NAN).is_nan());
        assert!(exp1::<true>(88.72).is_finite());
    }

    #[test]
    fn silu_and_sigmoid_match_the_formula_on_every_path_with_specials() {
        let xs: Vec<f32> = (-2000..2000)
            .map(|i| i as f32 * 0.061)
            .chain([
                0.0,
                -0.0,
                f32::INFINITY,
                f32::NEG_INFINITY,
                f32::NAN,
                88.8,
                -88.8,
                -120.0,
            ])
            .collect();
        let _path = crate::cpu::isa::capability_test_lock();
        for cap in CpuCapability::ALL.into_iter().filter(|c| c.supported()) {
            crate::cpu::set_cpu_capability(Some(cap)).unwrap();
            for kind in [Kind::Silu, Kind::Sigmoid] {
                let mut v = xs.clone();
                apply(kind, &mut v);
                for (&x, &y) in xs.iter().zip(&v) {
                    // exp as f32 computes it (∞ past the overflow threshold, as libm's expf).
                    let e = f64::from((-f64::from(x)).exp() as f32);
                    let want = match kind {
                        Kind::Silu => f64::from(x) / (1.0 + e),
                        Kind::Sigmoid => 1.0 / (1.0 + e),
                    };
                    if want.is_nan() || want.is_infinite() {
                        assert!(
                            y.is_nan() == want.is_nan() && (want.is_nan() || f64::from(y) == want),
                            "{cap} {x}: {y}"
                        );
                        continue;
                    }
                    // exp's 2 ulp, the sum's and the divide's rounding: ≤ 3 ulp, plus the
                    // smallest normal for results that underflow.
                    let tol =
                        3.0 * f64::from(f32::EPSILON) * want.abs() + f64::from(f32::MIN_POSITIVE);
                    assert!(
                        (f64::from(y) - want).abs() <= tol,
                        "{cap} x={x}: {y} vs {want}"
                    );
                    assert_eq!(
                        y.is_sign_negative(),
                        (want as f32).is_sign_negative(),
                        "{cap} {x}"
                    );
                }
            }
        }
        crate::cpu::set_cpu_capability(None).unwrap();
    }
}
