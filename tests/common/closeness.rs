//! The one closeness check of every test (integration tests and the crate's own unit tests,
//! which include this file by path): bit for bit, or within a stated tolerance, reporting the
//! mismatch count, the first mismatches and the max abs/rel error and how much of the tolerance
//! it used (llm.c's `validate_result`).
//!
//! A NaN matches a NaN (both sides agree the value is undefined); a NaN against a number, or
//! infinities of different signs, never match.

#![allow(dead_code)]

/// How close `got` must be to `want`.
#[derive(Clone, Copy)]
pub enum Tol<'a> {
    /// The same bits (NaN payloads and the sign of zero included).
    Bits,
    /// `|got − want| ≤ atol + rtol·|want|`.
    AbsRel {
        /// Absolute part.
        atol: f64,
        /// Relative part.
        rtol: f64,
    },
    /// `|got[i] − want[i]| ≤ tol[i]`: a bound per element (from its reduction's magnitude).
    Each(&'a [f64]),
}

impl std::fmt::Display for Tol<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Tol::Bits => f.write_str("bit-exact"),
            Tol::AbsRel { atol, rtol } => write!(f, "atol {atol:.1e} + rtol {rtol:.1e}"),
            Tol::Each(t) => {
                let max = t.iter().copied().fold(0f64, f64::max);
                write!(f, "a bound per element (largest {max:.3e})")
            }
        }
    }
}

/// A float element the check compares.
pub trait Float: Copy + std::fmt::Debug {
    /// The value, exactly, as f64.
    fn f64(self) -> f64;
    /// The raw bits.
    fn bits(self) -> u64;
}

impl Float for f32 {
    fn f64(self) -> f64 {
        f64::from(self)
    }
    fn bits(self) -> u64 {
        u64::from(self.to_bits())
    }
}

impl Float for f64 {
    fn f64(self) -> f64 {
        self
    }
    fn bits(self) -> u64 {
        self.to_bits()
    }
}

/// Panics unless every `got[i]` is within `tol` of `want[i]`.
pub fn assert_close<T: Float>(what: &str, got: &[T], want: &[T], tol: Tol<'_>) {
    assert_eq!(got.len(), want.len(), "{what}: lengths differ");
    if let Tol::Each(t) = tol {
        assert_eq!(t.len(), want.len(), "{what}: one tolerance per element");
    }
    let (mut max_abs, mut max_rel, mut max_used) = (0f64, 0f64, 0f64);
    let mut bad = Vec::new();
    let mut count = 0usize;
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let (gf, wf) = (g.f64(), w.f64());
        let bound = match tol {
            Tol::Bits => 0.0,
            Tol::AbsRel { atol, rtol } => atol + rtol * wf.abs(),
            Tol::Each(t) => t[i],
        };
        let ok = if g.bits() == w.bits() {
            true
        } else if let Tol::Bits = tol {
            false
        } else if gf.is_nan() || wf.is_nan() {
            gf.is_nan() && wf.is_nan()
        } else if gf == wf {
            true // ±0, or infinities of one sign
        } else {
            // A NaN error (inf against anything else) fails this comparison too.
            (gf - wf).abs() <= bound
        };
        let err = (gf - wf).abs();
        if err.is_finite() {
            max_abs = max_abs.max(err);
            max_rel = max_rel.max(err / wf.abs().max(f64::MIN_POSITIVE));
            if bound > 0.0 {
                max_used = max_used.max(err / bound);
            }
        }
        if !ok {
            count += 1;
            if bad.len() < 5 {
                bad.push(format!(
                    "[{i}] got {g:?} ({:#x}) want {w:?} ({:#x}) tol {bound:.3e}",
                    g.bits(),
                    w.bits()
                ));
            }
        }
    }
    assert!(
        count == 0,
        "{what}: {count} of {} elements differ ({tol}); max abs err {max_abs:.3e}, max rel \
         err {max_rel:.3e}, max err/tol {max_used:.3}; first: {}",
        got.len(),
        bad.join(", ")
    );
}
