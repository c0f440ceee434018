//! conv2d on the CPU. Math and shapes as in [`Conv2dParams`]: input `[N, C_in, H, W]`, weight
//! `[C_out, C_in/groups, kH, kW]`, bias `[C_out]`, output `[N, C_out, H_out, W_out]`, all
//! contiguous.
//!
//! Paths (besides the depthwise kernel):
//! * `direct` (few output channels per group, unit horizontal stride): a register-blocked
//!   kernel that keeps a block of output channels × 16 output columns in registers, so each
//!   input load feeds many FMAs and nothing is expanded in memory. Small CNNs (3→6, 6→16) and
//!   depthwise convolutions take this path.
//! * Winograd F(2×2, 3×3) (`winograd`: f32 3×3, stride 1, one group, ≥ 16 channels in and
//!   out): 16 channel products per 2×2 output tile instead of 36 multiplies, split over
//!   (image, tile block) pairs. Off unless `TENSORPORT_WINOGRAD=1` (not yet faster here).
//! * im2col + gemm (everything else): per image and group, blocks of output positions are
//!   expanded into a `[K, P]` column buffer (`K = C_in/groups · kH · kW`) that stays in L2, and
//!   `out[C_out/groups, P] += W_g[C_out/groups, K] · col[K, P]`. 1×1 unit-stride convolutions
//!   use the input directly as the column matrix.
//!
//! Threading: over images (and channel blocks on the direct path) when the problem is big
//! enough; a single large image instead lets gemm split the product.

mod depthwise;
mod direct;
mod direct_avx512;
mod split;
mod tile;
pub(crate) mod winograd;
mod winograd_transform;

use rayon::prelude::*;

use super::epilogue::Post;
use super::gemm::{matmul, MatRef};
use super::scalar::relu_slice;
use super::{as_f32, as_f32_mut, threads_for, with_scratch, Float};
use crate::error::{Error, Result};
use crate::kernels::Conv2dParams;

/// [`Conv2dParams`] as `usize`, with the per-group channel counts.
#[derive(Copy, Clone, Debug)]
pub(crate) struct Dims {
    pub n: usize,
    pub c_in: usize,
    pub h: usize,
    pub w: usize,
    pub c_out: usize,
    pub kh: usize,
    pub kw: usize,
    pub sh: usize,
    pub sw: usize,
    pub ph: usize,
    pub pw: usize,
    pub dh: usize,
    pub dw: usize,
    pub groups: usize,
    pub h_out: usize,
    pub w_out: usize,
    pub cg_in: usize,
    pub cg_out: usize,
    /// Apply relu (`x < 0 ? 0 : x`) to the output as it is stored.
    pub relu: bool,
}

impl Dims {
    fn new(p: &Conv2dParams) -> Result<Dims> {
        let u = |v: i64| {
            usize::try_from(v).map_err(|_| Error::Overflow {
                what: format!("conv2d size {v} in {p:?}"),
            })
        };
        let groups = u(p.groups)?.max(1);
        Ok(Dims {
            n: u(p.n)?,
            c_in: u(p.c_in)?,
            h: u(p.h)?,
            w: u(p.w)?,
            c_out: u(p.c_out)?,
            kh: u(p.kh)?,
            kw: u(p.kw)?,
            sh: u(p.stride_h)?,
            sw: u(p.stride_w)?,
            ph: u(p.pad_h)?,
            pw: u(p.pad_w)?,
            dh: u(p.dil_h)?,
            dw: u(p.dil_w)?,
            groups,
            h_out: u(p.h_out)?,
            w_out: u(p.w_out)?,
            cg_in: u(p.c_in)? / groups,
            cg_out: u(p.c_out)? / groups,
            relu: false,
        })
    }

    /// Reduction length per output element.
    fn k(&self) -> usize {
        self.cg_in * self.kh * self.kw
    }

    /// A 1×1, unit-stride, unpadded convolution: the input planes are the column matrix.
    pub(super) fn pointwise(&self) -> bool {
        self.kh == 1 && self.kw == 1 && self.sh == 1 && self.sw == 1 && self.ph == 0 && self.pw == 0
    }

    /// A convolution over columns of width 1 (`W = kW = 1`, no horizontal padding: CREPE's and
    /// every 1-D model's) as the same convolution over rows of height 1: `[N, C, H, 1]` and
    /// `[N, C, 1, H]` are the same bytes, and so are the weights and the output, so swapping
    /// the two axes is free and gives the kernels a long row instead of 1-wide columns (the
    /// direct kernel holds 16 output columns in registers: 15 of them idle at width 1).
    fn rows_for_columns(self) -> Dims {
        if !(self.w == 1 && self.kw == 1 && self.pw == 0 && self.h > 1) {
            return self;
        }
        Dims {
            h: self.w,
            w: self.h,
            kh: self.kw,
            kw: self.kh,
            sh: self.sw,
            sw: self.sh,
            ph: self.pw,
            pw: self.ph,
            dh: self.dw,
            dw: self.dh,
            h_out: self.w_out,
            w_out: self.h_out,
            ..self
        }
    }

    fn hw_out(&self) -> usize {
        self.h_out * self.w_out
    }

    fn flops(&self) -> usize {
        [2, self.n, self.c_out, self.hw_out(), self.k()]
            .iter()
            .fold(1usize, |a, &b| a.saturating_mul(b))
    }
}

/// conv2d into `out` (fully overwritten), then the epilogue `post` (a residual addition and an
/// activation) applied while the output is stored or still in cache. Plain relu (`x < 0 ? 0 :
/// x`, PyTorch's: NaN and -0.0 pass through) is applied inside the kernels' store loops.
pub(crate) fn conv2d_act<T: Float>(
    p: &Conv2dParams,
    x: &[T],
    w: &[T],
    bias: Option<&[T]>,
    post: Post<'_, T>,
    out: &mut [T],
) -> Result<()> {
    let mut d = Dims::new(p)?.rows_for_columns();
    d.relu = post.is_plain_relu();
    let post = if d.relu { Post::none() } else { post };
    let lens = [
        (x.len(), [d.n, d.c_in, d.h, d.w], "input"),
        (w.len(), [d.c_out, d.cg_in, d.kh, d.kw], "weight"),
        (out.len(), [d.n, d.c_out, d.h_out, d.w_out], "output"),
    ];
    for (len, shape, name) in lens {
        if Some(len) != shape.iter().try_fold(1usize, |a, &b| a.checked_mul(b)) {
            return Err(Error::Shape {
                op: "conv2d",
                expected: format!("{name} {shape:?}"),
                got: format!("{len} elements"),
            });
        }
    }
    if bias.is_some_and(|b| b.len() != d.c_out) {
        return Err(Error::Shape {
            op: "conv2d",
            expected: format!("bias [{}]", d.c_out),
            got: format!("{:?} elements", bias.map(|b| b.len())),
        });
    }
    if post.residual.is_some_and(|r| r.len() != out.len()) {
        return Err(Error::Shape {
            op: "conv2d",
            expected: format!("a residual of {} elements (the output's)", out.len()),
            got: format!("{:?} elements", post.residual.map(<[T]>::len)),
        });
    }
    if out.is_empty() {
        return Ok(());
    }
    let threads = threads_for(d.flops());
    if depthwise::applies(&d) {
        if let (Some(xf), Some(wf), Some(of), Some(pf)) =
            (as_f32(x), as_f32(w), as_f32_mut(out), post.as_f32())
        {
            let bf = bias.and_then(as_f32);
            return depthwise::conv2d(&d, xf, wf, bf, &pf, of, threads);
        }
    }
    if direct::applies(&d) {
        return direct::conv2d(&d, x, w, bias, &post, out, threads);
    }
    if winograd::enabled() && winograd::applies(&d) {
        if let (Some(xf), Some(wf), Some(of), Some(pf)) =
            (as_f32(x), as_f32(w), as_f32_mut(out), post.as_f32())
        {
            let bf = bias.and_then(as_f32);
            return winograd::conv2d(&d, xf, wf, bf, &pf, of, threads);
        }
    }
    let per_image = d.c_out * d.hw_out();
    let image = |(i, out_img): (usize, &mut [T]), gemm_threads: usize| {
        let x_img = &x[i * d.c_in * d.h * d.w..][..d.c_in * d.h * d.w];
        for g in 0..d.groups {
            let x_g = &x_img[g * d.cg_in * d.h * d.w..][..d.cg_in * d.h * d.w];
            let w_g = &w[g * d.cg_out * d.k()..][..d.cg_out * d.k()];
            let out_g = &mut out_img[g * d.cg_out * d.hw_out()..][..d.cg_out * d.hw_out()];
            let b_g = bias.map(|b| &b[g * d.cg_out..][..d.cg_out]);
            group_gemm(&d, x_g, w_g, b_g, out_g, gemm_threads)?;
        }
        if d.relu {
            relu_slice(out_img);
        }
        post.piece(i * per_image, per_image).apply(out_img);
        Ok(())
    };
    if threads > 1 && d.n >= threads {
        out.par_chunks_mut(per_image)
            .enumerate()
            .try_for_each(|t| image(t, 1))
    } else if threads > 1 {
        // Fewer images than threads: each image is split across all of them.
        let in_image = d.c_in * d.h * d.w;
        out.chunks_mut(per_image)
            .zip(x.chunks(in_image))
            .enumerate()
            .try_for_each(|(i, (o, xi))| {
                let post = post.piece(i * per_image, per_image);
                split::image(&d, xi, w, bias, &post, o, threads)
            })
    } else {
        out.chunks_mut(per_image)
            .enumerate()
            .try_for_each(|t| image(t, threads))
    }
}

/// Bytes of column buffer per block: half of a Zen 4 core's 1 MiB L2, so the columns and the
/// gemm's packed panels stay resident together.
const COL_BLOCK_BYTES: usize = 512 << 10;

/// One image and group through im2col + gemm: `out_g [Cg_out, HW_out]`.
pub(super) fn group_gemm<T: Float>(
    d: &Dims,
    x_g: &[T],
    w_g: &[T],
    bias: Option<&[T]>,
    out_g: &mut [T],
    threads: usize,
) -> Result<()> {
    let (k, hwo) = (d.k(), d.hw_out());
    if let Some(b) = bias {
        for (row, &bv) in out_g.chunks_exact_mut(hwo).zip(b) {
            row.fill(bv);
        }
    }
    let wm = MatRef {
        data: w_g,
        rs: k,
        cs: 1,
    };
    if d.pointwise() {
        // The input planes already are the [Cg_in, H·W] column matrix.
        let xm = MatRef {
            data: x_g,
            rs: hwo,
            cs: 1,
        };
        return matmul(
            d.cg_out,
            hwo,
            k,
            out_g,
            hwo,
            bias.is_some(),
            wm,
            xm,
            threads,
        );
    }
    let block = (COL_BLOCK_BYTES / (k * std::mem::size_of::<T>()))
        .clamp(64, hwo.max(64))
        .min(hwo);
    with_scratch::<T, _>(k * block, |col| {
        let mut p0 = 0;
        while p0 < hwo {
            let pn = block.min(hwo - p0);
            let col = &mut col[..k * pn];
            im2col(d, x_g, p0, pn, col);
            let cm = MatRef {
                data: col,
                rs: pn,
                cs: 1,
            };
            let dst = &mut out_g[p0..];
            matmul(d.cg_out, pn, k, dst, hwo, bias.is_some(), wm, cm, threads)?;
            p0 += pn;
        }
        Ok(())
    })
}

/// Fills `col [K, pn]` with the input taps of output positions `p0 .. p0 + pn` (row-major over
/// `(oh, ow)`): `col[(ci·kH + kh)·kW + kw, p] = x[ci, oh·sh − ph + kh·dh, ow·sw − pw + kw·dw]`,
/// zero outside the input.
pub(super) fn im2col<T: Float>(d: &Dims, x_g: &[T], p0: usize, pn: usize, col: &mut [T]) {
    let mut rows = col.chunks_exact_mut(pn);
    for ci in 0..d.cg_in {
        let plane = &x_g[ci * d.h * d.w..][..d.h * d.w];
        for kh in 0..d.kh {
            for kw in 0..d.kw {
                let Some(row) = rows.next() else { return };
                // Output columns whose tap lands inside the input: ow·sw + kw·dw − pw ∈ [0, W).
                let off = kw * d.dw;
                let lo = d.pw.saturating_sub(off).div_ceil(d.sw).min(d.w_out);
                let hi = (d.w + d.pw).saturating_sub(off).div_ceil(d.sw).min(d.w_out);
                let mut p = p0;
                while p < p0 + pn {
                    let (oh, ow0) = (p / d.w_out, p % d.w_out);
                    let ow1 = d.w_out.min(ow0 + p0 + pn - p);
                    let dst = &mut row[p - p0..][..ow1 - ow0];
                    let ih = (oh * d.sh + kh * d.dh)
                        .checked_sub(d.ph)
                        .filter(|&i| i < d.h);
                    match ih {
                        None => dst.fill(T::ZERO),
                        Some(ih) => {
                            let src = &plane[ih * d.w..][..d.w];
                            let a = lo.clamp(ow0, ow1);
                            let b = hi.clamp(a, ow1);
                            let (head, rest) = dst.split_at_mut(a - ow0);
                            let (mid, tail) = rest.split_at_mut(b - a);
                            head.fill(T::ZERO);
                            tail.fill(T::ZERO);
                            if mid.is_empty() {
                                // No tap of this row lands inside the input.
                            } else if d.sw == 1 {
                                // a ≥ lo, so a·sw + off ≥ pw.
                                let start = a + off - d.pw;
                                mid.copy_from_slice(&src[start..start + mid.len()]);
                            } else {
                                let start = a * d.sw + off - d.pw;
                                for (v, s) in mid.iter_mut().zip(src[start..].iter().step_by(d.sw))
                                {
                                    *v = *s;
                                }
                            }
                        }
                    }
                    p += ow1 - ow0;
                }
            }
        }
    }
}
