//! `relu_f32` on a GPU: `y[i] = max(x[i], 0)` over `p.n` contiguous elements (NaN stays NaN).

use cudarc::driver::PushKernelArg;

use crate::cuda::driver_err;
use crate::cuda::launch::config;
use crate::cuda::operands::{f32_view, into_tensor, output, same_device};
use crate::error::{Error, Result};
use crate::kernels::Kernel;
use crate::ops::launch::relu_shape;
use crate::ops::params::EltwiseParams;
use crate::tensor::Tensor;

const OP: &str = "relu";

/// relu of a contiguous f32 CUDA tensor into a new tensor on the same device.
pub(crate) fn relu(input: &Tensor, p: &EltwiseParams) -> Result<Tensor> {
    let dev = same_device(OP, &[input])?;
    let mut y = output(OP, &dev, input.shape(), p.n)?;
    let Some(ys) = y.slice_mut() else {
        return into_tensor(y, input.shape());
    };
    let x = f32_view(OP, "input", input, p.n)?;
    let cfg = config(relu_shape(p)?);
    let f = dev.function(Kernel::ReluF32)?;
    let mut args = dev.stream().launch_builder(&f);
    // relu_f32(EltwiseParams p, const float* x, float* y)
    args.arg(p).arg(&x).arg(ys);
    // SAFETY: x and y hold exactly p.n f32 elements (checked by f32_view/output), x is a
    // contiguous f32 view, both live on `dev`, whose stream runs the launch; y is a fresh buffer
    // not aliasing x; p is passed by value as the kernel's first parameter.
    unsafe { args.launch(cfg) }.map_err(driver_err(format!(
        "launching {} on cuda:{}",
        Kernel::ReluF32.name(),
        dev.ordinal()
    )))?;
    drop(args);
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
