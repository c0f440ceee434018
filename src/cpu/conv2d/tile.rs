//! The register tiling of the direct conv2d path, shared by its portable kernel (`direct.rs`)
//! and its AVX-512 channels-in-lanes kernel (`direct_avx512.rs`).

use super::Dims;

/// Output columns per register tile.
pub(super) const TW: usize = 16;

/// Register tiles per output row.
pub(super) fn tiles(d: &Dims) -> usize {
    d.w_out.div_ceil(TW)
}

/// Row length of the padded input copy: the left/right padding, and enough zeros on the right
/// that every tile's widest tap can be loaded whole.
pub(super) fn padded_width(d: &Dims) -> usize {
    (d.w + 2 * d.pw).max(tiles(d) * TW + (d.kw - 1) * d.dw)
}
