//! `conv2d` (torch.nn.functional.conv2d): NCHW input (or unbatched CHW), OIHW weight with
//! `I = C_in / groups`, optional bias `[C_out]`. Shapes and PyTorch's argument checks come
//! from [`Conv2dParams::new`]; this layer adds dtype/device checks and the unbatched form.

use crate::cpu;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::ops::linear::{check_operands, host_slice};
use crate::ops::params::Conv2dParams;
use crate::tensor::Tensor;

/// Stride, padding, dilation (each `[h, w]`) and groups, with PyTorch's defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conv2dArgs {
    pub stride: [usize; 2],
    pub padding: [usize; 2],
    pub dilation: [usize; 2],
    pub groups: usize,
}

impl Default for Conv2dArgs {
    fn default() -> Self {
        Conv2dArgs {
            stride: [1, 1],
            padding: [0, 0],
            dilation: [1, 1],
            groups: 1,
        }
    }
}

/// 2-D convolution. A 3-D `[C, H, W]` input gives a 3-D `[C_out, H_out, W_out]` output.
pub fn conv2d(
    input: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    args: &Conv2dArgs,
) -> Result<Tensor> {
    conv2d_act(input, weight, bias, args, false)
}

/// `relu(conv2d(...))` with the relu applied as the CPU kernel stores its output (no second
/// pass over memory). Bit-for-bit equal to [`conv2d`] followed by `relu`.
pub fn conv2d_relu(
    input: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    args: &Conv2dArgs,
) -> Result<Tensor> {
    conv2d_act(input, weight, bias, args, true)
}

fn conv2d_act(
    input: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    args: &Conv2dArgs,
    relu: bool,
) -> Result<Tensor> {
    const OP: &str = "conv2d";
    let dtype = check_operands(OP, &[Some(input), Some(weight), bias])?;
    let unbatched = input.ndim() == 3;
    let mut in_shape = input.shape().to_vec();
    if unbatched {
        in_shape.insert(0, 1);
    }
    let p = Conv2dParams::new(
        &in_shape,
        weight.shape(),
        bias.is_some(),
        args.stride,
        args.padding,
        args.dilation,
        args.groups,
    )?;
    if let Some(b) = bias {
        if b.shape() != [weight.shape()[0]] {
            return Err(Error::Shape {
                op: OP,
                expected: format!("bias [{}] (one per output channel)", weight.shape()[0]),
                got: format!("bias {:?}", b.shape()),
            });
        }
    }
    let shape = p.out_shape();
    #[cfg(feature = "cuda")]
    if input.device().is_cuda() {
        let out_shape = if unbatched { &shape[1..] } else { &shape[..] };
        let mut out = crate::cuda::conv2d(input, weight, bias, &p, out_shape)?;
        if relu {
            crate::ops::relu::relu_(&mut out)?;
        }
        return Ok(out);
    }
    let mut out = Tensor::empty(dtype, if unbatched { &shape[1..] } else { &shape })?;
    match dtype {
        DType::F32 => run::<f32>(&p, input, weight, bias, relu, &mut out)?,
        _ => run::<f64>(&p, input, weight, bias, relu, &mut out)?,
    }
    Ok(out)
}

fn run<T: cpu::Float>(
    p: &Conv2dParams,
    input: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    relu: bool,
    out: &mut Tensor,
) -> Result<()> {
    let x = host_slice::<T>(input)?;
    let w = host_slice::<T>(weight)?;
    let b = bias.map(host_slice::<T>).transpose()?;
    let out = out.as_mut_slice::<T>()?;
    cpu::conv2d::conv2d_act(p, &x, &w, b.as_deref(), relu, out)
}
