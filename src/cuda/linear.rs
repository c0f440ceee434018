//! linear on a GPU: `linear_f32` (`kernels/linear.cu`), `y[m, n] = x[m, k] · w[n, k]ᵀ + b[n]`,
//! with relu fused into the epilogue when `p.relu != 0`.

use cudarc::driver::{CudaView, CudaViewMut};

use crate::cuda::device::CudaDevice;
use crate::cuda::launch::{launch, Arg};
use crate::error::Result;
use crate::kernels::{LinearF32, LinearParams};

/// `y = act(x · wᵀ + b)`.
pub(crate) fn linear_f32(
    dev: &CudaDevice,
    p: &LinearParams,
    x: CudaView<'_, u8>,
    w: CudaView<'_, u8>,
    b: Option<CudaView<'_, u8>>,
    y: CudaViewMut<'_, u8>,
) -> Result<()> {
    let b = b.map_or(Arg::Absent, Arg::In);
    launch::<LinearF32>(dev, p, &mut [Arg::In(x), Arg::In(w), b, Arg::Out(y)])
}
