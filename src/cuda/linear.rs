//! linear on a GPU, `y[m, n] = x[m, k] · w[n, k]ᵀ + b[n]` with relu fused into the epilogue when
//! `p.relu != 0`, on one of two kernels of `kernels/linear.cu`: `linear_tiled_f32` (128x128
//! register tiles) when M and N are both at least 64, `linear_f32` for the rest. The choice is
//! `kernels::shapes::linear_kernel`, which the emulator tests share (and which says why the
//! batch-1 `linear_gemv_f32` is not chosen yet).

use crate::cuda::buffer::{DevView, DevViewMut};

use crate::cuda::device::CudaDevice;
use crate::cuda::launch::{launch, Arg};
use crate::error::Result;
use crate::kernels::shapes::{linear_kernel, LinearKernel};
use crate::kernels::{LinearF32, LinearParams, LinearTiledF32};

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
    let args = [Arg::In(x), Arg::In(w), b, Arg::Out(y)];
    match linear_kernel(p) {
        LinearKernel::Tiled => launch::<LinearTiledF32>(dev, p, &args),
        LinearKernel::General => launch::<LinearF32>(dev, p, &args),
    }
}
