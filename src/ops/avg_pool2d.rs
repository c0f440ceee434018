//! `torch.nn.functional.avg_pool2d` and `adaptive_avg_pool2d`: the arguments, PyTorch's checks
//! and output sizes (in [`AvgPool2dParams::new`] and [`AdaptivePool2dParams::new`]), and the
//! dispatch to the CPU (`cpu/avg_pool2d.rs`) or CUDA (`cuda/avg_pool2d.rs`,
//! `kernels/avg_pool2d.cu`).

use crate::cpu::{self, Float};
use crate::error::{Error, Result};
use crate::kernels::{AdaptivePool2dParams, AvgPool2dParams};
use crate::ops::geometry::{out_size, positive, to_i64};
use crate::ops::operands::{host_elems, with_dtype};
use crate::tensor::Tensor;

/// The arguments of `F.avg_pool2d`, per axis `[height, width]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AvgPool2dArgs {
    /// `kernel_size=` `[height, width]`.
    pub kernel_size: [usize; 2],
    /// `None` means the kernel size, as in PyTorch.
    pub stride: Option<[usize; 2]>,
    /// Implicit zero padding on both sides (at most half the kernel).
    pub padding: [usize; 2],
    /// Round the output size up (the last window must still start inside the input or the
    /// left padding).
    pub ceil_mode: bool,
    /// Count the padded taps in the divisor (PyTorch's default: true).
    pub count_include_pad: bool,
    /// Divide every window's sum by this instead (non-zero).
    pub divisor_override: Option<i64>,
}

impl AvgPool2dArgs {
    /// A square `kernel` with PyTorch's defaults: stride = kernel, no padding, floor mode,
    /// `count_include_pad=True`, no divisor override (`nn.AvgPool2d(kernel)`).
    pub fn new(kernel: usize) -> Self {
        AvgPool2dArgs {
            kernel_size: [kernel, kernel],
            stride: None,
            padding: [0, 0],
            ceil_mode: false,
            count_include_pad: true,
            divisor_override: None,
        }
    }
}

/// `[N, C, H, W]` of a 4-D input, or of an unbatched 3-D one (N = 1), as avg_pool2d takes it:
/// only the batch may be empty.
fn batched(op: &'static str, shape: &[usize]) -> Result<[usize; 4]> {
    match *shape {
        [n, c, h, w] if c > 0 && h > 0 && w > 0 => Ok([n, c, h, w]),
        [c, h, w] if c > 0 && h > 0 && w > 0 => Ok([1, c, h, w]),
        _ => Err(Error::Shape {
            op,
            expected: "3D or 4D (batch mode) tensor with optional 0 dim batch size for input"
                .into(),
            got: format!("{shape:?}"),
        }),
    }
}

/// [`batched`] as adaptive_avg_pool2d takes it: H and W non-empty, N and C may be 0.
fn batched_adaptive(shape: &[usize]) -> Result<[usize; 4]> {
    let dims = match *shape {
        [n, c, h, w] => [n, c, h, w],
        [c, h, w] => [1, c, h, w],
        _ => {
            return Err(Error::Shape {
                op: "adaptive_avg_pool2d",
                expected: "adaptive_avg_pool2d(): Expected 3D or 4D tensor".into(),
                got: format!("{shape:?}"),
            })
        }
    };
    if let Some(d) = (shape.len() - 2..shape.len()).find(|&d| shape[d] == 0) {
        return Err(Error::Shape {
            op: "adaptive_avg_pool2d",
            expected: "adaptive_avg_pool2d(): Expected input to have non-zero size for non-batch \
                       dimensions"
                .into(),
            got: format!("input has sizes {shape:?} with dimension {d} being empty"),
        });
    }
    Ok(dims)
}

/// The output shape: `[N, C, ho, wo]`, or `[C, ho, wo]` for an unbatched input.
fn out_shape(input: &[usize], [n, c, ho, wo]: [usize; 4]) -> Vec<usize> {
    if input.len() == 3 {
        vec![c, ho, wo]
    } else {
        vec![n, c, ho, wo]
    }
}

/// Average pooling over `[N, C, H, W]` or unbatched `[C, H, W]` input with PyTorch's output
/// size, padding, `count_include_pad` and `divisor_override` rules, summing each window in
/// PyTorch's CPU order so the result is bit-identical to PyTorch's CPU result (the CUDA kernel
/// sums in the same order). float32/float64 on the CPU (any strides), contiguous float32 on
/// CUDA. Returns a contiguous tensor.
pub fn avg_pool2d(input: &Tensor, args: &AvgPool2dArgs) -> Result<Tensor> {
    const OP: &str = "avg_pool2d";
    let dims = batched(OP, input.shape())?;
    let p = AvgPool2dParams::new(&dims, args)?;
    let shape = out_shape(input.shape(), p.out_shape());
    #[cfg(feature = "cuda")]
    if input.device().is_cuda() {
        let ins = [("input", input)];
        return crate::ops::operands::cuda::run(OP, ins, None, &shape, |dev, [x], _, y| {
            crate::cuda::avg_pool2d::avg_pool2d_f32(dev, &p, x, y)
        });
    }
    cpu::install(|| {
        with_dtype!(
            OP,
            "input",
            input.dtype(),
            float,
            avg_t::<T>(input, &p, &shape)
        )
    })
}

fn avg_t<T: Float>(input: &Tensor, p: &AvgPool2dParams, shape: &[usize]) -> Result<Tensor> {
    let src = host_elems::<T>(input)?;
    let mut out = Tensor::empty(T::DTYPE, shape)?;
    cpu::avg_pool2d::avg_pool2d(p, &src, out.as_mut_slice::<T>()?);
    Ok(out)
}

/// Adaptive average pooling to `output_size` `[H_out, W_out]` over `[N, C, H, W]` or unbatched
/// `[C, H, W]` input, with PyTorch's window formula (rows `floor(i·H/H_out)` to
/// `ceil((i+1)·H/H_out)`). Bit-identical to PyTorch's CPU result, except for a 1×1 output: there
/// PyTorch computes `mean` over H and W with its vectorised cascade sum, which we do not
/// reproduce bit for bit (a few ulps; see `tests/ops_norm_pool.rs`). float32/float64 on the CPU,
/// contiguous float32 on CUDA. Returns a contiguous tensor.
pub fn adaptive_avg_pool2d(input: &Tensor, output_size: [usize; 2]) -> Result<Tensor> {
    const OP: &str = "adaptive_avg_pool2d";
    let dims = batched_adaptive(input.shape())?;
    let p = AdaptivePool2dParams::new(&dims, output_size)?;
    let shape = out_shape(
        input.shape(),
        [dims[0], dims[1], output_size[0], output_size[1]],
    );
    #[cfg(feature = "cuda")]
    if input.device().is_cuda() {
        let ins = [("input", input)];
        return crate::ops::operands::cuda::run(OP, ins, None, &shape, |dev, [x], _, y| {
            crate::cuda::avg_pool2d::adaptive_avg_pool2d_f32(dev, &p, x, y)
        });
    }
    cpu::install(|| {
        with_dtype!(
            OP,
            "input",
            input.dtype(),
            float,
            adaptive_t::<T>(input, &p, &shape)
        )
    })
}

fn adaptive_t<T: Float>(
    input: &Tensor,
    p: &AdaptivePool2dParams,
    shape: &[usize],
) -> Result<Tensor> {
    let src = host_elems::<T>(input)?;
    let mut out = Tensor::empty(T::DTYPE, shape)?;
    if p.h_out == 1 && p.w_out == 1 {
        // torch: `input.mean({-1, -2}, keepdim=True)` for a 1×1 output.
        let len = (p.h * p.w) as usize;
        cpu::reduce::mean_lines(&src, out.as_mut_slice::<T>()?, len);
    } else {
        cpu::avg_pool2d::adaptive_avg_pool2d(p, &src, out.as_mut_slice::<T>()?);
    }
    Ok(out)
}

impl AvgPool2dParams {
    /// Checks an avg_pool2d call on `[N, C, H, W]` as PyTorch does; `stride` defaults to the
    /// kernel size.
    pub fn new(input: &[usize; 4], args: &AvgPool2dArgs) -> Result<AvgPool2dParams> {
        const OP: &str = "avg_pool2d";
        let [n, c, h, w] = *input;
        let kernel = args.kernel_size;
        let [kh, kw] = positive(OP, "kernel_size", kernel)?;
        let stride = args.stride.unwrap_or(kernel);
        let [sh, sw] = positive(OP, "stride", stride)?;
        for (p, k) in [(args.padding[0], kernel[0]), (args.padding[1], kernel[1])] {
            if p > k / 2 {
                return Err(Error::InvalidArgument {
                    op: OP,
                    name: "padding",
                    reason: format!(
                        "pad should be at most half of effective kernel size, but got pad={p}, \
                         kernel_size={k} and dilation=1"
                    ),
                });
            }
        }
        let divisor = match args.divisor_override {
            Some(0) => {
                return Err(Error::InvalidArgument {
                    op: OP,
                    name: "divisor_override",
                    reason: "divisor must be not zero".into(),
                })
            }
            Some(d) => d,
            None => 0,
        };
        let size = |axis: usize, len: usize| {
            let (k, p, s) = (kernel[axis], args.padding[axis], stride[axis]);
            out_size(OP, len, k, p, p, s, 1, args.ceil_mode, input, &kernel)
        };
        let (h_out, w_out) = (size(0, h)?, size(1, w)?);
        Ok(AvgPool2dParams {
            n: to_i64(OP, "input", n)?,
            c: to_i64(OP, "input", c)?,
            h: to_i64(OP, "input", h)?,
            w: to_i64(OP, "input", w)?,
            kh,
            kw,
            stride_h: sh,
            stride_w: sw,
            pad_h: to_i64(OP, "padding", args.padding[0])?,
            pad_w: to_i64(OP, "padding", args.padding[1])?,
            h_out: to_i64(OP, "output", h_out)?,
            w_out: to_i64(OP, "output", w_out)?,
            count_include_pad: i64::from(args.count_include_pad),
            divisor,
        })
    }

    /// Output shape `[N, C, H_out, W_out]`.
    pub fn out_shape(&self) -> [usize; 4] {
        [self.n, self.c, self.h_out, self.w_out].map(|x| x as usize)
    }
}

impl AdaptivePool2dParams {
    /// Checks an adaptive_avg_pool2d call on `[N, C, H, W]` (H, W > 0); an output size of 0 is
    /// an empty output, as in PyTorch.
    pub fn new(input: &[usize; 4], output_size: [usize; 2]) -> Result<AdaptivePool2dParams> {
        const OP: &str = "adaptive_avg_pool2d";
        let ho = to_i64(OP, "output_size", output_size[0])?;
        let wo = to_i64(OP, "output_size", output_size[1])?;
        let [n, c, h, w] = *input;
        let (h, w) = (to_i64(OP, "input", h)?, to_i64(OP, "input", w)?);
        // The window formula forms (i + 1)·H: keep it inside 64-bit arithmetic.
        if h.checked_mul(ho).is_none() || w.checked_mul(wo).is_none() {
            return Err(Error::Overflow {
                what: format!("{OP} of {input:?} to {output_size:?}"),
            });
        }
        Ok(AdaptivePool2dParams {
            n: to_i64(OP, "input", n)?,
            c: to_i64(OP, "input", c)?,
            h,
            w,
            h_out: ho,
            w_out: wo,
        })
    }
}
