//! mul on the CPU: `out[i] = a[ia] · b[ib]` with broadcasting (one IEEE multiply per output,
//! integers wrapping around as in PyTorch); the loop is `broadcast.rs`'s.

use super::broadcast::map;
use super::scalar::Arith;
use crate::kernels::BroadcastParams;

/// Computes `out` (`p.n` elements, fully overwritten). `p` was validated by
/// `BroadcastParams::new` and the slices have exactly its element counts.
pub(crate) fn mul<T: Arith>(p: &BroadcastParams, a: &[T], b: &[T], out: &mut [T]) {
    map(p, a, b, out, |x, z| x.mul(z));
}
