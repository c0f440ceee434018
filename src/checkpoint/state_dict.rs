//! State dicts: ordered name → tensor maps, found at the top of a checkpoint or under a key such
//! as `model_state_dict`, with torch's prefix helpers for `DataParallel` (`module.`) and
//! `torch.compile` (`_orig_mod.`).

use std::collections::HashMap;
use std::sync::Arc;

use crate::checkpoint::value::{Dict, DictKind, Value};
use crate::error::{Error, Result};
use crate::tensor::Tensor;

/// Keys under which training scripts commonly keep the model's state dict, tried in order.
pub const STATE_DICT_KEYS: [&str; 6] = [
    "state_dict",
    "model_state_dict",
    "model",
    "module",
    "net",
    "network",
];

/// An ordered name → tensor map plus the `_metadata` torch keeps beside it.
#[derive(Clone, Default)]
pub struct StateDict {
    entries: Vec<(String, Tensor)>,
    index: HashMap<String, usize>,
    metadata: Option<Value>,
}

impl StateDict {
    /// An empty state dict.
    pub fn new() -> StateDict {
        StateDict::default()
    }

    /// The state dict in `value`: the value itself when it is a dict of str → tensor, otherwise
    /// the first of [`STATE_DICT_KEYS`] that holds one.
    pub fn find(value: &Value) -> Result<StateDict> {
        if let Ok(sd) = StateDict::from_value(value) {
            return Ok(sd);
        }
        if let Some(d) = value.as_dict() {
            for k in STATE_DICT_KEYS {
                if let Some(v) = d.get_str(k) {
                    if let Ok(sd) = StateDict::from_value(v) {
                        return Ok(sd);
                    }
                }
            }
            let keys: Vec<String> = d.iter().map(|(k, _)| format!("{k:?}")).take(20).collect();
            return Err(Error::NotFound {
                what: "state dict (a dict of str -> tensor)",
                key: format!(
                    "top-level keys are [{}]; pass the key that holds it",
                    keys.join(", ")
                ),
            });
        }
        Err(Error::ValueType {
            path: "<root>".into(),
            expected: "a dict of str -> tensor",
            got: value.type_name(),
        })
    }

    /// The dict `value` as a state dict: every key a str, every value a tensor.
    pub fn from_value(value: &Value) -> Result<StateDict> {
        let d = value.as_dict().ok_or(Error::ValueType {
            path: "<state dict>".into(),
            expected: "dict",
            got: value.type_name(),
        })?;
        let mut sd = StateDict::new();
        for (k, v) in d.iter() {
            let name = k.as_str().ok_or_else(|| Error::ValueType {
                path: format!("{k:?}"),
                expected: "a str key",
                got: k.type_name(),
            })?;
            let t = v.as_tensor().ok_or_else(|| Error::ValueType {
                path: name.to_string(),
                expected: "Tensor",
                got: v.type_name(),
            })?;
            sd.insert(name, t.clone());
        }
        sd.metadata = d.attr("_metadata").cloned();
        Ok(sd)
    }

    /// Sets `name`; an existing name keeps its position.
    pub fn insert(&mut self, name: &str, tensor: Tensor) {
        match self.index.get(name) {
            Some(&i) => self.entries[i].1 = tensor,
            None => {
                self.index.insert(name.to_string(), self.entries.len());
                self.entries.push((name.to_string(), tensor));
            }
        }
    }

    /// Removes `name` (the others keep their order), returning its tensor.
    pub fn remove(&mut self, name: &str) -> Option<Tensor> {
        let i = self.index.remove(name)?;
        let (_, t) = self.entries.remove(i);
        for v in self.index.values_mut() {
            if *v > i {
                *v -= 1;
            }
        }
        Some(t)
    }

    /// The tensor under `name`.
    pub fn get(&self, name: &str) -> Option<&Tensor> {
        self.index.get(name).map(|&i| &self.entries[i].1)
    }
    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }
    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
    /// `(name, tensor)` in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Tensor)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v))
    }
    /// The names in order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(k, _)| k.as_str())
    }

    /// torch's `_metadata` (module path → `{'version': n}`), when known.
    pub fn metadata(&self) -> Option<&Value> {
        self.metadata.as_ref()
    }
    /// Replaces `_metadata`.
    pub fn set_metadata(&mut self, metadata: Option<Value>) {
        self.metadata = metadata;
    }

    /// Strips `prefix` from every key and `_metadata` key that has it, like
    /// `torch.nn.modules.utils.consume_prefix_in_state_dict_if_present`.
    pub fn strip_prefix(&mut self, prefix: &str) -> Result<()> {
        *self = StateDict::from_value(&Value::Dict(Arc::new(strip_prefix(
            &self.to_dict()?,
            prefix,
        )?)))?;
        Ok(())
    }

    /// Adds `prefix` to every key and `_metadata` key (what wrapping in `DataParallel` does).
    pub fn add_prefix(&mut self, prefix: &str) -> Result<()> {
        *self = StateDict::from_value(&Value::Dict(Arc::new(add_prefix(
            &self.to_dict()?,
            prefix,
        )?)))?;
        Ok(())
    }

    fn to_dict(&self) -> Result<Dict> {
        let mut d = Dict::new(DictKind::OrderedDict);
        for (k, t) in &self.entries {
            d.insert(Value::str(k), Value::Tensor(t.clone()))?;
        }
        if let Some(m) = &self.metadata {
            d.set_attr("_metadata", m.clone());
        }
        Ok(d)
    }

    /// The state dict as torch pickles one: an OrderedDict with `_metadata` when known.
    pub fn to_value(&self) -> Value {
        // Keys are unique strs, so building the dict cannot fail.
        match self.to_dict() {
            Ok(d) => Value::Dict(Arc::new(d)),
            Err(_) => Value::None,
        }
    }
}

/// `consume_prefix_in_state_dict_if_present` on a dict: keys starting with `prefix` lose it, and
/// so do `_metadata` keys (the metadata key equal to the prefix without dots becomes `''`).
/// Stripped keys move to the end, as Python's `d[new] = d.pop(old)` does.
pub fn strip_prefix(d: &Dict, prefix: &str) -> Result<Dict> {
    let mut out = Dict::new(d.kind());
    let mut moved = Vec::new();
    for (k, v) in d.iter() {
        match k.as_str().and_then(|s| s.strip_prefix(prefix)) {
            Some(rest) => moved.push((Value::str(rest), v.clone())),
            None => out.insert(k.clone(), v.clone())?,
        }
    }
    for (k, v) in moved {
        out.insert(k, v)?;
    }
    for (name, attr) in d.attrs() {
        let attr = match (&**name, attr) {
            ("_metadata", Value::Dict(m)) => {
                let bare = prefix.replace('.', "");
                let mut nm = Dict::new(m.kind());
                let mut moved = Vec::new();
                for (k, v) in m.iter() {
                    match k.as_str() {
                        Some(s) if !s.is_empty() && (s == bare || s.starts_with(prefix)) => {
                            moved.push((Value::str(s.get(prefix.len()..).unwrap_or("")), v.clone()))
                        }
                        _ => nm.insert(k.clone(), v.clone())?,
                    }
                }
                for (k, v) in moved {
                    nm.insert(k, v)?;
                }
                Value::Dict(Arc::new(nm))
            }
            _ => attr.clone(),
        };
        out.set_attr(name, attr);
    }
    Ok(out)
}

/// The inverse of [`strip_prefix`]: every str key gains `prefix`; in `_metadata` the wrapper
/// becomes the root `''` and the old root is renamed to the prefix without its trailing dot, as
/// `DataParallel(model).state_dict()` writes it.
pub fn add_prefix(d: &Dict, prefix: &str) -> Result<Dict> {
    let mut out = Dict::new(d.kind());
    for (k, v) in d.iter() {
        let k = match k.as_str() {
            Some(s) => Value::str(&format!("{prefix}{s}")),
            None => k.clone(),
        };
        out.insert(k, v.clone())?;
    }
    for (name, attr) in d.attrs() {
        let attr = match (&**name, attr) {
            ("_metadata", Value::Dict(m)) => {
                let mut nm = Dict::new(m.kind());
                // The wrapper module itself is the new root; its version is the root's.
                if let Some(root) = m.get_str("") {
                    nm.insert(Value::str(""), root.clone())?;
                }
                for (k, v) in m.iter() {
                    let k = match k.as_str() {
                        Some("") => Value::str(prefix.trim_end_matches('.')),
                        Some(s) => Value::str(&format!("{prefix}{s}")),
                        None => k.clone(),
                    };
                    nm.insert(k, v.clone())?;
                }
                Value::Dict(Arc::new(nm))
            }
            _ => attr.clone(),
        };
        out.set_attr(name, attr);
    }
    Ok(out)
}
