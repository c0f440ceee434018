//! `nn.BatchNorm2d` (inference) and `nn.LayerNorm`, with PyTorch's constructor defaults, tensor
//! names, kinds and `_version`s, so their state dicts load into and from PyTorch's.

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::nn::{Module, TensorKind};
use crate::ops::{batch_norm, layer_norm};
use crate::tensor::Tensor;

fn filled(shape: &[usize], v: f32) -> Result<Tensor> {
    let n: usize = shape.iter().product();
    Tensor::from_vec(vec![v; n], shape)
}

/// `nn.BatchNorm2d` in evaluation mode (`model.eval()`): normalises with the running statistics
/// ([`batch_norm`]). Parameters `weight` (ones) and `bias` (zeros) when `affine`; buffers
/// `running_mean` (zeros), `running_var` (ones) and `num_batches_tracked` (an int64 scalar, 0),
/// in PyTorch's `state_dict()` order; `_version` 2, as PyTorch's. tensorport does not train, so
/// `momentum` is only kept (for a round trip), never applied.
#[derive(Clone, Debug)]
pub struct BatchNorm2d {
    /// `[C]`, when `affine`.
    pub weight: Option<Tensor>,
    /// `[C]`, when `affine`.
    pub bias: Option<Tensor>,
    /// `[C]`.
    pub running_mean: Tensor,
    /// `[C]`.
    pub running_var: Tensor,
    /// An int64 scalar: how many training batches updated the statistics.
    pub num_batches_tracked: Tensor,
    /// Added to the variance (default 1e-5).
    pub eps: f64,
    /// PyTorch's running-average factor (default `Some(0.1)`; `None` is a cumulative average).
    pub momentum: Option<f64>,
}

impl BatchNorm2d {
    /// `nn.BatchNorm2d(num_features)`: eps 1e-5, momentum 0.1, affine, running statistics.
    pub fn new(num_features: usize) -> Result<BatchNorm2d> {
        BatchNorm2d::with_options(num_features, 1e-5, Some(0.1), true)
    }

    /// `nn.BatchNorm2d(num_features, eps, momentum, affine)` (`track_running_stats=True`: the
    /// only mode inference needs).
    pub fn with_options(
        num_features: usize,
        eps: f64,
        momentum: Option<f64>,
        affine: bool,
    ) -> Result<BatchNorm2d> {
        let c = [num_features];
        Ok(BatchNorm2d {
            weight: affine.then(|| filled(&c, 1.0)).transpose()?,
            bias: affine.then(|| filled(&c, 0.0)).transpose()?,
            running_mean: filled(&c, 0.0)?,
            running_var: filled(&c, 1.0)?,
            num_batches_tracked: Tensor::zeros(DType::I64, &[])?,
            eps,
            momentum,
        })
    }
}

impl Module for BatchNorm2d {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        if x.ndim() != 4 {
            return Err(Error::Shape {
                op: "BatchNorm2d",
                expected: "4D input".into(),
                got: format!("expected 4D input (got {}D input)", x.ndim()),
            });
        }
        batch_norm(
            x,
            self.weight.as_ref(),
            self.bias.as_ref(),
            &self.running_mean,
            &self.running_var,
            self.eps,
        )
    }
    fn visit(&self, f: &mut dyn FnMut(&str, TensorKind, &Tensor)) {
        if let (Some(w), Some(b)) = (&self.weight, &self.bias) {
            f("weight", TensorKind::Parameter, w);
            f("bias", TensorKind::Parameter, b);
        }
        f("running_mean", TensorKind::Buffer, &self.running_mean);
        f("running_var", TensorKind::Buffer, &self.running_var);
        f(
            "num_batches_tracked",
            TensorKind::Buffer,
            &self.num_batches_tracked,
        );
    }
    fn visit_mut(&mut self, f: &mut dyn FnMut(&str, TensorKind, &mut Tensor)) {
        if let (Some(w), Some(b)) = (&mut self.weight, &mut self.bias) {
            f("weight", TensorKind::Parameter, w);
            f("bias", TensorKind::Parameter, b);
        }
        f("running_mean", TensorKind::Buffer, &mut self.running_mean);
        f("running_var", TensorKind::Buffer, &mut self.running_var);
        f(
            "num_batches_tracked",
            TensorKind::Buffer,
            &mut self.num_batches_tracked,
        );
    }
    fn visit_modules(&self, f: &mut dyn FnMut(&str, i64)) {
        // PyTorch's _BatchNorm._version: 2 (num_batches_tracked was added in version 2).
        f("", 2);
    }
}

/// `nn.LayerNorm(normalized_shape, eps=1e-5, elementwise_affine=True)`: parameters `weight`
/// (ones) and `bias` (zeros) of shape `normalized_shape` when affine ([`layer_norm`]).
#[derive(Clone, Debug)]
pub struct LayerNorm {
    /// The trailing dims normalised together.
    pub normalized_shape: Vec<usize>,
    /// `normalized_shape`, when affine.
    pub weight: Option<Tensor>,
    /// `normalized_shape`, when affine.
    pub bias: Option<Tensor>,
    /// Added to the variance (default 1e-5).
    pub eps: f64,
}

impl LayerNorm {
    /// `nn.LayerNorm(normalized_shape)`: eps 1e-5, affine.
    pub fn new(normalized_shape: &[usize]) -> Result<LayerNorm> {
        LayerNorm::with_options(normalized_shape, 1e-5, true)
    }

    /// `nn.LayerNorm(normalized_shape, eps, elementwise_affine)`.
    pub fn with_options(normalized_shape: &[usize], eps: f64, affine: bool) -> Result<LayerNorm> {
        Ok(LayerNorm {
            normalized_shape: normalized_shape.to_vec(),
            weight: affine.then(|| filled(normalized_shape, 1.0)).transpose()?,
            bias: affine.then(|| filled(normalized_shape, 0.0)).transpose()?,
            eps,
        })
    }
}

impl Module for LayerNorm {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (w, b) = (self.weight.as_ref(), self.bias.as_ref());
        layer_norm(x, &self.normalized_shape, w, b, self.eps)
    }
    fn visit(&self, f: &mut dyn FnMut(&str, TensorKind, &Tensor)) {
        if let Some(w) = &self.weight {
            f("weight", TensorKind::Parameter, w);
        }
        if let Some(b) = &self.bias {
            f("bias", TensorKind::Parameter, b);
        }
    }
    fn visit_mut(&mut self, f: &mut dyn FnMut(&str, TensorKind, &mut Tensor)) {
        if let Some(w) = &mut self.weight {
            f("weight", TensorKind::Parameter, w);
        }
        if let Some(b) = &mut self.bias {
            f("bias", TensorKind::Parameter, b);
        }
    }
}
