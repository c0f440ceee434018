//! One image's convolution on several threads (batch smaller than the pool): the im2col + gemm
//! product `out_g [Cg_out, P] = W_g [Cg_out, K] · col [K, P]` of each group is split into one
//! piece per thread, by whichever cut moves less memory:
//! * **by output channels** (rows of `out_g`: contiguous, written in place): each thread reads
//!   only its rows of `W_g`, but expands every position itself: `(t − 1)·K·P` extra copies;
//! * **by output positions** (columns): each thread expands only its own positions but reads
//!   all of `W_g`, `(t − 1)·Cg_out·K` extra reads, computes `[Cg_out, P/t]` into scratch while
//!   it is in cache, and the pieces are then placed into `out_g` one channel row per task
//!   (`Cg_out·P` copies), with relu applied as they are stored.
//!
//! So late layers (few positions, large weights: 512 channels on 7×7) split by channels and
//! early ones (many positions) by positions; a 1×1 convolution expands nothing, so it splits by
//! channels whenever it has enough of them.
//!
//! The gemm crate's own threading splits a batch-1 product into pieces too small to pay for
//! their synchronisation (one thread was faster than two); here each thread runs a
//! single-threaded gemm on a piece a whole core's worth of work.

use rayon::prelude::*;

use super::{group_gemm, im2col, Dims, COL_BLOCK_BYTES};
use crate::cpu::epilogue::Post;
use crate::cpu::gemm::{matmul, MatRef};
use crate::cpu::scalar::relu_slice;
use crate::cpu::{with_scratch, Float};
use crate::error::{Error, Result};

/// Output channels per piece are a multiple of this (the gemm's register tile height).
const ROW_ALIGN: usize = 8;
/// Output positions per piece are a multiple of this (the gemm's register tile width).
const COL_ALIGN: usize = 16;

/// One image (`x_img [C_in, H, W]` → `out_img [C_out, H_out, W_out]`) on `threads` threads.
pub(super) fn image<T: Float>(
    d: &Dims,
    x_img: &[T],
    w: &[T],
    bias: Option<&[T]>,
    post: &Post<'_, T>,
    out_img: &mut [T],
    threads: usize,
) -> Result<()> {
    let (plane, hwo, k) = (d.h * d.w, d.hw_out(), d.k());
    for g in 0..d.groups {
        let x_g = &x_img[g * d.cg_in * plane..][..d.cg_in * plane];
        let w_g = &w[g * d.cg_out * k..][..d.cg_out * k];
        let out_g = &mut out_img[g * d.cg_out * hwo..][..d.cg_out * hwo];
        let b_g = bias.map(|b| &b[g * d.cg_out..][..d.cg_out]);
        let post_g = post.piece(g * d.cg_out * hwo, d.cg_out * hwo);
        if by_channels_is_cheaper(d, threads) {
            by_channels(d, x_g, w_g, b_g, &post_g, out_g, threads)?;
        } else {
            by_columns(d, x_g, w_g, b_g, &post_g, out_g, threads)?;
        }
    }
    Ok(())
}

/// The cost rule of the module comment, in elements moved.
fn by_channels_is_cheaper(d: &Dims, threads: usize) -> bool {
    if d.cg_out < 2 * ROW_ALIGN {
        return false;
    }
    let (k, p, t1) = (d.k(), d.hw_out(), threads.saturating_sub(1));
    let expand = if d.pointwise() { 0 } else { t1 * k * p };
    let columns = t1 * d.cg_out * k + d.cg_out * p;
    expand <= columns
}

fn by_channels<T: Float>(
    d: &Dims,
    x_g: &[T],
    w_g: &[T],
    bias: Option<&[T]>,
    post: &Post<'_, T>,
    out_g: &mut [T],
    threads: usize,
) -> Result<()> {
    let (hwo, k) = (d.hw_out(), d.k());
    let rows = d
        .cg_out
        .div_ceil(threads)
        .next_multiple_of(ROW_ALIGN)
        .min(d.cg_out);
    out_g
        .par_chunks_mut(rows * hwo)
        .enumerate()
        .try_for_each(|(t, out_t)| {
            let co0 = t * rows;
            let mut dt = *d;
            dt.cg_out = out_t.len() / hwo;
            let w_t = &w_g[co0 * k..][..dt.cg_out * k];
            let b_t = bias.map(|b| &b[co0..][..dt.cg_out]);
            group_gemm(&dt, x_g, w_t, b_t, out_t, 1)?;
            if d.relu {
                relu_slice(out_t);
            }
            post.piece(co0 * hwo, out_t.len()).apply(out_t);
            Ok(())
        })
}

fn by_columns<T: Float>(
    d: &Dims,
    x_g: &[T],
    w_g: &[T],
    bias: Option<&[T]>,
    post: &Post<'_, T>,
    out_g: &mut [T],
    threads: usize,
) -> Result<()> {
    let (hwo, k, m) = (d.hw_out(), d.k(), d.cg_out);
    let per = hwo.div_ceil(threads).next_multiple_of(COL_ALIGN).min(hwo);
    let wm = MatRef {
        data: w_g,
        rs: k,
        cs: 1,
    };
    let pieces: Vec<Vec<T>> = (0..hwo.div_ceil(per))
        .into_par_iter()
        .map(|t| {
            let p0 = t * per;
            let pn = per.min(hwo - p0);
            let mut piece = vec![T::ZERO; m * pn];
            if let Some(b) = bias {
                for (row, &bv) in piece.chunks_exact_mut(pn).zip(b) {
                    row.fill(bv);
                }
            }
            if d.pointwise() {
                let xm = MatRef {
                    data: &x_g[p0..],
                    rs: hwo,
                    cs: 1,
                };
                matmul(m, pn, k, &mut piece, pn, bias.is_some(), wm, xm, 1)?;
                return Ok(piece);
            }
            let block = (COL_BLOCK_BYTES / (k * std::mem::size_of::<T>()))
                .clamp(64, pn.max(64))
                .min(pn);
            with_scratch::<T, _>(k * block, |col| {
                let mut q = 0;
                while q < pn {
                    let qn = block.min(pn - q);
                    let col = &mut col[..k * qn];
                    im2col(d, x_g, p0 + q, qn, col);
                    let cm = MatRef {
                        data: col,
                        rs: qn,
                        cs: 1,
                    };
                    matmul(m, qn, k, &mut piece[q..], pn, bias.is_some(), wm, cm, 1)?;
                    q += qn;
                }
                Ok::<(), Error>(())
            })?;
            Ok(piece)
        })
        .collect::<Result<_>>()?;
    out_g.par_chunks_mut(hwo).enumerate().for_each(|(co, row)| {
        for (t, piece) in pieces.iter().enumerate() {
            let p0 = t * per;
            let pn = piece.len() / m;
            let dst = &mut row[p0..][..pn];
            dst.copy_from_slice(&piece[co * pn..][..pn]);
            if d.relu {
                relu_slice(dst);
            }
        }
        post.piece(co * hwo, hwo).apply(row);
    });
    Ok(())
}
