//! add on a GPU: `add_f32` with broadcasting (`kernels/add.cu`), the geometry in
//! [`BroadcastParams`].

use cudarc::driver::{CudaView, CudaViewMut};

use crate::cuda::device::CudaDevice;
use crate::cuda::launch::{launch, Arg};
use crate::error::Result;
use crate::kernels::{AddF32, BroadcastParams};

/// `y = a + b` (or `relu(a + b)` when `p.relu`), `a` and `b` contiguous, broadcast as `p`
/// says; `y` is a fresh buffer of `p.n` floats.
pub(crate) fn add_f32(
    dev: &CudaDevice,
    p: &BroadcastParams,
    a: CudaView<'_, u8>,
    b: CudaView<'_, u8>,
    y: CudaViewMut<'_, u8>,
) -> Result<()> {
    launch::<AddF32>(dev, p, &mut [Arg::In(a), Arg::In(b), Arg::Out(y)])
}
