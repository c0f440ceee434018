//! `torch.nn.functional.batch_norm(..., training=False)`: the arguments, PyTorch's checks (in
//! [`BatchNormParams::new`]), and the dispatch to the CPU (`cpu/batch_norm.rs`) or CUDA
//! (`cuda/batch_norm.rs`, `kernels/batch_norm.cu`).

use crate::cpu::{self, Float};
use crate::error::{Error, Result};
use crate::kernels::BatchNormParams;
use crate::ops::geometry::to_i64;
use crate::ops::operands::{check, host_elems, with_dtype};
use crate::tensor::Tensor;

const OP: &str = "batch_norm";

/// Inference batch norm over channel dim 1 of an input of rank ≥ 2 (`[N, C]`, `[N, C, L]`,
/// `[N, C, H, W]`, ...): `y = (x − running_mean) / sqrt(running_var + eps) · weight + bias`,
/// computed as PyTorch's CPU kernel computes it: per channel `alpha = weight / sqrt(var + eps)`
/// and `beta = bias − mean · alpha` (fused), then `y = fma(x, alpha, beta)` for contiguous and
/// channels-last inputs; any other layout uses torch's generic `((x − mean) · invstd) · weight +
/// bias`. PyTorch takes `1 / sqrt` from approximate vectorised code (its rsqrt is within 0.75
/// ulp) where we round correctly, so results agree with PyTorch's CPU results to a few ulps,
/// not bit for bit (the bound is derived in `tests/ops_norm_pool.rs`); the CUDA
/// kernel performs our CPU op's roundings in the same order and gives its bits for contiguous
/// inputs. Absent `weight`/`bias` act as 1 and 0. float32/float64 on the CPU, float32 on CUDA
/// (contiguous operands). Returns a contiguous tensor.
pub fn batch_norm(
    x: &Tensor,
    weight: Option<&Tensor>,
    bias: Option<&Tensor>,
    running_mean: &Tensor,
    running_var: &Tensor,
    eps: f64,
) -> Result<Tensor> {
    check(
        OP,
        &[
            ("input", Some(x)),
            ("weight", weight),
            ("bias", bias),
            ("running_mean", Some(running_mean)),
            ("running_var", Some(running_var)),
        ],
    )?;
    let p = BatchNormParams::new(
        x.shape(),
        [
            ("weight", weight),
            ("bias", bias),
            ("running_mean", Some(running_mean)),
            ("running_var", Some(running_var)),
        ],
        eps,
    )?;
    let out_shape = x.shape().to_vec();
    #[cfg(feature = "cuda")]
    if x.device().is_cuda() {
        let ins = [
            ("input", Some(x)),
            ("weight", weight),
            ("bias", bias),
            ("running_mean", Some(running_mean)),
            ("running_var", Some(running_var)),
        ];
        return crate::ops::operands::cuda::run_opt(OP, ins, &out_shape, |dev, v, y| {
            let [Some(xv), w, b, Some(mean), Some(var)] = v else {
                return Err(Error::InvalidArgument {
                    op: OP,
                    name: "running_mean",
                    reason: "missing".into(),
                });
            };
            let ch = crate::cuda::batch_norm::Channels { w, b, mean, var };
            crate::cuda::batch_norm::batch_norm_f32(dev, &p, xv, ch, y)
        });
    }
    let ops = [weight, bias, Some(running_mean), Some(running_var)];
    cpu::install(|| with_dtype!(OP, "input", x.dtype(), float, run::<T>(x, ops, &p)))
}

fn run<T: Float>(x: &Tensor, ops: [Option<&Tensor>; 4], p: &BatchNormParams) -> Result<Tensor> {
    let src = host_elems::<T>(x)?;
    let [w, b, m, v] = ops.map(|t| t.map(host_elems::<T>).transpose());
    let (w, b, m, v) = (w?, b?, m?, v?);
    let missing = || Error::InvalidArgument {
        op: OP,
        name: "running_mean",
        reason: "missing".into(),
    };
    let ch = cpu::batch_norm::Channels {
        w: w.as_deref(),
        b: b.as_deref(),
        mean: m.as_deref().ok_or_else(missing)?,
        var: v.as_deref().ok_or_else(missing)?,
    };
    // torch takes its fast (alpha, beta) path for contiguous and channels-last inputs.
    let fast = x.is_contiguous() || is_channels_last(x);
    let mut out = Tensor::empty(T::DTYPE, x.shape())?;
    cpu::batch_norm::forward(p, &ch, fast, &src, out.as_mut_slice::<T>()?);
    Ok(out)
}

/// Whether a 4-D tensor is laid out NHWC (torch's `is_contiguous(memory_format=channels_last)`,
/// size-1 dims ignored).
fn is_channels_last(t: &Tensor) -> bool {
    let (s, st) = (t.shape(), t.strides());
    if s.len() != 4 {
        return false;
    }
    let mut expected = 1usize;
    for d in [1, 3, 2, 0] {
        if s[d] != 1 && st[d] != expected {
            return false;
        }
        expected = expected.saturating_mul(s[d]);
    }
    true
}

impl BatchNormParams {
    /// Checks a batch_norm call as PyTorch does: rank ≥ 2, and every per-channel operand with
    /// exactly `C = input.shape[1]` elements (torch: "running_mean should contain 3 elements
    /// not 4").
    pub fn new(
        input: &[usize],
        per_channel: [(&'static str, Option<&Tensor>); 4],
        eps: f64,
    ) -> Result<BatchNormParams> {
        if input.len() < 2 {
            return Err(Error::Shape {
                op: OP,
                expected: "2D or higher input [N, C, ...] (channel dim 1)".into(),
                got: format!("{}D input {input:?}", input.len()),
            });
        }
        let (n, c) = (input[0], input[1]);
        let inner: usize = input[2..].iter().product();
        for (name, t) in per_channel {
            if let Some(t) = t {
                if t.numel() != c {
                    return Err(Error::Shape {
                        op: OP,
                        expected: format!("{name} should contain {c} elements"),
                        got: format!("{name} should contain {c} elements not {}", t.numel()),
                    });
                }
            }
        }
        let has = |i: usize| i64::from(per_channel[i].1.is_some());
        Ok(BatchNormParams {
            n: to_i64(OP, "input", n)?,
            c: to_i64(OP, "input", c)?,
            inner: to_i64(OP, "input", inner)?,
            has_weight: has(0),
            has_bias: has(1),
            eps_bits: eps.to_bits() as i64,
        })
    }
}
