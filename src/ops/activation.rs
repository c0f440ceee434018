//! The unary activations: `torch.nn.functional.hardtanh`, `relu6`, `silu`, `sigmoid`,
//! `hardswish`, `hardsigmoid` and `gelu` (exact and tanh forms), one op room: one params
//! struct ([`ActivationParams`]: the kind and up to two scalar arguments), one CPU kernel
//! (`cpu/activation.rs`) and one CUDA kernel (`kernels/activation.cu`).
//!
//! float32 and float64 on the CPU, float32 on CUDA; PyTorch's formulas in the input's dtype
//! (the kernels' headers list them). Integer inputs are refused (PyTorch refuses them for all
//! but hardtanh/relu6, which it computes as a clamp).

use crate::cpu::{self, Float};
use crate::error::{Error, Result};
use crate::kernels::ActivationParams;
use crate::ops::operands::{host_elems, with_dtype};
use crate::tensor::Tensor;

/// Which form of GELU ([`gelu`]): PyTorch's `approximate="none"` or `"tanh"`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum GeluApproximate {
    /// `x · Φ(x) = x · 0.5 · (1 + erf(x / √2))`, the exact form (PyTorch's default).
    #[default]
    None,
    /// `0.5 · x · (1 + tanh(√(2/π) · (x + 0.044715 · x³)))`.
    Tanh,
}

impl GeluApproximate {
    /// PyTorch's spelling of the argument: `"none"` or `"tanh"`; anything else is refused with
    /// PyTorch's message.
    pub fn from_name(name: &str) -> Result<GeluApproximate> {
        match name {
            "none" => Ok(GeluApproximate::None),
            "tanh" => Ok(GeluApproximate::Tanh),
            _ => Err(Error::InvalidArgument {
                op: "gelu",
                name: "approximate",
                reason: format!("approximate argument must be either none or tanh, got {name:?}"),
            }),
        }
    }

    /// PyTorch's spelling: `"none"` or `"tanh"`.
    pub fn name(self) -> &'static str {
        match self {
            GeluApproximate::None => "none",
            GeluApproximate::Tanh => "tanh",
        }
    }
}

/// One activation with its arguments: what the CPU kernel matches on and what
/// [`Activation::params`] encodes for the CUDA kernel.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Activation {
    /// `min(max(x, min_val), max_val)`.
    Hardtanh { min_val: f64, max_val: f64 },
    /// `x · sigmoid(x)`.
    Silu,
    /// `1 / (1 + e^-x)`.
    Sigmoid,
    /// `x · relu6(x + 3) / 6`.
    Hardswish,
    /// `relu6(x + 3) / 6`.
    Hardsigmoid,
    /// GELU, exact or tanh form.
    Gelu(GeluApproximate),
}

impl Activation {
    /// The op's name, as errors say it.
    pub(crate) fn op(self) -> &'static str {
        match self {
            Activation::Hardtanh { .. } => "hardtanh",
            Activation::Silu => "silu",
            Activation::Sigmoid => "sigmoid",
            Activation::Hardswish => "hardswish",
            Activation::Hardsigmoid => "hardsigmoid",
            Activation::Gelu(_) => "gelu",
        }
    }

    /// `ActivationParams::kind`; `kernels/activation.cu` names the same numbers (`ACT_*`).
    pub(crate) fn code(self) -> i64 {
        match self {
            Activation::Hardtanh { .. } => 0,
            Activation::Silu => 1,
            Activation::Sigmoid => 2,
            Activation::Hardswish => 3,
            Activation::Hardsigmoid => 4,
            Activation::Gelu(GeluApproximate::None) => 5,
            Activation::Gelu(GeluApproximate::Tanh) => 6,
        }
    }

    /// The kernel params over every element of `t`.
    pub(crate) fn params(self, t: &Tensor) -> Result<ActivationParams> {
        let n = i64::try_from(t.numel()).map_err(|_| Error::Overflow {
            what: format!("{} over {:?}", self.op(), t.shape()),
        })?;
        let (lo, hi) = match self {
            Activation::Hardtanh { min_val, max_val } => (min_val, max_val),
            _ => (0.0, 0.0),
        };
        // The f64 arguments travel as their bits (params fields are 64-bit integers); the
        // kernel rounds them to its dtype, as the CPU kernel does.
        let bits = |v: f64| v.to_bits().cast_signed();
        Ok(ActivationParams {
            n,
            kind: self.code(),
            lo: bits(lo),
            hi: bits(hi),
        })
    }
}

/// `F.hardtanh(input, min_val, max_val)`: `input` clamped to `[min_val, max_val]`, NaN kept.
/// PyTorch refuses `min_val > max_val` ("min_val cannot be greater than max_val"), and so does
/// this.
pub fn hardtanh(input: &Tensor, min_val: f64, max_val: f64) -> Result<Tensor> {
    if min_val > max_val {
        return Err(Error::InvalidArgument {
            op: "hardtanh",
            name: "min_val",
            reason: format!(
                "min_val cannot be greater than max_val (min_val {min_val}, max_val {max_val})"
            ),
        });
    }
    run(Activation::Hardtanh { min_val, max_val }, input)
}

/// `F.relu6(input)` = `hardtanh(input, 0, 6)`, as PyTorch computes it (-0.0 stays -0.0).
pub fn relu6(input: &Tensor) -> Result<Tensor> {
    hardtanh(input, 0.0, 6.0)
}

/// `F.silu(input)` = `x / (1 + e^-x)`.
pub fn silu(input: &Tensor) -> Result<Tensor> {
    run(Activation::Silu, input)
}

/// `torch.sigmoid(input)` = `1 / (1 + e^-x)`.
pub fn sigmoid(input: &Tensor) -> Result<Tensor> {
    run(Activation::Sigmoid, input)
}

/// `F.hardswish(input)` = `x · min(max(x + 3, 0), 6) / 6`.
pub fn hardswish(input: &Tensor) -> Result<Tensor> {
    run(Activation::Hardswish, input)
}

/// `F.hardsigmoid(input)` = `min(max(x + 3, 0), 6) / 6`.
pub fn hardsigmoid(input: &Tensor) -> Result<Tensor> {
    run(Activation::Hardsigmoid, input)
}

/// `F.gelu(input, approximate=...)`: the exact erf form or the tanh approximation.
pub fn gelu(input: &Tensor, approximate: GeluApproximate) -> Result<Tensor> {
    run(Activation::Gelu(approximate), input)
}

/// The activation where `input` lives, into a new contiguous tensor.
pub(crate) fn run(act: Activation, input: &Tensor) -> Result<Tensor> {
    let op = act.op();
    // Checked on every device: the element count is a 64-bit kernel parameter.
    let p = act.params(input)?;
    #[cfg(not(feature = "cuda"))]
    let _ = p;
    #[cfg(feature = "cuda")]
    if input.device().is_cuda() {
        let ins = [("input", input)];
        return crate::ops::operands::cuda::run(op, ins, None, input.shape(), |dev, [x], _, y| {
            crate::cuda::activation::activation_f32(dev, &p, x, y)
        });
    }
    cpu::install(|| with_dtype!(op, "input", input.dtype(), float, on_host::<T>(act, input)))
}

fn on_host<T: Float>(act: Activation, input: &Tensor) -> Result<Tensor> {
    let src = host_elems::<T>(input)?;
    let mut out = Tensor::empty(T::DTYPE, input.shape())?;
    cpu::activation::activation(act, &src, out.as_mut_slice::<T>()?);
    Ok(out)
}
