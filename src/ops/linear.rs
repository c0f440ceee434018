//! `linear(x, W, b) = x · Wᵀ + b` (torch.nn.functional.linear) and `linear_relu`, which fuses
//! the relu into the epilogue. Input `[*, K]` (any number of leading dims, including none),
//! weight `[N, K]`, bias `[N]`; output `[*, N]`. Dispatches to the CPU (`cpu/linear.rs`) or
//! CUDA (`cuda/linear.rs`, `kernels/linear.cu`).

use crate::cpu::{self, Float};
use crate::error::{Error, Result};
use crate::kernels::LinearParams;
use crate::ops::geometry::to_i64;
use crate::ops::operands::{check, host_elems, with_dtype};
use crate::tensor::Tensor;

const OP: &str = "linear";

/// `input · weightᵀ + bias`.
pub fn linear(input: &Tensor, weight: &Tensor, bias: Option<&Tensor>) -> Result<Tensor> {
    linear_act(input, weight, bias, false)
}

/// `relu(input · weightᵀ + bias)`, the relu applied while the output block is still in cache.
pub fn linear_relu(input: &Tensor, weight: &Tensor, bias: Option<&Tensor>) -> Result<Tensor> {
    linear_act(input, weight, bias, true)
}

fn linear_act(
    input: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    relu: bool,
) -> Result<Tensor> {
    let (dtype, _) = check(
        OP,
        &[
            ("input", Some(input)),
            ("weight", Some(weight)),
            ("bias", bias),
        ],
    )?;
    let p = LinearParams::new(input.shape(), weight.shape(), bias.map(|b| b.shape()), relu)?;
    let mut shape = input.shape().to_vec();
    // LinearParams::new refused 0-d input and gave us N from the weight.
    if let Some(last) = shape.last_mut() {
        *last = weight.shape()[0];
    }
    #[cfg(feature = "cuda")]
    if input.device().is_cuda() {
        let ins = [("input", input), ("weight", weight)];
        let b = bias.map(|b| ("bias", b));
        return crate::ops::operands::cuda::run(OP, ins, b, &shape, |dev, [x, w], b, y| {
            crate::cuda::linear::linear_f32(dev, &p, x, w, b, y)
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
            run::<T>(&p, input, weight, bias, out_ref)
        )
    })?;
    Ok(out)
}

fn run<T: Float>(
    p: &LinearParams,
    input: &Tensor,
    weight: &Tensor,
    bias: Option<&Tensor>,
    out: &mut Tensor,
) -> Result<()> {
    let x = host_elems::<T>(input)?;
    let w = host_elems::<T>(weight)?;
    let b = bias.map(host_elems::<T>).transpose()?;
    cpu::linear::linear(p, &x, &w, b.as_deref(), out.as_mut_slice::<T>()?)
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
