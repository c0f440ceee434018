//! The broadcast loop of every binary elementwise op on the CPU (add, mul, add with alpha):
//! `out[i] = f(a[ia], b[ib])` with the operand offsets of [`BroadcastParams`] (contiguous
//! operands of `a_numel`/`b_numel` elements read through broadcast strides, 0 on a broadcast
//! dim; `out` contiguous `[n]`).
//!
//! Threading: a piece of work is one output row (the innermost dim); rayon runs groups of rows
//! when the output is large. Each row is one of three loops LLVM vectorises: both operands
//! advancing (stride 1), or one of them fixed for the row (stride 0: a bias, a scale, a
//! broadcast residual); other strides take a plain strided loop.

use rayon::prelude::*;

use super::parallel::{for_each_piece, PAR_CHUNK, PAR_MIN_WORK};
use super::pool_threads;
use crate::kernels::BroadcastParams;

/// Computes `out` (`p.n` elements, fully overwritten) as `f(a[ia], b[ib])`. `p` was validated
/// by `BroadcastParams::new` and the slices have exactly its element counts.
#[inline(always)]
pub(crate) fn map<T: Copy + Send + Sync>(
    p: &BroadcastParams,
    a: &[T],
    b: &[T],
    out: &mut [T],
    f: impl Fn(T, T) -> T + Sync,
) {
    if p.dense != 0 {
        let piece = |start: usize, o: &mut [T]| {
            let (ar, br) = (&a[start..start + o.len()], &b[start..start + o.len()]);
            for ((y, &x), &z) in o.iter_mut().zip(ar).zip(br) {
                *y = f(x, z);
            }
        };
        if out.len() < PAR_MIN_WORK || pool_threads() < 2 {
            piece(0, out);
        } else {
            out.par_chunks_mut(PAR_CHUNK)
                .enumerate()
                .for_each(|(i, o)| piece(i * PAR_CHUNK, o));
        }
        return;
    }
    let nd = usize::try_from(p.ndim).unwrap_or(0);
    if nd == 0 {
        // A 0-d output: one element.
        if let (Some(y), Some(&x), Some(&z)) = (out.first_mut(), a.first(), b.first()) {
            *y = f(x, z);
        }
        return;
    }
    // Non-negative by construction (BroadcastParams::new converts them from usize).
    let dims = |v: &[i64; 8]| -> Vec<usize> {
        v[..nd]
            .iter()
            .map(|&x| usize::try_from(x).unwrap_or(0))
            .collect()
    };
    let (shape, sa, sb) = (dims(&p.shape), dims(&p.a_strides), dims(&p.b_strides));
    let inner = shape[nd - 1];
    let (ia, ib) = (sa[nd - 1], sb[nd - 1]);
    for_each_piece(out, inner, out.len(), |row, o| {
        // The row's first element: the outer coordinates of `row`, innermost outer dim first.
        let (mut rest, mut oa, mut ob) = (row, 0usize, 0usize);
        for d in (0..nd - 1).rev() {
            let c = rest % shape[d];
            rest /= shape[d];
            oa += c * sa[d];
            ob += c * sb[d];
        }
        match (ia, ib) {
            (1, 1) => {
                for ((y, &x), &z) in o.iter_mut().zip(&a[oa..oa + inner]).zip(&b[ob..ob + inner]) {
                    *y = f(x, z);
                }
            }
            (1, 0) => {
                let z = b[ob];
                for (y, &x) in o.iter_mut().zip(&a[oa..oa + inner]) {
                    *y = f(x, z);
                }
            }
            (0, 1) => {
                let x = a[oa];
                for (y, &z) in o.iter_mut().zip(&b[ob..ob + inner]) {
                    *y = f(x, z);
                }
            }
            _ => {
                for (j, y) in o.iter_mut().enumerate() {
                    *y = f(a[oa + j * ia], b[ob + j * ib]);
                }
            }
        }
    });
}
