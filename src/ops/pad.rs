//! `torch.nn.functional.pad(x, pad, mode="constant", value)`: PyTorch's checks and output size,
//! then a background of `value` with the (cropped) input placed inside: a byte fill and copy on
//! the CPU, a fill and a strided-copy kernel on CUDA (`kernels/copy.cu`). Every dtype but the
//! complex ones.

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::ops::views::restride;
use crate::tensor::{contiguous_strides, Tensor};

const OP: &str = "pad";

/// Constant padding: `pad` lists `(before, after)` pairs for the last dim, then the one before
/// it, ... (PyTorch's order); a negative pad crops. `value` is converted to the input's dtype
/// as PyTorch converts it (rounded for floats, truncated for integers, `!= 0` for bool).
/// Returns a new contiguous tensor on the input's device.
pub fn pad(x: &Tensor, pad: &[i64], value: f64) -> Result<Tensor> {
    if !pad.len().is_multiple_of(2) {
        return Err(Error::InvalidArgument {
            op: OP,
            name: "pad",
            reason: "Padding length must be divisible by 2".into(),
        });
    }
    let nd = x.ndim();
    if pad.len() / 2 > nd {
        return Err(Error::InvalidArgument {
            op: OP,
            name: "pad",
            reason: format!(
                "Padding length should be less than or equal to two times the input dimension \
                 but got padding length {} and input of dimension {nd}",
                pad.len()
            ),
        });
    }
    let mut out_shape = x.shape().to_vec();
    let (mut crop_shape, mut crop_offset) = (x.shape().to_vec(), x.storage_offset());
    let mut at = vec![0usize; nd]; // where the cropped input starts in the output
    for (k, lr) in pad.chunks_exact(2).enumerate() {
        let d = nd - 1 - k;
        let size = i128::from(x.shape()[d] as u64);
        let (l, r) = (i128::from(lr[0]), i128::from(lr[1]));
        let kept = size - (-l).max(0) - (-r).max(0);
        if kept < 0 {
            return Err(Error::Shape {
                op: OP,
                expected: format!(
                    "padding {lr:?} that keeps at most the {size} elements of dim {d}"
                ),
                got: "narrow(): length must be non-negative.".into(),
            });
        }
        let new = usize::try_from(size + l + r).map_err(|_| Error::Overflow {
            what: format!("{OP} output size of dim {d}"),
        })?;
        out_shape[d] = new;
        crop_shape[d] = kept as usize;
        if kept > 0 {
            crop_offset += (-l).max(0) as usize * x.strides()[d];
        }
        at[d] = l.max(0) as usize;
    }
    let cropped = restride(x, crop_shape, x.strides().to_vec(), crop_offset)?;
    let bits = value_bits(x.dtype(), value)?;
    let strides = contiguous_strides(&out_shape);
    let dst_offset: usize = at.iter().zip(&strides).map(|(a, s)| a * s).sum();
    #[cfg(feature = "cuda")]
    if x.device().is_cuda() {
        return pad_cuda(&cropped, &out_shape, bits, dst_offset, &strides);
    }
    let item = x.dtype().size();
    let numel: usize = out_shape.iter().product();
    let mut out = Vec::with_capacity(numel * item);
    for _ in 0..numel {
        out.extend_from_slice(&bits.to_le_bytes()[..item]);
    }
    scatter(
        &mut out,
        item,
        dst_offset,
        &strides,
        cropped.shape(),
        &cropped.contiguous_bytes()?,
    );
    Tensor::from_raw_bytes(x.dtype(), &out_shape, &out)
}

/// `value` as an element of `dtype`, its bits in the low bytes (little-endian order).
fn value_bits(dtype: DType, v: f64) -> Result<u64> {
    Ok(match dtype {
        DType::F64 => v.to_bits(),
        DType::F32 => u64::from((v as f32).to_bits()),
        DType::F16 => u64::from(half::f16::from_f64(v).to_bits()),
        DType::BF16 => u64::from(half::bf16::from_f64(v).to_bits()),
        DType::Bool => u64::from(v != 0.0),
        DType::I64 | DType::U64 => v as i64 as u64,
        DType::I32 | DType::U32 | DType::I16 | DType::U16 | DType::I8 | DType::U8 => {
            v as i64 as u64
        }
        other => {
            return Err(Error::DType {
                op: OP,
                operand: "input",
                got: other,
                supported: "real dtypes (not complex or 8-bit floats)".into(),
            })
        }
    })
}

/// Writes the C-order elements `src` of a `shape` view into `dst` at element `offset` with
/// `strides` (the output's contiguous strides, so the last dim is a run).
fn scatter(
    dst: &mut [u8],
    item: usize,
    offset: usize,
    strides: &[usize],
    shape: &[usize],
    src: &[u8],
) {
    if shape.contains(&0) {
        return;
    }
    let Some((&inner, outer)) = shape.split_last() else {
        dst[offset * item..][..item].copy_from_slice(&src[..item]);
        return;
    };
    let run = inner * item;
    let mut idx = vec![0usize; outer.len()];
    for chunk in src.chunks_exact(run) {
        let base = offset + idx.iter().zip(strides).map(|(i, s)| i * s).sum::<usize>();
        dst[base * item..][..run].copy_from_slice(chunk);
        // Advance the odometer over the outer dims.
        for d in (0..outer.len()).rev() {
            idx[d] += 1;
            if idx[d] < outer[d] {
                break;
            }
            idx[d] = 0;
        }
    }
}

/// The fill kernel over a fresh output, then one strided copy of the cropped input into it.
#[cfg(feature = "cuda")]
fn pad_cuda(
    cropped: &Tensor,
    shape: &[usize],
    bits: u64,
    dst_offset: usize,
    strides: &[usize],
) -> Result<Tensor> {
    use crate::ops::copy::cuda::copy_into;
    use crate::ops::operands::cuda::{device_of, tensor};

    let dtype = cropped.dtype();
    let dev = device_of(cropped)?;
    let mut y = full_cuda(&dev, dtype, shape, bits)?;
    copy_into(cropped, &mut y, dst_offset, strides)?;
    tensor(y, dtype, shape)
}

/// A fresh buffer on `dev` of `shape` elements of `dtype`, each the bits `bits` (low bytes).
#[cfg(feature = "cuda")]
pub(crate) fn full_cuda(
    dev: &std::sync::Arc<crate::cuda::CudaDevice>,
    dtype: DType,
    shape: &[usize],
    bits: u64,
) -> Result<crate::cuda::DeviceBuf> {
    use crate::kernels::FillParams;
    use crate::ops::operands::cuda::output;

    let mut y = output(dev, dtype, shape)?;
    let n: usize = shape.iter().product();
    if let Some(view) = y.view_mut() {
        let p = FillParams {
            n: i64::try_from(n).map_err(|_| Error::Overflow {
                what: format!("{OP} output of {n} elements"),
            })?,
            // The bits, reinterpreted: the kernel keeps the element's low bytes.
            value_bits: bits as i64,
        };
        crate::cuda::copy::fill(dev, dtype.size(), &p, view)?;
    }
    Ok(y)
}
