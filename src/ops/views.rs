//! `permute`, `transpose`, `unsqueeze`, `split` and `chunk`: views, as in PyTorch. Each returns
//! tensors over the input's storage with new sizes, strides and offset (nothing is copied), on
//! whatever device the input lives, for every dtype; the arithmetic is torch's.

use crate::error::{Error, Result};
use crate::ops::shape::wrap_dim;
use crate::tensor::Tensor;

/// PyTorch's dim wrapping for an `i64` dim (see [`wrap_dim`]).
pub(crate) fn wrap(op: &'static str, dim: i64, ndim: usize) -> Result<usize> {
    let d = isize::try_from(dim).map_err(|_| Error::InvalidArgument {
        op,
        name: "dim",
        reason: format!("Dimension out of range (got {dim})"),
    })?;
    wrap_dim(op, d, ndim)
}

/// The view of `t`'s storage with `shape`, `strides` and `offset`, keeping `requires_grad`.
pub(crate) fn restride(
    t: &Tensor,
    shape: Vec<usize>,
    strides: Vec<usize>,
    offset: usize,
) -> Result<Tensor> {
    Ok(
        Tensor::from_storage(t.storage().clone(), t.dtype(), offset, shape, strides)?
            .with_requires_grad(t.requires_grad()),
    )
}

/// `x.permute(dims)`: dim `i` of the result is dim `dims[i]` of `x` (negative dims count from
/// the end). `dims` must name every dim once, as in PyTorch.
pub fn permute(x: &Tensor, dims: &[i64]) -> Result<Tensor> {
    const OP: &str = "permute";
    let nd = x.ndim();
    if dims.len() != nd {
        return Err(Error::Shape {
            op: OP,
            expected: "the number of dimensions in the tensor input to match the length of the \
                       desired ordering of dimensions"
                .into(),
            got: format!(
                "input.dim() = {nd} is not equal to len(dims) = {}",
                dims.len()
            ),
        });
    }
    let mut seen = vec![false; nd];
    let (mut shape, mut strides) = (Vec::with_capacity(nd), Vec::with_capacity(nd));
    for &d in dims {
        let d = wrap(OP, d, nd)?;
        if std::mem::replace(&mut seen[d], true) {
            return Err(Error::InvalidArgument {
                op: OP,
                name: "dims",
                reason: "permute(): duplicate dims are not allowed.".into(),
            });
        }
        shape.push(x.shape()[d]);
        strides.push(x.strides()[d]);
    }
    restride(x, shape, strides, x.storage_offset())
}

/// `x.transpose(dim0, dim1)`: the two dims swapped (negative dims count from the end).
pub fn transpose(x: &Tensor, dim0: i64, dim1: i64) -> Result<Tensor> {
    const OP: &str = "transpose";
    let nd = x.ndim();
    let (a, b) = (wrap(OP, dim0, nd)?, wrap(OP, dim1, nd)?);
    if nd == 0 {
        return Ok(x.clone());
    }
    let (mut shape, mut strides) = (x.shape().to_vec(), x.strides().to_vec());
    shape.swap(a, b);
    strides.swap(a, b);
    restride(x, shape, strides, x.storage_offset())
}

/// `x.unsqueeze(dim)`: a size-1 dim inserted at `dim` in `[-(ndim + 1), ndim]`, with torch's
/// stride for it (`size[dim]·stride[dim]`, or 1 at the end).
pub fn unsqueeze(x: &Tensor, dim: i64) -> Result<Tensor> {
    const OP: &str = "unsqueeze";
    let nd = x.ndim();
    let d = wrap(OP, dim, nd + 1)?;
    let (mut shape, mut strides) = (x.shape().to_vec(), x.strides().to_vec());
    let stride = if d >= nd {
        1
    } else {
        shape[d].saturating_mul(strides[d])
    };
    shape.insert(d, 1);
    strides.insert(d, stride);
    restride(x, shape, strides, x.storage_offset())
}

/// Views of `x` along `dim`: `sizes[i]` elements from `starts[i]` each.
fn narrow_all(x: &Tensor, d: usize, pieces: &[(usize, usize)]) -> Result<Vec<Tensor>> {
    pieces
        .iter()
        .map(|&(start, len)| {
            let mut shape = x.shape().to_vec();
            shape[d] = len;
            let offset = if len == 0 {
                x.storage_offset()
            } else {
                x.storage_offset() + start * x.strides()[d]
            };
            restride(x, shape, x.strides().to_vec(), offset)
        })
        .collect()
}

/// `x.split(split_size, dim)`: views of `split_size` elements along `dim`, the last one smaller
/// when the size does not divide. A split size of 0 is allowed only for an empty dim (one empty
/// view), as in PyTorch.
pub fn split(x: &Tensor, split_size: usize, dim: i64) -> Result<Vec<Tensor>> {
    const OP: &str = "split";
    if x.ndim() == 0 {
        return Err(Error::InvalidArgument {
            op: OP,
            name: "input",
            reason: "split expects at least a 1-dimensional tensor".into(),
        });
    }
    let d = wrap(OP, dim, x.ndim())?;
    let size = x.shape()[d];
    if split_size == 0 {
        if size != 0 {
            return Err(Error::InvalidArgument {
                op: OP,
                name: "split_size",
                reason: format!(
                    "split_size can only be 0 if dimension size is 0, but got dimension size of \
                     {size}"
                ),
            });
        }
        return narrow_all(x, d, &[(0, 0)]);
    }
    let n = size.div_ceil(split_size).max(1);
    let pieces: Vec<(usize, usize)> = (0..n)
        .map(|i| {
            let start = i * split_size;
            (start, split_size.min(size - start.min(size)))
        })
        .collect();
    narrow_all(x, d, &pieces)
}

/// `x.chunk(chunks, dim)`: `split` with `ceil(size / chunks)` elements per view, so there may be
/// fewer than `chunks` views; an empty dim gives `chunks` empty views, as in PyTorch.
pub fn chunk(x: &Tensor, chunks: usize, dim: i64) -> Result<Vec<Tensor>> {
    const OP: &str = "chunk";
    if chunks == 0 {
        return Err(Error::InvalidArgument {
            op: OP,
            name: "chunks",
            reason: "chunk expects `chunks` to be greater than 0, got: 0".into(),
        });
    }
    if x.ndim() == 0 {
        return Err(Error::InvalidArgument {
            op: OP,
            name: "input",
            reason: "chunk expects at least a 1-dimensional tensor".into(),
        });
    }
    let d = wrap(OP, dim, x.ndim())?;
    let size = x.shape()[d];
    if size == 0 {
        return narrow_all(x, d, &vec![(0, 0); chunks]);
    }
    split(x, size.div_ceil(chunks), dim)
}
