//! `relu_f32` on a GPU: `y[i] = max(x[i], 0)` over `p.n` contiguous elements (NaN stays NaN).

use crate::cuda::launch::{launch, Arg};
use crate::cuda::operands::{f32_view, into_tensor, output, same_device};
use crate::error::{Error, Result};
use crate::kernels::{EltwiseParams, ReluF32};
use crate::tensor::Tensor;

const OP: &str = "relu";

/// relu of a contiguous f32 CUDA tensor into a new tensor on the same device.
pub(crate) fn relu(input: &Tensor, p: &EltwiseParams) -> Result<Tensor> {
    let dev = same_device(OP, &[input])?;
    let mut y = output(OP, &dev, input.shape(), p.n)?;
    if let Some(ys) = y.slice_mut() {
        let x = f32_view(OP, "input", input, p.n)?;
        launch::<ReluF32>(&dev, p, &mut [Arg::In(x), Arg::Out(ys.as_view_mut())])?;
    }
    into_tensor(y, input.shape())
}

/// `t.relu_()` on a GPU, with the CPU version's conditions: `t` must be contiguous and the only
/// handle on its storage, so no other tensor can observe the change. The kernel's operands are
/// `__restrict__`, so rather than alias them the result goes to a fresh buffer that replaces
/// `t`'s storage (indistinguishable, since nothing else sees the old one).
pub(crate) fn relu_(t: &mut Tensor, p: &EltwiseParams) -> Result<()> {
    if t.storage().is_shared() {
        return Err(Error::InvalidArgument {
            op: OP,
            name: "tensor",
            reason: "its storage is shared with another tensor; use relu (out of place)".into(),
        });
    }
    let out = relu(t, p)?
        .with_requires_grad(t.requires_grad())
        .with_parameter(t.is_parameter());
    *t = out;
    Ok(())
}
