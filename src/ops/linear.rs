//! `linear(x, W, b) = x · Wᵀ + b` (torch.nn.functional.linear) and `linear_relu`, which fuses
//! the relu into the epilogue. Input `[*, K]` (any number of leading dims, including none),
//! weight `[N, K]`, bias `[N]`; output `[*, N]`.

use std::borrow::Cow;

use crate::cpu;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::ops::params::LinearParams;
use crate::tensor::Tensor;

/// `input · weightᵀ + bias`.
pub fn linear(input: &Tensor, weight: &Tensor, bias: Option<&Tensor>) -> Result<Tensor> {
    linear_act(input, weight, bias, false)
}

/// `relu(input · weightᵀ + bias)`, the relu applied while the output block is still in cache.
pub fn linear_relu(input: &Tensor, weight: &Tensor, bias: Option<&Tensor>) -> Result<Tensor> {
    linear_act(input, weight, bias, true)
}

fn linear_act(
    input: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    relu: bool,
) -> Result<Tensor> {
    const OP: &str = "linear";
    let dtype = check_operands(OP, &[Some(input), Some(weight), bias])?;
    let p = LinearParams::new(input.shape(), weight.shape(), bias.map(|b| b.shape()), relu)?;
    let mut shape = input.shape().to_vec();
    // LinearParams::new refused 0-d input and gave us N from the weight.
    if let Some(last) = shape.last_mut() {
        *last = weight.shape()[0];
    }
    #[cfg(feature = "cuda")]
    if input.device().is_cuda() {
        return crate::cuda::linear(input, weight, bias, &p, &shape);
    }
    let mut out = Tensor::empty(dtype, &shape)?;
    match dtype {
        DType::F32 => run::<f32>(&p, input, weight, bias, &mut out)?,
        _ => run::<f64>(&p, input, weight, bias, &mut out)?,
    }
    Ok(out)
}

fn run<T: cpu::Float>(
    p: &LinearParams,
    input: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    out: &mut Tensor,
) -> Result<()> {
    let x = host_slice::<T>(input)?;
    let w = host_slice::<T>(weight)?;
    let b = bias.map(host_slice::<T>).transpose()?;
    cpu::linear::linear(p, &x, &w, b.as_deref(), out.as_mut_slice::<T>()?)
}

/// The elements of `t` in C order: borrowed when the tensor is contiguous and aligned,
/// otherwise gathered into a fresh buffer (transposed, sliced, channels-last views).
pub(crate) fn host_slice<T: cpu::Float>(t: &Tensor) -> Result<Cow<'_, [T]>> {
    match t.as_slice::<T>() {
        Ok(s) => Ok(Cow::Borrowed(s)),
        Err(_) => Ok(Cow::Owned(t.to_vec::<T>()?)),
    }
}

/// Checks that every operand is f32 or f64 with one dtype, all on one device (never a silent
/// copy). Returns the dtype.
pub(crate) fn check_operands(op: &'static str, tensors: &[Option<&Tensor>]) -> Result<DType> {
    let mut it = tensors.iter().flatten();
    let Some(first) = it.next() else {
        return Err(Error::InvalidArgument {
            op,
            name: "input",
            reason: "no operands".into(),
        });
    };
    let dtype = first.dtype();
    if !matches!(dtype, DType::F32 | DType::F64) {
        return Err(Error::DType {
            op,
            expected: "float32 or float64".into(),
            got: dtype,
        });
    }
    let device = first.device();
    for t in it {
        if t.device() != device {
            return Err(Error::DeviceMismatch {
                op,
                expected: device.to_string(),
                got: t.device().to_string(),
            });
        }
        if t.dtype() != dtype {
            return Err(Error::DType {
                op,
                expected: dtype.to_string(),
                got: t.dtype(),
            });
        }
    }
    Ok(dtype)
}
