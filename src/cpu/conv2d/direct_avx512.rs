//! The direct kernel (see `direct.rs`) for f32 with explicit AVX-512 intrinsics. LLVM's
//! auto-vectoriser turned the portable body into gathers and stack spills for some channel
//! blocks; this version keeps `CB` zmm accumulators (16 output columns each) in registers and
//! issues one unaligned input load plus `CB` broadcast FMAs per tap.
//!
//! AVX-512 intrinsics and `target_feature(enable = "avx512f")` are stable since Rust 1.89, the
//! crate's rust-version.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::{
    __m512, _mm512_fmadd_ps, _mm512_loadu_ps, _mm512_mask_storeu_ps, _mm512_max_ps, _mm512_set1_ps,
    _mm512_setzero_ps, _mm512_storeu_ps,
};

use super::tile::{padded_width, tiles, TW};
use super::Dims;

/// `out [CB, H_out, W_out]` from `pad [Cg_in, H, WP]` and `wpk [Cg_in·kH·kW, CB]`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
pub(super) fn block<const CB: usize>(
    d: &Dims,
    bias: Option<&[f32]>,
    pad: &[f32],
    wpk: &[f32],
    out: &mut [f32],
) {
    let (wp, khw) = (padded_width(d), d.kh * d.kw);
    // Elements of a padded row one tile reads: the last tap starts (kW − 1)·dW further on.
    let span = (d.kw - 1) * d.dw + TW;
    let mut init = [_mm512_set1_ps(0.0); CB];
    if let Some(b) = bias {
        for (a, &bv) in init.iter_mut().zip(b) {
            *a = _mm512_set1_ps(bv);
        }
    }
    for oh in 0..d.h_out {
        for t in 0..tiles(d) {
            let mut acc: [__m512; CB] = init;
            for ci in 0..d.cg_in {
                for kh in 0..d.kh {
                    let ih = oh * d.sh + kh * d.dh;
                    if ih < d.ph || ih - d.ph >= d.h {
                        continue; // vertical padding: the tap reads zeros
                    }
                    // One bounds check per row; padded_width makes this always fit.
                    let row = &pad[(ci * d.h + ih - d.ph) * wp + t * TW..][..span];
                    let wrow = &wpk[(ci * khw + kh * d.kw) * CB..][..d.kw * CB];
                    for (kx, wv) in wrow.chunks_exact(CB).enumerate() {
                        // SAFETY: kx·dW + 16 ≤ span = row.len().
                        let x = unsafe { _mm512_loadu_ps(row.as_ptr().add(kx * d.dw)) };
                        for (a, &w) in acc.iter_mut().zip(wv) {
                            *a = _mm512_fmadd_ps(_mm512_set1_ps(w), x, *a);
                        }
                    }
                }
            }
            let valid = TW.min(d.w_out - t * TW);
            // valid ∈ 1..=16, so the shift stays below 32 and the mask fits 16 bits.
            let mask = ((1u32 << valid) - 1) as u16;
            if d.relu {
                // max(0, x) returns its second operand for NaN and for ±0 pairs, so this is
                // exactly `x < 0 ? 0 : x`.
                for a in acc.iter_mut() {
                    *a = _mm512_max_ps(_mm512_setzero_ps(), *a);
                }
            }
            for (c, a) in acc.iter().enumerate() {
                let dst = &mut out[(c * d.h_out + oh) * d.w_out + t * TW..][..valid];
                // SAFETY: the mask enables exactly `valid` lanes, all inside `dst`.
                unsafe { _mm512_mask_storeu_ps(dst.as_mut_ptr(), mask, *a) };
            }
        }
    }
}

/// Output columns per register block of [`block_cl`]: with one weight register that leaves
/// room in the 32 zmm registers.
#[cfg(target_arch = "x86_64")]
const NB_MAX: usize = 16;

/// Channels-in-lanes variant for blocks of exactly 16 output channels: `acc[j]` holds output
/// column `ow0 + j` for all 16 channels, and each tap is one 16-channel weight load plus one
/// broadcast FMA per column, so no lane is wasted on columns past `W_out` (conv2 of the
/// CIFAR Net has 10-wide rows, which used 10 of 16 lanes in [`block`]). The sum order per
/// output (bias, then taps in `(ci, kh, kw)` order) is `block`'s, so results are identical.
/// `wpk` is `[Cg_in·kH·kW, 16]`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
pub(super) fn block_cl(d: &Dims, bias: Option<&[f32]>, pad: &[f32], wpk: &[f32], out: &mut [f32]) {
    let init = match bias {
        // SAFETY: the slice holds 16 elements.
        Some(b) if b.len() >= 16 => unsafe { _mm512_loadu_ps(b.as_ptr()) },
        _ => _mm512_setzero_ps(),
    };
    let chunks = d.w_out.div_ceil(NB_MAX);
    let base = d.w_out.div_ceil(chunks.max(1));
    for oh in 0..d.h_out {
        let mut ow0 = 0;
        while ow0 < d.w_out {
            let nb = base.min(d.w_out - ow0);
            macro_rules! by_nb {
                ($($n:literal)*) => {
                    match nb {
                        $($n => cols::<$n>(d, init, pad, wpk, out, oh, ow0),)*
                        _ => {}
                    }
                };
            }
            by_nb!(1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16);
            ow0 += nb;
        }
    }
}

/// Output columns `ow0 .. ow0 + NB` of row `oh` for 16 channels (see [`block_cl`]).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline]
fn cols<const NB: usize>(
    d: &Dims,
    init: __m512,
    pad: &[f32],
    wpk: &[f32],
    out: &mut [f32],
    oh: usize,
    ow0: usize,
) {
    let (wp, khw) = (padded_width(d), d.kh * d.kw);
    let span = (d.kw - 1) * d.dw + NB;
    let mut acc = [init; NB];
    for ci in 0..d.cg_in {
        for kh in 0..d.kh {
            let ih = oh * d.sh + kh * d.dh;
            if ih < d.ph || ih - d.ph >= d.h {
                continue; // vertical padding: the tap reads zeros
            }
            // ow0 + NB ≤ W_out, so the last tap's column stays inside the padded row.
            let row = &pad[(ci * d.h + ih - d.ph) * wp + ow0..][..span];
            let wrow = &wpk[(ci * khw + kh * d.kw) * 16..][..d.kw * 16];
            for kx in 0..d.kw {
                // SAFETY: (kx + 1)·16 ≤ wrow.len().
                let wv = unsafe { _mm512_loadu_ps(wrow.as_ptr().add(kx * 16)) };
                let xr = &row[kx * d.dw..][..NB];
                for (a, &x) in acc.iter_mut().zip(xr) {
                    *a = _mm512_fmadd_ps(_mm512_set1_ps(x), wv, *a);
                }
            }
        }
    }
    let mut tmp = [[0.0f32; 16]; NB];
    for (t, a) in tmp.iter_mut().zip(acc.iter()) {
        let v = if d.relu {
            // max(0, x) is exactly `x < 0 ? 0 : x` (see `block`).
            _mm512_max_ps(_mm512_setzero_ps(), *a)
        } else {
            *a
        };
        // SAFETY: `t` holds 16 floats.
        unsafe { _mm512_storeu_ps(t.as_mut_ptr(), v) };
    }
    let plane = d.h_out * d.w_out;
    for c in 0..16 {
        let dst = &mut out[c * plane + oh * d.w_out + ow0..][..NB];
        for (o, t) in dst.iter_mut().zip(tmp.iter()) {
            *o = t[c];
        }
    }
}
