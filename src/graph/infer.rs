//! The result shape of the ops that can make a value larger than their inputs (convolution,
//! pooling, padding, linear, broadcasting, concatenation), computed from their inputs' shapes
//! before they run: a hostile argument (a padding of 3000) is caught against the node's
//! declared meta and the memory budget before gigabytes are allocated and written. Ops whose
//! result is no larger than an input are checked after they run.

use crate::graph::ir::{Op, Other};

/// The shape `op` will produce from inputs of shapes `ins` (in `Op::inputs` order), or `None`
/// when the op is not one that grows, or its arguments are invalid (the op then says why).
pub(crate) fn shape(op: &Op, ins: &[&[usize]]) -> Option<Vec<usize>> {
    match op {
        Op::Conv2d { args, .. } => {
            let (&[n, _, h, w], &[o, _, kh, kw]) = (*ins.first()?, *ins.get(1)?) else {
                return None;
            };
            let ok = |v: [usize; 2]| v.iter().all(|&x| x > 0);
            if !ok(args.stride) || !ok(args.dilation) || kh == 0 || kw == 0 {
                return None;
            }
            let [sh, sw] = args.stride;
            let [ph, pw] = args.padding;
            let [dh, dw] = args.dilation;
            let ho = window(h, kh, ph, sh, dh, false)?;
            let wo = window(w, kw, pw, sw, dw, false)?;
            Some(vec![n, o, ho, wo])
        }
        Op::MaxPool2d { args, .. } => pool(
            ins.first()?,
            args.kernel,
            args.stride,
            args.padding,
            args.dilation,
            args.ceil_mode,
        ),
        Op::AvgPool2d { args, .. } => pool(
            ins.first()?,
            args.kernel_size,
            args.stride,
            args.padding,
            [1, 1],
            args.ceil_mode,
        ),
        Op::AdaptiveAvgPool2d { size, .. } => {
            let x = ins.first()?;
            let lead = x.get(..x.len().checked_sub(2)?)?;
            Some([lead, &size[..]].concat())
        }
        Op::Pad { pad, .. } => {
            let mut out = ins.first()?.to_vec();
            if pad.len() % 2 != 0 || pad.len() / 2 > out.len() {
                return None;
            }
            for (i, lr) in pad.chunks(2).enumerate() {
                let d = out.len() - 1 - i;
                let grown = i64::try_from(out[d])
                    .ok()?
                    .checked_add(lr[0])?
                    .checked_add(lr[1])?;
                out[d] = usize::try_from(grown).ok()?;
            }
            Some(out)
        }
        Op::Linear { .. } => {
            let (x, w) = (ins.first()?, ins.get(1)?);
            let (&[o, _], Some((_, lead))) = (*w, x.split_last()) else {
                return None;
            };
            Some([lead, &[o][..]].concat())
        }
        Op::Binary {
            b: Other::Tensor(_),
            ..
        } => broadcast(ins.first()?, ins.get(1)?),
        Op::Cat { dim, .. } => {
            let first = ins.iter().find(|s| !(s.len() == 1 && s[0] == 0))?;
            let d = wrap(*dim, first.len())?;
            let mut out = first.to_vec();
            out[d] = 0;
            for s in ins {
                if s.len() == 1 && s[0] == 0 {
                    continue; // torch skips 1-d empty tensors in cat
                }
                out[d] = out[d].checked_add(*s.get(d)?)?;
            }
            Some(out)
        }
        _ => None,
    }
}

pub(crate) fn wrap(dim: i64, ndim: usize) -> Option<usize> {
    let n = i64::try_from(ndim).ok()?;
    let d = if dim < 0 { dim.checked_add(n)? } else { dim };
    usize::try_from(d).ok().filter(|&d| d < ndim)
}

fn pool(
    x: &[usize],
    kernel: [usize; 2],
    stride: Option<[usize; 2]>,
    padding: [usize; 2],
    dilation: [usize; 2],
    ceil: bool,
) -> Option<Vec<usize>> {
    let stride = stride.unwrap_or(kernel);
    let positive = |v: [usize; 2]| v.iter().all(|&x| x > 0);
    if !positive(kernel) || !positive(stride) || !positive(dilation) || x.len() < 3 {
        return None;
    }
    let (lead, hw) = x.split_at(x.len() - 2);
    let mut out = lead.to_vec();
    for i in 0..2 {
        let (k, p, s, d) = (kernel[i], padding[i], stride[i], dilation[i]);
        out.push(window(hw[i], k, p, s, d, ceil)?);
    }
    Some(out)
}

/// PyTorch's sliding-window output size (as `ops::geometry::out_size`, checked): `ceil` rounds
/// up, but the last window must start inside the input or the left padding.
fn window(input: usize, k: usize, p: usize, s: usize, d: usize, ceil: bool) -> Option<usize> {
    let eff = d.checked_mul(k.checked_sub(1)?)?.checked_add(1)?;
    let padded = input.checked_add(p.checked_mul(2)?)?;
    let span = padded
        .checked_sub(eff)?
        .checked_add(if ceil { s.checked_sub(1)? } else { 0 })?;
    let mut out = span / s.max(1) + 1;
    if ceil && (out - 1).checked_mul(s)? >= input.checked_add(p)? {
        out -= 1;
    }
    (out > 0).then_some(out)
}

/// Numpy-style broadcasting of two shapes.
fn broadcast(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let n = a.len().max(b.len());
    let at = |s: &[usize], i: usize| {
        (i + s.len())
            .checked_sub(n)
            .map_or(1, |j| s.get(j).copied().unwrap_or(1))
    };
    (0..n)
        .map(|i| match (at(a, i), at(b, i)) {
            (x, y) if x == y => Some(x),
            (1, y) => Some(y),
            (x, 1) => Some(x),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::Conv2dArgs;

    #[test]
    fn a_huge_padding_is_predicted_before_the_convolution_runs() {
        let op = Op::Conv2d {
            x: 0,
            w: 1,
            b: None,
            args: Conv2dArgs {
                stride: [1, 1],
                padding: [3000, 3000],
                dilation: [1, 1],
                groups: 1,
            },
            residual: None,
            act: None,
        };
        let got = shape(&op, &[&[2, 3, 32, 32], &[6, 3, 5, 5]]);
        assert_eq!(got, Some(vec![2, 6, 6028, 6028]));
    }

    #[test]
    fn broadcasting_and_padding() {
        assert_eq!(broadcast(&[4, 1], &[3]), Some(vec![4, 3]));
        assert_eq!(broadcast(&[2], &[3]), None);
        let pad = Op::Pad {
            x: 0,
            pad: vec![1, 2, -1, 0],
            value: 0.0,
        };
        assert_eq!(shape(&pad, &[&[1, 4, 5]]), Some(vec![1, 3, 8]));
        let neg = Op::Pad {
            x: 0,
            pad: vec![-9, 0],
            value: 0.0,
        };
        assert_eq!(shape(&neg, &[&[1, 4, 5]]), None);
    }
}
