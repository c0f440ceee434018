//! The layers the recipe's Net needs, with PyTorch's parameter names and default init.

use crate::error::Result;
use crate::nn::Module;
use crate::ops::conv2d::{conv2d, conv2d_relu, Conv2dArgs};
use crate::ops::linear::{linear, linear_relu};
use crate::ops::max_pool2d::{max_pool2d, MaxPool2dArgs};
use crate::ops::relu::relu;
use crate::ops::shape::flatten;
use crate::tensor::Tensor;

/// A seeded generator for parameter init (SplitMix64): deterministic models without Python.
#[derive(Clone, Debug)]
pub struct Init(u64);

impl Init {
    pub fn new(seed: u64) -> Init {
        Init(seed)
    }

    fn next_f32(&mut self) -> f32 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        (z >> 40) as f32 / (1u64 << 24) as f32
    }

    /// PyTorch's default for conv and linear layers: U(−1/√fan_in, 1/√fan_in) for weight
    /// (kaiming_uniform with a = √5) and bias.
    fn uniform(&mut self, shape: &[usize], fan_in: usize) -> Result<Tensor> {
        let bound = 1.0 / (fan_in.max(1) as f32).sqrt();
        let n = shape.iter().product();
        let v: Vec<f32> = (0..n)
            .map(|_| (self.next_f32() * 2.0 - 1.0) * bound)
            .collect();
        Tensor::from_vec(v, shape)
    }
}

/// `nn.Conv2d`: parameters `weight [C_out, C_in/groups, kH, kW]` and `bias [C_out]`.
#[derive(Clone, Debug)]
pub struct Conv2d {
    pub weight: Tensor,
    pub bias: Option<Tensor>,
    pub args: Conv2dArgs,
    /// Apply relu as the conv stores its output (the Net's `relu(conv(x))`).
    pub fused_relu: bool,
}

impl Conv2d {
    /// A square-kernel conv with stride 1, no padding, bias, PyTorch's default init.
    pub fn new(c_in: usize, c_out: usize, k: usize, init: &mut Init) -> Result<Conv2d> {
        let fan_in = c_in * k * k;
        Ok(Conv2d {
            weight: init.uniform(&[c_out, c_in, k, k], fan_in)?,
            bias: Some(init.uniform(&[c_out], fan_in)?),
            args: Conv2dArgs::default(),
            fused_relu: false,
        })
    }
}

impl Module for Conv2d {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        if self.fused_relu {
            conv2d_relu(x, &self.weight, self.bias.as_ref(), &self.args)
        } else {
            conv2d(x, &self.weight, self.bias.as_ref(), &self.args)
        }
    }
    fn parameters(&self, f: &mut dyn FnMut(&str, &Tensor)) {
        f("weight", &self.weight);
        if let Some(b) = &self.bias {
            f("bias", b);
        }
    }
    fn parameters_mut(&mut self, f: &mut dyn FnMut(&str, &mut Tensor)) {
        f("weight", &mut self.weight);
        if let Some(b) = &mut self.bias {
            f("bias", b);
        }
    }
}

/// `nn.Linear`: parameters `weight [out, in]` and `bias [out]`.
#[derive(Clone, Debug)]
pub struct Linear {
    pub weight: Tensor,
    pub bias: Option<Tensor>,
    /// Fuse relu into the GEMM epilogue.
    pub fused_relu: bool,
}

impl Linear {
    pub fn new(d_in: usize, d_out: usize, init: &mut Init) -> Result<Linear> {
        Ok(Linear {
            weight: init.uniform(&[d_out, d_in], d_in)?,
            bias: Some(init.uniform(&[d_out], d_in)?),
            fused_relu: false,
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
    fn parameters(&self, f: &mut dyn FnMut(&str, &Tensor)) {
        f("weight", &self.weight);
        if let Some(b) = &self.bias {
            f("bias", b);
        }
    }
    fn parameters_mut(&mut self, f: &mut dyn FnMut(&str, &mut Tensor)) {
        f("weight", &mut self.weight);
        if let Some(b) = &mut self.bias {
            f("bias", b);
        }
    }
}

/// `nn.MaxPool2d` (no parameters).
#[derive(Clone, Debug)]
pub struct MaxPool2d {
    pub args: MaxPool2dArgs,
}

impl MaxPool2d {
    /// Square kernel, stride = kernel.
    pub fn new(k: usize) -> MaxPool2d {
        MaxPool2d {
            args: MaxPool2dArgs::new(k),
        }
    }
}

impl Module for MaxPool2d {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        max_pool2d(x, &self.args)
    }
    fn parameters(&self, _: &mut dyn FnMut(&str, &Tensor)) {}
    fn parameters_mut(&mut self, _: &mut dyn FnMut(&str, &mut Tensor)) {}
}

/// `nn.ReLU`.
#[derive(Clone, Copy, Debug, Default)]
pub struct ReLU;

impl Module for ReLU {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        relu(x)
    }
    fn parameters(&self, _: &mut dyn FnMut(&str, &Tensor)) {}
    fn parameters_mut(&mut self, _: &mut dyn FnMut(&str, &mut Tensor)) {}
}

/// `nn.Flatten(start_dim, end_dim)`; the default flattens all but the batch dim.
#[derive(Clone, Copy, Debug)]
pub struct Flatten {
    pub start_dim: isize,
    pub end_dim: isize,
}

impl Default for Flatten {
    fn default() -> Flatten {
        Flatten {
            start_dim: 1,
            end_dim: -1,
        }
    }
}

impl Module for Flatten {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        flatten(x, self.start_dim, self.end_dim)
    }
    fn parameters(&self, _: &mut dyn FnMut(&str, &Tensor)) {}
    fn parameters_mut(&mut self, _: &mut dyn FnMut(&str, &mut Tensor)) {}
}
