//! Strided copies on a GPU (`kernels/copy.cu`): one kernel per element size, the geometry in
//! [`CopyParams`].

use crate::cuda::buffer::{DevView, DevViewMut};
use crate::cuda::device::CudaDevice;
use crate::cuda::launch::{launch, Arg};
use crate::error::{Error, Result};
use crate::kernels::{
    CopyB1, CopyB2, CopyB4, CopyB8, CopyParams, FillB1, FillB2, FillB4, FillB8, FillParams,
};

/// `y[dst view] = x[src view]` for elements of `item` bytes (1, 2, 4 or 8; the op splits
/// 16-byte elements into two 8-byte ones). `x` and `y` are whole buffers of `p.src_len` and
/// `p.dst_len` elements.
pub(crate) fn copy(
    dev: &CudaDevice,
    item: usize,
    p: &CopyParams,
    x: DevView<'_>,
    y: DevViewMut<'_>,
) -> Result<()> {
    let args = [Arg::In(x), Arg::Out(y)];
    match item {
        1 => launch::<CopyB1>(dev, p, &args),
        2 => launch::<CopyB2>(dev, p, &args),
        4 => launch::<CopyB4>(dev, p, &args),
        8 => launch::<CopyB8>(dev, p, &args),
        _ => Err(Error::InvalidArgument {
            op: "copy",
            name: "input",
            reason: format!("no strided-copy kernel for {item}-byte elements"),
        }),
    }
}

/// `y[i] = value` for `p.n` elements of `item` bytes (1, 2, 4 or 8).
pub(crate) fn fill(dev: &CudaDevice, item: usize, p: &FillParams, y: DevViewMut<'_>) -> Result<()> {
    let args = [Arg::Out(y)];
    match item {
        1 => launch::<FillB1>(dev, p, &args),
        2 => launch::<FillB2>(dev, p, &args),
        4 => launch::<FillB4>(dev, p, &args),
        8 => launch::<FillB8>(dev, p, &args),
        _ => Err(Error::InvalidArgument {
            op: "fill",
            name: "input",
            reason: format!("no fill kernel for {item}-byte elements"),
        }),
    }
}
