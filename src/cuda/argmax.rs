//! argmax on a GPU: `argmax_f32` (`kernels/argmax.cu`), the geometry in [`SoftmaxParams`].

use crate::cuda::buffer::{DevView, DevViewMut};
use crate::cuda::device::CudaDevice;
use crate::cuda::launch::{launch, Arg};
use crate::error::Result;
use crate::kernels::{ArgmaxF32, SoftmaxParams};

/// `y [outer, inner] (int64) = argmax(x [outer, dim, inner])` along the middle axis.
pub(crate) fn argmax_f32(
    dev: &CudaDevice,
    p: &SoftmaxParams,
    x: DevView<'_>,
    y: DevViewMut<'_>,
) -> Result<()> {
    launch::<ArgmaxF32>(dev, p, &[Arg::In(x), Arg::Out(y)])
}
