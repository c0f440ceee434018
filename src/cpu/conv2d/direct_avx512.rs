//! The direct kernel (see `direct.rs`) for f32 with explicit AVX-512 intrinsics. LLVM's
//! auto-vectoriser turned the portable body into gathers and stack spills for some channel
//! blocks; this version keeps `CB` zmm accumulators (16 output columns each) in registers and
//! issues one unaligned input load plus `CB` broadcast FMAs per tap.
//!
//! AVX-512 intrinsics and `target_feature(enable = "avx512f")` are stable since Rust 1.89, the
//! crate's rust-version.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::{
    __m512, _mm512_fmadd_ps, _mm512_loadu_ps, _mm512_mask_storeu_ps, _mm512_set1_ps,
};

use super::direct::{padded_width, tiles, TW};
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
            for (c, a) in acc.iter().enumerate() {
                let dst = &mut out[(c * d.h_out + oh) * d.w_out + t * TW..][..valid];
                // SAFETY: the mask enables exactly `valid` lanes, all inside `dst`.
                unsafe { _mm512_mask_storeu_ps(dst.as_mut_ptr(), mask, *a) };
            }
        }
    }
}
