//! dtype conversions on the CPU over contiguous slices: float32 to and from float16 and
//! bfloat16 with the `half` crate (round to nearest even; NaN keeps its sign and top payload
//! bits, quieted), float32 to and from float64 with Rust's `as` (the same rounding). The CUDA
//! kernels (`kernels/convert.cu`) compute the same bits.
//!
//! Threading: rayon over `PAR_CHUNK`-element pieces when `n` is large.

use half::{bf16, f16};

use super::parallel::map_pieces;

/// Converts one element; every supported direction implements it.
pub(crate) trait Convert<D> {
    /// `self` as a `D`.
    fn convert(self) -> D;
}

impl Convert<f16> for f32 {
    fn convert(self) -> f16 {
        f16::from_f32(self)
    }
}
impl Convert<f32> for f16 {
    fn convert(self) -> f32 {
        self.to_f32()
    }
}
impl Convert<bf16> for f32 {
    fn convert(self) -> bf16 {
        bf16::from_f32(self)
    }
}
impl Convert<f32> for bf16 {
    fn convert(self) -> f32 {
        self.to_f32()
    }
}
impl Convert<f64> for f32 {
    fn convert(self) -> f64 {
        f64::from(self)
    }
}
impl Convert<f32> for f64 {
    fn convert(self) -> f32 {
        // Round to nearest even; beyond f32::MAX (after rounding) it is inf, as in C and CUDA.
        self as f32
    }
}

/// `dst[i] = src[i]` converted; the slices have equal lengths.
pub(crate) fn convert<S: Convert<D> + Copy + Sync, D: Send>(src: &[S], dst: &mut [D]) {
    map_pieces(src, dst, |s: &[S], d: &mut [D]| {
        for (o, &x) in d.iter_mut().zip(s) {
            *o = x.convert();
        }
    });
}
