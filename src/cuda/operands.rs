//! Checks shared by the kernel launchers: every operand on one CUDA device, f32, contiguous,
//! with exactly as many elements as the params struct says; and the output buffer.

use std::sync::Arc;

use cudarc::driver::CudaView;

use crate::cuda::device::CudaDevice;
use crate::cuda::storage::DeviceBuf;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::storage::Storage;
use crate::tensor::{contiguous_strides, Tensor};

const F32: usize = 4;

/// The device of the operands, which must all be on the same CUDA device (never a silent copy).
pub(crate) fn same_device(op: &'static str, operands: &[&Tensor]) -> Result<Arc<CudaDevice>> {
    let Some(first) = operands.first() else {
        return Err(Error::InvalidArgument {
            op,
            name: "input",
            reason: "no operands".into(),
        });
    };
    let device = first.device();
    for t in operands {
        if t.device() != device {
            return Err(Error::DeviceMismatch {
                op,
                expected: device.to_string(),
                got: t.device().to_string(),
            });
        }
    }
    match first.storage().cuda_buf() {
        Some(buf) => Ok(buf.device().clone()),
        None => Err(Error::DeviceMismatch {
            op,
            expected: "a CUDA device".into(),
            got: device.to_string(),
        }),
    }
}

/// The bytes of a contiguous f32 CUDA tensor with `want` elements, as a device view.
pub(crate) fn f32_view<'a>(
    op: &'static str,
    name: &'static str,
    t: &'a Tensor,
    want: i64,
) -> Result<CudaView<'a, u8>> {
    if t.dtype() != DType::F32 {
        return Err(Error::DType {
            op,
            expected: "float32 (the only dtype with CUDA kernels)".into(),
            got: t.dtype(),
        });
    }
    if !t.is_contiguous() {
        return Err(Error::InvalidArgument {
            op,
            name,
            reason: format!(
                "CUDA kernels need contiguous operands, got size {:?} stride {:?}; make a \
                 contiguous copy first (t.to(&Device::Cpu)?.contiguous()?.to(&device)?)",
                t.shape(),
                t.strides()
            ),
        });
    }
    let numel = t.numel();
    if i64::try_from(numel).ok() != Some(want) {
        return Err(Error::Shape {
            op,
            expected: format!("{name} with {want} elements"),
            got: format!("{name} of shape {:?}", t.shape()),
        });
    }
    if numel == 0 {
        return Err(Error::InvalidArgument {
            op,
            name,
            reason: "an empty operand with a non-empty output has no CUDA kernel".into(),
        });
    }
    let buf = t
        .storage()
        .cuda_buf()
        .ok_or_else(|| Error::DeviceMismatch {
            op,
            expected: "a CUDA device".into(),
            got: t.device().to_string(),
        })?;
    let overflow = || Error::Overflow {
        what: format!("{op} {name} byte range"),
    };
    let start = t.storage_offset().checked_mul(F32).ok_or_else(overflow)?;
    let len = numel.checked_mul(F32).ok_or_else(overflow)?;
    let end = start.checked_add(len).ok_or_else(overflow)?;
    buf.view(start..end)
}

/// An uninitialised f32 output of `numel` elements on `dev`; `numel` is checked against the
/// params value `want` so the kernel's writes stay inside it.
pub(crate) fn output(
    op: &'static str,
    dev: &Arc<CudaDevice>,
    shape: &[usize],
    want: i64,
) -> Result<DeviceBuf> {
    let numel = shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| Error::Overflow {
            what: format!("{op} output {shape:?}"),
        })?;
    if i64::try_from(numel).ok() != Some(want) {
        return Err(Error::Shape {
            op,
            expected: format!("an output of {want} elements"),
            got: format!("output shape {shape:?}"),
        });
    }
    let bytes = numel.checked_mul(F32).ok_or_else(|| Error::Overflow {
        what: format!("{op} output {shape:?}"),
    })?;
    DeviceBuf::alloc(dev, bytes)
}

/// A contiguous f32 tensor over a finished output buffer.
pub(crate) fn into_tensor(buf: DeviceBuf, shape: &[usize]) -> Result<Tensor> {
    Tensor::from_storage(
        Storage::from_cuda(buf),
        DType::F32,
        0,
        shape.to_vec(),
        contiguous_strides(shape),
    )
}

/// The product of params fields, as the element count of an operand.
pub(crate) fn count(op: &'static str, dims: &[i64]) -> Result<i64> {
    dims.iter()
        .try_fold(1i64, |a, &d| a.checked_mul(d))
        .ok_or_else(|| Error::Overflow {
            what: format!("{op} element count {dims:?}"),
        })
}
