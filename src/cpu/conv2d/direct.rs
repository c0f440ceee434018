//! Direct conv2d for few output channels per group and unit horizontal stride.
//!
//! One task computes a block of `CB` output channels of one image, `out[n, co0 .. co0+CB, :, :]`
//! (a contiguous chunk of the NCHW output). It first copies the group's input planes into a
//! scratch `pad [Cg_in, H, WP]` whose rows carry the left/right zero padding and enough zeros
//! on the right that every 16-wide tile can be loaded whole, and packs the block's weights as
//! `wpk [Cg_in·kH·kW, CB]`. Then for every output row and 16-column tile it keeps
//! `acc [CB][16]` in registers and, for each tap `(ci, kh, kw)`, loads 16 inputs once and
//! does `CB × 16` FMAs with broadcast weights:
//! `acc[c][j] += wpk[(ci, kh, kw), c] · pad[ci, oh·sh − ph + kh·dh, t·16 + j + kw·dw]`.
//! Rows outside the input (vertical padding) are skipped. The arrays have constant sizes so
//! LLVM unrolls and vectorises them; the body is compiled once per ISA (AVX-512, AVX2+FMA,
//! baseline) and selected at run time.
//!
//! On AVX-512 f32, groups of exactly 16 output channels instead put the channels in the
//! lanes (`direct_avx512::block_cl`): one 16-channel weight load and one broadcast FMA per
//! output column, so narrow rows (conv2 of the CIFAR Net: 10 columns) waste no lanes. With
//! `Dims::relu`, relu is applied as the output is stored.

use rayon::prelude::*;

use super::direct_avx512;
use super::tile::{padded_width, tiles, TW};
use super::Dims;
use crate::cpu::epilogue::Post;
use crate::cpu::isa::CpuCapability;
use crate::cpu::{with_scratch, Float};
use crate::dtype::DType;
use crate::error::{Error, Result};

/// Largest padded input copy (elements) this path accepts; bigger inputs go through im2col.
const MAX_PAD_ELEMS: usize = 1 << 20;

#[derive(Copy, Clone, PartialEq, Eq)]
enum Isa {
    Avx512,
    Avx2,
    Base,
}

/// The path [`crate::cpu::isa::active`] chose, as this kernel's instruction sets.
fn isa() -> Isa {
    match crate::cpu::isa::active() {
        CpuCapability::Avx512 => Isa::Avx512,
        CpuCapability::Avx2 => Isa::Avx2,
        CpuCapability::Default => Isa::Base,
    }
}

/// The most output channels whose `[CB][16]` accumulators fit in the vector registers, with
/// four registers left for the input tile and the broadcast weight.
fn max_cb<T>(isa: Isa) -> usize {
    let (vec_bytes, regs) = match isa {
        Isa::Avx512 => (64, 32),
        Isa::Avx2 => (32, 16),
        Isa::Base => (16, 16),
    };
    let per_channel = (TW * std::mem::size_of::<T>()).div_ceil(vec_bytes);
    ((regs - 4) / per_channel).clamp(1, 8)
}

/// Channels per task: the largest divisor of `cg_out` that fits, so blocks never straddle groups.
fn channel_block(cg_out: usize, max: usize) -> usize {
    (1..=max.min(cg_out))
        .rev()
        .find(|b| cg_out.is_multiple_of(*b))
        .unwrap_or(1)
}

/// Whether the direct kernel should run this convolution.
///
/// Not a 1×1 convolution over more than a few input channels: that is a plain matrix product
/// with the input as its column matrix, which the gemm path runs several times faster than
/// this kernel's one-tap-at-a-time loop.
pub(super) fn applies(d: &Dims) -> bool {
    d.sw == 1
        && d.cg_out <= 16
        && !(d.pointwise() && d.cg_in >= 8)
        && d.cg_in * d.h * padded_width(d) <= MAX_PAD_ELEMS
}

/// One task's operands: image `n`'s group input, the block's weights and bias.
struct Task<'a, T> {
    d: &'a Dims,
    x_g: &'a [T],
    w_blk: &'a [T],
    bias_blk: Option<&'a [T]>,
}

pub(super) fn conv2d<T: Float>(
    d: &Dims,
    x: &[T],
    w: &[T],
    bias: Option<&[T]>,
    post: &Post<'_, T>,
    out: &mut [T],
    threads: usize,
) -> Result<()> {
    let isa = isa();
    // 16-channel blocks go channels-in-lanes (`direct_avx512::block_cl`) on AVX-512 f32.
    let cb = if isa == Isa::Avx512 && T::DTYPE == DType::F32 && d.cg_out.is_multiple_of(16) {
        16
    } else {
        channel_block(d.cg_out, max_cb::<T>(isa))
    };
    let blocks_per_image = d.c_out / cb;
    let chunk = cb * d.hw_out();
    let (plane, k) = (d.h * d.w, d.k());
    let task = |(t, out_blk): (usize, &mut [T])| {
        let (n, co0) = (t / blocks_per_image, (t % blocks_per_image) * cb);
        let g = co0 / d.cg_out;
        let task = Task {
            d,
            x_g: &x[(n * d.c_in + g * d.cg_in) * plane..][..d.cg_in * plane],
            w_blk: &w[co0 * k..][..cb * k],
            bias_blk: bias.map(|b| &b[co0..co0 + cb]),
        };
        dispatch(isa, cb, &task, out_blk)?;
        post.piece(t * chunk, out_blk.len()).apply(out_blk);
        Ok(())
    };
    if threads > 1 {
        out.par_chunks_mut(chunk).enumerate().try_for_each(task)
    } else {
        out.chunks_mut(chunk).enumerate().try_for_each(task)
    }
}

macro_rules! isa_entry {
    ($name:ident, $features:literal, $fma:literal) => {
        /// The kernel compiled for one instruction set.
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = $features)]
        fn $name<T: Float, const CB: usize>(
            task: &Task<'_, T>,
            pad: &[T],
            wpk: &[T],
            out: &mut [T],
        ) {
            block::<T, CB, $fma>(task, pad, wpk, out)
        }
    };
}
isa_entry!(block_avx512, "avx512f,fma", true);
isa_entry!(block_avx2, "avx2,fma", true);

fn dispatch<T: Float>(isa: Isa, cb: usize, task: &Task<'_, T>, out: &mut [T]) -> Result<()> {
    macro_rules! by_cb {
        ($($n:literal)*) => {
            match cb {
                $($n => run::<T, $n>(isa, task, out),)*
                _ => Err(Error::InvalidArgument {
                    op: "conv2d",
                    name: "channel block",
                    reason: format!("no direct kernel for {cb} channels per block"),
                }),
            }
        };
    }
    by_cb!(1 2 3 4 5 6 7 8 16)
}

/// Prepares the padded input and packed weights in this thread's scratch, then runs the
/// kernel compiled for `isa`. The scratch closure stays outside the `target_feature`
/// functions: closures do not inherit target features, and an FMA in one would become a libm
/// call.
fn run<T: Float, const CB: usize>(isa: Isa, task: &Task<'_, T>, out: &mut [T]) -> Result<()> {
    let d = task.d;
    let (wp, k) = (padded_width(d), d.k());
    with_scratch::<T, _>(d.cg_in * d.h * wp + k * CB, |scratch| {
        let (pad, wpk) = scratch.split_at_mut(d.cg_in * d.h * wp);
        for (dst, src) in pad.chunks_exact_mut(wp).zip(task.x_g.chunks_exact(d.w)) {
            dst[..d.pw].fill(T::ZERO);
            dst[d.pw..d.pw + d.w].copy_from_slice(src);
            dst[d.pw + d.w..].fill(T::ZERO);
        }
        for (c, wc) in task.w_blk.chunks_exact(k).enumerate() {
            for (r, &v) in wc.iter().enumerate() {
                wpk[r * CB + c] = v;
            }
        }
        #[cfg(target_arch = "x86_64")]
        if isa == Isa::Avx512 {
            fn as_f32<T: Float>(v: &[T]) -> Option<&[f32]> {
                bytemuck::try_cast_slice::<T, f32>(v).ok()
            }
            let outf = bytemuck::try_cast_slice_mut::<T, f32>(out).ok();
            // Only when T is f32 (same size and dtype); f64 takes the portable body.
            if let (true, Some(p), Some(w), Some(o)) =
                (T::DTYPE == DType::F32, as_f32(pad), as_f32(wpk), outf)
            {
                let b = task.bias_blk.and_then(as_f32);
                if CB == 16 {
                    // SAFETY: `isa()` detected AVX-512F.
                    unsafe { direct_avx512::block_cl(d, b, p, w, o) };
                } else {
                    // SAFETY: as above.
                    unsafe { direct_avx512::block::<CB>(d, b, p, w, o) };
                }
                return;
            }
        }
        match isa {
            // SAFETY: `isa()` detected the features each entry is compiled with.
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => unsafe { block_avx512::<T, CB>(task, pad, wpk, out) },
            // SAFETY: as above.
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => unsafe { block_avx2::<T, CB>(task, pad, wpk, out) },
            _ => block::<T, CB, false>(task, pad, wpk, out),
        }
    });
    Ok(())
}

#[inline(always)]
fn madd<T: Float, const FMA: bool>(a: T, b: T, c: T) -> T {
    if FMA {
        a.mul_add(b, c)
    } else {
        // Without the FMA instruction, mul_add is a slow libm call.
        a * b + c
    }
}

/// `out [CB, H_out, W_out]` for one task, from the padded input `pad [Cg_in, H, WP]` and the
/// packed weights `wpk [Cg_in·kH·kW, CB]`. No closures in here (see `run`).
#[inline(always)]
fn block<T: Float, const CB: usize, const FMA: bool>(
    task: &Task<'_, T>,
    pad: &[T],
    wpk: &[T],
    out: &mut [T],
) {
    let d = task.d;
    let (wp, khw) = (padded_width(d), d.kh * d.kw);
    let mut init = [[T::ZERO; TW]; CB];
    if let Some(b) = task.bias_blk {
        for (a, &bv) in init.iter_mut().zip(b) {
            *a = [bv; TW];
        }
    }
    for oh in 0..d.h_out {
        for t in 0..tiles(d) {
            let mut acc = init;
            for ci in 0..d.cg_in {
                for kh in 0..d.kh {
                    let ih = oh * d.sh + kh * d.dh;
                    if ih < d.ph || ih - d.ph >= d.h {
                        continue; // vertical padding: the tap reads zeros
                    }
                    let row = &pad[(ci * d.h + ih - d.ph) * wp + t * TW..];
                    let wrow = &wpk[(ci * khw + kh * d.kw) * CB..];
                    for kw in 0..d.kw {
                        let mut xs = [T::ZERO; TW];
                        xs.copy_from_slice(&row[kw * d.dw..kw * d.dw + TW]);
                        let mut wv = [T::ZERO; CB];
                        wv.copy_from_slice(&wrow[kw * CB..kw * CB + CB]);
                        for (a, &wc) in acc.iter_mut().zip(&wv) {
                            for (av, &xv) in a.iter_mut().zip(&xs) {
                                *av = madd::<T, FMA>(wc, xv, *av);
                            }
                        }
                    }
                }
            }
            // Constant indices only (the `j < valid` test instead of `&a[..valid]`), so LLVM
            // can keep `acc` in registers rather than in an addressable stack array.
            let valid = TW.min(d.w_out - t * TW);
            for (c, a) in acc.iter().enumerate() {
                let row = &mut out[(c * d.h_out + oh) * d.w_out + t * TW..][..valid];
                for (j, &v) in a.iter().enumerate() {
                    if j < valid {
                        row[j] = if d.relu && v < T::ZERO { T::ZERO } else { v };
                    }
                }
            }
        }
    }
}
