//! Shape arithmetic for every op, once: the constructors of the params structs (declared with
//! the kernel contract in `src/kernels/decl.rs`), which the CPU code, the CUDA launch and the
//! kernels all read. Constructors validate with PyTorch's rules and wording.

use crate::error::{Error, Result};

pub use crate::kernels::{Conv2dParams, EltwiseParams, LinearParams, Pool2dParams};

fn to_i64(op: &'static str, name: &'static str, v: usize) -> Result<i64> {
    i64::try_from(v).map_err(|_| Error::InvalidArgument {
        op,
        name,
        reason: format!("{v} does not fit in 64-bit signed arithmetic"),
    })
}

fn positive(op: &'static str, name: &'static str, v: [usize; 2]) -> Result<[i64; 2]> {
    if v[0] == 0 || v[1] == 0 {
        return Err(Error::InvalidArgument {
            op,
            name,
            reason: format!("{name} should be greater than zero, but got {name}: {v:?}"),
        });
    }
    Ok([to_i64(op, name, v[0])?, to_i64(op, name, v[1])?])
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
        })
    }

    /// Output shape `[N, C_out, H_out, W_out]`.
    pub fn out_shape(&self) -> [usize; 4] {
        [self.n, self.c_out, self.h_out, self.w_out].map(|x| x as usize)
    }
}

/// PyTorch's pooling/convolution output size. `ceil_mode` rounds up, but the last window must
/// start inside the input or the left padding.
#[allow(clippy::too_many_arguments)]
fn out_size(
    op: &'static str,
    input: usize,
    kernel: usize,
    pad_l: usize,
    pad_r: usize,
    stride: usize,
    dilation: usize,
    ceil_mode: bool,
    in_shape: &[usize],
    k_shape: &[usize],
) -> Result<usize> {
    let too_small = || Error::Shape {
        op,
        expected: "an input at least as large as the (dilated) kernel after padding".into(),
        got: format!(
            "input {in_shape:?}, kernel {k_shape:?}, padding {pad_l}, dilation {dilation}"
        ),
    };
    let eff = dilation
        .checked_mul(kernel - 1)
        .and_then(|x| x.checked_add(1))
        .ok_or_else(too_small)?;
    let padded = input
        .checked_add(pad_l)
        .and_then(|x| x.checked_add(pad_r))
        .ok_or_else(too_small)?;
    if padded < eff {
        return Err(too_small());
    }
    let span = padded - eff + if ceil_mode { stride - 1 } else { 0 };
    let mut out = span / stride + 1;
    if ceil_mode && (out - 1) * stride >= input + pad_l {
        out -= 1;
    }
    if out == 0 {
        return Err(too_small());
    }
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

impl LinearParams {
    /// Checks `x W^T + b` for input `[*, K]`, weight `[N, K]`, bias `[N]`.
    pub fn new(
        input: &[usize],
        weight: &[usize],
        bias: Option<&[usize]>,
        relu: bool,
    ) -> Result<LinearParams> {
        const OP: &str = "linear";
        let (&k, lead) = input.split_last().ok_or_else(|| Error::Shape {
            op: OP,
            expected: "an input with at least one dimension".into(),
            got: "a 0-d input".into(),
        })?;
        let [n, wk] = <[usize; 2]>::try_from(weight).map_err(|_| Error::Shape {
            op: OP,
            expected: "2-D weight [out_features, in_features]".into(),
            got: format!("{weight:?}"),
        })?;
        if wk != k {
            return Err(Error::Shape {
                op: OP,
                expected: format!("input [..., {wk}] for weight {weight:?} (mat1 and mat2 shapes cannot be multiplied)"),
                got: format!("input {input:?}"),
            });
        }
        if let Some(b) = bias {
            if b != [n] {
                return Err(Error::Shape {
                    op: OP,
                    expected: format!("bias [{n}]"),
                    got: format!("bias {b:?}"),
                });
            }
        }
        let m = lead
            .iter()
            .try_fold(1usize, |a, &d| a.checked_mul(d))
            .ok_or_else(|| Error::Overflow {
                what: format!("linear input {input:?}"),
            })?;
        Ok(LinearParams {
            m: to_i64(OP, "input", m)?,
            k: to_i64(OP, "input", k)?,
            n: to_i64(OP, "weight", n)?,
            has_bias: bias.is_some() as i64,
            relu: relu as i64,
        })
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
