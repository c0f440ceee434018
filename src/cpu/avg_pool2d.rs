//! avg_pool2d and adaptive_avg_pool2d on the CPU, as torch's CPU kernels compute them.
//!
//! avg_pool2d (torch's `cpu_avg_pool`): the window of output `(oh, ow)` covers rows
//! `[oh·sh − ph, min(oh·sh − ph + kh, H + ph))` (columns likewise); its size there is the
//! `count_include_pad` divisor; clipped to the input it is the other one. The taps inside the
//! input are summed in row-major order in `T` and the sum is divided once by the divisor
//! (`divisor_override` when given). A window wholly in the padding gives 0.
//!
//! adaptive_avg_pool2d (torch's `cpu_adaptive_avg_pool`): rows
//! `[floor(oh·H / H_out), ceil((oh + 1)·H / H_out))`, columns likewise, summed row-major, then
//! divided by the row count and again by the column count. (An output of 1×1 is torch's `mean`
//! over H and W instead: see `ops/avg_pool2d.rs`.)
//!
//! Shapes: `src` is `[N, C, H, W]` and `dst` `[N, C, H_out, W_out]`, both contiguous.
//! Threading: a piece of work is one output row `(n·C + c, oh)`.

use super::parallel::for_each_piece;
use super::scalar::Float;
use crate::kernels::{AdaptivePool2dParams, AvgPool2dParams};

/// Pools `src` into `dst`; `p` was validated by `AvgPool2dParams::new`.
pub(crate) fn avg_pool2d<T: Float>(p: &AvgPool2dParams, src: &[T], dst: &mut [T]) {
    let (h, w, ho, wo) = (p.h, p.w, p.h_out as usize, p.w_out as usize);
    let plane_len = (h * w) as usize;
    let work = dst
        .len()
        .saturating_mul((p.kh.saturating_mul(p.kw)) as usize);
    for_each_piece(dst, wo, work, |row, out| {
        let (plane, oh) = (row / ho, (row % ho) as i64);
        let x = &src[plane * plane_len..][..plane_len];
        let ih0 = oh * p.stride_h - p.pad_h;
        let ih1 = (ih0 + p.kh).min(h + p.pad_h);
        for (ow, o) in out.iter_mut().enumerate() {
            let iw0 = ow as i64 * p.stride_w - p.pad_w;
            let iw1 = (iw0 + p.kw).min(w + p.pad_w);
            let pool_size = (ih1 - ih0) * (iw1 - iw0);
            let (r0, c0, r1, c1) = (ih0.max(0), iw0.max(0), ih1.min(h), iw1.min(w));
            if r0 >= r1 || c0 >= c1 {
                *o = T::ZERO;
                continue;
            }
            let divide = if p.divisor != 0 {
                p.divisor
            } else if p.count_include_pad != 0 {
                pool_size
            } else {
                (r1 - r0) * (c1 - c0)
            };
            *o = window_sum(x, w as usize, r0..r1, c0..c1) / T::from_i64(divide);
        }
    });
}

/// Pools `src` into `dst`; `p` was validated by `AdaptivePool2dParams::new`.
pub(crate) fn adaptive_avg_pool2d<T: Float>(p: &AdaptivePool2dParams, src: &[T], dst: &mut [T]) {
    let (h, w, ho, wo) = (p.h, p.w, p.h_out, p.w_out);
    let plane_len = (h * w) as usize;
    let cols: Vec<(i64, i64)> = (0..wo)
        .map(|ow| (start(ow, wo, w), end(ow, wo, w)))
        .collect();
    let work = src.len().max(dst.len());
    for_each_piece(dst, wo as usize, work, |row, out| {
        let (plane, oh) = (row / ho as usize, row as i64 % ho);
        let x = &src[plane * plane_len..][..plane_len];
        let (r0, r1) = (start(oh, ho, h), end(oh, ho, h));
        for (o, &(c0, c1)) in out.iter_mut().zip(&cols) {
            let sum = window_sum(x, w as usize, r0..r1, c0..c1);
            *o = sum / T::from_i64(r1 - r0) / T::from_i64(c1 - c0);
        }
    });
}

/// torch's `start_index(a, b, c)`: `floor(a·c / b)`, without forming `a·c`.
pub(crate) fn start(a: i64, b: i64, c: i64) -> i64 {
    (a / b) * c + ((a % b) * c) / b
}

/// torch's `end_index(a, b, c)`: `ceil((a + 1)·c / b)`.
pub(crate) fn end(a: i64, b: i64, c: i64) -> i64 {
    1 + ((a + 1) * c - 1) / b
}

/// The row-major sum of `x[rows, cols]` (a plane `w` wide), starting from zero as torch does.
fn window_sum<T: Float>(
    x: &[T],
    w: usize,
    rows: std::ops::Range<i64>,
    cols: std::ops::Range<i64>,
) -> T {
    let mut sum = T::ZERO;
    for r in rows {
        let line = &x[r as usize * w..][..w];
        for &v in &line[cols.start as usize..cols.end as usize] {
            sum += v;
        }
    }
    sum
}
