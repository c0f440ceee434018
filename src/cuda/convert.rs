//! dtype conversions on a GPU (`kernels/convert.cu`): one kernel per direction over `p.n`
//! contiguous elements.

use crate::cuda::buffer::{DevView, DevViewMut};
use crate::cuda::device::CudaDevice;
use crate::cuda::launch::{launch, Arg};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::kernels::{
    ConvertBf16F32, ConvertF16F32, ConvertF32Bf16, ConvertF32F16, ConvertF32F64, ConvertF64F32,
    EltwiseParams,
};

/// `y = x` converted from `from` to `to`; `y` is a fresh buffer of `p.n` elements of `to`.
/// A pair without a kernel is an [`Error::InvalidArgument`] naming both dtypes.
pub(crate) fn convert(
    dev: &CudaDevice,
    from: DType,
    to: DType,
    p: &EltwiseParams,
    x: DevView<'_>,
    y: DevViewMut<'_>,
) -> Result<()> {
    let args = &[Arg::In(x), Arg::Out(y)];
    match (from, to) {
        (DType::F32, DType::F16) => launch::<ConvertF32F16>(dev, p, args),
        (DType::F16, DType::F32) => launch::<ConvertF16F32>(dev, p, args),
        (DType::F32, DType::BF16) => launch::<ConvertF32Bf16>(dev, p, args),
        (DType::BF16, DType::F32) => launch::<ConvertBf16F32>(dev, p, args),
        (DType::F32, DType::F64) => launch::<ConvertF32F64>(dev, p, args),
        (DType::F64, DType::F32) => launch::<ConvertF64F32>(dev, p, args),
        _ => Err(Error::InvalidArgument {
            op: "to_dtype",
            name: "dtype",
            reason: format!("no CUDA conversion from {from} to {to}"),
        }),
    }
}
