//! `load_state_dict` with PyTorch's strictness and messages, filling parameters and buffers.

use std::collections::{HashMap, HashSet};

use crate::checkpoint::StateDict;
use crate::device::Device;
use crate::error::{Error, Result};
use crate::nn::Module;

/// What `load_state_dict` found (PyTorch's `_IncompatibleKeys`).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct LoadReport {
    /// Model keys the state dict did not have (only possible with `strict: false`).
    pub missing_keys: Vec<String>,
    /// State-dict keys the model does not have (only possible with `strict: false`).
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
    /// PyTorch's default: strict, keys as they are.
    fn default() -> LoadOptions {
        LoadOptions {
            strict: true,
            strip_wrapper_prefixes: false,
        }
    }
}

/// Copies `state_dict` into `model`'s parameters and buffers (`model.load_state_dict(sd)`);
/// `name` is the model's class name in PyTorch's message. Tensors are shared, not copied:
/// loading a mapped checkpoint costs no memory. Each lands on the device of the parameter it
/// replaces, as PyTorch's `param.copy_(input)` does (a model on `cuda:0` loading a checkpoint
/// mapped to `cuda:1` stays on `cuda:0`); only then is it a copy. dtypes must match (nothing is
/// converted behind the caller's back). On any error the model is unchanged.
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
    let mut seen = HashSet::new();
    let mut dtype_err = None;
    let mut moved: Vec<(String, Device)> = Vec::new();
    model.visit(&mut |k, _, p| match sd.get(k) {
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
            } else if t.device() != p.device() {
                moved.push((k.to_string(), p.device()));
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
    let mut placed = HashMap::with_capacity(moved.len());
    for (k, device) in moved {
        if let Some(t) = sd.get(&k) {
            let t = t.to(&device)?;
            placed.insert(k, t);
        }
    }
    model.visit_mut(&mut |k, _, p| {
        if let Some(t) = placed.remove(k).or_else(|| sd.get(k).cloned()) {
            *p = t;
        }
    });
    Ok(LoadReport {
        missing_keys: missing,
        unexpected_keys: unexpected,
    })
}
