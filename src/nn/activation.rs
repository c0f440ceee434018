//! The activation layers and the inference-only pass-throughs: `nn.ReLU6`, `nn.Hardtanh`,
//! `nn.SiLU`, `nn.Sigmoid`, `nn.Hardswish`, `nn.Hardsigmoid`, `nn.GELU`, `nn.Dropout` and
//! `nn.Identity`, each with PyTorch's constructor arguments and defaults. None has parameters
//! or buffers, so each `state_dict()` is empty, as torch's.

use crate::error::{Error, Result};
use crate::nn::{Module, TensorKind};
use crate::ops::{gelu, hardsigmoid, hardswish, hardtanh, relu6, sigmoid, silu, GeluApproximate};
use crate::tensor::Tensor;

/// A module without tensors: `visit` and `visit_mut` see nothing.
macro_rules! no_tensors {
    () => {
        fn visit(&self, _: &mut dyn FnMut(&str, TensorKind, &Tensor)) {}
        fn visit_mut(&mut self, _: &mut dyn FnMut(&str, TensorKind, &mut Tensor)) {}
    };
}

/// Layers that are one call of an argument-free op, with `new()` and `Default`.
macro_rules! simple_layer {
    ($($(#[doc = $doc:literal])* $name:ident => $op:ident;)*) => {$(
        $(#[doc = $doc])*
        #[derive(Clone, Copy, Debug, Default)]
        pub struct $name;

        impl $name {
            #[doc = concat!("`nn.", stringify!($name), "()`.")]
            pub fn new() -> $name {
                $name
            }
        }

        impl Module for $name {
            fn forward(&self, x: &Tensor) -> Result<Tensor> {
                $op(x)
            }
            no_tensors!();
        }
    )*};
}

simple_layer! {
    /// `nn.ReLU6`: `min(max(x, 0), 6)`.
    ReLU6 => relu6;
    /// `nn.SiLU`: `x · sigmoid(x)`.
    SiLU => silu;
    /// `nn.Sigmoid`: `1 / (1 + e^-x)`.
    Sigmoid => sigmoid;
    /// `nn.Hardswish`: `x · relu6(x + 3) / 6`.
    Hardswish => hardswish;
    /// `nn.Hardsigmoid`: `relu6(x + 3) / 6`.
    Hardsigmoid => hardsigmoid;
}

/// `nn.Hardtanh(min_val, max_val)`: `x` clamped to `[min_val, max_val]`.
#[derive(Clone, Copy, Debug)]
pub struct Hardtanh {
    /// Lower bound.
    pub min_val: f64,
    /// Upper bound.
    pub max_val: f64,
}

impl Hardtanh {
    /// `nn.Hardtanh(min_val, max_val)`; PyTorch's constructor asserts `max_val > min_val`
    /// (strictly, unlike `F.hardtanh`), and this refuses the same with its message.
    pub fn new(min_val: f64, max_val: f64) -> Result<Hardtanh> {
        // `partial_cmp` so that a NaN bound (no ordering) is refused too, as torch's assert
        // refuses it.
        if max_val.partial_cmp(&min_val) != Some(std::cmp::Ordering::Greater) {
            return Err(Error::InvalidArgument {
                op: "Hardtanh",
                name: "max_val",
                reason: format!("max_val ({max_val:?}) must be greater than min_val ({min_val:?})"),
            });
        }
        Ok(Hardtanh { min_val, max_val })
    }
}

impl Default for Hardtanh {
    /// `nn.Hardtanh()`: `[-1, 1]`.
    fn default() -> Hardtanh {
        Hardtanh {
            min_val: -1.0,
            max_val: 1.0,
        }
    }
}

impl Module for Hardtanh {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        hardtanh(x, self.min_val, self.max_val)
    }
    no_tensors!();
}

/// `nn.GELU(approximate=...)`.
#[derive(Clone, Copy, Debug, Default)]
pub struct GELU {
    /// The exact erf form (`"none"`, the default) or the tanh approximation.
    pub approximate: GeluApproximate,
}

impl GELU {
    /// `nn.GELU(approximate=approximate)`.
    pub fn new(approximate: GeluApproximate) -> GELU {
        GELU { approximate }
    }
}

impl Module for GELU {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        gelu(x, self.approximate)
    }
    no_tensors!();
}

/// `nn.Dropout(p)` in evaluation mode (tensorport runs inference only): the identity. `p` is
/// kept, and checked as PyTorch checks it.
#[derive(Clone, Copy, Debug)]
pub struct Dropout {
    /// The probability of an element being zeroed in training (unused in evaluation).
    pub p: f64,
}

impl Dropout {
    /// `nn.Dropout(p)`; PyTorch refuses `p` outside `[0, 1]` ("dropout probability has to be
    /// between 0 and 1, but got {p}"), and so does this.
    pub fn new(p: f64) -> Result<Dropout> {
        if !(0.0..=1.0).contains(&p) {
            return Err(Error::InvalidArgument {
                op: "Dropout",
                name: "p",
                reason: format!("dropout probability has to be between 0 and 1, but got {p}"),
            });
        }
        Ok(Dropout { p })
    }
}

impl Default for Dropout {
    /// `nn.Dropout()`: `p = 0.5`.
    fn default() -> Dropout {
        Dropout { p: 0.5 }
    }
}

impl Module for Dropout {
    /// The input itself (sharing its storage), as PyTorch's dropout in `eval()` mode.
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Ok(x.clone())
    }
    no_tensors!();
}

/// `nn.Identity()`: returns its input.
#[derive(Clone, Copy, Debug, Default)]
pub struct Identity;

impl Identity {
    /// `nn.Identity()`.
    pub fn new() -> Identity {
        Identity
    }
}

impl Module for Identity {
    /// The input itself (sharing its storage), as PyTorch's.
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Ok(x.clone())
    }
    no_tensors!();
}
