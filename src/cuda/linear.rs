//! `linear_f32` on a GPU: `y[m, n] = x[m, k] · w[n, k]ᵀ + b[n]`, with relu fused into the
//! epilogue when `p.relu != 0`. Leading input dims are folded into `m`.

use cudarc::driver::PushKernelArg;

use crate::cuda::driver_err;
use crate::cuda::launch::config;
use crate::cuda::operands::{count, f32_view, into_tensor, output, same_device};
use crate::error::{Error, Result};
use crate::kernels::Kernel;
use crate::ops::launch::linear_shape;
use crate::ops::params::LinearParams;
use crate::tensor::Tensor;

const OP: &str = "linear";

/// `input · weightᵀ + bias` (then relu if `p.relu`) of contiguous f32 CUDA tensors;
/// `out_shape` is the input's shape with the last dim replaced by `n`.
pub(crate) fn linear(
    input: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    p: &LinearParams,
    out_shape: &[usize],
) -> Result<Tensor> {
    let mut operands = vec![input, weight];
    operands.extend(bias);
    let dev = same_device(OP, &operands)?;
    if (p.has_bias != 0) != bias.is_some() {
        return Err(Error::InvalidArgument {
            op: OP,
            name: "params",
            reason: format!("params {p:?} do not match the operands"),
        });
    }
    let mut y = output(OP, &dev, out_shape, count(OP, &[p.m, p.n])?)?;
    let Some(ys) = y.slice_mut() else {
        return into_tensor(y, out_shape);
    };
    let x = f32_view(OP, "input", input, count(OP, &[p.m, p.k])?)?;
    let w = f32_view(OP, "weight", weight, count(OP, &[p.n, p.k])?)?;
    // Without a bias the kernel ignores `b`; it still gets a valid pointer (the weight).
    let b = match bias {
        Some(b) => f32_view(OP, "bias", b, p.n)?,
        None => f32_view(OP, "weight", weight, count(OP, &[p.n, p.k])?)?,
    };
    let cfg = config(linear_shape(p)?);
    let f = dev.function(Kernel::LinearF32)?;
    let mut args = dev.stream().launch_builder(&f);
    // linear_f32(LinearParams p, const float* x /* [m,k] */, const float* w /* [n,k] */,
    //            const float* b /* [n] */, float* y /* [m,n] */)
    args.arg(p).arg(&x).arg(&w).arg(&b).arg(ys);
    // SAFETY: x, w, b and y hold exactly m·k, n·k, n (or ignored) and m·n f32 elements as p
    // says (checked above), all contiguous f32 on `dev`, whose stream runs the launch; y is a
    // fresh buffer aliasing none of the inputs.
    unsafe { args.launch(cfg) }.map_err(driver_err(format!(
        "launching {} on cuda:{}",
        Kernel::LinearF32.name(),
        dev.ordinal()
    )))?;
    drop(args);
    into_tensor(y, out_shape)
}
