//! The layers without tensors: `nn.ReLU` and `nn.Flatten`.

use crate::error::Result;
use crate::nn::{Module, TensorKind};
use crate::ops::{flatten, relu};
use crate::tensor::Tensor;

/// `nn.ReLU`.
#[derive(Clone, Copy, Debug, Default)]
pub struct ReLU;

impl ReLU {
    /// `nn.ReLU()`.
    pub fn new() -> ReLU {
        ReLU
    }
}

impl Module for ReLU {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        relu(x)
    }
    fn visit(&self, _: &mut dyn FnMut(&str, TensorKind, &Tensor)) {}
    fn visit_mut(&mut self, _: &mut dyn FnMut(&str, TensorKind, &mut Tensor)) {}
}

/// `nn.Flatten(start_dim, end_dim)`; the default flattens all but the batch dim.
#[derive(Clone, Copy, Debug)]
pub struct Flatten {
    /// First dim merged (negative counts from the end).
    pub start_dim: isize,
    /// Last dim merged (negative counts from the end).
    pub end_dim: isize,
}

impl Flatten {
    /// `nn.Flatten(start_dim, end_dim)`.
    pub fn new(start_dim: isize, end_dim: isize) -> Flatten {
        Flatten { start_dim, end_dim }
    }
}

impl Default for Flatten {
    /// `nn.Flatten()`: dims 1 to -1.
    fn default() -> Flatten {
        Flatten::new(1, -1)
    }
}

impl Module for Flatten {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        flatten(x, self.start_dim, self.end_dim)
    }
    fn visit(&self, _: &mut dyn FnMut(&str, TensorKind, &Tensor)) {}
    fn visit_mut(&mut self, _: &mut dyn FnMut(&str, TensorKind, &mut Tensor)) {}
}
