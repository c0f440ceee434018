//! The one closeness check of every test (integration tests and the crate's own unit tests,
//! which include this file by path): bit for bit, or within a stated tolerance, reporting the
//! mismatch count, the first mismatches and the max abs/rel error and how much of the tolerance
//! it used (llm.c's `validate_result`).
//!
//! Except under [`Tol::Bits`] (which also compares NaN payloads, so an unwritten output filled
//! with a sentinel NaN is caught), a NaN matches a NaN: both sides agree the value is undefined.
//! A NaN against a number, or infinities of different signs, never match.

#![allow(dead_code)]

/// How close `got` must be to `want`.
#[derive(Clone, Copy)]
pub enum Tol<'a> {
    /// The same bits (NaN payloads and the sign of zero included).
    Bits,
    /// The same bits, except that any NaN matches any NaN (implementations differ in payloads).
    Exact,
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
            Tol::Exact => f.write_str("exact (NaN matches NaN)"),
            Tol::AbsRel { atol, rtol } => write!(f, "atol {atol:.1e} + rtol {rtol:.1e}"),
            Tol::Each(t) => {
                let max = t.iter().copied().fold(0f64, f64::max);
                write!(f, "a bound per element (largest {max:.3e})")
            }
        }
    }
}

/// An element the check compares.
pub trait Elem: Copy + std::fmt::Debug {
    /// The value as f64 (exact for floats; integers beyond 2^53 round, their bits do not).
    fn f64(self) -> f64;
    /// The raw bits.
    fn bits(self) -> u64;
}

impl Elem for f32 {
    fn f64(self) -> f64 {
        f64::from(self)
    }
    fn bits(self) -> u64 {
        u64::from(self.to_bits())
    }
}

impl Elem for f64 {
    fn f64(self) -> f64 {
        self
    }
    fn bits(self) -> u64 {
        self.to_bits()
    }
}

macro_rules! int_elem {
    ($($t:ty),*) => {$(
        impl Elem for $t {
            fn f64(self) -> f64 {
                self as f64
            }
            fn bits(self) -> u64 {
                self as u64
            }
        }
    )*};
}
int_elem!(i64, i32, i16, i8, u8);

/// Panics unless every `got[i]` is within `tol` of `want[i]`.
pub fn assert_close<T: Elem>(what: &str, got: &[T], want: &[T], tol: Tol<'_>) {
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
            Tol::Bits | Tol::Exact => 0.0,
            Tol::AbsRel { atol, rtol } => atol + rtol * wf.abs(),
            Tol::Each(t) => t[i],
        };
        let ok = if g.bits() == w.bits() {
            true
        } else if let Tol::Bits = tol {
            false
        } else if gf.is_nan() || wf.is_nan() {
            gf.is_nan() && wf.is_nan()
        } else if let Tol::Exact = tol {
            false
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

/// [`assert_close`] on two host tensors of one dtype and shape (any real dtype), compared in C
/// order.
pub fn assert_tensor_close(
    what: &str,
    got: &tensorport::Tensor,
    want: &tensorport::Tensor,
    tol: Tol<'_>,
) {
    use tensorport::DType;
    assert_eq!(got.shape(), want.shape(), "{what}: shape");
    assert_eq!(got.dtype(), want.dtype(), "{what}: dtype");
    fn cmp<T: tensorport::Element + Elem>(
        what: &str,
        got: &tensorport::Tensor,
        want: &tensorport::Tensor,
        tol: Tol<'_>,
    ) {
        let (g, w) = (got.to_vec::<T>(), want.to_vec::<T>());
        let (g, w) = (
            g.unwrap_or_else(|e| panic!("{what}: ours: {e}")),
            w.unwrap_or_else(|e| panic!("{what}: reference: {e}")),
        );
        assert_close(what, &g, &w, tol);
    }
    match want.dtype() {
        DType::F32 => cmp::<f32>(what, got, want, tol),
        DType::F64 => cmp::<f64>(what, got, want, tol),
        DType::I64 => cmp::<i64>(what, got, want, tol),
        DType::I32 => cmp::<i32>(what, got, want, tol),
        DType::I16 => cmp::<i16>(what, got, want, tol),
        DType::I8 => cmp::<i8>(what, got, want, tol),
        DType::U8 => cmp::<u8>(what, got, want, tol),
        d => panic!("{what}: no comparison for {d}"),
    }
}

/// The tolerance for a dot product of length `k` with inputs in [-1, 1], computed in a float
/// of `dtype` (machine epsilon `eps`), compared with another such computation (PyTorch's) or
/// with an exact reference. Each product and partial sum rounds with relative error ≤ eps/2 and
/// the running magnitude is at most `Σ|x·w| ≤ k`; blocked or pairwise summation (gemm, our
/// direct kernel, the CUDA kernels, PyTorch's) typically accumulates about `sqrt(k)` such errors
/// and `k` in the worst case. So per side the error is ≲ eps/2 · sqrt(k) · k typically; we allow,
/// for both sides, `atol = 8·eps·k` (the worst-case-order bound at |Σ x·w| ≈ 1) plus
/// `rtol = 8·eps·sqrt(k)`. For f32 and k = 75 (conv1 of the Net) that is atol 7e-5, rtol 8e-6.
pub fn dot_tol(k: usize, dtype: tensorport::DType) -> Tol<'static> {
    let eps = match dtype {
        tensorport::DType::F64 => f64::EPSILON,
        _ => f64::from(f32::EPSILON),
    };
    Tol::AbsRel {
        atol: 8.0 * eps * k as f64,
        rtol: 8.0 * eps * (k as f64).sqrt(),
    }
}
