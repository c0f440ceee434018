//! `torch.nn.functional.max_pool2d` (without indices): the arguments, PyTorch's checks and output
//! size (in [`Pool2dParams::new`]), and the dispatch to the CPU (`cpu/max_pool2d.rs`) or CUDA
//! (`cuda/max_pool2d.rs`, `kernels/max_pool2d.cu`).

use crate::cpu::{self, Scalar};
use crate::error::{Error, Result};
use crate::kernels::Pool2dParams;
use crate::ops::geometry::{out_size, positive, to_i64};
use crate::ops::operands::{host_elems, with_dtype};
use crate::tensor::Tensor;

const OP: &str = "max_pool2d";

/// The arguments of `F.max_pool2d`, per axis `[height, width]`.
#[derive(Clone, Debug)]
pub struct MaxPool2dArgs {
    /// `kernel_size=` `[height, width]`.
    pub kernel: [usize; 2],
    /// `None` means the kernel size, as in PyTorch.
    pub stride: Option<[usize; 2]>,
    /// Implicit -inf padding on both sides.
    pub padding: [usize; 2],
    /// `dilation=` `[height, width]` (default 1).
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
        let ins = [("input", input)];
        return crate::ops::operands::cuda::run(OP, ins, None, &out_shape, |dev, [x], _, y| {
            crate::cuda::max_pool2d::max_pool2d_f32(dev, &p, x, y)
        });
    }
    cpu::install(|| {
        with_dtype!(
            OP,
            "input",
            input.dtype(),
            real,
            run::<T>(input, &p, &out_shape)
        )
    })
}

fn run<T: Scalar>(input: &Tensor, p: &Pool2dParams, out_shape: &[usize]) -> Result<Tensor> {
    let src = host_elems::<T>(input)?;
    let mut out = Tensor::empty(T::DTYPE, out_shape)?;
    cpu::max_pool2d::forward(p, &src, out.as_mut_slice::<T>()?);
    Ok(out)
}

impl Pool2dParams {
    /// Checks a max_pool2d call as PyTorch does; `stride` defaults to the kernel size.
    pub fn new(
        input: &[usize],
        kernel: [usize; 2],
        stride: Option<[usize; 2]>,
        padding: [usize; 2],
        dilation: [usize; 2],
        ceil_mode: bool,
    ) -> Result<Pool2dParams> {
        const OP: &str = "max_pool2d";
        let [n, c, h, w] = <[usize; 4]>::try_from(input).map_err(|_| Error::Shape {
            op: OP,
            expected: "4-D input [N, C, H, W] (3-D unbatched input is unsqueezed by the caller)"
                .into(),
            got: format!("{input:?}"),
        })?;
        if c == 0 || h == 0 || w == 0 {
            return Err(Error::Shape {
                op: OP,
                expected: "non-zero C, H, W in the input".into(),
                got: format!("{input:?}"),
            });
        }
        let [kh, kw] = positive(OP, "kernel_size", kernel)?;
        let stride = stride.unwrap_or(kernel);
        let [sh, sw] = positive(OP, "stride", stride)?;
        let [dh, dw] = positive(OP, "dilation", dilation)?;
        for (p, k, d) in [(padding[0], kh, dh), (padding[1], kw, dw)] {
            // PyTorch: pad should be at most half of the effective kernel size.
            // In u128: a kernel and dilation that each fit in i64 can overflow their product,
            // and a padding above i64::MAX must not wrap negative and pass.
            let eff = (k as u128 - 1) * d as u128 + 1;
            if p as u128 > eff / 2 {
                return Err(Error::InvalidArgument {
                    op: OP,
                    name: "padding",
                    reason: format!(
                        "pad should be at most half of effective kernel size, but got pad={p}, \
                         kernel_size={k} and dilation={d}"
                    ),
                });
            }
        }
        let k_shape = [kernel[0], kernel[1]];
        let h_out = out_size(
            OP,
            h,
            kernel[0],
            padding[0],
            padding[0],
            stride[0],
            dilation[0],
            ceil_mode,
            input,
            &k_shape,
        )?;
        let w_out = out_size(
            OP,
            w,
            kernel[1],
            padding[1],
            padding[1],
            stride[1],
            dilation[1],
            ceil_mode,
            input,
            &k_shape,
        )?;
        Ok(Pool2dParams {
            n: to_i64(OP, "input", n)?,
            c: to_i64(OP, "input", c)?,
            h: to_i64(OP, "input", h)?,
            w: to_i64(OP, "input", w)?,
            kh,
            kw,
            stride_h: sh,
            stride_w: sw,
            pad_h: to_i64(OP, "padding", padding[0])?,
            pad_w: to_i64(OP, "padding", padding[1])?,
            dil_h: dh,
            dil_w: dw,
            h_out: to_i64(OP, "output", h_out)?,
            w_out: to_i64(OP, "output", w_out)?,
        })
    }

    /// Output shape `[N, C, H_out, W_out]`.
    pub fn out_shape(&self) -> [usize; 4] {
        [self.n, self.c, self.h_out, self.w_out].map(|x| x as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_ceil_mode_last_window_starts_inside() {
        // 5 wide, k2 s2: floor → 2, ceil → 3.
        let p = Pool2dParams::new(&[1, 1, 5, 5], [2, 2], None, [0, 0], [1, 1], true).unwrap();
        assert_eq!(p.out_shape(), [1, 1, 3, 3]);
        // 4 wide, k2 s2 p1 ceil: (4+2-2+1)/2+1 = 3; last window starts at 2*2-1 = 3 < 4+1 → keep 3.
        let p = Pool2dParams::new(&[1, 1, 4, 4], [2, 2], None, [1, 1], [1, 1], true).unwrap();
        assert_eq!(p.out_shape(), [1, 1, 3, 3]);
        // 6 wide, k3 s3 ceil: (6-3+2)/3+1 = 2 stays 2.
        let p = Pool2dParams::new(&[1, 1, 6, 6], [3, 3], None, [0, 0], [1, 1], true).unwrap();
        assert_eq!(p.out_shape(), [1, 1, 2, 2]);
        assert!(Pool2dParams::new(&[1, 1, 6, 6], [2, 2], None, [2, 2], [1, 1], false).is_err());
    }
}
