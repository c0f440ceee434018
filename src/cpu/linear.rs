//! linear on the CPU: `out[m, o] = act(bias[o] + Σ_k x[m, k] · w[o, k])`, with `x` `[M, K]`,
//! `w` `[N, K]` (so the product is `x · wᵀ`, read through strides, never transposed in memory),
//! `bias` `[N]`, `out` `[M, N]`, all contiguous, and `act` the identity or relu.
//!
//! Three paths, by how often each weight is reused:
//! * M ≤ 8 rows, f32: a matrix-vector product streaming `w` once at memory speed (`gemv.rs`).
//! * N > M (more weights than inputs: small batches): the output features are split into one
//!   block per worker, so each core streams only its share of `w`; the blocks are computed
//!   into scratch and placed.
//! * otherwise: the rows of `out` are split into one block per worker (each reads all of `w`,
//!   which is then the smaller operand).
//!
//! Each worker runs a single-threaded gemm and then the epilogue (bias, relu) while its block is
//! still in cache. Small problems run on the calling thread as one block.

use rayon::prelude::*;

use super::gemm::{matmul, MatRef};
use super::gemv;
use super::scalar::relu_slice;
use super::{as_f32, as_f32_mut, threads_for, Float};
use crate::error::{Error, Result};
use crate::kernels::LinearParams;

fn dims(p: &LinearParams) -> Result<(usize, usize, usize)> {
    let u = |v: i64| {
        usize::try_from(v).map_err(|_| Error::Overflow {
            what: format!("linear size {v}"),
        })
    };
    Ok((u(p.m)?, u(p.k)?, u(p.n)?))
}

/// Computes linear into `out` (`[M, N]`, fully overwritten).
pub(crate) fn linear<T: Float>(
    p: &LinearParams,
    x: &[T],
    w: &[T],
    bias: Option<&[T]>,
    out: &mut [T],
) -> Result<()> {
    let (m, k, n) = dims(p)?;
    let need = |len: usize, want: Option<usize>, name: &str| -> Result<()> {
        match want {
            Some(w) if w == len => Ok(()),
            _ => Err(Error::Shape {
                op: "linear",
                expected: format!("{name} of {want:?} elements for {p:?}"),
                got: format!("{len}"),
            }),
        }
    };
    need(x.len(), m.checked_mul(k), "input")?;
    need(w.len(), n.checked_mul(k), "weight")?;
    need(out.len(), m.checked_mul(n), "output")?;
    if let Some(b) = bias {
        need(b.len(), Some(n), "bias")?;
    }
    if m == 0 || n == 0 {
        return Ok(());
    }
    let relu = p.relu != 0;
    if m <= gemv::MAX_ROWS {
        if let (Some(xf), Some(wf), Some(of)) = (as_f32(x), as_f32(w), as_f32_mut(out)) {
            let bf = bias.and_then(as_f32);
            return gemv::gemv(m, k, n, xf, wf, bf, relu, of, super::pool_threads());
        }
    }
    let flops = 2usize.saturating_mul(m).saturating_mul(n).saturating_mul(k);
    let threads = threads_for(flops);
    if threads > 1 && n > m {
        return by_features(m, k, n, x, w, bias, relu, out, threads);
    }
    let rows_per_block = m.div_ceil(threads);
    let block = |(i, out_block): (usize, &mut [T])| -> Result<()> {
        let rows = out_block.len() / n;
        let x_block = &x[i * rows_per_block * k..][..rows * k];
        block_product(rows, k, n, x_block, w, bias, relu, out_block)
    };
    if threads == 1 {
        block((0, out))
    } else {
        out.par_chunks_mut(rows_per_block * n)
            .enumerate()
            .try_for_each(block)
    }
}

/// Splits the output features into `threads` blocks (multiples of 16, the widest register
/// tile): each block is `x · w[n0..n1]ᵀ` into scratch, then placed into its columns of `out`.
#[allow(clippy::too_many_arguments)]
fn by_features<T: Float>(
    m: usize,
    k: usize,
    n: usize,
    x: &[T],
    w: &[T],
    bias: Option<&[T]>,
    relu: bool,
    out: &mut [T],
    threads: usize,
) -> Result<()> {
    let per = n.div_ceil(threads).next_multiple_of(16).min(n);
    let pieces: Vec<(usize, Vec<T>)> = (0..n.div_ceil(per))
        .into_par_iter()
        .map(|t| {
            let n0 = t * per;
            let nb = per.min(n - n0);
            let mut piece = vec![T::ZERO; m * nb];
            let b = bias.map(|b| &b[n0..][..nb]);
            block_product(m, k, nb, x, &w[n0 * k..][..nb * k], b, relu, &mut piece)?;
            Ok((n0, piece))
        })
        .collect::<Result<_>>()?;
    for (n0, piece) in pieces {
        let nb = piece.len() / m;
        for (i, src) in piece.chunks_exact(nb).enumerate() {
            out[i * n + n0..][..nb].copy_from_slice(src);
        }
    }
    Ok(())
}

/// One block: bias broadcast, single-threaded gemm accumulating onto it, then relu.
#[allow(clippy::too_many_arguments)]
fn block_product<T: Float>(
    rows: usize,
    k: usize,
    n: usize,
    x: &[T],
    w: &[T],
    bias: Option<&[T]>,
    relu: bool,
    out: &mut [T],
) -> Result<()> {
    if let Some(b) = bias {
        for row in out.chunks_exact_mut(n) {
            row.copy_from_slice(b);
        }
    }
    // wᵀ as a [K, N] view of the [N, K] weight: element (k, o) is w[o·K + k].
    let wt = MatRef {
        data: w,
        rs: 1,
        cs: k,
    };
    let xm = MatRef {
        data: x,
        rs: k,
        cs: 1,
    };
    matmul(rows, n, k, out, n, bias.is_some(), xm, wt, 1)?;
    if relu {
        relu_slice(out);
    }
    Ok(())
}
