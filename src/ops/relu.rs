//! `torch.relu`: out of place, in place and into an existing buffer.
//!
//! Accepts float32/float64 and int64/int32/int16/int8/uint8 on the CPU (PyTorch accepts
//! integers too and refuses bool), float32 on CUDA. Results are bit-identical to PyTorch: NaN
//! stays NaN, -0.0 stays -0.0.

use crate::cpu::{self, Scalar};
use crate::error::{Error, Result};
use crate::kernels::EltwiseParams;
use crate::ops::operands::{host_elems, with_dtype};
use crate::tensor::Tensor;

const OP: &str = "relu";

impl EltwiseParams {
    /// The params of an elementwise op over every element of `t`.
    pub(crate) fn of(op: &'static str, t: &Tensor) -> Result<EltwiseParams> {
        let n = i64::try_from(t.numel()).map_err(|_| Error::Overflow {
            what: format!("{op} over {:?}", t.shape()),
        })?;
        Ok(EltwiseParams { n })
    }
}

/// `relu(input)` as a new contiguous tensor on the input's device.
pub fn relu(input: &Tensor) -> Result<Tensor> {
    // Checked on every device: the element count is a 64-bit kernel parameter.
    let p = EltwiseParams::of(OP, input)?;
    #[cfg(not(feature = "cuda"))]
    let _ = p;
    #[cfg(feature = "cuda")]
    if input.device().is_cuda() {
        let ins = [("input", input)];
        return crate::ops::operands::cuda::run(OP, ins, None, input.shape(), |dev, [x], _, y| {
            crate::cuda::relu::relu_f32(dev, &p, x, y)
        });
    }
    cpu::install(|| with_dtype!(OP, "input", input.dtype(), real, relu_new::<T>(input)))
}

fn relu_new<T: Scalar>(input: &Tensor) -> Result<Tensor> {
    let src = host_elems::<T>(input)?;
    let mut out = Tensor::empty(T::DTYPE, input.shape())?;
    cpu::relu::relu_into(&src, out.as_mut_slice::<T>()?);
    Ok(out)
}

/// `t.relu_()`: overwrites `t`. `t` must be contiguous and the only owner of a storage it
/// allocated (not a view sharing storage with another tensor, not a mapped checkpoint), since
/// writing would otherwise change what other tensors see; otherwise use [`relu`].
///
/// On CUDA the kernel's operands are `__restrict__`, so rather than alias them the result goes
/// to a fresh buffer that replaces `t`'s storage (indistinguishable, since nothing else sees
/// the old one).
pub fn relu_(t: &mut Tensor) -> Result<()> {
    EltwiseParams::of(OP, t)?;
    if t.device().is_cuda() {
        if t.storage().is_shared() {
            return Err(Error::InvalidArgument {
                op: OP,
                name: "tensor",
                reason: "its storage is shared with another tensor; use relu (out of place)".into(),
            });
        }
        let out = relu(t)?
            .with_requires_grad(t.requires_grad())
            .with_parameter(t.is_parameter());
        *t = out;
        return Ok(());
    }
    let dtype = t.dtype();
    cpu::install(|| with_dtype!(OP, "tensor", dtype, real, relu_in_place::<T>(t)))
}

fn relu_in_place<T: Scalar>(t: &mut Tensor) -> Result<()> {
    cpu::relu::relu_inplace(t.as_mut_slice::<T>()?);
    Ok(())
}

/// `torch.relu(input, out=out)` without resizing, on the host: `out` must already have
/// `input`'s shape and dtype and satisfy [`relu_`]'s conditions. Lets a caller reuse one buffer
/// across calls.
pub fn relu_into(input: &Tensor, out: &mut Tensor) -> Result<()> {
    for (name, t) in [("input", input), ("out", &*out)] {
        if t.device().is_cuda() {
            return Err(Error::InvalidArgument {
                op: OP,
                name,
                reason: format!(
                    "relu_into runs on the host; {name} lives on {} (use relu or relu_ there)",
                    t.device()
                ),
            });
        }
    }
    if out.shape() != input.shape() {
        return Err(Error::Shape {
            op: OP,
            expected: format!("out of shape {:?} (the input's)", input.shape()),
            got: format!("{:?}", out.shape()),
        });
    }
    if out.dtype() != input.dtype() {
        return Err(Error::DTypeMismatch {
            op: OP,
            first: "input",
            first_dtype: input.dtype(),
            second: "out",
            second_dtype: out.dtype(),
        });
    }
    EltwiseParams::of(OP, input)?;
    cpu::install(|| with_dtype!(OP, "input", input.dtype(), real, relu_to::<T>(input, out)))
}

fn relu_to<T: Scalar>(input: &Tensor, out: &mut Tensor) -> Result<()> {
    let src = host_elems::<T>(input)?;
    cpu::relu::relu_into(&src, out.as_mut_slice::<T>()?);
    Ok(())
}
