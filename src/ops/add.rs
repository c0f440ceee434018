//! `torch.add(a, b)` with broadcasting, `torch.add(a, b, alpha=)` ([`add_scaled`]), and
//! `add_relu(a, b) = relu(a + b)`, the end of a residual block in one pass. The broadcast
//! geometry is [`BroadcastParams::new`]'s (mul shares it); the CPU kernel is `cpu/add.rs`, the
//! CUDA one `cuda/add.rs` and `kernels/add.cu`.
//!
//! Both operands must have one dtype (PyTorch would promote mixed ones; tensorport refuses them
//! with both dtypes named rather than convert behind the caller's back). float32/float64 and
//! the integer dtypes on the CPU (integers wrap around, as in PyTorch), float32 on CUDA.

use crate::cpu::{self, Arith, Float};
use crate::error::{Error, Result};
use crate::kernels::BroadcastParams;
use crate::ops::geometry::to_i64;
use crate::ops::operands::{check, host_elems, with_dtype};
use crate::tensor::Tensor;

/// Most output dims the add kernels index (the params hold 8 sizes and strides per operand).
const MAX_DIMS: usize = 8;

/// `a + b`, broadcast as PyTorch broadcasts: shapes aligned at the last dim, each pair of
/// sizes equal or one of them 1.
pub fn add(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    add_act(a, b, false)
}

/// `relu(a + b)` in one pass over memory, bit-for-bit equal to [`add`] then `relu`.
pub fn add_relu(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    add_act(a, b, true)
}

/// `torch.add(a, b, alpha=alpha)`: `a + alpha·b`, broadcast as [`add`], computed as PyTorch's
/// CPU kernel does, with one rounding (a fused multiply-add, `alpha` first rounded to the
/// dtype); `alpha = 1` gives exactly [`add`]'s bits. Floats only (PyTorch refuses a float alpha
/// for integer tensors).
pub fn add_scaled(a: &Tensor, b: &Tensor, alpha: f64) -> Result<Tensor> {
    const OP: &str = "add";
    let (dtype, _) = check(OP, &[("input", Some(a)), ("other", Some(b))])?;
    let (mut p, shape) = BroadcastParams::new(OP, a.shape(), b.shape(), false)?;
    p.alpha = alpha.to_bits().cast_signed();
    #[cfg(feature = "cuda")]
    if a.device().is_cuda() {
        let ins = [("input", a), ("other", b)];
        return crate::ops::operands::cuda::run(OP, ins, None, &shape, |dev, [x, z], _, y| {
            crate::cuda::add::add_f32(dev, &p, x, z, y)
        });
    }
    let mut out = Tensor::empty(dtype, &shape)?;
    let out_ref = &mut out;
    cpu::install(|| {
        with_dtype!(
            OP,
            "input",
            dtype,
            float,
            run_scaled::<T>(&p, alpha, a, b, out_ref)
        )
    })?;
    Ok(out)
}

fn run_scaled<T: Float>(
    p: &BroadcastParams,
    alpha: f64,
    a: &Tensor,
    b: &Tensor,
    out: &mut Tensor,
) -> Result<()> {
    let (x, y) = (host_elems::<T>(a)?, host_elems::<T>(b)?);
    cpu::add::add_scaled(p, T::from_f64(alpha), &x, &y, out.as_mut_slice::<T>()?);
    Ok(())
}

fn add_act(a: &Tensor, b: &Tensor, relu: bool) -> Result<Tensor> {
    const OP: &str = "add";
    let (dtype, _) = check(OP, &[("input", Some(a)), ("other", Some(b))])?;
    let (p, shape) = BroadcastParams::new(OP, a.shape(), b.shape(), relu)?;
    #[cfg(feature = "cuda")]
    if a.device().is_cuda() {
        let ins = [("input", a), ("other", b)];
        return crate::ops::operands::cuda::run(OP, ins, None, &shape, |dev, [x, z], _, y| {
            crate::cuda::add::add_f32(dev, &p, x, z, y)
        });
    }
    let mut out = Tensor::empty(dtype, &shape)?;
    let out_ref = &mut out;
    cpu::install(|| with_dtype!(OP, "input", dtype, real, run::<T>(&p, a, b, out_ref)))?;
    Ok(out)
}

fn run<T: Arith>(p: &BroadcastParams, a: &Tensor, b: &Tensor, out: &mut Tensor) -> Result<()> {
    let (x, y) = (host_elems::<T>(a)?, host_elems::<T>(b)?);
    cpu::add::add(p, &x, &y, out.as_mut_slice::<T>()?);
    Ok(())
}

impl BroadcastParams {
    /// PyTorch's broadcast of `a` and `b` (each a contiguous buffer of its shape): the output
    /// shape, and each operand's element strides per output dim (0 where it is broadcast).
    pub(crate) fn new(
        op: &'static str,
        a: &[usize],
        b: &[usize],
        relu: bool,
    ) -> Result<(BroadcastParams, Vec<usize>)> {
        let nd = a.len().max(b.len());
        if nd > MAX_DIMS {
            return Err(Error::Shape {
                op,
                expected: format!("operands of at most {MAX_DIMS} dims"),
                got: format!("{a:?} and {b:?}"),
            });
        }
        // Right-aligned: dim d of the output is dim d - (nd - len) of an operand, or absent.
        let size_at = |s: &[usize], d: usize| (d + s.len()).checked_sub(nd).map(|j| s[j]);
        let mut shape = Vec::with_capacity(nd);
        for d in 0..nd {
            let (x, y) = (size_at(a, d).unwrap_or(1), size_at(b, d).unwrap_or(1));
            if x != y && x != 1 && y != 1 {
                return Err(Error::Shape {
                    op,
                    expected: format!(
                        "broadcastable shapes: the size of tensor a ({x}) must match the size \
                         of tensor b ({y}) at non-singleton dimension {d}"
                    ),
                    got: format!("{a:?} and {b:?}"),
                });
            }
            shape.push(if x == 1 { y } else { x });
        }
        let numel = |s: &[usize]| {
            s.iter()
                .try_fold(1usize, |acc, &d| acc.checked_mul(d))
                .ok_or_else(|| Error::Overflow {
                    what: format!("{op} of {s:?}"),
                })
        };
        // Each operand's contiguous stride per output dim; 0 where it is broadcast (or absent).
        let strides = |s: &[usize]| -> Result<[i64; MAX_DIMS]> {
            let mut out = [0i64; MAX_DIMS];
            let mut stride = 1usize;
            for d in (0..nd).rev() {
                if let Some(size) = size_at(s, d) {
                    if size != 1 {
                        out[d] = to_i64(op, "stride", stride)?;
                    }
                    stride = stride.saturating_mul(size.max(1));
                }
            }
            Ok(out)
        };
        let mut out_shape = [0i64; MAX_DIMS];
        for (o, &d) in out_shape.iter_mut().zip(&shape) {
            *o = to_i64(op, "shape", d)?;
        }
        let p = BroadcastParams {
            n: to_i64(op, "output", numel(&shape)?)?,
            ndim: to_i64(op, "ndim", nd)?,
            dense: i64::from(a == b),
            relu: i64::from(relu),
            // a + 1·b: exactly a + b (add_scaled sets its own).
            alpha: 1f64.to_bits().cast_signed(),
            a_numel: to_i64(op, "input", numel(a)?)?,
            b_numel: to_i64(op, "other", numel(b)?)?,
            shape: out_shape,
            a_strides: strides(a)?,
            b_strides: strides(b)?,
        };
        Ok((p, shape))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcast_follows_pytorch() {
        let (p, s) = BroadcastParams::new("add", &[2, 3, 4], &[4], false).unwrap();
        assert_eq!(s, [2, 3, 4]);
        assert_eq!(
            (&p.a_strides[..3], &p.b_strides[..3]),
            (&[12, 4, 1][..], &[0, 0, 1][..])
        );
        assert_eq!((p.n, p.ndim, p.dense), (24, 3, 0));
        // A bias over channels: [N, C, H, W] + [C, 1, 1].
        let (p, s) = BroadcastParams::new("add", &[2, 3, 5, 5], &[3, 1, 1], false).unwrap();
        assert_eq!(s, [2, 3, 5, 5]);
        assert_eq!(&p.b_strides[..4], &[0, 1, 0, 0]);
        // Both sides broadcast, and a size-0 dim wins over 1.
        let (_, s) = BroadcastParams::new("add", &[3, 1], &[1, 4], false).unwrap();
        assert_eq!(s, [3, 4]);
        let (p, s) = BroadcastParams::new("add", &[0, 1], &[1, 5], false).unwrap();
        assert_eq!((s, p.n), (vec![0, 5], 0));
        // 0-d operands.
        let (p, s) = BroadcastParams::new("add", &[], &[], true).unwrap();
        assert_eq!((s.len(), p.n, p.dense, p.relu), (0, 1, 1, 1));
        let e = BroadcastParams::new("add", &[2, 3], &[4, 3], false).unwrap_err();
        assert!(e.to_string().contains("size of tensor a (2) must match the size of tensor b (4) at non-singleton dimension 0"), "{e}");
        assert!(BroadcastParams::new("add", &[1; 9], &[1], false).is_err());
    }
}
