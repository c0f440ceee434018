//! A tensor with a scalar on a GPU: `scalar_arith_f32` over `p.n` contiguous floats
//! (`kernels/scalar_arith.cu`), the operation and the scalar in [`ScalarArithParams`].

use crate::cuda::buffer::{DevView, DevViewMut};
use crate::cuda::device::CudaDevice;
use crate::cuda::launch::{launch, Arg};
use crate::error::Result;
use crate::kernels::{ScalarArithF32, ScalarArithParams};

/// `y = x + s` or `x · s` as `p.op` says; `y` is a fresh buffer, never `x`.
pub(crate) fn scalar_arith_f32(
    dev: &CudaDevice,
    p: &ScalarArithParams,
    x: DevView<'_>,
    y: DevViewMut<'_>,
) -> Result<()> {
    launch::<ScalarArithF32>(dev, p, &[Arg::In(x), Arg::Out(y)])
}
