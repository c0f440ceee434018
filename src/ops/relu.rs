//! `torch.relu`: out of place, in place and into an existing buffer.
//!
//! Accepts float32/float64 and int64/int32/int16/int8/uint8 (PyTorch accepts integers too and
//! refuses bool). Results are bit-identical to PyTorch: NaN stays NaN, -0.0 stays -0.0.

use crate::cpu::{
    self,
    eltwise::{with_dtype, Scalar},
};
use crate::error::{Error, Result};
use crate::ops::params::EltwiseParams;
use crate::tensor::Tensor;

const OP: &str = "relu";

fn params(t: &Tensor) -> Result<EltwiseParams> {
    let n = i64::try_from(t.numel()).map_err(|_| Error::Overflow {
        what: format!("relu over {:?}", t.shape()),
    })?;
    Ok(EltwiseParams { n })
}

/// `relu(input)` as a new contiguous tensor (from the recycled-buffer cache when one fits).
pub fn relu(input: &Tensor) -> Result<Tensor> {
    #[cfg(feature = "cuda")]
    if input.device().is_cuda() {
        return crate::cuda::relu(input, &params(input)?);
    }
    cpu::eltwise::check_host(OP, input)?;
    params(input)?;
    with_dtype!(OP, input.dtype(), [F32 => f32, F64 => f64, I64 => i64, I32 => i32,
        I16 => i16, I8 => i8, U8 => u8], relu_new::<T>(input))
}

fn relu_new<T: Scalar>(input: &Tensor) -> Result<Tensor> {
    let src = cpu::eltwise::host_elems::<T>(input)?;
    let mut out = Tensor::empty(T::DTYPE, input.shape())?;
    cpu::relu::relu_into(&src, out.as_mut_slice::<T>()?);
    Ok(out)
}

/// `t.relu_()`: overwrites `t`. `t` must be contiguous and the only owner of a host storage it
/// allocated (not a view sharing storage with another tensor, not a mapped checkpoint), since
/// writing would otherwise change what other tensors see; otherwise use [`relu`].
pub fn relu_(t: &mut Tensor) -> Result<()> {
    #[cfg(feature = "cuda")]
    if t.device().is_cuda() {
        let p = params(t)?;
        return crate::cuda::relu_(t, &p);
    }
    cpu::eltwise::check_host(OP, t)?;
    params(t)?;
    with_dtype!(OP, t.dtype(), [F32 => f32, F64 => f64, I64 => i64, I32 => i32, I16 => i16,
        I8 => i8, U8 => u8], relu_in_place::<T>(t))
}

fn relu_in_place<T: Scalar>(t: &mut Tensor) -> Result<()> {
    cpu::relu::relu_inplace(t.as_mut_slice::<T>()?);
    Ok(())
}

/// `torch.relu(input, out=out)` without resizing: `out` must already have `input`'s shape and
/// dtype and satisfy [`relu_`]'s conditions. Lets a caller reuse one buffer across calls.
pub fn relu_into(input: &Tensor, out: &mut Tensor) -> Result<()> {
    cpu::eltwise::check_host(OP, input)?;
    cpu::eltwise::check_host(OP, out)?;
    if out.shape() != input.shape() {
        return Err(Error::Shape {
            op: OP,
            expected: format!("out of shape {:?} (the input's)", input.shape()),
            got: format!("{:?}", out.shape()),
        });
    }
    if out.dtype() != input.dtype() {
        return Err(Error::DType {
            op: OP,
            expected: format!("out of dtype {} (the input's)", input.dtype()),
            got: out.dtype(),
        });
    }
    params(input)?;
    with_dtype!(OP, input.dtype(), [F32 => f32, F64 => f64, I64 => i64, I32 => i32,
        I16 => i16, I8 => i8, U8 => u8], relu_to::<T>(input, out))
}

fn relu_to<T: Scalar>(input: &Tensor, out: &mut Tensor) -> Result<()> {
    let src = cpu::eltwise::host_elems::<T>(input)?;
    cpu::relu::relu_into(&src, out.as_mut_slice::<T>()?);
    Ok(())
}
