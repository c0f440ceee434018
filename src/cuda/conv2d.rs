//! conv2d on a GPU, NCHW input `[n, c_in, h, w]`, OIHW weight `[c_out, c_in / groups, kh, kw]`,
//! optional bias `[c_out]`, optional residual `[n, c_out, h_out, w_out]` added and relu applied
//! as the output is stored (`p.has_residual`, `p.relu`) and, on the small-channel kernels, a
//! 2x2 max pool of it (`p.pool`, their `_pool` twins), on one of the kernels of `kernels/conv2d.cu` and
//! `kernels/conv2d_small.cu`: the implicit GEMM `conv2d_igemm_f32` for groups of at least 32
//! output channels, `conv2d_small{3,5,7}_f32` for fewer channels and square 3/5/7 filters
//! without groups, `conv2d_depthwise_f32` (`kernels/conv2d_depthwise.cu`) for one input
//! channel per group, the direct `conv2d_f32` otherwise (`kernels::shapes::conv2d_kernel`, which
//! also requires 32-bit in-image offsets of the first two).

use crate::cuda::buffer::{DevView, DevViewMut};

use crate::cuda::device::CudaDevice;
use crate::cuda::launch::{launch, Arg};
use crate::error::Result;
use crate::kernels::shapes::{conv2d_kernel, ConvKernel};
use crate::kernels::{
    Conv2dDepthwiseF32, Conv2dF32, Conv2dIgemmF32, Conv2dParams, Conv2dSmall3F32,
    Conv2dSmall3PoolF32, Conv2dSmall5F32, Conv2dSmall5PoolF32, Conv2dSmall7F32,
    Conv2dSmall7PoolF32,
};

/// `y [n, c_out, h_out, w_out] = act(conv2d(x, w) + b + r)`, pooled when `p.pool == 2` (the
/// launch refuses a pool on a kernel that does not pool).
pub(crate) fn conv2d_f32(
    dev: &CudaDevice,
    p: &Conv2dParams,
    x: DevView<'_>,
    w: DevView<'_>,
    b: Option<DevView<'_>>,
    r: Option<DevView<'_>>,
    y: DevViewMut<'_>,
) -> Result<()> {
    let b = b.map_or(Arg::Absent, Arg::In);
    let r = r.map_or(Arg::Absent, Arg::In);
    let args = [Arg::In(x), Arg::In(w), b, r, Arg::Out(y)];
    let pooled = p.pool != 0;
    match conv2d_kernel(p) {
        ConvKernel::ImplicitGemm => launch::<Conv2dIgemmF32>(dev, p, &args),
        ConvKernel::Small3 if pooled => launch::<Conv2dSmall3PoolF32>(dev, p, &args),
        ConvKernel::Small5 if pooled => launch::<Conv2dSmall5PoolF32>(dev, p, &args),
        ConvKernel::Small7 if pooled => launch::<Conv2dSmall7PoolF32>(dev, p, &args),
        ConvKernel::Small3 => launch::<Conv2dSmall3F32>(dev, p, &args),
        ConvKernel::Small5 => launch::<Conv2dSmall5F32>(dev, p, &args),
        ConvKernel::Small7 => launch::<Conv2dSmall7F32>(dev, p, &args),
        ConvKernel::Depthwise => launch::<Conv2dDepthwiseF32>(dev, p, &args),
        ConvKernel::Direct => launch::<Conv2dF32>(dev, p, &args),
    }
}
