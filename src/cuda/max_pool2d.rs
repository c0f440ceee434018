//! `max_pool2d_f32` on a GPU: NCHW input `[n, c, h, w]` → output `[n, c, h_out, w_out]`, the
//! window geometry in [`Pool2dParams`] (PyTorch's semantics: padding never wins, NaN propagates).

use cudarc::driver::PushKernelArg;

use crate::cuda::driver_err;
use crate::cuda::launch::config;
use crate::cuda::operands::{count, f32_view, into_tensor, output, same_device};
use crate::error::Result;
use crate::kernels::Kernel;
use crate::ops::launch::max_pool2d_shape;
use crate::ops::params::Pool2dParams;
use crate::tensor::Tensor;

const OP: &str = "max_pool2d";

/// Max pooling of a contiguous f32 CUDA tensor; `out_shape` is `p.out_shape()` (minus the
/// batch dim for unbatched input).
pub(crate) fn max_pool2d(input: &Tensor, p: &Pool2dParams, out_shape: &[usize]) -> Result<Tensor> {
    let dev = same_device(OP, &[input])?;
    let y_len = count(OP, &[p.n, p.c, p.h_out, p.w_out])?;
    let mut y = output(OP, &dev, out_shape, y_len)?;
    let Some(ys) = y.slice_mut() else {
        return into_tensor(y, out_shape);
    };
    let x = f32_view(OP, "input", input, count(OP, &[p.n, p.c, p.h, p.w])?)?;
    let cfg = config(max_pool2d_shape(p)?);
    let f = dev.function(Kernel::MaxPool2dF32)?;
    let mut args = dev.stream().launch_builder(&f);
    // max_pool2d_f32(Pool2dParams p, const float* x /* [n,c,h,w] */, float* y /* [n,c,ho,wo] */)
    args.arg(p).arg(&x).arg(ys);
    // SAFETY: x holds exactly n·c·h·w and y exactly n·c·h_out·w_out f32 elements, as p says
    // (checked by f32_view/output); x is a contiguous f32 view; both live on `dev`, whose stream
    // runs the launch; y is a fresh buffer not aliasing x.
    unsafe { args.launch(cfg) }.map_err(driver_err(format!(
        "launching {} on cuda:{}",
        Kernel::MaxPool2dF32.name(),
        dev.ordinal()
    )))?;
    drop(args);
    into_tensor(y, out_shape)
}
