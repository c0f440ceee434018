//! `linear_f32` on a GPU: `y[m, n] = x[m, k] · w[n, k]ᵀ + b[n]`, with relu fused into the
//! epilogue when `p.relu != 0`. Leading input dims are folded into `m`.

use crate::cuda::launch::{launch, Arg};
use crate::cuda::operands::{count, f32_view, into_tensor, output, same_device};
use crate::error::Result;
use crate::kernels::{LinearF32, LinearParams};
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
    let mut y = output(OP, &dev, out_shape, count(OP, &[p.m, p.n])?)?;
    if let Some(ys) = y.slice_mut() {
        let x = f32_view(OP, "input", input, count(OP, &[p.m, p.k])?)?;
        let w = f32_view(OP, "weight", weight, count(OP, &[p.n, p.k])?)?;
        let b = match bias {
            Some(b) => Arg::In(f32_view(OP, "bias", b, p.n)?),
            None => Arg::Absent,
        };
        launch::<LinearF32>(
            &dev,
            p,
            &mut [Arg::In(x), Arg::In(w), b, Arg::Out(ys.as_view_mut())],
        )?;
    }
    into_tensor(y, out_shape)
}
