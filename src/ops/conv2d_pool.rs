//! `max_pool2d(relu(conv2d(x)), 2)`, the recipe Net's conv → relu → pool, as one op. On a GPU
//! whose convolution runs on a small-channel kernel (`kernels/conv2d_small.cu`), one pass: the
//! kernel pools as it stores, so the unpooled output never reaches memory. Everywhere else the
//! ops run one after another. The fused kernel applies the standalone ops' formulas in their
//! order (bias, relu, max_pool2d's NaN-propagating max), so the result is the same bit for bit.

use crate::error::Result;
use crate::ops::conv2d::{conv2d_params, Conv2dArgs};
use crate::ops::max_pool2d::{max_pool2d, MaxPool2dArgs};
use crate::tensor::Tensor;

/// Whether `args` is `nn.MaxPool2d(2)`: 2x2 windows at stride 2, no padding or dilation,
/// floor mode (the one pool the kernels fuse).
pub(crate) fn is_pool_2x2(args: &MaxPool2dArgs) -> bool {
    args.kernel == [2, 2]
        && matches!(args.stride, None | Some([2, 2]))
        && args.padding == [0, 0]
        && args.dilation == [1, 1]
        && !args.ceil_mode
}

/// `max_pool2d(act(conv2d(input, weight, bias)), pool)` with `act` relu when `relu`.
pub(crate) fn conv2d_pool(
    input: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    args: &Conv2dArgs,
    relu: bool,
    pool: &MaxPool2dArgs,
) -> Result<Tensor> {
    #[cfg(feature = "cuda")]
    if input.device().is_cuda() && is_pool_2x2(pool) {
        if let Some(y) = fused_cuda(input, weight, bias, args, relu)? {
            return Ok(y);
        }
    }
    let y = if relu {
        crate::ops::conv2d_relu(input, weight, bias, args)?
    } else {
        crate::ops::conv2d(input, weight, bias, args)?
    };
    max_pool2d(&y, pool)
}

/// The one-pass form, or `None` where no kernel pools this shape (then the caller runs the
/// ops one after another, which also gives PyTorch's error for an output smaller than a
/// window).
#[cfg(feature = "cuda")]
fn fused_cuda(
    input: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    args: &Conv2dArgs,
    relu: bool,
) -> Result<Option<Tensor>> {
    use crate::kernels::shapes::{conv2d_kernel, ConvKernel};
    let (mut p, mut shape) = conv2d_params(input, weight, bias, args)?;
    let small = matches!(
        conv2d_kernel(&p),
        ConvKernel::Small3 | ConvKernel::Small5 | ConvKernel::Small7
    );
    if !small || p.h_out < 2 || p.w_out < 2 {
        return Ok(None);
    }
    p.relu = relu as i64;
    p.pool = 2;
    let nd = shape.len();
    shape[nd - 2] = p.stored_h() as usize;
    shape[nd - 1] = p.stored_w() as usize;
    crate::ops::conv2d::run_cuda(&p, input, weight, bias, None, &shape).map(Some)
}
