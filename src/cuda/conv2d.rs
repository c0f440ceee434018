//! `conv2d_f32` on a GPU: NCHW input `[n, c_in, h, w]`, OIHW weight
//! `[c_out, c_in / groups, kh, kw]`, optional bias `[c_out]` → output `[n, c_out, h_out, w_out]`.

use cudarc::driver::PushKernelArg;

use crate::cuda::driver_err;
use crate::cuda::launch::config;
use crate::cuda::operands::{count, f32_view, into_tensor, output, same_device};
use crate::error::{Error, Result};
use crate::kernels::Kernel;
use crate::ops::launch::conv2d_shape;
use crate::ops::params::Conv2dParams;
use crate::tensor::Tensor;

const OP: &str = "conv2d";

/// Convolution of contiguous f32 CUDA tensors; `out_shape` is `p.out_shape()` (minus the batch
/// dim for unbatched input).
pub(crate) fn conv2d(
    input: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    p: &Conv2dParams,
    out_shape: &[usize],
) -> Result<Tensor> {
    let mut operands = vec![input, weight];
    operands.extend(bias);
    let dev = same_device(OP, &operands)?;
    if (p.has_bias != 0) != bias.is_some() || p.groups <= 0 {
        return Err(Error::InvalidArgument {
            op: OP,
            name: "params",
            reason: format!("params {p:?} do not match the operands"),
        });
    }
    let mut y = output(
        OP,
        &dev,
        out_shape,
        count(OP, &[p.n, p.c_out, p.h_out, p.w_out])?,
    )?;
    let Some(ys) = y.slice_mut() else {
        return into_tensor(y, out_shape);
    };
    let x = f32_view(OP, "input", input, count(OP, &[p.n, p.c_in, p.h, p.w])?)?;
    let w_len = count(OP, &[p.c_out, p.c_in / p.groups, p.kh, p.kw])?;
    let w = f32_view(OP, "weight", weight, w_len)?;
    // Without a bias the kernel ignores `b`; it still gets a valid pointer (the weight).
    let b = match bias {
        Some(b) => f32_view(OP, "bias", b, p.c_out)?,
        None => f32_view(OP, "weight", weight, w_len)?,
    };
    let cfg = config(conv2d_shape(p)?);
    let f = dev.function(Kernel::Conv2dF32)?;
    let mut args = dev.stream().launch_builder(&f);
    // conv2d_f32(Conv2dParams p, const float* x, const float* w, const float* b, float* y)
    args.arg(p).arg(&x).arg(&w).arg(&b).arg(ys);
    // SAFETY: x, w, b and y hold exactly the element counts p implies (n·c_in·h·w,
    // c_out·c_in/groups·kh·kw, c_out or ignored, n·c_out·h_out·w_out; checked above), all are
    // contiguous f32 on `dev`, whose stream runs the launch; y is a fresh buffer aliasing none.
    unsafe { args.launch(cfg) }.map_err(driver_err(format!(
        "launching {} on cuda:{}",
        Kernel::Conv2dF32.name(),
        dev.ordinal()
    )))?;
    drop(args);
    into_tensor(y, out_shape)
}
