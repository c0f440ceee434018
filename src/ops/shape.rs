//! `view`, `reshape` and `flatten`: metadata-only when the strides allow, as in PyTorch.
//! Work on every dtype; a copy (reshape of a non-viewable tensor) needs host data.

use crate::error::{Error, Result};
use crate::tensor::Tensor;

/// PyTorch's dim wrapping: `dim` in `[-n, n)` with `n = max(ndim, 1)` (a 0-d tensor accepts 0
/// and -1).
pub(crate) fn wrap_dim(op: &'static str, dim: isize, ndim: usize) -> Result<usize> {
    let n = ndim.max(1) as isize;
    if dim < -n || dim >= n {
        return Err(Error::InvalidArgument {
            op,
            name: "dim",
            reason: format!(
                "Dimension out of range (expected to be in range of [{}, {}], but got {dim})",
                -n,
                n - 1
            ),
        });
    }
    Ok(if dim < 0 { dim + n } else { dim } as usize)
}

/// Resolves a requested shape against `numel` elements: at most one -1 (inferred), every other
/// entry non-negative, and the product equal to `numel` (PyTorch's `infer_size`).
fn infer_shape(op: &'static str, shape: &[isize], numel: usize) -> Result<Vec<usize>> {
    let mut infer_at = None;
    let mut known = 1usize;
    for (i, &d) in shape.iter().enumerate() {
        if d == -1 {
            if infer_at.replace(i).is_some() {
                return Err(Error::InvalidArgument {
                    op,
                    name: "shape",
                    reason: "only one dimension can be inferred".into(),
                });
            }
        } else if d < 0 {
            return Err(Error::InvalidArgument {
                op,
                name: "shape",
                reason: format!("invalid shape dimension {d} at index {i} of shape {shape:?}"),
            });
        } else {
            known = known
                .checked_mul(d as usize)
                .ok_or_else(|| Error::Overflow {
                    what: format!("{op} to shape {shape:?}"),
                })?;
        }
    }
    let invalid = || Error::Shape {
        op,
        expected: format!("a shape with {numel} elements"),
        got: format!("shape {shape:?} is invalid for input of size {numel}"),
    };
    let mut out: Vec<usize> = shape.iter().map(|&d| d.max(0) as usize).collect();
    match infer_at {
        Some(i) => {
            if known == 0 {
                // Any size would do: PyTorch refuses the ambiguity.
                return Err(Error::Shape {
                    op,
                    expected: "a shape whose -1 has one possible size".into(),
                    got: format!(
                        "cannot reshape tensor of {numel} elements into shape {shape:?} because \
                         the unspecified dimension size -1 can be any value and is ambiguous"
                    ),
                });
            }
            if !numel.is_multiple_of(known) {
                return Err(invalid());
            }
            out[i] = numel / known;
        }
        None if known != numel => return Err(invalid()),
        None => {}
    }
    Ok(out)
}

/// Strides that view `old` (size/stride) as `new`, or `None` when some new dimension would span
/// memory that is not evenly strided. A port of ATen's `computeStride`: the old dims are split
/// into chunks that are contiguous with each other, and each chunk must be covered exactly by a
/// run of new dims.
fn compute_stride(old_shape: &[usize], old_strides: &[usize], new: &[usize]) -> Option<Vec<usize>> {
    if old_shape.is_empty() {
        return Some(vec![1; new.len()]);
    }
    let numel: usize = old_shape.iter().product();
    if numel == 0 {
        if old_shape == new {
            return Some(old_strides.to_vec());
        }
        // Nothing is addressed: any C-order strides do.
        let mut strides = vec![1; new.len()];
        for d in (0..new.len().saturating_sub(1)).rev() {
            strides[d] = new[d + 1].max(1).saturating_mul(strides[d + 1]);
        }
        return Some(strides);
    }
    let mut strides = vec![0usize; new.len()];
    let mut view_d = new.len() as isize - 1;
    let mut chunk_base_stride = *old_strides.last()?;
    let (mut tensor_numel, mut view_numel) = (1usize, 1usize);
    for td in (0..old_shape.len()).rev() {
        tensor_numel *= old_shape[td];
        let chunk_ends = td == 0
            || (old_shape[td - 1] != 1 && old_strides[td - 1] != tensor_numel * chunk_base_stride);
        if chunk_ends {
            while view_d >= 0 && (view_numel < tensor_numel || new[view_d as usize] == 1) {
                strides[view_d as usize] = view_numel * chunk_base_stride;
                view_numel *= new[view_d as usize];
                view_d -= 1;
            }
            if view_numel != tensor_numel {
                return None;
            }
            if td > 0 {
                chunk_base_stride = old_strides[td - 1];
                tensor_numel = 1;
                view_numel = 1;
            }
        }
    }
    (view_d == -1).then_some(strides)
}

fn as_view(t: &Tensor, shape: Vec<usize>, strides: Vec<usize>) -> Result<Tensor> {
    Ok(Tensor::from_storage(
        t.storage().clone(),
        t.dtype(),
        t.storage_offset(),
        shape,
        strides,
    )?
    .with_requires_grad(t.requires_grad()))
}

/// `t.view(shape)`: the same storage with new metadata; `-1` is inferred. Errors, like PyTorch,
/// when the strides cannot express the new shape (use [`reshape`] then).
pub fn view(t: &Tensor, shape: &[isize]) -> Result<Tensor> {
    const OP: &str = "view";
    let new = infer_shape(OP, shape, t.numel())?;
    let strides = compute_stride(t.shape(), t.strides(), &new).ok_or_else(|| Error::Shape {
        op: OP,
        expected: "a view size compatible with the input's size and stride (at least one \
                       dimension spans across two contiguous subspaces); use reshape instead"
            .into(),
        got: format!(
            "shape {new:?} on size {:?} stride {:?}",
            t.shape(),
            t.strides()
        ),
    })?;
    as_view(t, new, strides)
}

/// `t.reshape(shape)`: a view when the strides allow, else a contiguous copy; `-1` is inferred.
pub fn reshape(t: &Tensor, shape: &[isize]) -> Result<Tensor> {
    const OP: &str = "reshape";
    let new = infer_shape(OP, shape, t.numel())?;
    match compute_stride(t.shape(), t.strides(), &new) {
        Some(strides) => as_view(t, new, strides),
        None => t.contiguous()?.reshape_view(&new),
    }
}

/// `torch.flatten(t, start_dim, end_dim)`: merges dims `start..=end` (negative dims count from
/// the end). A view when possible, else a copy; a 0-d tensor becomes `[1]`.
pub fn flatten(t: &Tensor, start_dim: isize, end_dim: isize) -> Result<Tensor> {
    const OP: &str = "flatten";
    let nd = t.ndim();
    let start = wrap_dim(OP, start_dim, nd)?;
    let end = wrap_dim(OP, end_dim, nd)?;
    if start > end {
        return Err(Error::InvalidArgument {
            op: OP,
            name: "start_dim",
            reason: format!(
                "flatten() has invalid args: start_dim cannot come after end_dim \
                 ({start_dim} → {start}, {end_dim} → {end})"
            ),
        });
    }
    if nd == 0 {
        return reshape(t, &[1]);
    }
    if start == end {
        return Ok(t.clone());
    }
    let shape = t.shape();
    // Sizes fit in isize: the tensor's byte size was checked against the address space.
    let merged: usize = shape[start..=end].iter().product();
    let new: Vec<isize> = shape[..start]
        .iter()
        .chain(std::iter::once(&merged))
        .chain(&shape[end + 1..])
        .map(|&d| d as isize)
        .collect();
    reshape(t, &new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compute_stride_follows_aten() {
        // Contiguous [2, 3, 4] → [6, 4] and [2, 12].
        assert_eq!(
            compute_stride(&[2, 3, 4], &[12, 4, 1], &[6, 4]),
            Some(vec![4, 1])
        );
        // Transposed [2, 4, 3] (strides 12, 1, 4): splitting dim 1 works, merging 1 and 2 fails.
        assert_eq!(
            compute_stride(&[2, 4, 3], &[12, 1, 4], &[2, 2, 2, 3]),
            Some(vec![12, 2, 1, 4])
        );
        assert_eq!(compute_stride(&[2, 4, 3], &[12, 1, 4], &[2, 12]), None);
        // Size-1 dims are free.
        assert_eq!(
            compute_stride(&[3, 1, 4], &[4, 99, 1], &[1, 12, 1]),
            Some(vec![12, 1, 1])
        );
    }
}
