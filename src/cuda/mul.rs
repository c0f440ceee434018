//! mul on a GPU: `mul_f32` with broadcasting (`kernels/mul.cu`), the geometry in
//! [`BroadcastParams`].

use crate::cuda::buffer::{DevView, DevViewMut};
use crate::cuda::device::CudaDevice;
use crate::cuda::launch::{launch, Arg};
use crate::error::Result;
use crate::kernels::{BroadcastParams, MulF32};

/// `y = a · b`, `a` and `b` contiguous, broadcast as `p` says; `y` is a fresh buffer of `p.n`
/// floats.
pub(crate) fn mul_f32(
    dev: &CudaDevice,
    p: &BroadcastParams,
    a: DevView<'_>,
    b: DevView<'_>,
    y: DevViewMut<'_>,
) -> Result<()> {
    launch::<MulF32>(dev, p, &[Arg::In(a), Arg::In(b), Arg::Out(y)])
}
