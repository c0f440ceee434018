//! `nn.MaxPool2d`, `nn.AvgPool2d` and `nn.AdaptiveAvgPool2d` (no parameters).

use crate::error::Result;
use crate::nn::{Module, Size2, TensorKind};
use crate::ops::{adaptive_avg_pool2d, avg_pool2d, AvgPool2dArgs};
use crate::ops::{max_pool2d, MaxPool2dArgs};
use crate::tensor::Tensor;

/// `nn.MaxPool2d`.
#[derive(Clone, Debug)]
pub struct MaxPool2d {
    /// Kernel, stride, padding, dilation, ceil_mode.
    pub args: MaxPool2dArgs,
}

impl MaxPool2d {
    /// `nn.MaxPool2d(kernel_size)`: stride = kernel size, no padding, dilation 1, floor mode.
    pub fn new(kernel: impl Into<Size2>) -> MaxPool2d {
        MaxPool2d::builder(kernel).build()
    }

    /// The other arguments of `nn.MaxPool2d`, each with PyTorch's default until set.
    pub fn builder(kernel: impl Into<Size2>) -> MaxPool2dBuilder {
        MaxPool2dBuilder {
            args: MaxPool2dArgs {
                kernel: kernel.into().0,
                stride: None,
                padding: [0, 0],
                dilation: [1, 1],
                ceil_mode: false,
            },
        }
    }
}

/// Builds a [`MaxPool2d`]: `MaxPool2d::builder(3).stride(2).padding(1).build()`. The arguments
/// are checked against the input's shape when the layer runs, as in PyTorch.
#[derive(Clone, Debug)]
pub struct MaxPool2dBuilder {
    args: MaxPool2dArgs,
}

impl MaxPool2dBuilder {
    /// `stride=` (default: the kernel size).
    pub fn stride(mut self, s: impl Into<Size2>) -> Self {
        self.args.stride = Some(s.into().0);
        self
    }
    /// `padding=` (implicit -inf, default 0).
    pub fn padding(mut self, p: impl Into<Size2>) -> Self {
        self.args.padding = p.into().0;
        self
    }
    /// `dilation=` (default 1).
    pub fn dilation(mut self, d: impl Into<Size2>) -> Self {
        self.args.dilation = d.into().0;
        self
    }
    /// `ceil_mode=` (default false).
    pub fn ceil_mode(mut self, c: bool) -> Self {
        self.args.ceil_mode = c;
        self
    }
    /// The layer.
    pub fn build(self) -> MaxPool2d {
        MaxPool2d { args: self.args }
    }
}

impl Module for MaxPool2d {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        max_pool2d(x, &self.args)
    }
    fn visit(&self, _: &mut dyn FnMut(&str, TensorKind, &Tensor)) {}
    fn visit_mut(&mut self, _: &mut dyn FnMut(&str, TensorKind, &mut Tensor)) {}
}

/// `nn.AvgPool2d` (no tensors): the arguments of [`avg_pool2d`].
#[derive(Clone, Debug)]
pub struct AvgPool2d {
    /// Kernel, stride, padding, ceil_mode, count_include_pad, divisor_override.
    pub args: AvgPool2dArgs,
}

impl AvgPool2d {
    /// `nn.AvgPool2d(kernel_size)`: stride = kernel, no padding, floor mode,
    /// `count_include_pad=True`, no divisor override.
    pub fn new(kernel: impl Into<Size2>) -> AvgPool2d {
        AvgPool2d {
            args: AvgPool2dArgs {
                kernel_size: kernel.into().0,
                ..AvgPool2dArgs::new(1)
            },
        }
    }
}

impl Module for AvgPool2d {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        avg_pool2d(x, &self.args)
    }
    fn visit(&self, _: &mut dyn FnMut(&str, TensorKind, &Tensor)) {}
    fn visit_mut(&mut self, _: &mut dyn FnMut(&str, TensorKind, &mut Tensor)) {}
}

/// `nn.AdaptiveAvgPool2d(output_size)` (no tensors; [`adaptive_avg_pool2d`]).
#[derive(Clone, Copy, Debug)]
pub struct AdaptiveAvgPool2d {
    /// `[H_out, W_out]`.
    pub output_size: [usize; 2],
}

impl AdaptiveAvgPool2d {
    /// `nn.AdaptiveAvgPool2d(output_size)`.
    pub fn new(output_size: impl Into<Size2>) -> AdaptiveAvgPool2d {
        AdaptiveAvgPool2d {
            output_size: output_size.into().0,
        }
    }
}

impl Module for AdaptiveAvgPool2d {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        adaptive_avg_pool2d(x, self.output_size)
    }
    fn visit(&self, _: &mut dyn FnMut(&str, TensorKind, &Tensor)) {}
    fn visit_mut(&mut self, _: &mut dyn FnMut(&str, TensorKind, &mut Tensor)) {}
}
