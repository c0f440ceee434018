//! Layers with PyTorch's parameter names, `load_state_dict` with PyTorch's strictness and
//! messages, and the recipe's `Net`. A model is a tree of [`Module`]s; its parameters are named
//! by their path (`conv1.weight`), exactly as `model.state_dict()` names them in PyTorch.

mod layers;
mod net;
mod sequential;

use std::sync::Arc;

use crate::checkpoint::state_dict::StateDict;
use crate::checkpoint::value::{Dict, DictKind, Value};
use crate::error::{Error, Result};
use crate::tensor::Tensor;

pub use layers::{Conv2d, Flatten, Linear, MaxPool2d, ReLU};
pub use net::Net;
pub use sequential::Sequential;

/// A layer or a model: a forward function plus named parameters.
pub trait Module: Send + Sync {
    /// Runs the module on `x`.
    fn forward(&self, x: &Tensor) -> Result<Tensor>;

    /// Visits `(name, tensor)` for every parameter, names relative to this module.
    fn parameters(&self, f: &mut dyn FnMut(&str, &Tensor));

    /// Visits every parameter mutably, so a state dict can replace it.
    fn parameters_mut(&mut self, f: &mut dyn FnMut(&str, &mut Tensor));

    /// Paths of this module and its submodules (`""` for itself), for `_metadata`.
    fn module_paths(&self, f: &mut dyn FnMut(&str)) {
        f("");
    }
}

/// What `load_state_dict` found (PyTorch's `_IncompatibleKeys`).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct LoadReport {
    pub missing_keys: Vec<String>,
    pub unexpected_keys: Vec<String>,
}

/// How to match a state dict against a model.
#[derive(Debug, Clone, Copy)]
pub struct LoadOptions {
    /// Missing or unexpected keys are errors (PyTorch's `strict=True`). Shape mismatches are
    /// errors either way, as in PyTorch.
    pub strict: bool,
    /// Accept keys prefixed `module.` (DataParallel/DDP) or `_orig_mod.` (torch.compile) when
    /// every key has the prefix.
    pub strip_wrapper_prefixes: bool,
}

impl Default for LoadOptions {
    fn default() -> LoadOptions {
        LoadOptions {
            strict: true,
            strip_wrapper_prefixes: false,
        }
    }
}

/// Copies `state_dict` into `model`'s parameters. Tensors are shared, not copied: loading a
/// mapped checkpoint costs no memory. dtype must match the parameter's.
pub fn load_state_dict(
    model: &mut dyn Module,
    name: &str,
    state_dict: &StateDict,
    opts: LoadOptions,
) -> Result<LoadReport> {
    let mut sd = state_dict.clone();
    if opts.strip_wrapper_prefixes {
        for p in ["module.", "_orig_mod."] {
            if !sd.is_empty() && sd.keys().all(|k| k.starts_with(p)) {
                sd.strip_prefix(p)?;
            }
        }
    }
    let mut missing = Vec::new();
    let mut mismatched = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut dtype_err = None;
    model.parameters_mut(&mut |k, p| match sd.get(k) {
        None => missing.push(k.to_string()),
        Some(t) => {
            seen.insert(k.to_string());
            if t.shape() != p.shape() {
                mismatched.push((k.to_string(), t.shape().to_vec(), p.shape().to_vec()));
            } else if t.dtype() != p.dtype() {
                dtype_err.get_or_insert(Error::InvalidArgument {
                    op: "load_state_dict",
                    name: "state_dict",
                    reason: format!(
                        "{k} is {} in the state dict but {} in the model (dtypes are not \
                         converted while loading)",
                        t.dtype(),
                        p.dtype()
                    ),
                });
            }
        }
    });
    let unexpected: Vec<String> = sd
        .keys()
        .filter(|k| !seen.contains(*k))
        .map(String::from)
        .collect();
    if !mismatched.is_empty() || (opts.strict && (!missing.is_empty() || !unexpected.is_empty())) {
        return Err(Error::LoadStateDict {
            model: name.to_string(),
            missing: if opts.strict { missing } else { vec![] },
            unexpected: if opts.strict { unexpected } else { vec![] },
            mismatched,
        });
    }
    if let Some(e) = dtype_err {
        return Err(e);
    }
    model.parameters_mut(&mut |k, p| {
        if let Some(t) = sd.get(k) {
            *p = t.clone();
        }
    });
    Ok(LoadReport {
        missing_keys: missing,
        unexpected_keys: unexpected,
    })
}

/// The model's parameters as PyTorch's `model.state_dict()`: an ordered map with `_metadata`
/// (`{'version': 1}` per module path), ready for `tensorport::save`.
pub fn state_dict(model: &dyn Module) -> StateDict {
    let mut sd = StateDict::new();
    model.parameters(&mut |k, t| sd.insert(k, t.clone()));
    let mut meta = Dict::new(DictKind::OrderedDict);
    model.module_paths(&mut |path| {
        let mut v = Dict::new(DictKind::Dict);
        // Inserting str keys into fresh dicts cannot fail.
        let _ = v.insert(Value::str("version"), Value::Int(1));
        let _ = meta.insert(Value::str(path), Value::Dict(Arc::new(v)));
    });
    sd.set_metadata(Some(Value::Dict(Arc::new(meta))));
    sd
}

/// Moves every parameter of `model` to `device` (PyTorch's `model.to(device)`).
pub fn to_device(model: &mut dyn Module, device: &crate::device::Device) -> Result<()> {
    let mut first_err = None;
    model.parameters_mut(&mut |_, t| {
        if first_err.is_none() {
            match t.to(device) {
                Ok(moved) => *t = moved,
                Err(e) => first_err = Some(e),
            }
        }
    });
    first_err.map_or(Ok(()), Err)
}

/// Joins a module path and a name as PyTorch does (`""` + `w` = `w`, `fc1` + `w` = `fc1.w`,
/// `fc1` + `""` = `fc1`: a module's own path).
pub(crate) fn join(prefix: &str, name: &str) -> String {
    match (prefix.is_empty(), name.is_empty()) {
        (true, _) => name.to_string(),
        (false, true) => prefix.to_string(),
        (false, false) => format!("{prefix}.{name}"),
    }
}
