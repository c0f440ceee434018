//! `torch.nn.functional.max_pool2d` (without indices).

use crate::cpu::{
    self,
    eltwise::{with_dtype, Scalar},
};
use crate::error::{Error, Result};
use crate::ops::params::Pool2dParams;
use crate::tensor::Tensor;

const OP: &str = "max_pool2d";

/// The arguments of `F.max_pool2d`, per axis `[height, width]`.
#[derive(Clone, Debug)]
pub struct MaxPool2dArgs {
    pub kernel: [usize; 2],
    /// `None` means the kernel size, as in PyTorch.
    pub stride: Option<[usize; 2]>,
    /// Implicit -inf padding on both sides.
    pub padding: [usize; 2],
    pub dilation: [usize; 2],
    /// Round the output size up (the last window must still start inside the input or the
    /// left padding).
    pub ceil_mode: bool,
}

impl MaxPool2dArgs {
    /// A square `kernel` with stride = kernel, no padding, no dilation, floor mode
    /// (`nn.MaxPool2d(kernel)`).
    pub fn new(kernel: usize) -> Self {
        MaxPool2dArgs {
            kernel: [kernel, kernel],
            stride: None,
            padding: [0, 0],
            dilation: [1, 1],
            ceil_mode: false,
        }
    }
}

/// Max pooling over `[N, C, H, W]` or unbatched `[C, H, W]` input, as PyTorch computes it: -inf
/// padding never wins, NaN propagates, and the output is bit-identical to PyTorch's CPU result.
/// Accepts float32/float64 and the integer dtypes int64/int32/int16/int8/uint8 (as PyTorch
/// does); any strides (a non-contiguous input is gathered first). Returns a contiguous tensor.
pub fn max_pool2d(input: &Tensor, args: &MaxPool2dArgs) -> Result<Tensor> {
    let shape = input.shape();
    let batched: [usize; 4] = match *shape {
        [n, c, h, w] => [n, c, h, w],
        // Unbatched input: PyTorch refuses any empty dim here (there is no batch to be empty).
        [c, h, w] if c > 0 && h > 0 && w > 0 => [1, c, h, w],
        _ => {
            return Err(Error::Shape {
                op: OP,
                expected: "non-empty 3D or 4D (batch mode) tensor, only the batch may be 0".into(),
                got: format!("{shape:?}"),
            })
        }
    };
    let p = Pool2dParams::new(
        &batched,
        args.kernel,
        args.stride,
        args.padding,
        args.dilation,
        args.ceil_mode,
    )?;
    let [n, c, ho, wo] = p.out_shape();
    let out_shape: Vec<usize> = if shape.len() == 3 {
        vec![c, ho, wo]
    } else {
        vec![n, c, ho, wo]
    };
    #[cfg(feature = "cuda")]
    if input.device().is_cuda() {
        return crate::cuda::max_pool2d(input, &p, &out_shape);
    }
    cpu::eltwise::check_host(OP, input)?;
    with_dtype!(
        OP,
        input.dtype(),
        [F32 => f32, F64 => f64, I64 => i64, I32 => i32, I16 => i16, I8 => i8, U8 => u8],
        run::<T>(input, &p, &out_shape)
    )
}

fn run<T: Scalar>(input: &Tensor, p: &Pool2dParams, out_shape: &[usize]) -> Result<Tensor> {
    let src = cpu::eltwise::host_elems::<T>(input)?;
    let mut out = Tensor::empty(T::DTYPE, out_shape)?;
    cpu::max_pool2d::forward(p, &src, out.as_mut_slice::<T>()?);
    Ok(out)
}
