//! Reductions over contiguous lines on the CPU: means (`mean_dim`, after the op moved the
//! reduced dims last, and adaptive_avg_pool2d's 1×1 case, torch's `mean` over H and W) and
//! layer_norm's rows.
//!
//! Math: `dst[i] = (Σ_j src[i·len + j]) / len`, the sum in 16 interleaved partial sums combined
//! as a tree (`softmax::lane_sum`, the order of a 512-bit vector reduction), then one division by
//! the count, as torch's `mean` divides its sum (`sum(...).div_(n)`). torch's cascade sum groups
//! the additions differently, so results agree to a few ulps rather than bit for bit (the bound
//! is derived in `tests/ops_norm_pool.rs`). An empty line gives NaN (0 / 0), as in torch.
//!
//! Threading: a piece of work is one output element (one line).

use super::parallel::for_each_piece;
use super::scalar::Float;
use super::softmax::lane_sum;

/// `dst[i]` = mean of the `i`-th run of `len` elements of `src` (`src.len() == dst.len()·len`).
pub(crate) fn mean_lines<T: Float>(src: &[T], dst: &mut [T], len: usize) {
    let count = T::from_i64(len as i64);
    for_each_piece(dst, 1, src.len(), |i, out| {
        out[0] = lane_sum(&src[i * len..][..len]) / count;
    });
}

/// layer_norm of `rows` rows of `len` elements (`src`, `dst` of `rows·len`): per row
/// `μ = Σx/len`, `σ² = Σ(x − μ)²/len` (biased, two passes, each sum in [`lane_sum`]'s order),
/// `rstd = 1/sqrt(σ² + eps)`, `y = (x − μ)·rstd·w + b` (`w`/`b` absent: 1 and 0). torch's CPU
/// kernel uses Welford moments and a fused scale/shift: results agree to a few ulps.
pub(crate) fn layer_norm<T: Float>(
    src: &[T],
    dst: &mut [T],
    len: usize,
    w: Option<&[T]>,
    b: Option<&[T]>,
    eps: T,
) {
    let n = T::from_i64(len as i64);
    for_each_piece(dst, len, src.len().saturating_mul(4), |r, out| {
        let x = &src[r * len..][..len];
        let mu = lane_sum(x) / n;
        // The squared deviations in `out` first, summed, then overwritten by the result.
        for (o, &v) in out.iter_mut().zip(x) {
            *o = (v - mu) * (v - mu);
        }
        let rstd = T::ONE / (lane_sum(out) / n + eps).sqrt();
        for (j, (o, &v)) in out.iter_mut().zip(x).enumerate() {
            let mut y = (v - mu) * rstd;
            if let Some(w) = w {
                y = y * w[j];
            }
            if let Some(b) = b {
                y += b[j];
            }
            *o = y;
        }
    });
}
