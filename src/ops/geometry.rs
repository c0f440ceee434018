//! PyTorch's shape rules that several ops share: the output size of a sliding window
//! (convolution, pooling), and the checked conversions into the params structs' 64-bit fields.

use crate::error::{Error, Result};

pub(crate) fn to_i64(op: &'static str, name: &'static str, v: usize) -> Result<i64> {
    i64::try_from(v).map_err(|_| Error::InvalidArgument {
        op,
        name,
        reason: format!("{v} does not fit in 64-bit signed arithmetic"),
    })
}

pub(crate) fn positive(op: &'static str, name: &'static str, v: [usize; 2]) -> Result<[i64; 2]> {
    if v[0] == 0 || v[1] == 0 {
        return Err(Error::InvalidArgument {
            op,
            name,
            reason: format!("{name} should be greater than zero, but got {name}: {v:?}"),
        });
    }
    Ok([to_i64(op, name, v[0])?, to_i64(op, name, v[1])?])
}

/// PyTorch's pooling/convolution output size. `ceil_mode` rounds up, but the last window must
/// start inside the input or the left padding.
#[allow(clippy::too_many_arguments)]
pub(crate) fn out_size(
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
