//! `torch.cat(tensors, dim)`: PyTorch's checks (one dtype, one device, equal sizes except along
//! `dim`, the legacy skip of 1-D empty tensors), a byte copy on the CPU (every dtype, any
//! strides), and one strided-copy kernel launch per input on CUDA (`kernels/copy.cu`).

use crate::error::{Error, Result};
use crate::ops::operands::check;
use crate::ops::views::wrap;
use crate::tensor::Tensor;

const OP: &str = "cat";

/// Concatenates `tensors` along `dim` (negative counts from the end) into a new contiguous
/// tensor. As in PyTorch, every tensor must have the same number of dims and the same sizes
/// except along `dim`, except that 1-D empty tensors (shape `[0]`) are skipped whatever the
/// others' shapes (legacy behaviour); a 0-d tensor is refused. Unlike PyTorch, mixed dtypes are
/// refused rather than promoted. Every dtype, on the CPU or on one CUDA device.
pub fn cat(tensors: &[&Tensor], dim: i64) -> Result<Tensor> {
    let Some(first) = tensors.first() else {
        return Err(Error::InvalidArgument {
            op: OP,
            name: "tensors",
            reason: "torch.cat(): expected a non-empty list of Tensors".into(),
        });
    };
    let named: Vec<(&'static str, Option<&Tensor>)> =
        tensors.iter().map(|t| ("tensors", Some(*t))).collect();
    check(OP, &named)?;
    if let Some(i) = tensors.iter().position(|t| t.ndim() == 0) {
        return Err(Error::Shape {
            op: OP,
            expected: "tensors of at least one dimension".into(),
            got: format!("zero-dimensional tensor (at position {i}) cannot be concatenated"),
        });
    }
    let legacy_empty = |t: &Tensor| t.shape() == [0];
    let kept: Vec<(usize, &Tensor)> = tensors
        .iter()
        .enumerate()
        .filter(|(_, t)| !legacy_empty(t))
        .map(|(i, t)| (i, *t))
        .collect();
    let Some(&(_, reference)) = kept.first() else {
        // Only 1-D empty tensors: the result is one of them (dim checked against 1-D).
        wrap(OP, dim, 1)?;
        return Tensor::zeros(first.dtype(), &[0])?.to(&first.device());
    };
    let nd = reference.ndim();
    let d = wrap(OP, dim, nd)?;
    let mut shape = reference.shape().to_vec();
    shape[d] = 0;
    for &(i, t) in &kept {
        if t.ndim() != nd {
            return Err(Error::Shape {
                op: OP,
                expected: "Tensors must have same number of dimensions".into(),
                got: format!(
                    "Tensors must have same number of dimensions: got {nd} and {}",
                    t.ndim()
                ),
            });
        }
        for k in (0..nd).filter(|&k| k != d) {
            if t.shape()[k] != reference.shape()[k] {
                return Err(Error::Shape {
                    op: OP,
                    expected: format!("Sizes of tensors must match except in dimension {d}"),
                    got: format!(
                        "Sizes of tensors must match except in dimension {d}. Expected size {} \
                         but got size {} for tensor number {i} in the list.",
                        reference.shape()[k],
                        t.shape()[k]
                    ),
                });
            }
        }
        shape[d] = shape[d]
            .checked_add(t.shape()[d])
            .ok_or_else(|| Error::Overflow {
                what: format!("{OP} output size along dim {d}"),
            })?;
    }
    let parts: Vec<&Tensor> = kept.iter().map(|&(_, t)| t).collect();
    #[cfg(feature = "cuda")]
    if reference.device().is_cuda() {
        return cat_cuda(&parts, d, &shape);
    }
    cat_host(&parts, d, &shape)
}

/// Each input's C-order bytes in runs of `size_d · inner` elements, placed side by side in each
/// of the `outer` rows of the output.
fn cat_host(parts: &[&Tensor], d: usize, shape: &[usize]) -> Result<Tensor> {
    let dtype = parts[0].dtype();
    let item = dtype.size();
    let inner: usize = shape[d + 1..].iter().product();
    let outer: usize = shape[..d].iter().product();
    let row = shape[d] * inner * item;
    let mut out = vec![0u8; outer * row];
    let mut at = 0usize;
    for t in parts {
        let run = t.shape()[d] * inner * item;
        let bytes = t.contiguous_bytes()?;
        if run > 0 {
            for (o, src) in bytes.chunks_exact(run).enumerate() {
                out[o * row + at..][..run].copy_from_slice(src);
            }
        }
        at += run;
    }
    Tensor::from_raw_bytes(dtype, shape, &out)
}

/// One strided copy per input into its slice of a fresh output on the inputs' GPU.
#[cfg(feature = "cuda")]
fn cat_cuda(parts: &[&Tensor], d: usize, shape: &[usize]) -> Result<Tensor> {
    use crate::ops::copy::cuda::copy_into;
    use crate::ops::operands::cuda::{device_of, output, tensor};
    use crate::tensor::contiguous_strides;

    let dtype = parts[0].dtype();
    let dev = device_of(parts[0])?;
    let mut y = output(&dev, dtype, shape)?;
    let strides = contiguous_strides(shape);
    let mut at = 0usize;
    for t in parts {
        copy_into(t, &mut y, at * strides[d], &strides)?;
        at += t.shape()[d];
    }
    tensor(y, dtype, shape)
}
