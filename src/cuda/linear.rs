//! linear on a GPU: `linear_f32` (`kernels/linear.cu`), `y[m, n] = x[m, k] · w[n, k]ᵀ + b[n]`,
//! with relu fused into the epilogue when `p.relu != 0`.

use crate::cuda::buffer::{DevView, DevViewMut};

use crate::cuda::device::CudaDevice;
use crate::cuda::launch::{launch, Arg};
use crate::error::Result;
use crate::kernels::{LinearF32, LinearParams};

/// `y = act(x · wᵀ + b)`.
pub(crate) fn linear_f32(
    dev: &CudaDevice,
    p: &LinearParams,
    x: DevView<'_>,
    w: DevView<'_>,
    b: Option<DevView<'_>>,
    y: DevViewMut<'_>,
) -> Result<()> {
    let b = b.map_or(Arg::Absent, Arg::In);
    launch::<LinearF32>(dev, p, &[Arg::In(x), Arg::In(w), b, Arg::Out(y)])
}
