//! `torch.softmax(t, dim)` and `torch.argmax(t, dim)` (keepdim=False).

use crate::cpu::{self, Float, Scalar};
use crate::error::{Error, Result};
use crate::ops::operands::{host_elems, with_dtype};
use crate::ops::shape::wrap_dim;
use crate::tensor::Tensor;

/// softmax and argmax have no CUDA kernels yet: a GPU tensor is refused (never copied to the
/// host behind the caller's back).
fn host_only(op: &'static str, t: &Tensor) -> Result<()> {
    if t.device().is_cuda() {
        return Err(Error::InvalidArgument {
            op,
            name: "input",
            reason: format!(
                "{op} has no CUDA kernel yet; the input lives on {}: move it to the CPU first",
                t.device()
            ),
        });
    }
    Ok(())
}

/// `[outer, dim, inner]` around the reduced dimension `d` (a 0-d tensor is `[1, 1, 1]`).
fn split_at_dim(shape: &[usize], d: usize) -> (usize, usize, usize) {
    if shape.is_empty() {
        return (1, 1, 1);
    }
    let outer = shape[..d].iter().product();
    let inner = shape[d + 1..].iter().product();
    (outer, shape[d], inner)
}

/// Softmax along `dim` (negative counts from the end), max-subtracted so large inputs do not
/// overflow. float32/float64 only; the result is a new contiguous tensor of the input's shape.
/// Agrees with PyTorch to a few ulps (exp and summation order differ; see the tests).
pub fn softmax(t: &Tensor, dim: isize) -> Result<Tensor> {
    const OP: &str = "softmax";
    host_only(OP, t)?;
    let d = wrap_dim(OP, dim, t.ndim())?;
    let (_, len, inner) = split_at_dim(t.shape(), d);
    cpu::install(|| with_dtype!(OP, "input", t.dtype(), float, softmax_t::<T>(t, len, inner)))
}

fn softmax_t<T: Float>(t: &Tensor, len: usize, inner: usize) -> Result<Tensor> {
    let src = host_elems::<T>(t)?;
    let mut out = Tensor::empty(T::DTYPE, t.shape())?;
    cpu::softmax::softmax(&src, out.as_mut_slice::<T>()?, len, inner);
    Ok(out)
}

/// Index (int64) of the first maximum along `dim`, which is removed from the shape. A NaN counts
/// as the maximum, so the first NaN wins, as in PyTorch. Accepts float32/float64 and
/// int64/int32/int16/int8/uint8. An empty reduced dimension is an error, as in PyTorch.
pub fn argmax(t: &Tensor, dim: isize) -> Result<Tensor> {
    const OP: &str = "argmax";
    host_only(OP, t)?;
    let d = wrap_dim(OP, dim, t.ndim())?;
    let (_, len, inner) = split_at_dim(t.shape(), d);
    if len == 0 {
        return Err(Error::Shape {
            op: OP,
            expected: format!("reduction dim {d} to have non-zero size"),
            got: format!("{:?}", t.shape()),
        });
    }
    let mut out_shape = t.shape().to_vec();
    if !out_shape.is_empty() {
        out_shape.remove(d);
    }
    cpu::install(|| {
        with_dtype!(
            OP,
            "input",
            t.dtype(),
            real,
            argmax_t::<T>(t, &out_shape, len, inner)
        )
    })
}

fn argmax_t<T: Scalar>(
    t: &Tensor,
    out_shape: &[usize],
    len: usize,
    inner: usize,
) -> Result<Tensor> {
    let src = host_elems::<T>(t)?;
    let mut out = Tensor::empty(crate::dtype::DType::I64, out_shape)?;
    cpu::softmax::argmax(&src, out.as_mut_slice::<i64>()?, len, inner);
    Ok(out)
}
