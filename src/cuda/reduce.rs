//! mean and layer_norm on a GPU (`kernels/reduce.cu`), the geometry in [`MeanParams`] and
//! [`LayerNormParams`].

use crate::cuda::buffer::{DevView, DevViewMut};
use crate::cuda::device::CudaDevice;
use crate::cuda::launch::{launch, Arg};
use crate::error::Result;
use crate::kernels::{LayerNormF32, LayerNormParams, MeanF32, MeanParams};

/// `y [rows] = mean of each line of x [rows, len]`.
pub(crate) fn mean_f32(
    dev: &CudaDevice,
    p: &MeanParams,
    x: DevView<'_>,
    y: DevViewMut<'_>,
) -> Result<()> {
    launch::<MeanF32>(dev, p, &[Arg::In(x), Arg::Out(y)])
}

/// `y [rows, len] = layer_norm(x [rows, len])` with the optional affine `w`, `b` `[len]`.
pub(crate) fn layer_norm_f32(
    dev: &CudaDevice,
    p: &LayerNormParams,
    x: DevView<'_>,
    w: Option<DevView<'_>>,
    b: Option<DevView<'_>>,
    y: DevViewMut<'_>,
) -> Result<()> {
    fn opt(v: Option<DevView<'_>>) -> Arg<'_> {
        v.map_or(Arg::Absent, Arg::In)
    }
    launch::<LayerNormF32>(dev, p, &[Arg::In(x), opt(w), opt(b), Arg::Out(y)])
}
