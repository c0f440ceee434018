//! add on the CPU: `out[i] = act(a[ia] + b[ib])` with broadcasting, as [`BroadcastParams`]
//! describes it (`act` the identity or relu; one addition per output, so the bits are
//! PyTorch's for the same operands), and `add(a, b, alpha)`: `a + alpha·b` with one rounding
//! (`fma(alpha, b, a)`), as ATen's vectorised `fmadd` computes it. The loop is
//! `broadcast.rs`'s.

use super::broadcast::map;
use super::scalar::{relu1, Arith, Float};
use crate::kernels::BroadcastParams;

/// Computes `out` (`p.n` elements, fully overwritten). `p` was validated by
/// `BroadcastParams::new` and the slices have exactly its element counts.
pub(crate) fn add<T: Arith>(p: &BroadcastParams, a: &[T], b: &[T], out: &mut [T]) {
    if p.relu != 0 {
        map(p, a, b, out, |x, z| relu1(x.add(z)));
    } else {
        map(p, a, b, out, |x, z| x.add(z));
    }
}

/// `out = a + alpha·b` in one rounding per element (`alpha` already rounded to `T`).
pub(crate) fn add_scaled<T: Float>(p: &BroadcastParams, alpha: T, a: &[T], b: &[T], out: &mut [T]) {
    map(p, a, b, out, |x, z| z.mul_add(alpha, x));
}
