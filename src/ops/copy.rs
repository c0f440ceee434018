//! Strided copies on a GPU, for [`Tensor::contiguous`] and `cat`: the geometry (in
//! [`CopyParams::new`], checked against both buffers) and the launch (`cuda/copy.rs`,
//! `kernels/copy.cu`). The host has its own gather (`tensor/layout.rs`).

use crate::error::{Error, Result};
use crate::kernels::CopyParams;
use crate::tensor::{check_view, ViewError};

/// One side of a copy: a view (`offset`, `strides`, in elements) into a buffer of `len`
/// elements.
#[derive(Clone, Debug)]
pub(crate) struct Side<'a> {
    pub offset: usize,
    pub strides: &'a [usize],
    pub len: usize,
}

const MAX_DIMS: usize = 8;

impl CopyParams {
    /// The params of copying a `shape` view of `item`-byte elements from `src` to `dst`, and
    /// the element size the kernel moves (`item`, or 8 for 16-byte complex128, copied as pairs).
    /// Size-1 dims are dropped first, so a view of up to 8 non-trivial dims copies. Both views
    /// are checked to lie inside their buffers: the kernel's indices stay in range.
    pub fn new(
        item: usize,
        shape: &[usize],
        src: &Side<'_>,
        dst: &Side<'_>,
    ) -> Result<(CopyParams, usize)> {
        const OP: &str = "copy";
        let bounds = |e: ViewError| {
            let (ViewError::Overflow(m) | ViewError::Bounds(m)) = e;
            Error::Shape {
                op: OP,
                expected: "views inside their buffers".into(),
                got: m,
            }
        };
        for side in [src, dst] {
            let bytes = side.len.checked_mul(item).ok_or_else(|| Error::Overflow {
                what: format!("{OP} buffer of {} elements", side.len),
            })?;
            check_view(bytes, item, side.offset, shape, side.strides).map_err(bounds)?;
        }
        // (size, src stride, dst stride) of every dim that is not 1.
        let mut dims: Vec<(usize, usize, usize)> = (0..shape.len())
            .filter(|&d| shape[d] != 1)
            .map(|d| (shape[d], src.strides[d], dst.strides[d]))
            .collect();
        let (mut unit, mut scale) = (item, 1usize);
        if item == 16 {
            // complex128: two 8-byte halves, the second one element further on.
            unit = 8;
            scale = 2;
            for d in &mut dims {
                d.1 *= 2;
                d.2 *= 2;
            }
            dims.push((2, 1, 1));
        }
        if dims.len() > MAX_DIMS {
            return Err(Error::InvalidArgument {
                op: OP,
                name: "input",
                reason: format!(
                    "the CUDA strided copy takes at most {MAX_DIMS} dims of size > 1, got size \
                     {shape:?}"
                ),
            });
        }
        let i64_of = |v: usize| {
            i64::try_from(v).map_err(|_| Error::Overflow {
                what: format!("{OP} index {v} beyond 64-bit signed arithmetic"),
            })
        };
        let mut p = CopyParams {
            n: i64_of(dims.iter().map(|d| d.0).product())?,
            ndim: i64_of(dims.len())?,
            src_len: i64_of(src.len.saturating_mul(scale))?,
            dst_len: i64_of(dst.len.saturating_mul(scale))?,
            src_offset: i64_of(src.offset.saturating_mul(scale))?,
            dst_offset: i64_of(dst.offset.saturating_mul(scale))?,
            shape: [1; 8],
            src_strides: [0; 8],
            dst_strides: [0; 8],
        };
        if shape.contains(&0) {
            p.n = 0;
        }
        for (i, &(s, a, b)) in dims.iter().enumerate() {
            p.shape[i] = i64_of(s)?;
            p.src_strides[i] = i64_of(a)?;
            p.dst_strides[i] = i64_of(b)?;
        }
        Ok((p, unit))
    }
}

/// CUDA copies between tensors' buffers.
#[cfg(feature = "cuda")]
pub(crate) mod cuda {
    use super::Side;
    use crate::cuda::DeviceBuf;
    use crate::error::{Error, Result};
    use crate::kernels::CopyParams;
    use crate::ops::operands::cuda::{device_of, output, tensor};
    use crate::tensor::{contiguous_strides, Tensor};

    /// Copies the CUDA tensor `src` into the view (`dst_offset`, `dst_strides`, `src`'s shape)
    /// of `dst`, a buffer on the same device.
    pub(crate) fn copy_into(
        src: &Tensor,
        dst: &mut DeviceBuf,
        dst_offset: usize,
        dst_strides: &[usize],
    ) -> Result<()> {
        if src.numel() == 0 {
            return Ok(());
        }
        let item = src.dtype().size();
        let buf = src.storage().cuda_buf().ok_or(Error::NotOnHost {
            device: src.device(),
        })?;
        let s = Side {
            offset: src.storage_offset(),
            strides: src.strides(),
            len: buf.len() / item,
        };
        let d = Side {
            offset: dst_offset,
            strides: dst_strides,
            len: dst.len() / item,
        };
        let (p, unit) = CopyParams::new(item, src.shape(), &s, &d)?;
        let x = buf.view(0..s.len * item)?;
        let dev = dst.device().clone();
        let dst_bytes = d.len * item;
        let y = dst.view_mut().ok_or_else(|| Error::Shape {
            op: "copy",
            expected: "a non-empty destination".into(),
            got: "0 bytes".into(),
        })?;
        if y.len != dst_bytes {
            return Err(Error::Shape {
                op: "copy",
                expected: format!("a destination of whole {item}-byte elements"),
                got: format!("{} bytes", y.len),
            });
        }
        crate::cuda::copy::copy(&dev, unit, &p, x, y)
    }

    /// A C-contiguous copy of a CUDA tensor, made on its device.
    pub(crate) fn contiguous(t: &Tensor) -> Result<Tensor> {
        let dev = device_of(t)?;
        let mut y = output(&dev, t.dtype(), t.shape())?;
        copy_into(t, &mut y, 0, &contiguous_strides(t.shape()))?;
        tensor(y, t.dtype(), t.shape())
    }
}
