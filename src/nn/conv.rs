//! `nn.Conv2d`: parameters `weight [C_out, C_in / groups, kH, kW]` and `bias [C_out]`, with
//! PyTorch's constructor arguments and defaults.

use crate::error::{Error, Result};
use crate::nn::{Init, Module, Size2, TensorKind};
use crate::ops::{conv2d, conv2d_relu, Conv2dArgs};
use crate::tensor::Tensor;

/// `padding=` of `nn.Conv2d`: explicit sizes, `"same"` or `"valid"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Padding {
    /// Zeros added on both sides of each axis, `[height, width]`.
    Explicit([usize; 2]),
    /// PyTorch's `"same"`: the output has the input's size (stride 1 only).
    Same,
    /// PyTorch's `"valid"`: no padding.
    Valid,
}

impl From<usize> for Padding {
    fn from(v: usize) -> Padding {
        Padding::Explicit([v, v])
    }
}

impl From<[usize; 2]> for Padding {
    fn from(v: [usize; 2]) -> Padding {
        Padding::Explicit(v)
    }
}

impl From<(usize, usize)> for Padding {
    fn from((h, w): (usize, usize)) -> Padding {
        Padding::Explicit([h, w])
    }
}

/// `nn.Conv2d` (NCHW, zero padding).
#[derive(Clone, Debug)]
pub struct Conv2d {
    /// `[C_out, C_in / groups, kH, kW]`.
    pub weight: Tensor,
    /// `[C_out]`, when the layer has one.
    pub bias: Option<Tensor>,
    /// Stride, padding, dilation and groups.
    pub args: Conv2dArgs,
    /// Apply relu as the conv stores its output (what `relu(conv(x))` computes, one pass).
    pub fused_relu: bool,
}

impl Conv2d {
    /// `nn.Conv2d(in_channels, out_channels, kernel_size)`: stride 1, no padding, dilation 1,
    /// one group, a bias, PyTorch's default init.
    pub fn new(
        in_channels: usize,
        out_channels: usize,
        kernel: impl Into<Size2>,
    ) -> Result<Conv2d> {
        Conv2d::builder(in_channels, out_channels, kernel).build()
    }

    /// The other arguments of `nn.Conv2d`, each with PyTorch's default until set.
    pub fn builder(
        in_channels: usize,
        out_channels: usize,
        kernel: impl Into<Size2>,
    ) -> Conv2dBuilder {
        Conv2dBuilder {
            in_channels,
            out_channels,
            kernel: kernel.into().0,
            stride: [1, 1],
            padding: Padding::Explicit([0, 0]),
            dilation: [1, 1],
            groups: 1,
            bias: true,
            fused_relu: false,
        }
    }
}

/// Builds a [`Conv2d`]: `Conv2d::builder(3, 64, 3).stride(2).padding(1).build()?`.
#[derive(Clone, Debug)]
pub struct Conv2dBuilder {
    in_channels: usize,
    out_channels: usize,
    kernel: [usize; 2],
    stride: [usize; 2],
    padding: Padding,
    dilation: [usize; 2],
    groups: usize,
    bias: bool,
    fused_relu: bool,
}

impl Conv2dBuilder {
    /// `stride=` (default 1).
    pub fn stride(mut self, s: impl Into<Size2>) -> Self {
        self.stride = s.into().0;
        self
    }
    /// `padding=`: sizes, [`Padding::Same`] or [`Padding::Valid`] (default 0).
    pub fn padding(mut self, p: impl Into<Padding>) -> Self {
        self.padding = p.into();
        self
    }
    /// `dilation=` (default 1).
    pub fn dilation(mut self, d: impl Into<Size2>) -> Self {
        self.dilation = d.into().0;
        self
    }
    /// `groups=` (default 1; `in_channels` for a depthwise convolution).
    pub fn groups(mut self, g: usize) -> Self {
        self.groups = g;
        self
    }
    /// `bias=` (default true).
    pub fn bias(mut self, b: bool) -> Self {
        self.bias = b;
        self
    }
    /// Apply relu as the output is stored (tensorport's fusion of `relu(conv(x))`).
    pub fn relu(mut self, r: bool) -> Self {
        self.fused_relu = r;
        self
    }

    /// The layer, with PyTorch's argument checks and default init
    /// (U(−1/√fan_in, 1/√fan_in), fan_in = in_channels / groups · kH · kW) drawn from the
    /// process-wide stream ([`crate::nn::manual_seed`]).
    pub fn build(self) -> Result<Conv2d> {
        self.build_with(&mut Init::next_global())
    }

    /// [`Conv2dBuilder::build`], drawing the initial weights from `init`.
    pub fn build_with(self, init: &mut Init) -> Result<Conv2d> {
        const OP: &str = "Conv2d";
        let bad = |name, reason: String| Error::InvalidArgument {
            op: OP,
            name,
            reason,
        };
        if self.groups == 0 {
            return Err(bad("groups", "groups must be a positive integer".into()));
        }
        if !self.in_channels.is_multiple_of(self.groups) {
            return Err(bad(
                "groups",
                "in_channels must be divisible by groups".into(),
            ));
        }
        if !self.out_channels.is_multiple_of(self.groups) {
            return Err(bad(
                "groups",
                "out_channels must be divisible by groups".into(),
            ));
        }
        let [kh, kw] = self.kernel;
        let padding = match self.padding {
            Padding::Explicit(p) => p,
            Padding::Valid => [0, 0],
            Padding::Same => {
                if self.stride != [1, 1] {
                    return Err(bad(
                        "padding",
                        "padding='same' is not supported for strided convolutions".into(),
                    ));
                }
                // PyTorch pads d·(k − 1) in total, the odd one on the right/bottom.
                let mut p = [0; 2];
                for (i, (&k, &d)) in self.kernel.iter().zip(&self.dilation).enumerate() {
                    let total = d.saturating_mul(k.saturating_sub(1));
                    if !total.is_multiple_of(2) {
                        return Err(bad(
                            "padding",
                            format!(
                                "padding='same' with kernel {:?} and dilation {:?} needs \
                                 asymmetric padding ({total} in all along axis {i}), which \
                                 tensorport does not support yet",
                                self.kernel, self.dilation
                            ),
                        ));
                    }
                    p[i] = total / 2;
                }
                p
            }
        };
        let cg = self.in_channels / self.groups;
        let fan_in = cg.saturating_mul(kh).saturating_mul(kw);
        let weight = init.uniform(&[self.out_channels, cg, kh, kw], fan_in)?;
        let bias = if self.bias {
            Some(init.uniform(&[self.out_channels], fan_in)?)
        } else {
            None
        };
        Ok(Conv2d {
            weight,
            bias,
            args: Conv2dArgs {
                stride: self.stride,
                padding,
                dilation: self.dilation,
                groups: self.groups,
            },
            fused_relu: self.fused_relu,
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
