//! max_pool2d on a GPU: `max_pool2d_f32` over NCHW floats (`kernels/max_pool2d.cu`), the window
//! geometry in [`Pool2dParams`] (PyTorch's semantics: padding never wins, NaN propagates).

use crate::cuda::buffer::{DevView, DevViewMut};

use crate::cuda::device::CudaDevice;
use crate::cuda::launch::{launch, Arg};
use crate::error::Result;
use crate::kernels::{MaxPool2dF32, Pool2dParams};

/// `y [n, c, h_out, w_out] = max_pool2d(x [n, c, h, w])`.
pub(crate) fn max_pool2d_f32(
    dev: &CudaDevice,
    p: &Pool2dParams,
    x: DevView<'_>,
    y: DevViewMut<'_>,
) -> Result<()> {
    launch::<MaxPool2dF32>(dev, p, &[Arg::In(x), Arg::Out(y)])
}
