//! avg_pool2d and adaptive_avg_pool2d on a GPU (`kernels/avg_pool2d.cu`), the geometry in
//! [`AvgPool2dParams`] and [`AdaptivePool2dParams`].

use crate::cuda::buffer::{DevView, DevViewMut};
use crate::cuda::device::CudaDevice;
use crate::cuda::launch::{launch, Arg};
use crate::error::Result;
use crate::kernels::{AdaptiveAvgPool2dF32, AdaptivePool2dParams, AvgPool2dF32, AvgPool2dParams};

/// `y [n, c, h_out, w_out] = avg_pool2d(x [n, c, h, w])`.
pub(crate) fn avg_pool2d_f32(
    dev: &CudaDevice,
    p: &AvgPool2dParams,
    x: DevView<'_>,
    y: DevViewMut<'_>,
) -> Result<()> {
    launch::<AvgPool2dF32>(dev, p, &[Arg::In(x), Arg::Out(y)])
}

/// `y [n, c, h_out, w_out] = adaptive_avg_pool2d(x [n, c, h, w])`.
pub(crate) fn adaptive_avg_pool2d_f32(
    dev: &CudaDevice,
    p: &AdaptivePool2dParams,
    x: DevView<'_>,
    y: DevViewMut<'_>,
) -> Result<()> {
    launch::<AdaptiveAvgPool2dF32>(dev, p, &[Arg::In(x), Arg::Out(y)])
}
