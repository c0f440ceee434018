//! max_pool2d on the CPU.
//!
//! Math: `out[n, c, oh, ow] = max_{kh, kw} in[n, c, oh·sh − ph + kh·dh, ow·sw − pw + kw·dw]` over
//! the taps inside the input (PyTorch pads with -inf, which never wins), folded in (kh, kw) scan
//! order with [`max_step`] starting from `LOWEST`, so NaN propagation and the sign of a zero
//! result match PyTorch bit for bit.
//!
//! Shapes: `src` is `[N, C, H, W]` and `dst` is `[N, C, H_out, W_out]`, both contiguous.
//!
//! Threading: a piece of work is one output row `(n·C + c, oh)`; rayon runs groups of rows when
//! the layer is large, and the calling thread runs everything when it is small.

use super::parallel::for_each_piece;
use super::scalar::{max_step, Scalar};
use crate::kernels::Pool2dParams;

/// The taps of one window along one axis that fall inside the input: the first tap's input
/// index and how many taps follow it, `dilation` apart.
#[derive(Copy, Clone, Debug)]
struct Taps {
    first: usize,
    count: usize,
}

/// Taps of a window starting at `start` (negative inside the left padding) with `k` taps
/// `d` apart over an axis of `len` elements.
fn taps(start: i64, k: i64, d: i64, len: i64) -> Taps {
    // First tap index with start + i·d >= 0, and one past the last with start + i·d < len.
    let lo = if start < 0 { (-start + d - 1) / d } else { 0 };
    let hi = if start >= len {
        0
    } else {
        k.min((len - start + d - 1) / d)
    };
    if hi <= lo {
        return Taps { first: 0, count: 0 };
    }
    Taps {
        first: (start + lo * d) as usize,
        count: (hi - lo) as usize,
    }
}

/// Pools `src` into `dst` as described in the module comment. `p` was validated by
/// `Pool2dParams::new` and the slices have exactly `p`'s input and output sizes.
pub(crate) fn forward<T: Scalar>(p: &Pool2dParams, src: &[T], dst: &mut [T]) {
    let (h, w) = (p.h as usize, p.w as usize);
    let (ho, wo) = (p.h_out as usize, p.w_out as usize);
    let plane_len = h * w;
    // Saturating: a caller's kernel size can be as large as i64 allows (the windows are clipped
    // to the input, so only this work estimate ever multiplies the two).
    let window = [p.kh, p.kw]
        .map(|k| usize::try_from(k).unwrap_or(usize::MAX))
        .iter()
        .fold(1usize, |a, &k| a.saturating_mul(k));
    let work = dst.len().saturating_mul(window);
    let is_2x2 = p.kh == 2 && p.kw == 2 && p.stride_h == 2 && p.stride_w == 2;
    // Every window whole: no padding, and no partial last window from ceil_mode.
    let fast_2x2 = is_2x2
        && p.pad_h == 0
        && p.pad_w == 0
        && p.dil_h == 1
        && p.dil_w == 1
        && 2 * ho <= h
        && 2 * wo <= w;
    // Column windows are the same for every row: compute them once.
    let cols: Vec<Taps> = if fast_2x2 {
        Vec::new()
    } else {
        (0..p.w_out)
            .map(|ow| taps(ow * p.stride_w - p.pad_w, p.kw, p.dil_w, p.w))
            .collect()
    };
    for_each_piece(dst, wo, work, |row, out| {
        let (plane, oh) = (row / ho, row % ho);
        let inp = &src[plane * plane_len..(plane + 1) * plane_len];
        if fast_2x2 {
            row_2x2(inp, w, oh, out);
        } else {
            let rows = taps(oh as i64 * p.stride_h - p.pad_h, p.kh, p.dil_h, p.h);
            row_general(inp, w, rows, p.dil_h as usize, &cols, p.dil_w as usize, out);
        }
    });
}

/// One output row of 2×2, stride-2, unpadded pooling. Written as pairs from two input rows so
/// LLVM vectorises it (de-interleaving loads plus compare/blend), with no bounds checks inside.
fn row_2x2<T: Scalar>(inp: &[T], w: usize, oh: usize, out: &mut [T]) {
    let n = out.len() * 2;
    let r0 = &inp[2 * oh * w..][..n];
    let r1 = &inp[(2 * oh + 1) * w..][..n];
    for ((o, a), b) in out
        .iter_mut()
        .zip(r0.chunks_exact(2))
        .zip(r1.chunks_exact(2))
    {
        // Scan order (0,0), (0,1), (1,0), (1,1); max_step is associative, so this tree is exact.
        *o = max_step(max_step(a[0], a[1]), max_step(b[0], b[1]));
    }
}

/// One output row of the general case: for every output column, fold the in-bounds taps.
fn row_general<T: Scalar>(
    inp: &[T],
    w: usize,
    rows: Taps,
    dil_h: usize,
    cols: &[Taps],
    dil_w: usize,
    out: &mut [T],
) {
    for (o, c) in out.iter_mut().zip(cols) {
        let mut m = T::LOWEST;
        for r in 0..rows.count {
            let line = &inp[(rows.first + r * dil_h) * w..][..w];
            for t in 0..c.count {
                m = max_step(m, line[c.first + t * dil_w]);
            }
        }
        *o = m;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn taps_clip_to_the_input() {
        // Window at -1 with 3 taps over 5: taps at -1 (padding), 0, 1.
        let t = taps(-1, 3, 1, 5);
        assert_eq!((t.first, t.count), (0, 2));
        // Dilation 2 starting at -1: -1, 1, 3 → 1 and 3 are inside.
        let t = taps(-1, 3, 2, 5);
        assert_eq!((t.first, t.count), (1, 2));
        // Window at 4 of width 3 over 5: only 4 is inside.
        let t = taps(4, 3, 1, 5);
        assert_eq!((t.first, t.count), (4, 1));
        // Starting past the input: nothing.
        assert_eq!(taps(5, 2, 1, 5).count, 0);
    }
}
