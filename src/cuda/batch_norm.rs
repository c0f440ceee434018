//! batch_norm on a GPU: `batch_norm_f32` (`kernels/batch_norm.cu`), the geometry in
//! [`BatchNormParams`].

use crate::cuda::buffer::{DevView, DevViewMut};
use crate::cuda::device::CudaDevice;
use crate::cuda::launch::{launch, Arg};
use crate::error::Result;
use crate::kernels::{BatchNormF32, BatchNormParams};

/// The per-channel operands on the device (`w`/`b` absent when the params say so).
pub(crate) struct Channels<'a> {
    pub w: Option<DevView<'a>>,
    pub b: Option<DevView<'a>>,
    pub mean: DevView<'a>,
    pub var: DevView<'a>,
}

/// `y [n, c, inner] = batch_norm(x [n, c, inner])` with torch's inference formula.
pub(crate) fn batch_norm_f32(
    dev: &CudaDevice,
    p: &BatchNormParams,
    x: DevView<'_>,
    ch: Channels<'_>,
    y: DevViewMut<'_>,
) -> Result<()> {
    fn opt(v: Option<DevView<'_>>) -> Arg<'_> {
        v.map_or(Arg::Absent, Arg::In)
    }
    launch::<BatchNormF32>(
        dev,
        p,
        &[
            Arg::In(x),
            opt(ch.w),
            opt(ch.b),
            Arg::In(ch.mean),
            Arg::In(ch.var),
            Arg::Out(y),
        ],
    )
}
