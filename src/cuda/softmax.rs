//! softmax and log_softmax on a GPU: `softmax_f32` (`kernels/softmax.cu`), the geometry in
//! [`SoftmaxParams`].

use crate::cuda::buffer::{DevView, DevViewMut};
use crate::cuda::device::CudaDevice;
use crate::cuda::launch::{launch, Arg};
use crate::error::Result;
use crate::kernels::{SoftmaxF32, SoftmaxParams};

/// `y [outer, dim, inner] = (log_)softmax(x [outer, dim, inner])` along the middle axis.
pub(crate) fn softmax_f32(
    dev: &CudaDevice,
    p: &SoftmaxParams,
    x: DevView<'_>,
    y: DevViewMut<'_>,
) -> Result<()> {
    launch::<SoftmaxF32>(dev, p, &[Arg::In(x), Arg::Out(y)])
}
