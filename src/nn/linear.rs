//! `nn.Linear`: parameters `weight [out_features, in_features]` and `bias [out_features]`.

use crate::error::Result;
use crate::nn::{Init, Module, TensorKind};
use crate::ops::{linear, linear_relu};
use crate::tensor::Tensor;

/// `nn.Linear`: `y = x · weightᵀ + bias` over the last dim of any input.
#[derive(Clone, Debug)]
pub struct Linear {
    /// `[out_features, in_features]`.
    pub weight: Tensor,
    /// `[out_features]`, when the layer has one.
    pub bias: Option<Tensor>,
    /// Fuse relu into the GEMM epilogue (what `relu(linear(x))` computes, one pass).
    pub fused_relu: bool,
}

impl Linear {
    /// `nn.Linear(in_features, out_features)`: with a bias, PyTorch's default init.
    pub fn new(in_features: usize, out_features: usize) -> Result<Linear> {
        Linear::builder(in_features, out_features).build()
    }

    /// The other arguments of `nn.Linear`, each with PyTorch's default until set.
    pub fn builder(in_features: usize, out_features: usize) -> LinearBuilder {
        LinearBuilder {
            in_features,
            out_features,
            bias: true,
            fused_relu: false,
        }
    }
}

/// Builds a [`Linear`]: `Linear::builder(4096, 1000).bias(false).build()?`.
#[derive(Clone, Debug)]
pub struct LinearBuilder {
    in_features: usize,
    out_features: usize,
    bias: bool,
    fused_relu: bool,
}

impl LinearBuilder {
    /// `bias=` (default true).
    pub fn bias(mut self, b: bool) -> Self {
        self.bias = b;
        self
    }
    /// Fuse relu into the epilogue (tensorport's fusion of `relu(linear(x))`).
    pub fn relu(mut self, r: bool) -> Self {
        self.fused_relu = r;
        self
    }
    /// The layer, with PyTorch's default init (U(−1/√in_features, 1/√in_features)) drawn from
    /// the process-wide stream ([`crate::nn::manual_seed`]).
    pub fn build(self) -> Result<Linear> {
        self.build_with(&mut Init::next_global())
    }

    /// [`LinearBuilder::build`], drawing the initial weights from `init`.
    pub fn build_with(self, init: &mut Init) -> Result<Linear> {
        let fan_in = self.in_features;
        let weight = init.uniform(&[self.out_features, self.in_features], fan_in)?;
        let bias = if self.bias {
            Some(init.uniform(&[self.out_features], fan_in)?)
        } else {
            None
        };
        Ok(Linear {
            weight,
            bias,
            fused_relu: self.fused_relu,
        })
    }
}

impl Module for Linear {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        if self.fused_relu {
            linear_relu(x, &self.weight, self.bias.as_ref())
        } else {
            linear(x, &self.weight, self.bias.as_ref())
        }
    }
    fn visit(&self, f: &mut dyn FnMut(&str, TensorKind, &Tensor)) {
        f("weight", TensorKind::Parameter, &self.weight);
        if let Some(b) = &self.bias {
            f("bias", TensorKind::Parameter, b);
        }
    }
    fn visit_mut(&mut self, f: &mut dyn FnMut(&str, TensorKind, &mut Tensor)) {
        f("weight", TensorKind::Parameter, &mut self.weight);
        if let Some(b) = &mut self.bias {
            f("bias", TensorKind::Parameter, b);
        }
    }
}
