//! `conv2d` (torch.nn.functional.conv2d): NCHW input (or unbatched CHW), OIHW weight with
//! `I = C_in / groups`, optional bias `[C_out]`. Shapes and PyTorch's argument checks are
//! [`Conv2dParams::new`]'s; this file adds dtype/device checks, the unbatched form, and the
//! dispatch to the CPU (`cpu/conv2d.rs`) or CUDA (`cuda/conv2d.rs`, `kernels/conv2d.cu`).

use crate::cpu::epilogue::{Act, Post};
use crate::cpu::{self, Float};
use crate::error::{Error, Result};
use crate::kernels::Conv2dParams;
use crate::ops::geometry::{out_size, positive, to_i64};
use crate::ops::operands::{check, host_elems, with_dtype};
use crate::tensor::Tensor;

/// Stride, padding, dilation (each `[h, w]`) and groups, with PyTorch's defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conv2dArgs {
    /// `stride=` `[height, width]` (default 1).
    pub stride: [usize; 2],
    /// Zero padding on both sides `[height, width]` (default 0).
    pub padding: [usize; 2],
    /// `dilation=` `[height, width]` (default 1).
    pub dilation: [usize; 2],
    /// `groups=` (default 1).
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
    conv2d_act(input, weight, bias, args, None, None)
}

/// `relu(conv2d(...))` with the relu applied as the CPU kernel stores its output (no second
/// pass over memory). Bit-for-bit equal to [`conv2d`] followed by `relu`.
pub fn conv2d_relu(
    input: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    args: &Conv2dArgs,
) -> Result<Tensor> {
    conv2d_act(input, weight, bias, args, None, Some(Act::Relu))
}

/// `act(conv2d(...) + residual)` (the planner's fusion of a convolution with the addition and
/// activation after it), bit-for-bit equal to the three ops run one after another. On the CPU
/// the addition and activation are applied while each piece of the output is in cache; a
/// residual of another shape (broadcast) or another dtype or device runs as a separate
/// addition, as do CUDA's.
pub(crate) fn conv2d_fused(
    input: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    args: &Conv2dArgs,
    residual: Option<&Tensor>,
    act: Option<Act>,
) -> Result<Tensor> {
    conv2d_act(input, weight, bias, args, residual, act)
}

/// Applies `act` to `y` as the standalone op would.
fn activate(y: Tensor, act: Option<Act>) -> Result<Tensor> {
    match act {
        None => Ok(y),
        Some(Act::Relu) => {
            let mut y = y;
            crate::ops::relu::relu_(&mut y)?;
            Ok(y)
        }
        Some(Act::Other(a)) => crate::ops::activation::run(a, &y),
    }
}

/// The checked params of a call and the shape of its output (`[C_out, H_out, W_out]` for an
/// unbatched input).
pub(super) fn conv2d_params(
    input: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    args: &Conv2dArgs,
) -> Result<(Conv2dParams, Vec<usize>)> {
    const OP: &str = "conv2d";
    check(
        OP,
        &[
            ("input", Some(input)),
            ("weight", Some(weight)),
            ("bias", bias),
        ],
    )?;
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
    let shape = if unbatched { &shape[1..] } else { &shape[..] };
    Ok((p, shape.to_vec()))
}

fn conv2d_act(
    input: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    args: &Conv2dArgs,
    residual: Option<&Tensor>,
    act: Option<Act>,
) -> Result<Tensor> {
    const OP: &str = "conv2d";
    let (p, shape) = conv2d_params(input, weight, bias, args)?;
    let dtype = input.dtype();
    let shape = &shape[..];
    if let Some(r) = residual {
        let fits = r.shape() == shape
            && r.dtype() == dtype
            && r.device() == input.device()
            && (r.is_contiguous() || !input.device().is_cuda());
        if !fits {
            let y = conv2d_act(input, weight, bias, args, None, None)?;
            return activate(crate::ops::add(&y, r)?, act);
        }
    }
    #[cfg(feature = "cuda")]
    if input.device().is_cuda() {
        // The kernels add the residual and apply relu as they store (conv_epilogue.cuh); any
        // other activation runs as its own pass after.
        let mut p = p;
        p.has_residual = residual.is_some() as i64;
        p.relu = (act == Some(Act::Relu)) as i64;
        let out = run_cuda(&p, input, weight, bias, residual, shape)?;
        return match act {
            Some(Act::Other(_)) => activate(out, act),
            _ => Ok(out),
        };
    }
    let mut out = Tensor::empty(dtype, shape)?;
    let out_ref = &mut out;
    cpu::install(|| {
        with_dtype!(
            OP,
            "input",
            dtype,
            float,
            run::<T>(&p, input, weight, bias, residual, act, out_ref)
        )
    })?;
    Ok(out)
}

/// Launches the kernel `p` chooses into a fresh output of `shape`.
#[cfg(feature = "cuda")]
pub(super) fn run_cuda(
    p: &Conv2dParams,
    input: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    residual: Option<&Tensor>,
    shape: &[usize],
) -> Result<Tensor> {
    let ins = [
        ("input", Some(input)),
        ("weight", Some(weight)),
        ("bias", bias),
        ("residual", residual),
    ];
    crate::ops::operands::cuda::run_opt("conv2d", ins, shape, |dev, [x, w, b, r], y| {
        let (Some(x), Some(w)) = (x, w) else {
            return Err(Error::InvalidArgument {
                op: "conv2d",
                name: "input",
                reason: "input and weight are required".into(),
            });
        };
        crate::cuda::conv2d::conv2d_f32(dev, p, x, w, b, r, y)
    })
}

fn run<T: Float>(
    p: &Conv2dParams,
    input: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    residual: Option<&Tensor>,
    act: Option<Act>,
    out: &mut Tensor,
) -> Result<()> {
    let x = host_elems::<T>(input)?;
    let w = host_elems::<T>(weight)?;
    let b = bias.map(host_elems::<T>).transpose()?;
    let r = residual.map(host_elems::<T>).transpose()?;
    let out = out.as_mut_slice::<T>()?;
    let post = Post {
        residual: r.as_deref(),
        act,
    };
    cpu::conv2d::conv2d_act(p, &x, &w, b.as_deref(), post, out)
}

impl Conv2dParams {
    /// Checks a conv2d call as PyTorch does. `input` is `[N, C, H, W]`, `weight`
    /// `[C_out, C_in / groups, kH, kW]`.
    pub fn new(
        input: &[usize],
        weight: &[usize],
        has_bias: bool,
        stride: [usize; 2],
        padding: [usize; 2],
        dilation: [usize; 2],
        groups: usize,
    ) -> Result<Conv2dParams> {
        const OP: &str = "conv2d";
        let [n, c_in, h, w] = <[usize; 4]>::try_from(input).map_err(|_| Error::Shape {
            op: OP,
            expected: "4-D input [N, C, H, W] (3-D unbatched input is unsqueezed by the caller)"
                .into(),
            got: format!("{input:?}"),
        })?;
        let [c_out, c_per_group, kh, kw] =
            <[usize; 4]>::try_from(weight).map_err(|_| Error::Shape {
                op: OP,
                expected: "4-D weight [C_out, C_in / groups, kH, kW]".into(),
                got: format!("{weight:?}"),
            })?;
        let [sh, sw] = positive(OP, "stride", stride)?;
        let [dh, dw] = positive(OP, "dilation", dilation)?;
        if groups == 0 {
            return Err(Error::InvalidArgument {
                op: OP,
                name: "groups",
                reason: "non-positive groups is not supported".into(),
            });
        }
        if c_out % groups != 0 {
            return Err(Error::Shape {
                op: OP,
                expected: format!("out_channels divisible by groups={groups}"),
                got: format!("weight {weight:?}"),
            });
        }
        if c_per_group.checked_mul(groups) != Some(c_in) {
            return Err(Error::Shape {
                op: OP,
                expected: format!(
                    "input to have {} channels (weight {weight:?}, groups={groups})",
                    c_per_group.saturating_mul(groups)
                ),
                got: format!("input {input:?}"),
            });
        }
        if kh == 0 || kw == 0 || c_out == 0 {
            return Err(Error::Shape {
                op: OP,
                expected: "a non-empty weight".into(),
                got: format!("weight {weight:?}"),
            });
        }
        if c_in == 0 || h == 0 || w == 0 {
            return Err(Error::Shape {
                op: OP,
                expected: "non-zero C, H, W in the input".into(),
                got: format!("input {input:?}"),
            });
        }
        let h_out = out_size(
            OP,
            h,
            kh,
            padding[0],
            padding[0],
            sh as usize,
            dh as usize,
            false,
            input,
            weight,
        )?;
        let w_out = out_size(
            OP,
            w,
            kw,
            padding[1],
            padding[1],
            sw as usize,
            dw as usize,
            false,
            input,
            weight,
        )?;
        Ok(Conv2dParams {
            n: to_i64(OP, "input", n)?,
            c_in: to_i64(OP, "input", c_in)?,
            h: to_i64(OP, "input", h)?,
            w: to_i64(OP, "input", w)?,
            c_out: to_i64(OP, "weight", c_out)?,
            kh: to_i64(OP, "weight", kh)?,
            kw: to_i64(OP, "weight", kw)?,
            stride_h: sh,
            stride_w: sw,
            pad_h: to_i64(OP, "padding", padding[0])?,
            pad_w: to_i64(OP, "padding", padding[1])?,
            dil_h: dh,
            dil_w: dw,
            groups: to_i64(OP, "groups", groups)?,
            h_out: to_i64(OP, "output", h_out)?,
            w_out: to_i64(OP, "output", w_out)?,
            has_bias: has_bias as i64,
            has_residual: 0,
            relu: 0,
            pool: 0,
        })
    }

    /// Height of what the kernel stores: the pooled output's (`H_out / 2`) when `pool` is 2.
    pub(crate) fn stored_h(&self) -> i64 {
        pooled(self.h_out, self.pool)
    }

    /// Width of what the kernel stores, as [`Conv2dParams::stored_h`].
    pub(crate) fn stored_w(&self) -> i64 {
        pooled(self.w_out, self.pool)
    }

    /// Output shape `[N, C_out, H_out, W_out]`.
    pub fn out_shape(&self) -> [usize; 4] {
        [self.n, self.c_out, self.h_out, self.w_out].map(|x| x as usize)
    }
}

/// A 2x2, stride-2 max pool in floor mode keeps `extent / 2` windows; no pool keeps `extent`.
fn pooled(extent: i64, pool: i64) -> i64 {
    if pool == 2 {
        extent / 2
    } else {
        extent
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conv_output_sizes_follow_pytorch() {
        let p = Conv2dParams::new(
            &[1, 3, 32, 32],
            &[6, 3, 5, 5],
            true,
            [1, 1],
            [0, 0],
            [1, 1],
            1,
        )
        .unwrap();
        assert_eq!(p.out_shape(), [1, 6, 28, 28]);
        let p = Conv2dParams::new(
            &[2, 4, 7, 9],
            &[6, 2, 3, 2],
            false,
            [2, 3],
            [1, 2],
            [2, 1],
            2,
        )
        .unwrap();
        // (7 + 2 - 2*2 - 1)/2 + 1 = 3; (9 + 4 - 1 - 1)/3 + 1 = 4
        assert_eq!(p.out_shape(), [2, 6, 3, 4]);
        assert!(Conv2dParams::new(
            &[1, 3, 4, 4],
            &[6, 3, 5, 5],
            true,
            [1, 1],
            [0, 0],
            [1, 1],
            1
        )
        .is_err());
        assert!(Conv2dParams::new(
            &[1, 4, 8, 8],
            &[6, 2, 3, 3],
            true,
            [1, 1],
            [0, 0],
            [1, 1],
            4
        )
        .is_err());
        assert!(Conv2dParams::new(
            &[1, 3, 8, 8],
            &[6, 3, 3, 3],
            true,
            [0, 1],
            [0, 0],
            [1, 1],
            1
        )
        .is_err());
    }
}

#[cfg(test)]
#[path = "conv2d_fused_tests.rs"]
mod fused_tests;
