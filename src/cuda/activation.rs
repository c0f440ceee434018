//! The activations on a GPU: `activation_f32` over `p.n` contiguous floats
//! (`kernels/activation.cu`), the function and its arguments in [`ActivationParams`].

use crate::cuda::buffer::{DevView, DevViewMut};
use crate::cuda::device::CudaDevice;
use crate::cuda::launch::{launch, Arg};
use crate::error::Result;
use crate::kernels::{ActivationF32, ActivationParams};

/// `y = f(x)` for the activation `p.kind`; `y` is a fresh buffer, never `x` (the kernel's
/// operands are `__restrict__`).
pub(crate) fn activation_f32(
    dev: &CudaDevice,
    p: &ActivationParams,
    x: DevView<'_>,
    y: DevViewMut<'_>,
) -> Result<()> {
    launch::<ActivationF32>(dev, p, &[Arg::In(x), Arg::Out(y)])
}
