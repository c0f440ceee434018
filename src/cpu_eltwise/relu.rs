//! relu on the CPU: `out[i] = x[i] < 0 ? 0 : x[i]` over `n` contiguous elements.
//!
//! That comparison is PyTorch's (`clamp_min(x, 0)`): NaN stays NaN (the comparison is false),
//! -0.0 stays -0.0, and unsigned integers pass through unchanged.
//!
//! Threading: rayon over `PAR_CHUNK`-element pieces when `n` is large, the calling thread otherwise.

use rayon::prelude::*;

use super::{Scalar, PAR_CHUNK, PAR_MIN_WORK};

#[inline(always)]
fn relu1<T: Scalar>(x: T) -> T {
    if x < T::ZERO {
        T::ZERO
    } else {
        x
    }
}

/// `dst = relu(src)`; the slices have equal lengths.
pub(crate) fn relu_into<T: Scalar>(src: &[T], dst: &mut [T]) {
    let body = |s: &[T], d: &mut [T]| {
        for (o, &x) in d.iter_mut().zip(s) {
            *o = relu1(x);
        }
    };
    if src.len() < PAR_MIN_WORK || rayon::current_num_threads() < 2 {
        body(src, dst);
        return;
    }
    dst.par_chunks_mut(PAR_CHUNK)
        .zip(src.par_chunks(PAR_CHUNK))
        .for_each(|(d, s)| body(s, d));
}

/// `x = relu(x)` in place.
pub(crate) fn relu_inplace<T: Scalar>(x: &mut [T]) {
    let body = |d: &mut [T]| {
        for v in d.iter_mut() {
            *v = relu1(*v);
        }
    };
    if x.len() < PAR_MIN_WORK || rayon::current_num_threads() < 2 {
        body(x);
        return;
    }
    x.par_chunks_mut(PAR_CHUNK).for_each(body);
}
