//! `torch.softmax(t, dim)`, `torch.log_softmax(t, dim)` and `torch.argmax(t, dim, keepdim)`.

use crate::cpu::{self, Float, Scalar};
use crate::error::{Error, Result};
use crate::ops::operands::{host_elems, with_dtype};
use crate::ops::shape::wrap_dim;
use crate::ops::views::wrap;
use crate::tensor::Tensor;

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
/// overflow. float32/float64 on the CPU (any strides), contiguous float32 on CUDA; the result
/// is a new contiguous tensor of the input's shape. Agrees with PyTorch to a few ulps (exp and
/// summation order differ; see the tests).
pub fn softmax(t: &Tensor, dim: isize) -> Result<Tensor> {
    softmax_any("softmax", t, dim, false)
}

/// log_softmax along `dim` (negative counts from the end): `(x − max) − log(Σ exp(x − max))`,
/// PyTorch's order. float32/float64 on the CPU (any strides), contiguous float32 on CUDA;
/// agrees with PyTorch to a few ulps.
pub fn log_softmax(t: &Tensor, dim: isize) -> Result<Tensor> {
    softmax_any("log_softmax", t, dim, true)
}

fn softmax_any(op: &'static str, t: &Tensor, dim: isize, log: bool) -> Result<Tensor> {
    let d = wrap_dim(op, dim, t.ndim())?;
    let (outer, len, inner) = split_at_dim(t.shape(), d);
    #[cfg(feature = "cuda")]
    if t.device().is_cuda() {
        use crate::ops::geometry::to_i64;
        let p = crate::kernels::SoftmaxParams {
            outer: to_i64(op, "input", outer)?,
            dim: to_i64(op, "input", len)?,
            inner: to_i64(op, "input", inner)?,
            log: i64::from(log),
        };
        let ins = [("input", t)];
        return crate::ops::operands::cuda::run(op, ins, None, t.shape(), |dev, [x], _, y| {
            crate::cuda::softmax::softmax_f32(dev, &p, x, y)
        });
    }
    #[cfg(not(feature = "cuda"))]
    let _ = outer; // only the CUDA params need it
    cpu::install(|| {
        with_dtype!(
            op,
            "input",
            t.dtype(),
            float,
            softmax_t::<T>(t, len, inner, log)
        )
    })
}

fn softmax_t<T: Float>(t: &Tensor, len: usize, inner: usize, log: bool) -> Result<Tensor> {
    let src = host_elems::<T>(t)?;
    let mut out = Tensor::empty(T::DTYPE, t.shape())?;
    let dst = out.as_mut_slice::<T>()?;
    if log {
        cpu::softmax::log_softmax(&src, dst, len, inner);
    } else {
        cpu::softmax::softmax(&src, dst, len, inner);
    }
    Ok(out)
}

/// Index (int64) of the first maximum along `dim`, which is removed from the shape. A NaN counts
/// as the maximum, so the first NaN wins, as in PyTorch. Accepts float32/float64 and
/// int64/int32/int16/int8/uint8 on the CPU, float32 on CUDA (contiguous). An empty reduced
/// dimension is an error, as in PyTorch.
pub fn argmax(t: &Tensor, dim: isize) -> Result<Tensor> {
    argmax_with(t, Some(dim as i64), false)
}

/// `torch.argmax(t, dim, keepdim)`: with `dim = None`, the index into the flattened tensor
/// (refused for an empty tensor, as in PyTorch), shaped `[]` or, with `keepdim`, all ones;
/// with a dim, as [`argmax`], the reduced dim kept as size 1 when `keepdim`.
pub fn argmax_with(t: &Tensor, dim: Option<i64>, keepdim: bool) -> Result<Tensor> {
    const OP: &str = "argmax";
    let (len, inner, out_shape) = match dim {
        None => {
            if t.numel() == 0 {
                return Err(Error::Shape {
                    op: OP,
                    expected: "argmax(): Expected reduction dim to be specified for \
                               input.numel() == 0."
                        .into(),
                    got: format!("{:?}", t.shape()),
                });
            }
            let shape = if keepdim { vec![1; t.ndim()] } else { vec![] };
            (t.numel(), 1, shape)
        }
        Some(dim) => {
            let d = wrap(OP, dim, t.ndim())?;
            let (_, len, inner) = split_at_dim(t.shape(), d);
            if len == 0 {
                return Err(Error::Shape {
                    op: OP,
                    expected: format!(
                        "argmax(): Expected reduction dim {d} to have non-zero size."
                    ),
                    got: format!("{:?}", t.shape()),
                });
            }
            let mut shape = t.shape().to_vec();
            if !shape.is_empty() {
                if keepdim {
                    shape[d] = 1;
                } else {
                    shape.remove(d);
                }
            }
            (len, inner, shape)
        }
    };
    #[cfg(feature = "cuda")]
    if t.device().is_cuda() {
        use crate::ops::geometry::to_i64;
        let outer = if len == 0 || inner == 0 {
            0
        } else {
            t.numel() / (len * inner)
        };
        let p = crate::kernels::SoftmaxParams {
            outer: to_i64(OP, "input", outer)?,
            dim: to_i64(OP, "input", len)?,
            inner: to_i64(OP, "input", inner)?,
            log: 0,
        };
        if t.dtype() != crate::dtype::DType::F32 {
            return Err(Error::DType {
                op: OP,
                operand: "input",
                got: t.dtype(),
                supported: "float32 (CUDA kernels exist for float32 only)".into(),
            });
        }
        let ins = [("input", t)];
        let i64_ = crate::dtype::DType::I64;
        return crate::ops::operands::cuda::run_as(
            OP,
            ins,
            None,
            i64_,
            &out_shape,
            |dev, [x], _, y| crate::cuda::argmax::argmax_f32(dev, &p, x, y),
        );
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
