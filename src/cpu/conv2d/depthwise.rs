//! Depthwise conv2d (one input and one output channel per group: MobileNet, EfficientNet,
//! ConvNeXt), f32: `out[n, c, oh, ow] = b[c] + Σ_{kh, kw} w[c, kh, kw] ·
//! x[n, c, oh·sh − ph + kh·dh, ow·sw − pw + kw·dw]`.
//!
//! With one channel there is no reduction over channels to block on, so the im2col + gemm path
//! and the channel-blocked direct kernel both waste most of their work on one-row products.
//! Here each task takes whole planes `(n, c)`: the plane is copied once into scratch with its
//! zero padding, split into `sw` column phases (`phase[q][r][j] = padded[r][j·sw + q]`), so the
//! taps of `L` adjacent outputs are always `L` adjacent scratch elements, even at stride 2:
//! output `ow`'s tap `kw` reads phase `(kw·dw) % sw` at column `ow + (kw·dw) / sw`. Every output
//! row then runs as vectors of `L` columns, `V` vectors at a time (independent accumulators),
//! one unaligned load and one FMA with the broadcast tap weight per tap and vector, and the
//! bias and relu are applied as the vector is stored.
//!
//! Compiled per [`CpuCapability`] (16 lanes on AVX-512, 8 on AVX2 and the portable path).

use rayon::prelude::*;

use super::Dims;
use crate::cpu::epilogue::Post;
use crate::cpu::isa::{active, CpuCapability};
use crate::cpu::with_scratch;
use crate::error::{Error, Result};

/// Output vectors per accumulator block.
const V: usize = 4;

/// Largest scratch (elements) per plane this path takes; bigger planes use the direct kernel.
const MAX_SCRATCH: usize = 1 << 22;

/// Whether this kernel runs `d` (f32 is the caller's check).
pub(crate) fn applies(d: &Dims) -> bool {
    d.groups == d.c_in
        && d.c_out == d.c_in
        && d.cg_in == 1
        && d.cg_out == 1
        && (1..=4).contains(&d.sw)
        && geometry(d).is_some_and(|g| g.scratch <= MAX_SCRATCH)
}

/// The scratch layout of one plane.
#[derive(Copy, Clone)]
struct Geometry {
    /// Rows of the padded plane (`H + 2·ph`).
    rows: usize,
    /// Columns of each phase (enough for every vector of every tap, rounded to a whole vector).
    cols: usize,
    scratch: usize,
}

fn geometry(d: &Dims) -> Option<Geometry> {
    let rows = d.h.checked_add(d.ph.checked_mul(2)?)?;
    // Widest read: output column w_out rounded up to 16 lanes · V, plus the largest tap offset.
    let cover = d.w_out.div_ceil(16 * V).checked_mul(16 * V)?;
    let tap = (d.kw.checked_sub(1)?).checked_mul(d.dw)? / d.sw + 1;
    let cols = cover.checked_add(tap)?;
    let scratch = rows.checked_mul(cols)?.checked_mul(d.sw)?;
    Some(Geometry {
        rows,
        cols,
        scratch,
    })
}

pub(crate) fn conv2d(
    d: &Dims,
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    post: &Post<'_, f32>,
    out: &mut [f32],
    threads: usize,
) -> Result<()> {
    let g = geometry(d).ok_or_else(|| Error::Overflow {
        what: format!("depthwise conv2d scratch for {d:?}"),
    })?;
    let (plane, hwo, kk) = (d.h * d.w, d.hw_out(), d.kh * d.kw);
    let cap = active();
    let task = |(pi, o): (usize, &mut [f32])| {
        with_scratch::<f32, _>(g.scratch, |s| {
            let c = pi % d.c_in;
            fill_phases(d, &g, &x[pi * plane..][..plane], s);
            let wc = &w[c * kk..][..kk];
            let b = bias.map_or(0.0, |b| b[c]);
            plane_rows(cap, d, &g, s, wc, b, o);
        });
        post.piece(pi * hwo, hwo).apply(o);
    };
    // Whole planes per task: enough work (≥ ~32k multiply-adds) to pay for the hand-off.
    let per_task = (32_768 / (hwo * kk).max(1)).max(1);
    if threads > 1 {
        out.par_chunks_mut(hwo * per_task)
            .enumerate()
            .for_each(|(t, chunk)| {
                for (i, o) in chunk.chunks_exact_mut(hwo).enumerate() {
                    task((t * per_task + i, o));
                }
            });
    } else {
        out.chunks_exact_mut(hwo).enumerate().for_each(task);
    }
    Ok(())
}

/// Copies one input plane into its zero-padded column phases (every scratch element written).
fn fill_phases(d: &Dims, g: &Geometry, x: &[f32], s: &mut [f32]) {
    for q in 0..d.sw {
        let ph = &mut s[q * g.rows * g.cols..][..g.rows * g.cols];
        // Phase column j holds padded column j·sw + q, i.e. input column j·sw + q − pw, which
        // lies inside the input for j in [lo, hi).
        let lo = d.pw.saturating_sub(q).div_ceil(d.sw).min(g.cols);
        let hi = (d.w + d.pw)
            .saturating_sub(q)
            .div_ceil(d.sw)
            .clamp(lo, g.cols);
        for (r, dst) in ph.chunks_exact_mut(g.cols).enumerate() {
            let Some(ih) = r.checked_sub(d.ph).filter(|&ih| ih < d.h) else {
                dst.fill(0.0);
                continue;
            };
            let src = &x[ih * d.w..][..d.w];
            dst[..lo].fill(0.0);
            dst[hi..].fill(0.0);
            let first = lo * d.sw + q - d.pw;
            if d.sw == 1 {
                dst[lo..hi].copy_from_slice(&src[first..first + (hi - lo)]);
            } else {
                for (v, s) in dst[lo..hi]
                    .iter_mut()
                    .zip(src[first..].iter().step_by(d.sw))
                {
                    *v = *s;
                }
            }
        }
    }
}

fn plane_rows(
    cap: CpuCapability,
    d: &Dims,
    g: &Geometry,
    s: &[f32],
    w: &[f32],
    b: f32,
    o: &mut [f32],
) {
    match cap {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `active()` only returns a capability the CPU was detected to have.
        CpuCapability::Avx512 => unsafe { rows_avx512(d, g, s, w, b, o) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above.
        CpuCapability::Avx2 => unsafe { rows_avx2(d, g, s, w, b, o) },
        _ => rows::<8, false>(d, g, s, w, b, o),
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,fma")]
unsafe fn rows_avx512(d: &Dims, g: &Geometry, s: &[f32], w: &[f32], b: f32, o: &mut [f32]) {
    rows::<16, true>(d, g, s, w, b, o)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn rows_avx2(d: &Dims, g: &Geometry, s: &[f32], w: &[f32], b: f32, o: &mut [f32]) {
    rows::<8, true>(d, g, s, w, b, o)
}

/// Every output row of one plane, `V` vectors of `L` columns at a time.
#[inline(always)]
fn rows<const L: usize, const FMA: bool>(
    d: &Dims,
    g: &Geometry,
    s: &[f32],
    w: &[f32],
    b: f32,
    o: &mut [f32],
) {
    let phase = g.rows * g.cols;
    for oh in 0..d.h_out {
        let orow = &mut o[oh * d.w_out..][..d.w_out];
        let mut ow = 0;
        while ow < d.w_out {
            let mut acc = [[b; L]; V];
            for kh in 0..d.kh {
                let r = oh * d.sh + kh * d.dh;
                for kw in 0..d.kw {
                    let tap = kw * d.dw;
                    let base = (tap % d.sw) * phase + r * g.cols + ow + tap / d.sw;
                    let src = &s[base..][..L * V];
                    let wv = w[kh * d.kw + kw];
                    for (a, chunk) in acc.iter_mut().zip(src.chunks_exact(L)) {
                        for l in 0..L {
                            a[l] = if FMA {
                                chunk[l].mul_add(wv, a[l])
                            } else {
                                a[l] + chunk[l] * wv
                            };
                        }
                    }
                }
            }
            let n = (L * V).min(d.w_out - ow);
            let dst = &mut orow[ow..][..n];
            for (i, v) in dst.iter_mut().enumerate() {
                let y = acc[i / L][i % L];
                *v = if d.relu && y < 0.0 { 0.0 } else { y };
            }
            ow += L * V;
        }
    }
}
