//! `torch.mul(a, b)` with broadcasting: the geometry is add's ([`BroadcastParams::new`]), the
//! CPU kernel `cpu/mul.rs`, the CUDA one `cuda/mul.rs` and `kernels/mul.cu`.
//!
//! Both operands must have one dtype (PyTorch would promote mixed ones; tensorport refuses them
//! with both dtypes named). float32/float64 and the integer dtypes on the CPU (integers wrap
//! around, as in PyTorch), float32 on CUDA.

use crate::cpu::{self, Arith};
use crate::error::Result;
use crate::kernels::BroadcastParams;
use crate::ops::operands::{check, host_elems, with_dtype};
use crate::tensor::Tensor;

/// `a · b`, broadcast as PyTorch broadcasts (as [`add`](crate::ops::add)).
pub fn mul(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    const OP: &str = "mul";
    let (dtype, _) = check(OP, &[("input", Some(a)), ("other", Some(b))])?;
    let (p, shape) = BroadcastParams::new(OP, a.shape(), b.shape(), false)?;
    #[cfg(feature = "cuda")]
    if a.device().is_cuda() {
        let ins = [("input", a), ("other", b)];
        return crate::ops::operands::cuda::run(OP, ins, None, &shape, |dev, [x, z], _, y| {
            crate::cuda::mul::mul_f32(dev, &p, x, z, y)
        });
    }
    let mut out = Tensor::empty(dtype, &shape)?;
    let out_ref = &mut out;
    cpu::install(|| with_dtype!(OP, "input", dtype, real, run::<T>(&p, a, b, out_ref)))?;
    Ok(out)
}

fn run<T: Arith>(p: &BroadcastParams, a: &Tensor, b: &Tensor, out: &mut Tensor) -> Result<()> {
    let (x, y) = (host_elems::<T>(a)?, host_elems::<T>(b)?);
    cpu::mul::mul(p, &x, &y, out.as_mut_slice::<T>()?);
    Ok(())
}
