//! add on the CPU: `out[i] = act(a[ia] + b[ib])` with broadcasting, as [`BroadcastParams`]
//! describes it (`act` the identity or relu; one addition per output, so the bits are
//! PyTorch's for the same operands).
//!
//! `a` and `b` are contiguous slices of `a_numel`/`b_numel` elements read through the params'
//! broadcast strides (0 on a broadcast dim), `out` is contiguous `[n]`.
//!
//! Threading: a piece of work is one output row (the innermost dim); rayon runs groups of rows
//! when the output is large. Each row is one of three loops LLVM vectorises: both operands
//! advancing (stride 1), or one of them fixed for the row (stride 0: a bias, a scale, a
//! broadcast residual); other strides take a plain strided loop.

use rayon::prelude::*;

use super::parallel::{for_each_piece, PAR_CHUNK, PAR_MIN_WORK};
use super::pool_threads;
use super::scalar::{relu1, Arith};
use crate::kernels::BroadcastParams;

/// Computes `out` (`p.n` elements, fully overwritten). `p` was validated by
/// `BroadcastParams::new` and the slices have exactly its element counts.
pub(crate) fn add<T: Arith>(p: &BroadcastParams, a: &[T], b: &[T], out: &mut [T]) {
    let relu = p.relu != 0;
    let act = |v: T| if relu { relu1(v) } else { v };
    if p.dense != 0 {
        let piece = |start: usize, o: &mut [T]| {
            let (ar, br) = (&a[start..start + o.len()], &b[start..start + o.len()]);
            for ((y, &x), &z) in o.iter_mut().zip(ar).zip(br) {
                *y = act(x.add(z));
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
            *y = act(x.add(z));
        }
        return;
    }
    let dims = |v: &[i64; 8]| -> Vec<usize> { v[..nd].iter().map(|&x| x as usize).collect() };
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
                    *y = act(x.add(z));
                }
            }
            (1, 0) => {
                let z = b[ob];
                for (y, &x) in o.iter_mut().zip(&a[oa..oa + inner]) {
                    *y = act(x.add(z));
                }
            }
            (0, 1) => {
                let x = a[oa];
                for (y, &z) in o.iter_mut().zip(&b[ob..ob + inner]) {
                    *y = act(x.add(z));
                }
            }
            _ => {
                for (j, y) in o.iter_mut().enumerate() {
                    *y = act(a[oa + j * ia].add(b[ob + j * ib]));
                }
            }
        }
    });
}
