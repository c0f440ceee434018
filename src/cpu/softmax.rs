//! softmax and argmax along one dimension on the CPU.
//!
//! A tensor is seen as `[outer, dim, inner]` (C order, contiguous): the reduced dimension has
//! `dim` elements `inner` apart.
//!
//! softmax: `out[o, d, i] = exp(x[o, d, i] − m[o, i]) / Σ_d exp(x[o, d, i] − m[o, i])` with
//! `m = max_d x`, subtracted so that exp never overflows (PyTorch's algorithm). A NaN in the
//! reduced line makes the whole line NaN, as in PyTorch. Along the last dim the sum is applied
//! as a multiplication by its reciprocal, elsewhere as a division, mirroring PyTorch's two kernels.
//!
//! log_softmax: `out = (x − m) − log(Σ_d exp(x − m))`, torch's CPU order (subtract the max,
//! then the log of the sum).
//!
//! argmax: `out[o, i]` is the first `d` holding the maximum; a NaN is greater than everything,
//! so the first NaN wins (PyTorch). Output is int64 `[outer, inner]`.
//!
//! Threading: one piece of work is one `outer` block; rayon over blocks when the tensor is large.

use super::parallel::for_each_piece;
use super::scalar::{max_step, Float, Scalar};

/// Softmax of `src` into `dst` (both `outer · dim · inner` elements) along the middle axis.
pub(crate) fn softmax<T: Float>(src: &[T], dst: &mut [T], dim: usize, inner: usize) {
    let block = dim * inner;
    // exp dominates: count it as several element operations so mid-sized tensors go parallel.
    let work = dst.len().saturating_mul(8);
    for_each_piece(dst, block, work, |o, out| {
        let x = &src[o * block..(o + 1) * block];
        if inner == 1 {
            softmax_line(x, out);
        } else {
            softmax_strided(x, out, inner);
        }
    });
}

/// Softmax over one contiguous line.
fn softmax_line<T: Float>(x: &[T], out: &mut [T]) {
    let m = x.iter().fold(T::LOWEST, |m, &v| max_step(m, v));
    for (o, &v) in out.iter_mut().zip(x) {
        *o = (v - m).exp();
    }
    let r = T::ONE / lane_sum(out);
    for o in out.iter_mut() {
        *o = *o * r;
    }
}

/// log_softmax of `src` into `dst` (both `outer · dim · inner` elements) along the middle axis.
pub(crate) fn log_softmax<T: Float>(src: &[T], dst: &mut [T], dim: usize, inner: usize) {
    let block = dim * inner;
    let work = dst.len().saturating_mul(8);
    for_each_piece(dst, block, work, |o, out| {
        let x = &src[o * block..(o + 1) * block];
        // Per column of the block: the max, then Σ exp(x − max) (exp kept in `out` meanwhile).
        let mut m = vec![T::LOWEST; inner];
        for row in x.chunks_exact(inner) {
            for (mj, &v) in m.iter_mut().zip(row) {
                *mj = max_step(*mj, v);
            }
        }
        for (orow, row) in out.chunks_exact_mut(inner).zip(x.chunks_exact(inner)) {
            for ((o, &v), &mj) in orow.iter_mut().zip(row).zip(&m) {
                *o = (v - mj).exp();
            }
        }
        let log_sum: Vec<T> = if inner == 1 {
            vec![lane_sum(out).ln()]
        } else {
            let mut sum = vec![T::ZERO; inner];
            for orow in out.chunks_exact(inner) {
                for (s, &e) in sum.iter_mut().zip(orow) {
                    *s += e;
                }
            }
            sum.into_iter().map(T::ln).collect()
        };
        for (orow, row) in out.chunks_exact_mut(inner).zip(x.chunks_exact(inner)) {
            for (((o, &v), &mj), &ls) in orow.iter_mut().zip(row).zip(&m).zip(&log_sum) {
                *o = (v - mj) - ls;
            }
        }
    });
}

/// Sum in 16 interleaved partial sums combined as a tree, the order of a 512-bit vector
/// reduction (PyTorch's `vec::reduce_all`): its rounding error grows like n/16 instead of n, it
/// stays close to PyTorch's result on long rows, and LLVM vectorises it.
pub(crate) fn lane_sum<T: Float>(x: &[T]) -> T {
    const LANES: usize = 16;
    let mut acc = [T::ZERO; LANES];
    let chunks = x.chunks_exact(LANES);
    let tail = chunks.remainder();
    for c in chunks {
        for (a, &v) in acc.iter_mut().zip(c) {
            *a += v;
        }
    }
    for (a, &v) in acc.iter_mut().zip(tail) {
        *a += v;
    }
    let mut width = LANES / 2;
    while width > 0 {
        for i in 0..width {
            acc[i] += acc[i + width];
        }
        width /= 2;
    }
    acc[0]
}

/// Softmax over `x.len() / inner` rows of `inner` elements, reducing across rows for each column.
/// Row-by-row loops keep memory access contiguous and vectorisable.
fn softmax_strided<T: Float>(x: &[T], out: &mut [T], inner: usize) {
    let mut m = vec![T::LOWEST; inner];
    for row in x.chunks_exact(inner) {
        for (mj, &v) in m.iter_mut().zip(row) {
            *mj = max_step(*mj, v);
        }
    }
    let mut sum = vec![T::ZERO; inner];
    for (orow, row) in out.chunks_exact_mut(inner).zip(x.chunks_exact(inner)) {
        for (((o, &v), &mj), s) in orow.iter_mut().zip(row).zip(&m).zip(sum.iter_mut()) {
            let e = (v - mj).exp();
            *o = e;
            *s += e;
        }
    }
    for orow in out.chunks_exact_mut(inner) {
        for (o, &s) in orow.iter_mut().zip(&sum) {
            *o = *o / s;
        }
    }
}

/// Index of the maximum of `src` (`outer · dim · inner` elements, `dim >= 1`) along the middle
/// axis into `dst` (`outer · inner` elements).
pub(crate) fn argmax<T: Scalar>(src: &[T], dst: &mut [i64], dim: usize, inner: usize) {
    let block = dim * inner;
    for_each_piece(dst, inner, src.len(), |o, out| {
        let x = &src[o * block..(o + 1) * block];
        if inner == 1 {
            out[0] = argmax_line(x);
        } else {
            argmax_strided(x, out, inner);
        }
    });
}

/// Whether `v` (at a later index) replaces `best`: strictly greater, or the first NaN.
#[inline(always)]
fn beats<T: Scalar>(best: T, v: T) -> bool {
    !best.is_nan() && (v > best || v.is_nan())
}

fn argmax_line<T: Scalar>(x: &[T]) -> i64 {
    let (mut best, mut at) = (x[0], 0usize);
    for (i, &v) in x.iter().enumerate().skip(1) {
        if beats(best, v) {
            best = v;
            at = i;
        }
    }
    at as i64
}

fn argmax_strided<T: Scalar>(x: &[T], out: &mut [i64], inner: usize) {
    let mut best = x[..inner].to_vec();
    out.fill(0);
    for (d, row) in x.chunks_exact(inner).enumerate().skip(1) {
        for ((b, o), &v) in best.iter_mut().zip(out.iter_mut()).zip(row) {
            if beats(*b, v) {
                *b = v;
                *o = d as i64;
            }
        }
    }
}
