//! `max_pool2d_f32` on a GPU: NCHW input `[n, c, h, w]` → output `[n, c, h_out, w_out]`, the
//! window geometry in [`Pool2dParams`] (PyTorch's semantics: padding never wins, NaN propagates).

use crate::cuda::launch::{launch, Arg};
use crate::cuda::operands::{count, f32_view, into_tensor, output, same_device};
use crate::error::Result;
use crate::kernels::{MaxPool2dF32, Pool2dParams};
use crate::tensor::Tensor;

const OP: &str = "max_pool2d";

/// Max pooling of a contiguous f32 CUDA tensor; `out_shape` is `p.out_shape()` (minus the
/// batch dim for unbatched input).
pub(crate) fn max_pool2d(input: &Tensor, p: &Pool2dParams, out_shape: &[usize]) -> Result<Tensor> {
    let dev = same_device(OP, &[input])?;
    let y_len = count(OP, &[p.n, p.c, p.h_out, p.w_out])?;
    let mut y = output(OP, &dev, out_shape, y_len)?;
    if let Some(ys) = y.slice_mut() {
        let x = f32_view(OP, "input", input, count(OP, &[p.n, p.c, p.h, p.w])?)?;
        launch::<MaxPool2dF32>(&dev, p, &mut [Arg::In(x), Arg::Out(ys.as_view_mut())])?;
    }
    into_tensor(y, out_shape)
}
