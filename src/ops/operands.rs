//! What every op does with its operands, written once: the dtype dispatch ([`with_dtype!`]), the
//! one-device / one-dtype check ([`check`]), the borrow-or-gather of host elements
//! ([`host_elems`]), and (with `cuda`) the bridge from tensors to the device buffers the
//! launchers in `crate::cuda` take ([`cuda`]).

use std::borrow::Cow;

use crate::device::Device;
use crate::dtype::{DType, Element};
use crate::error::{Error, Result};
use crate::tensor::Tensor;

/// Calls a generic function with the Rust type of a dtype: `with_dtype!(op, "input", dtype,
/// float, f::<T>(args))`. The dtype sets are named once here: `float` (float32, float64) and
/// `real` (those and int64, int32, int16, int8, uint8; PyTorch's relu, max_pool2d and argmax
/// accept all of them). Any other dtype is an [`Error::DType`] listing the set.
macro_rules! with_dtype {
    ($op:expr, $operand:expr, $dtype:expr, float, $($call:tt)*) => {
        $crate::ops::operands::with_dtype!(@go $op, $operand, $dtype,
            [F32 => f32, F64 => f64], $($call)*)
    };
    ($op:expr, $operand:expr, $dtype:expr, real, $($call:tt)*) => {
        $crate::ops::operands::with_dtype!(@go $op, $operand, $dtype,
            [F32 => f32, F64 => f64, I64 => i64, I32 => i32, I16 => i16, I8 => i8, U8 => u8],
            $($call)*)
    };
    (@go $op:expr, $operand:expr, $dtype:expr, [$($variant:ident => $ty:ty),*],
        $f:ident::<T> $args:tt) => {
        match $dtype {
            $($crate::dtype::DType::$variant => $f::<$ty> $args,)*
            other => Err($crate::error::Error::DType {
                op: $op,
                operand: $operand,
                got: other,
                supported: [$($crate::dtype::DType::$variant.name()),*].join(", "),
            }),
        }
    };
}
pub(crate) use with_dtype;

/// Checks the operands of one op (`(name, tensor)`, absent optional ones as `None`): all on
/// the first one's device (never a silent copy) and all of its dtype. Returns that dtype and
/// device; whether the op supports the dtype is [`with_dtype!`]'s question.
pub(crate) fn check(
    op: &'static str,
    operands: &[(&'static str, Option<&Tensor>)],
) -> Result<(DType, Device)> {
    let mut present = operands
        .iter()
        .filter_map(|(name, t)| t.map(|t| (*name, t)));
    let Some((first, t0)) = present.next() else {
        return Err(Error::InvalidArgument {
            op,
            name: "input",
            reason: "no operands".into(),
        });
    };
    let (dtype, device) = (t0.dtype(), t0.device());
    for (name, t) in present {
        if t.device() != device {
            return Err(Error::DeviceMismatch {
                op,
                expected: device,
                got: t.device(),
            });
        }
        if t.dtype() != dtype {
            return Err(Error::DTypeMismatch {
                op,
                first,
                first_dtype: dtype,
                second: name,
                second_dtype: t.dtype(),
            });
        }
    }
    Ok((dtype, device))
}

/// The elements of a host tensor in C order: borrowed when contiguous and aligned for `T`, else
/// gathered into a copy (strided views, and mapped checkpoint data that is not aligned).
pub(crate) fn host_elems<T: Element>(t: &Tensor) -> Result<Cow<'_, [T]>> {
    if t.is_contiguous() {
        if let Ok(s) = t.as_slice::<T>() {
            return Ok(Cow::Borrowed(s));
        }
    }
    Ok(Cow::Owned(t.to_vec::<T>()?))
}

/// Tensors on a GPU as the launchers' device buffers, and outputs back as tensors.
#[cfg(feature = "cuda")]
pub(crate) mod cuda {
    use std::sync::Arc;

    use crate::cuda::{CudaDevice, DevView, DevViewMut, DeviceBuf};
    use crate::dtype::DType;
    use crate::error::{Error, Result};
    use crate::storage::Storage;
    use crate::tensor::{contiguous_strides, Tensor};

    /// The dtypes our CUDA kernels exist for, as an [`Error::DType`] says it.
    const CUDA_DTYPES: &str = "float32 (CUDA kernels exist for float32 only)";

    /// Refuses a dtype without CUDA kernels.
    pub(crate) fn f32_only(op: &'static str, operand: &'static str, dtype: DType) -> Result<()> {
        if dtype != DType::F32 {
            return Err(Error::DType {
                op,
                operand,
                got: dtype,
                supported: CUDA_DTYPES.into(),
            });
        }
        Ok(())
    }

    /// The device `t` lives on (a CUDA tensor's).
    pub(crate) fn device_of(t: &Tensor) -> Result<Arc<CudaDevice>> {
        match t.storage().cuda_buf() {
            Some(buf) => Ok(buf.device().clone()),
            None => Err(Error::NotOnHost { device: t.device() }),
        }
    }

    /// The bytes of a contiguous CUDA tensor as a device view. Its length is checked against
    /// the kernel's declaration by the launch; here only contiguity can be refused.
    pub(crate) fn view<'a>(
        op: &'static str,
        operand: &'static str,
        t: &'a Tensor,
    ) -> Result<DevView<'a>> {
        if !t.is_contiguous() {
            return Err(Error::InvalidArgument {
                op,
                name: operand,
                reason: format!(
                    "CUDA kernels need contiguous operands, got size {:?} stride {:?}; make a \
                     contiguous copy first (t.to(&Device::Cpu)?.contiguous()?.to(&device)?)",
                    t.shape(),
                    t.strides()
                ),
            });
        }
        let buf = t
            .storage()
            .cuda_buf()
            .ok_or(Error::NotOnHost { device: t.device() })?;
        let item = t.dtype().size();
        let overflow = || Error::Overflow {
            what: format!("{op} {operand} byte range"),
        };
        let start = t.storage_offset().checked_mul(item).ok_or_else(overflow)?;
        let len = t.numel().checked_mul(item).ok_or_else(overflow)?;
        let end = start.checked_add(len).ok_or_else(overflow)?;
        buf.view(start..end)
    }

    /// A fresh (uninitialised) buffer on `dev` for a contiguous `dtype` tensor of `shape`;
    /// the kernel writing it must cover every element.
    pub(crate) fn output(
        dev: &Arc<CudaDevice>,
        dtype: DType,
        shape: &[usize],
    ) -> Result<DeviceBuf> {
        let bytes = shape
            .iter()
            .try_fold(dtype.size(), |a, &d| a.checked_mul(d))
            .ok_or_else(|| Error::Overflow {
                what: format!("output {shape:?}"),
            })?;
        DeviceBuf::alloc(dev, bytes)
    }

    /// Runs an op's CUDA launcher: `inputs` (and the optional `extra`, a bias) as device views,
    /// into a fresh output of `shape` and the first input's dtype, returned as a tensor. The
    /// dtype must have CUDA kernels (float32) and the operands must be contiguous: anything else
    /// is a typed error naming the operand. An empty output launches nothing.
    pub(crate) fn run<const N: usize>(
        op: &'static str,
        inputs: [(&'static str, &Tensor); N],
        extra: Option<(&'static str, &Tensor)>,
        shape: &[usize],
        launch: impl FnOnce(
            &CudaDevice,
            [DevView<'_>; N],
            Option<DevView<'_>>,
            DevViewMut<'_>,
        ) -> Result<()>,
    ) -> Result<Tensor> {
        let (name, first) = inputs.first().copied().ok_or(Error::InvalidArgument {
            op,
            name: "input",
            reason: "no operands".into(),
        })?;
        f32_only(op, name, first.dtype())?;
        run_as(op, inputs, extra, first.dtype(), shape, launch)
    }

    /// [`run`] for a kernel whose dtypes the caller has already matched to the operands (a
    /// conversion): no float32 check, and the output has `dtype`.
    pub(crate) fn run_as<const N: usize>(
        op: &'static str,
        inputs: [(&'static str, &Tensor); N],
        extra: Option<(&'static str, &Tensor)>,
        dtype: DType,
        shape: &[usize],
        launch: impl FnOnce(
            &CudaDevice,
            [DevView<'_>; N],
            Option<DevView<'_>>,
            DevViewMut<'_>,
        ) -> Result<()>,
    ) -> Result<Tensor> {
        let (_, first) = inputs.first().copied().ok_or(Error::InvalidArgument {
            op,
            name: "input",
            reason: "no operands".into(),
        })?;
        let dev = device_of(first)?;
        let mut y = output(&dev, dtype, shape)?;
        if let Some(ys) = y.view_mut() {
            let mut views = Vec::with_capacity(N);
            for (name, t) in inputs {
                views.push(view(op, name, t)?);
            }
            let views: [DevView<'_>; N] = views.try_into().map_err(|_| Error::InvalidArgument {
                op,
                name: "input",
                reason: "operand count changed".into(),
            })?;
            let extra = extra.map(|(name, t)| view(op, name, t)).transpose()?;
            launch(&dev, views, extra, ys)?;
        }
        tensor(y, dtype, shape)
    }

    /// [`run`] for ops with several optional operands (batch norm's weight and bias): each
    /// present input as a device view, an absent one as `None`. The first input must be
    /// present; it sets the dtype and the device.
    pub(crate) fn run_opt<const N: usize>(
        op: &'static str,
        inputs: [(&'static str, Option<&Tensor>); N],
        shape: &[usize],
        launch: impl FnOnce(&CudaDevice, [Option<DevView<'_>>; N], DevViewMut<'_>) -> Result<()>,
    ) -> Result<Tensor> {
        let Some((name, Some(first))) = inputs.first().copied() else {
            return Err(Error::InvalidArgument {
                op,
                name: "input",
                reason: "no operands".into(),
            });
        };
        f32_only(op, name, first.dtype())?;
        let dev = device_of(first)?;
        let mut y = output(&dev, first.dtype(), shape)?;
        if let Some(ys) = y.view_mut() {
            let mut views = Vec::with_capacity(N);
            for (name, t) in inputs {
                views.push(t.map(|t| view(op, name, t)).transpose()?);
            }
            let views: [Option<DevView<'_>>; N] =
                views.try_into().map_err(|_| Error::InvalidArgument {
                    op,
                    name: "input",
                    reason: "operand count changed".into(),
                })?;
            launch(&dev, views, ys)?;
        }
        tensor(y, first.dtype(), shape)
    }

    /// The contiguous tensor over a finished output buffer.
    pub(crate) fn tensor(buf: DeviceBuf, dtype: DType, shape: &[usize]) -> Result<Tensor> {
        Tensor::from_storage(
            Storage::from_cuda(buf),
            dtype,
            0,
            shape.to_vec(),
            contiguous_strides(shape),
        )
    }
}
