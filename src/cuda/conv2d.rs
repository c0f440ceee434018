//! `conv2d_f32` on a GPU: NCHW input `[n, c_in, h, w]`, OIHW weight
//! `[c_out, c_in / groups, kh, kw]`, optional bias `[c_out]` → output `[n, c_out, h_out, w_out]`.

use crate::cuda::launch::{launch, Arg};
use crate::cuda::operands::{count, f32_view, into_tensor, output, same_device};
use crate::error::Result;
use crate::kernels::{per_group, Conv2dF32, Conv2dParams};
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
    let y_len = count(OP, &[p.n, p.c_out, p.h_out, p.w_out])?;
    let mut y = output(OP, &dev, out_shape, y_len)?;
    if let Some(ys) = y.slice_mut() {
        let x = f32_view(OP, "input", input, count(OP, &[p.n, p.c_in, p.h, p.w])?)?;
        let w_len = count(OP, &[p.c_out, per_group(p.c_in, p.groups), p.kh, p.kw])?;
        let w = f32_view(OP, "weight", weight, w_len)?;
        let b = match bias {
            Some(b) => Arg::In(f32_view(OP, "bias", b, p.c_out)?),
            None => Arg::Absent,
        };
        launch::<Conv2dF32>(
            &dev,
            p,
            &mut [Arg::In(x), Arg::In(w), b, Arg::Out(ys.as_view_mut())],
        )?;
    }
    into_tensor(y, out_shape)
}
