//! relu on a GPU: `relu_f32` over `p.n` contiguous floats (`kernels/relu.cu`).

use crate::cuda::buffer::{DevView, DevViewMut};

use crate::cuda::device::CudaDevice;
use crate::cuda::launch::{launch, Arg};
use crate::error::Result;
use crate::kernels::{EltwiseParams, ReluF32};

/// `y = relu(x)`; `y` is a fresh buffer, never `x` (the kernel's operands are `__restrict__`).
pub(crate) fn relu_f32(
    dev: &CudaDevice,
    p: &EltwiseParams,
    x: DevView<'_>,
    y: DevViewMut<'_>,
) -> Result<()> {
    launch::<ReluF32>(dev, p, &[Arg::In(x), Arg::Out(y)])
}
