//! `torch.mean(x, dims, keepdim)` (aten `mean.dim`) and `torch.nn.functional.layer_norm`: the
//! arguments and PyTorch's checks, and the dispatch to the CPU (`cpu/reduce.rs`) or CUDA
//! (`cuda/reduce.rs`, `kernels/reduce.cu`).

use crate::cpu::{self, Float};
use crate::error::{Error, Result};
use crate::kernels::LayerNormParams;
use crate::ops::geometry::to_i64;
use crate::ops::operands::{check, host_elems, with_dtype};
use crate::ops::views::{permute, wrap};
use crate::tensor::Tensor;

/// The mean over `dims` (negative count from the end; empty: every dim), the reduced dims
/// removed or, with `keepdim`, kept as size 1. A dim named twice is refused, as in PyTorch; an
/// empty reduction is NaN. The sum runs in 16 interleaved partial sums (CUDA: serially) and is
/// divided by the count, as PyTorch divides: results agree with PyTorch to a few ulps (its
/// cascade sum groups the additions differently; the bound is in `tests/ops_reduce_norm.rs`).
/// float32/float64 on the CPU (any strides), float32 on CUDA (any strides: the reduced dims are
/// gathered last by the strided-copy kernel first).
pub fn mean_dim(x: &Tensor, dims: &[i64], keepdim: bool) -> Result<Tensor> {
    const OP: &str = "mean";
    let nd = x.ndim();
    let mut reduced = vec![false; nd];
    for &d in dims {
        let w = wrap(OP, d, nd)?;
        if nd > 0 && std::mem::replace(&mut reduced[w], true) {
            return Err(Error::InvalidArgument {
                op: OP,
                name: "dim",
                reason: format!("dim {w} appears multiple times in the list of dims"),
            });
        }
    }
    if dims.is_empty() {
        reduced = vec![true; nd];
    }
    // Kept dims first, reduced dims last, each group in order: every output is one C-order line.
    let order: Vec<i64> = (0..nd)
        .filter(|&d| !reduced[d])
        .chain((0..nd).filter(|&d| reduced[d]))
        .map(|d| d as i64)
        .collect();
    let moved = permute(x, &order)?;
    let len: usize = (0..nd)
        .filter(|&d| reduced[d])
        .map(|d| x.shape()[d])
        .product();
    let out_shape: Vec<usize> = (0..nd)
        .filter_map(|d| match (reduced[d], keepdim) {
            (false, _) => Some(x.shape()[d]),
            (true, true) => Some(1),
            (true, false) => None,
        })
        .collect();
    #[cfg(feature = "cuda")]
    if x.device().is_cuda() {
        let rows: usize = out_shape.iter().product();
        let p = crate::kernels::MeanParams {
            rows: to_i64(OP, "input", rows)?,
            len: to_i64(OP, "input", len)?,
        };
        if len == 0 {
            // An empty reduction is 0/0 = NaN everywhere: a fill, no input to read.
            use crate::ops::operands::cuda::{device_of, tensor};
            crate::ops::operands::cuda::f32_only(OP, "input", x.dtype())?;
            let dev = device_of(x)?;
            let nan = u64::from(f32::NAN.to_bits());
            let y = crate::ops::pad::full_cuda(&dev, x.dtype(), &out_shape, nan)?;
            return tensor(y, x.dtype(), &out_shape);
        }
        let flat = moved.contiguous()?;
        let ins = [("input", &flat)];
        return crate::ops::operands::cuda::run(OP, ins, None, &out_shape, |dev, [x], _, y| {
            crate::cuda::reduce::mean_f32(dev, &p, x, y)
        });
    }
    cpu::install(|| {
        with_dtype!(
            OP,
            "input",
            x.dtype(),
            float,
            mean_t::<T>(&moved, len, &out_shape)
        )
    })
}

fn mean_t<T: Float>(moved: &Tensor, len: usize, shape: &[usize]) -> Result<Tensor> {
    let src = host_elems::<T>(moved)?;
    let mut out = Tensor::empty(T::DTYPE, shape)?;
    cpu::reduce::mean_lines(&src, out.as_mut_slice::<T>()?, len);
    Ok(out)
}

/// Layer norm over the trailing dims `normalized_shape`, as PyTorch defines it: per row the
/// mean and the biased variance, `rstd = 1/sqrt(var + eps)`, `y = (x − mean)·rstd·weight +
/// bias` (`weight` and `bias`, of shape `normalized_shape`, optional). Agrees with PyTorch to a
/// few ulps (torch uses Welford moments; the bound is in `tests/ops_reduce_norm.rs`).
/// float32/float64 on the CPU (any strides), contiguous float32 on CUDA.
pub fn layer_norm(
    x: &Tensor,
    normalized_shape: &[usize],
    weight: Option<&Tensor>,
    bias: Option<&Tensor>,
    eps: f64,
) -> Result<Tensor> {
    const OP: &str = "layer_norm";
    check(
        OP,
        &[("input", Some(x)), ("weight", weight), ("bias", bias)],
    )?;
    if normalized_shape.is_empty() {
        return Err(Error::InvalidArgument {
            op: OP,
            name: "normalized_shape",
            reason: "Expected normalized_shape to be at least 1-dimensional, i.e., containing at \
                     least one element, but got normalized_shape = []"
                .into(),
        });
    }
    let s = x.shape();
    if s.len() < normalized_shape.len()
        || s[s.len() - normalized_shape.len()..] != *normalized_shape
    {
        return Err(Error::Shape {
            op: OP,
            expected: format!("input with shape [*, {}]", join(normalized_shape)),
            got: format!(
                "Given normalized_shape={normalized_shape:?}, expected input with shape [*, {}], \
                 but got input of size{s:?}",
                join(normalized_shape)
            ),
        });
    }
    for (name, t) in [("weight", weight), ("bias", bias)] {
        if let Some(t) = t.filter(|t| t.shape() != normalized_shape) {
            return Err(Error::Shape {
                op: OP,
                expected: format!("{name} of the same shape as normalized_shape"),
                got: format!(
                    "Expected {name} to be of same shape as normalized_shape, but got {name} of \
                     shape {:?} and normalized_shape = {normalized_shape:?}",
                    t.shape()
                ),
            });
        }
    }
    let len: usize = normalized_shape.iter().product();
    let rows = x.numel() / len.max(1);
    let p = LayerNormParams {
        rows: to_i64(OP, "input", rows)?,
        len: to_i64(OP, "input", len)?,
        has_weight: i64::from(weight.is_some()),
        has_bias: i64::from(bias.is_some()),
        eps_bits: eps.to_bits() as i64,
    };
    #[cfg(feature = "cuda")]
    if x.device().is_cuda() {
        let ins = [("input", Some(x)), ("weight", weight), ("bias", bias)];
        return crate::ops::operands::cuda::run_opt(OP, ins, s, |dev, [xv, w, b], y| {
            let xv = xv.ok_or(Error::InvalidArgument {
                op: OP,
                name: "input",
                reason: "missing".into(),
            })?;
            crate::cuda::reduce::layer_norm_f32(dev, &p, xv, w, b, y)
        });
    }
    cpu::install(|| {
        with_dtype!(
            OP,
            "input",
            x.dtype(),
            float,
            layer_norm_t::<T>(x, weight, bias, &p, eps)
        )
    })
}

fn layer_norm_t<T: Float>(
    x: &Tensor,
    weight: Option<&Tensor>,
    bias: Option<&Tensor>,
    p: &LayerNormParams,
    eps: f64,
) -> Result<Tensor> {
    let src = host_elems::<T>(x)?;
    let w = weight.map(host_elems::<T>).transpose()?;
    let b = bias.map(host_elems::<T>).transpose()?;
    let mut out = Tensor::empty(T::DTYPE, x.shape())?;
    let dst = out.as_mut_slice::<T>()?;
    let eps = T::from_f64(eps);
    cpu::reduce::layer_norm(&src, dst, p.len as usize, w.as_deref(), b.as_deref(), eps);
    Ok(out)
}

fn join(s: &[usize]) -> String {
    s.iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}
