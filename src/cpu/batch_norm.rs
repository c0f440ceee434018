//! Inference batch norm on the CPU, as torch's CPU kernels compute it.
//!
//! Math: per channel, `invstd = 1 / sqrt(var + eps)` (eps rounded to `T` first, correctly
//! rounded). For a contiguous (or channels-last) input, torch 2.15's fast path: `alpha = invstd ·
//! w`, `beta = fma(−mean, alpha, b)`, `y = fma(x, alpha, beta)`, one rounding each; torch takes
//! invstd from its vectorised rsqrt (within 0.75 ulp, not correctly rounded), so results agree
//! with torch's to a few ulps, and with the CUDA kernel bit for bit. For any other layout,
//! torch's generic path: `y = ((x − mean) · invstd) · w + b`, one IEEE rounding per operation,
//! no fused multiply-add (torch's `1 / sqrt` there is a vectorised reciprocal that is not
//! correctly rounded either, so this too agrees to a few ulps).
//!
//! Shapes: `src` and `dst` are `[n, c, inner]` in C order (the op gathers strided inputs
//! first); `w`, `b`, `mean`, `var` have `c` elements (`w`/`b` absent: 1 and 0).
//!
//! Threading: a piece of work is one `(n, c)` plane of `inner` elements.

use super::parallel::for_each_piece;
use super::scalar::Float;
use crate::kernels::BatchNormParams;

/// The per-channel operands.
pub(crate) struct Channels<'a, T> {
    pub w: Option<&'a [T]>,
    pub b: Option<&'a [T]>,
    pub mean: &'a [T],
    pub var: &'a [T],
}

/// Normalises `src` into `dst`; `fast` picks torch's contiguous-path formula (see the module
/// comment), else its generic one. `p` was validated by `BatchNormParams::new`.
pub(crate) fn forward<T: Float>(
    p: &BatchNormParams,
    ch: &Channels<'_, T>,
    fast: bool,
    src: &[T],
    dst: &mut [T],
) {
    let (c, inner) = (p.c as usize, p.inner as usize);
    let eps = T::from_f64(f64::from_bits(p.eps_bits as u64));
    // (alpha, beta) for the fast path, (invstd, unused) for the generic one.
    let terms: Vec<(T, T)> = (0..c)
        .map(|k| {
            let invstd = T::ONE / (ch.var[k] + eps).sqrt();
            if !fast {
                return (invstd, T::ZERO);
            }
            let alpha = ch.w.map_or(invstd, |w| invstd * w[k]);
            let bias = ch.b.map_or(T::ZERO, |b| b[k]);
            // b − mean·alpha rounded once, as torch's (fused) kernel computes it.
            (alpha, (T::ZERO - ch.mean[k]).mul_add(alpha, bias))
        })
        .collect();
    for_each_piece(dst, inner, src.len(), |plane, out| {
        let k = plane % c;
        let x = &src[plane * inner..][..inner];
        let (t0, t1) = terms[k];
        if fast {
            for (o, &v) in out.iter_mut().zip(x) {
                *o = v.mul_add(t0, t1);
            }
        } else {
            // torch's generic path multiplies by a weight of 1 and adds a bias of 0 when they
            // are absent (scalar tensors): the same roundings, spelled out.
            let (m, w) = (ch.mean[k], ch.w.map_or(T::ONE, |w| w[k]));
            let b = ch.b.map_or(T::ZERO, |b| b[k]);
            for (o, &v) in out.iter_mut().zip(x) {
                *o = ((v - m) * t0) * w + b;
            }
        }
    });
}
