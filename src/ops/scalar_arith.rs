//! A float tensor with a Python float: `torch.add(a, s)` ([`add_scalar`]) and `torch.mul(a, s)`
//! ([`mul_scalar`]). PyTorch computes these in the tensor's dtype with `s` rounded to it; so do
//! the CPU kernel (`cpu/scalar_arith.rs`) and the CUDA one (`kernels/scalar_arith.cu`).
//!
//! float32/float64 on the CPU, float32 on CUDA. Integer tensors are refused: PyTorch would
//! promote them to float32, and tensorport never converts behind the caller's back.

use crate::cpu::{self, Float};
use crate::error::{Error, Result};
use crate::kernels::ScalarArithParams;
use crate::ops::operands::{host_elems, with_dtype};
use crate::tensor::Tensor;

/// Which operation ([`ScalarArithParams::op`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Arith {
    Add = 0,
    Mul = 1,
}

/// `a + s` elementwise, as `torch.add(a, s)` (and `a + s`) for a float tensor `a`.
pub fn add_scalar(a: &Tensor, s: f64) -> Result<Tensor> {
    run(Arith::Add, a, s)
}

/// `a · s` elementwise, as `torch.mul(a, s)` (and `a * s`) for a float tensor `a`.
pub fn mul_scalar(a: &Tensor, s: f64) -> Result<Tensor> {
    run(Arith::Mul, a, s)
}

fn run(op: Arith, a: &Tensor, s: f64) -> Result<Tensor> {
    let name = match op {
        Arith::Add => "add",
        Arith::Mul => "mul",
    };
    let n = i64::try_from(a.numel()).map_err(|_| Error::Overflow {
        what: format!("{name} over {:?}", a.shape()),
    })?;
    let p = ScalarArithParams {
        n,
        op: op as i64,
        s: s.to_bits().cast_signed(),
    };
    #[cfg(not(feature = "cuda"))]
    let _ = p;
    #[cfg(feature = "cuda")]
    if a.device().is_cuda() {
        let ins = [("input", a)];
        return crate::ops::operands::cuda::run(name, ins, None, a.shape(), |dev, [x], _, y| {
            crate::cuda::scalar_arith::scalar_arith_f32(dev, &p, x, y)
        });
    }
    cpu::install(|| with_dtype!(name, "input", a.dtype(), float, on_host::<T>(op, a, s)))
}

fn on_host<T: Float>(op: Arith, a: &Tensor, s: f64) -> Result<Tensor> {
    let src = host_elems::<T>(a)?;
    let mut out = Tensor::empty(T::DTYPE, a.shape())?;
    let dst = out.as_mut_slice::<T>()?;
    match op {
        Arith::Add => cpu::scalar_arith::add_scalar(&src, T::from_f64(s), dst),
        Arith::Mul => cpu::scalar_arith::mul_scalar(&src, T::from_f64(s), dst),
    }
    Ok(out)
}
