//! conv2d on a GPU: `conv2d_f32` (`kernels/conv2d.cu`), NCHW input `[n, c_in, h, w]`, OIHW
//! weight `[c_out, c_in / groups, kh, kw]`, optional bias `[c_out]`.

use crate::cuda::buffer::{DevView, DevViewMut};

use crate::cuda::device::CudaDevice;
use crate::cuda::launch::{launch, Arg};
use crate::error::Result;
use crate::kernels::{Conv2dF32, Conv2dParams};

/// `y [n, c_out, h_out, w_out] = conv2d(x, w) + b`.
pub(crate) fn conv2d_f32(
    dev: &CudaDevice,
    p: &Conv2dParams,
    x: DevView<'_>,
    w: DevView<'_>,
    b: Option<DevView<'_>>,
    y: DevViewMut<'_>,
) -> Result<()> {
    let b = b.map_or(Arg::Absent, Arg::In);
    launch::<Conv2dF32>(dev, p, &[Arg::In(x), Arg::In(w), b, Arg::Out(y)])
}
