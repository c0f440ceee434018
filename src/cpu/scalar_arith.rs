//! Tensor-with-scalar arithmetic on the CPU: `out[i] = x[i] + s` or `x[i] · s` over `n`
//! contiguous elements, `s` already rounded to the tensor's dtype (PyTorch computes a float
//! tensor with a Python float in the tensor's dtype). One IEEE operation per element, so the
//! bits are PyTorch's.
//!
//! Threading: rayon over `PAR_CHUNK`-element pieces when `n` is large.

use super::parallel::map_pieces;
use super::scalar::Float;

/// `dst = src + s`; the slices have equal lengths.
pub(crate) fn add_scalar<T: Float>(src: &[T], s: T, dst: &mut [T]) {
    map_pieces(src, dst, |x: &[T], y: &mut [T]| {
        for (o, &v) in y.iter_mut().zip(x) {
            *o = v + s;
        }
    });
}

/// `dst = src · s`; the slices have equal lengths.
pub(crate) fn mul_scalar<T: Float>(src: &[T], s: T, dst: &mut [T]) {
    map_pieces(src, dst, |x: &[T], y: &mut [T]| {
        for (o, &v) in y.iter_mut().zip(x) {
            *o = v * s;
        }
    });
}
