//! Layers with PyTorch's constructors, defaults and parameter names; models as trees of
//! [`Module`]s; `state_dict()` and `load_state_dict` with PyTorch's names, strictness and
//! messages; the recipe's [`Net`].
//!
//! A module's tensors are named by their path (`features.0.weight`), exactly as
//! `model.state_dict()` names them in PyTorch, and come in two kinds ([`TensorKind`]):
//! parameters (weights, biases) and buffers (a batch norm's running statistics), both saved in
//! the state dict and both filled by [`load_state_dict`].
//!
//! ```
//! use tensorport::nn::{Conv2d, Flatten, Linear, MaxPool2d, Module, ReLU, Sequential};
//! use tensorport::Tensor;
//!
//! // torchvision's AlexNet stem, declared as in PyTorch.
//! let model = Sequential::new()
//!     .push(Conv2d::builder(3, 64, 11).stride(4).padding(2).build()?)
//!     .push(ReLU::new())
//!     .push(MaxPool2d::builder(3).stride(2).build())
//!     .push(Flatten::new(1, -1))
//!     .push(Linear::new(64 * 7 * 7, 10)?);
//! let names: Vec<String> = model.named_parameters().into_iter().map(|(n, _)| n).collect();
//! assert_eq!(names, ["0.weight", "0.bias", "4.weight", "4.bias"]);
//! // 63×63 → conv: 15×15 → pool: 7×7.
//! let y = model.forward(&Tensor::zeros(tensorport::DType::F32, &[1, 3, 63, 63])?)?;
//! assert_eq!(y.shape(), [1, 10]);
//! # Ok::<(), tensorport::Error>(())
//! ```

mod activation;
mod conv;
pub mod init;
mod linear;
mod load;
mod net;
#[cfg(feature = "cuda")]
mod net_plan;
mod norm;
mod parallel;
mod pool;
mod sequential;
mod simple;
mod size;

use std::sync::Arc;

use crate::checkpoint::{Dict, DictKind, StateDict, Value};
use crate::device::Device;
use crate::error::Result;
use crate::tensor::Tensor;

pub use activation::{
    Dropout, Hardsigmoid, Hardswish, Hardtanh, Identity, ReLU6, SiLU, Sigmoid, GELU,
};
pub use conv::{Conv2d, Conv2dBuilder, Padding};
pub use init::{manual_seed, Init};
pub use linear::{Linear, LinearBuilder};
pub use load::{load_state_dict, LoadOptions, LoadReport};
pub use net::Net;
#[cfg(feature = "cuda")]
pub use net_plan::NetCudaPlan;
pub use norm::{BatchNorm2d, LayerNorm};
pub use parallel::DataParallel;
pub use pool::{AdaptiveAvgPool2d, AvgPool2d, MaxPool2d, MaxPool2dBuilder};
pub use sequential::Sequential;
pub use simple::{Flatten, ReLU};
pub use size::Size2;

/// What a named tensor of a module is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TensorKind {
    /// A learnable parameter (`nn.Parameter`): a weight or a bias.
    Parameter,
    /// A buffer (`register_buffer`): state that is saved but not learned, such as a batch
    /// norm's `running_mean`, `running_var` and `num_batches_tracked`.
    Buffer,
}

/// A layer or a model: a forward function plus named parameters and buffers.
///
/// Implementing it: `forward`, and `visit`/`visit_mut` over the module's own tensors (each
/// with its kind) and then its children's, under [`join_name`]d names; children also go in
/// `visit_modules`. Everything else is provided.
pub trait Module: Send + Sync {
    /// Runs the module on `x`.
    fn forward(&self, x: &Tensor) -> Result<Tensor>;

    /// Visits every parameter and buffer as `(name, kind, tensor)`, names relative to this
    /// module, in PyTorch's `state_dict()` order: a module's own tensors in registration order,
    /// then each child's.
    fn visit(&self, f: &mut dyn FnMut(&str, TensorKind, &Tensor));

    /// [`Module::visit`], mutably, so a state dict (or a device move) can replace tensors.
    fn visit_mut(&mut self, f: &mut dyn FnMut(&str, TensorKind, &mut Tensor));

    /// Visits the path of this module (`""`) and of every submodule, parents first, each with
    /// its class's `_version` (1 for most layers, 2 for batch norm): the `_metadata` PyTorch
    /// keeps beside a state dict.
    fn visit_modules(&self, f: &mut dyn FnMut(&str, i64)) {
        f("", 1);
    }

    /// Every parameter with its dotted name (`model.named_parameters()`).
    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        named(self, TensorKind::Parameter)
    }

    /// Every buffer with its dotted name (`model.named_buffers()`).
    fn named_buffers(&self) -> Vec<(String, Tensor)> {
        named(self, TensorKind::Buffer)
    }

    /// The parameters and buffers as PyTorch's `model.state_dict()`: an ordered map with
    /// `_metadata` (`{'version': 1}` per module path), ready for [`crate::save`], and read back
    /// by `torch.load` + `model.load_state_dict`. Tensors are shared, not copied.
    fn state_dict(&self) -> StateDict {
        let mut sd = StateDict::new();
        self.visit(&mut |k, _, t| sd.insert(k, t.clone()));
        let mut meta = Dict::new(DictKind::OrderedDict);
        self.visit_modules(&mut |path, version| {
            let mut v = Dict::new(DictKind::Dict);
            // Inserting str keys into fresh dicts cannot fail.
            let _ = v.insert(Value::str("version"), Value::Int(version));
            let _ = meta.insert(Value::str(path), Value::Dict(Arc::new(v)));
        });
        sd.set_metadata(Some(Value::Dict(Arc::new(meta))));
        sd
    }

    /// Moves every parameter and buffer to `device` (PyTorch's `model.to(device)`). On an
    /// error the tensors moved so far stay moved.
    fn to_device(&mut self, device: &Device) -> Result<()> {
        let mut first_err = None;
        self.visit_mut(&mut |_, _, t| {
            if first_err.is_none() {
                match t.to(device) {
                    Ok(moved) => *t = moved,
                    Err(e) => first_err = Some(e),
                }
            }
        });
        first_err.map_or(Ok(()), Err)
    }
}

fn named<M: Module + ?Sized>(m: &M, kind: TensorKind) -> Vec<(String, Tensor)> {
    let mut out = Vec::new();
    m.visit(&mut |k, kd, t| {
        if kd == kind {
            out.push((k.to_string(), t.clone()));
        }
    });
    out
}

/// Joins a module path and a name as PyTorch does (`""` + `w` = `w`, `fc1` + `w` = `fc1.w`,
/// `fc1` + `""` = `fc1`: a module's own path). For [`Module`] implementations visiting their
/// children.
pub fn join_name(prefix: &str, name: &str) -> String {
    match (prefix.is_empty(), name.is_empty()) {
        (true, _) => name.to_string(),
        (false, true) => prefix.to_string(),
        (false, false) => format!("{prefix}.{name}"),
    }
}

/// What every container's [`Module::visit`] does: each child's tensors under its name.
pub(crate) fn visit_children<'a>(
    children: impl IntoIterator<Item = (&'a str, &'a dyn Module)>,
    f: &mut dyn FnMut(&str, TensorKind, &Tensor),
) {
    for (name, m) in children {
        m.visit(&mut |k, kind, t| f(&join_name(name, k), kind, t));
    }
}

/// What every container's [`Module::visit_mut`] does.
pub(crate) fn visit_children_mut<'a>(
    children: impl IntoIterator<Item = (&'a str, &'a mut dyn Module)>,
    f: &mut dyn FnMut(&str, TensorKind, &mut Tensor),
) {
    for (name, m) in children {
        m.visit_mut(&mut |k, kind, t| f(&join_name(name, k), kind, t));
    }
}

/// What every container's [`Module::visit_modules`] does: itself (version 1), then each
/// child's modules.
pub(crate) fn visit_child_modules<'a>(
    children: impl IntoIterator<Item = (&'a str, &'a dyn Module)>,
    f: &mut dyn FnMut(&str, i64),
) {
    f("", 1);
    for (name, m) in children {
        m.visit_modules(&mut |p, v| f(&join_name(name, p), v));
    }
}
