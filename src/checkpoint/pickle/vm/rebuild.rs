//! The tensor rebuild functions of `torch._utils`. Sizes are checked
//! with checked arithmetic before anything is allocated; views are checked against their storage.

use super::arena::{Id, Obj};
use super::{Machine, R};
use crate::checkpoint::pickle::allowlist::{Global, Rebuild};
use crate::checkpoint::value::Value;
use crate::dtype::DType;
use crate::error::CheckpointError;
use crate::tensor::{check_view, Dims, Tensor, ViewError};

impl Machine<'_> {
    /// A rebuild function applied to `args`.
    pub(super) fn rebuild(&mut self, r: Rebuild, args: &[Id]) -> R<Id> {
        let tensor = match (r, args) {
            (Rebuild::Tensor, &[s, o, size, stride]) => {
                self.view_tensor(s, o, size, stride, None, None)?
            }
            (Rebuild::TensorV2, &[s, o, size, stride, rg, _hooks, ref meta @ ..])
                if meta.len() <= 1 =>
            {
                let t = self.view_tensor(s, o, size, stride, None, meta.first().copied())?;
                t.with_requires_grad(self.bool_arg(rg, "requires_grad")?)
            }
            (Rebuild::TensorV3, &[s, o, size, stride, rg, _hooks, dt, ref meta @ ..])
                if meta.len() <= 1 =>
            {
                let dtype = match self.arena.get(dt) {
                    Obj::Global(Global::DType(d)) => *d,
                    _ => {
                        return Err(
                            self.malformed("_rebuild_tensor_v3: dtype argument must be a dtype")
                        )
                    }
                };
                let t = self.view_tensor(s, o, size, stride, Some(dtype), meta.first().copied())?;
                t.with_requires_grad(self.bool_arg(rg, "requires_grad")?)
            }
            (Rebuild::Parameter, &[t, rg, _hooks])
            | (Rebuild::ParameterWithState, &[t, rg, _hooks, _]) => {
                let rg = self.bool_arg(rg, "requires_grad")?;
                self.tensor_arg(t)?
                    .with_parameter(true)
                    .with_requires_grad(rg)
            }
            (Rebuild::FromTypeV2, &[func, cls, inner, _state]) => {
                let inner_fn = match self.arena.get(func) {
                    Obj::Global(Global::Rebuild(f)) if *f != Rebuild::FromTypeV2 => *f,
                    _ => {
                        return Err(self
                            .malformed("_rebuild_from_type_v2: function must be a tensor rebuild"))
                    }
                };
                let is_param = match self.arena.get(cls) {
                    Obj::Global(Global::TensorClass) => false,
                    Obj::Global(Global::Parameter) => true,
                    _ => {
                        return Err(self.malformed(
                            "_rebuild_from_type_v2: class must be torch.Tensor or Parameter",
                        ))
                    }
                };
                let inner_args = self.args_of(inner, "_rebuild_from_type_v2")?;
                let id = self.rebuild(inner_fn, &inner_args)?;
                if !is_param {
                    return Ok(id);
                }
                self.tensor_arg(id)?.with_parameter(true)
            }
            _ => {
                return Err(self.malformed(format!(
                    "{} called with {} arguments",
                    r.python_name(),
                    args.len()
                )))
            }
        };
        self.alloc(Obj::Leaf(Value::Tensor(tensor)))
    }

    /// A strided view of a persistent-id storage, with conj/neg metadata applied.
    fn view_tensor(
        &mut self,
        storage: Id,
        offset: Id,
        size: Id,
        stride: Id,
        dtype_arg: Option<DType>,
        metadata: Option<Id>,
    ) -> R<Tensor> {
        let offset = self.offset_arg(offset)?;
        let shape = self.dims(size, "size")?;
        let strides = self.dims(stride, "stride")?;
        let t = self.checked_view(storage, offset, shape, strides, dtype_arg)?;
        let (conj, neg) = self.metadata_bits(metadata)?;
        if (!conj && !neg) || t.storage().is_meta() {
            return Ok(t);
        }
        // Each resolved tensor copies its storage: many tensors naming one big storage with
        // neg bits must not multiply it unchecked.
        self.charge(t.storage().nbytes() as u64)?;
        let name = format!("{}: tensor #{}", self.record, self.tensors - 1);
        super::conj_neg::apply(&t, conj, neg).map_err(|detail| CheckpointError::UnsupportedFormat {
            detail: format!("{name}: {detail}"),
        })
    }

    /// A storage offset: a non-negative int (torch's `set_()` refuses a bool).
    pub(super) fn offset_arg(&self, offset: Id) -> R<u64> {
        match self.arena.leaf(offset) {
            Some(Value::Bool(_)) => {
                Err(self.malformed("storage offset must be an int, not a bool"))
            }
            Some(Value::Int(i)) if *i < 0 => Err(CheckpointError::StorageBounds {
                tensor: format!("{}: tensor #{}", self.record, self.tensors),
                detail: format!("negative storage offset {i}"),
            }),
            v => self.u64_leaf(v, "storage offset"),
        }
    }

    /// The view `shape`/`strides` at element `offset` of the storage object `storage`, checked
    /// against the storage's size; `dtype_arg` overrides the storage class's dtype.
    pub(super) fn checked_view(
        &mut self,
        storage: Id,
        offset: u64,
        shape: Dims,
        strides: Dims,
        dtype_arg: Option<DType>,
    ) -> R<Tensor> {
        let n = self.tensors;
        self.tensors += 1;
        let Obj::Storage(sref) = self.arena.get(storage) else {
            return Err(self.malformed(format!(
                "a tensor view needs a storage, not a {}",
                self.arena.get(storage).type_name()
            )));
        };
        let sref = sref.clone();
        // Only errors need the name: formatting it for every tensor cost a tenth of opening a
        // 10,000-tensor file.
        let record = &self.record;
        let name = || format!("{record}: tensor #{n} (storage data/{})", sref.key);
        let dtype = dtype_arg
            .or(sref.dtype)
            .ok_or_else(|| self.malformed("an untyped storage needs _rebuild_tensor_v3's dtype"))?;
        let nbytes = sref.storage.nbytes();
        if nbytes % dtype.size() != 0 {
            return Err(CheckpointError::StorageBounds {
                tensor: name(),
                detail: format!("{nbytes} bytes is not a whole number of {dtype} elements"),
            });
        }
        let offset = usize::try_from(offset).map_err(|_| CheckpointError::SizeOverflow {
            what: name(),
            detail: format!("storage offset {offset} does not fit this machine's address space"),
        })?;
        check_view(nbytes, dtype.size(), offset, &shape, &strides).map_err(|e| match e {
            ViewError::Overflow(detail) => CheckpointError::SizeOverflow {
                what: name(),
                detail,
            },
            ViewError::Bounds(detail) => CheckpointError::StorageBounds {
                tensor: name(),
                detail,
            },
        })?;
        Tensor::from_storage_dims(sref.storage.clone(), dtype, offset, &shape, &strides).map_err(
            |e| CheckpointError::StorageBounds {
                tensor: name(),
                detail: e.to_string(),
            },
        )
    }

    /// The `conj` and `neg` bits of a rebuild's metadata dict; other keys are unsupported.
    fn metadata_bits(&self, metadata: Option<Id>) -> R<(bool, bool)> {
        let Some(m) = metadata else {
            return Ok((false, false));
        };
        let items = match self.arena.get(m) {
            Obj::Leaf(Value::None) => return Ok((false, false)),
            Obj::Dict { items, .. } => items.clone(),
            _ => return Err(self.malformed("tensor metadata must be a dict")),
        };
        let (mut conj, mut neg) = (false, false);
        for (k, v) in items {
            let flag = self.bool_arg(v, "tensor metadata")?;
            match self.arena.leaf(k).and_then(Value::as_str) {
                Some("conj") => conj = flag,
                Some("neg") => neg = flag,
                Some(other) => return Err(self.unsupported_metadata(&format!("key '{other}'"))),
                None => {
                    let t = self.arena.get(k).type_name();
                    return Err(self.unsupported_metadata(&format!("a {t} key")));
                }
            }
        }
        Ok((conj, neg))
    }

    fn unsupported_metadata(&self, what: &str) -> CheckpointError {
        CheckpointError::UnsupportedFormat {
            detail: format!(
                "{}: tensor metadata with {what} at byte {} is not supported (only conj and neg)",
                self.record, self.at
            ),
        }
    }

    /// Sizes or strides: a tuple, list or `torch.Size` of non-negative ints.
    pub(super) fn dims(&self, id: Id, what: &str) -> R<Dims> {
        let negative = |d: i64| CheckpointError::StorageBounds {
            tensor: format!("{}: tensor #{}", self.record, self.tensors),
            detail: format!("negative {what} {d} in {:?}", self.raw_dims(id)),
        };
        if let Obj::Leaf(Value::Size(d)) = self.arena.get(id) {
            return d
                .iter()
                .map(|&d| usize::try_from(d).map_err(|_| negative(d)))
                .collect();
        }
        let seq = self
            .seq_items(id)
            .ok_or_else(|| self.malformed(format!("tensor {what} must be a tuple")))?;
        let mut out = Dims::with_capacity(seq.len());
        for &d in seq {
            // Not `as_int`: torch's set_() refuses bools in sizes and strides.
            let Some(Value::Int(i)) = self.arena.leaf(d) else {
                return Err(self.malformed(format!("tensor {what} must hold ints")));
            };
            out.push(usize::try_from(*i).map_err(|_| negative(*i))?);
        }
        Ok(out)
    }

    /// The ints of a size or stride argument, for messages.
    fn raw_dims(&self, id: Id) -> Vec<i64> {
        match self.arena.get(id) {
            Obj::Leaf(Value::Size(d)) => d.to_vec(),
            _ => self
                .seq_items(id)
                .map(|s| {
                    s.iter()
                        .filter_map(|&d| match self.arena.leaf(d) {
                            Some(Value::Int(i)) => Some(*i),
                            _ => None,
                        })
                        .collect()
                })
                .unwrap_or_default(),
        }
    }

    pub(super) fn tensor_arg(&self, id: Id) -> R<Tensor> {
        match self.arena.leaf(id) {
            Some(Value::Tensor(t)) => Ok(t.clone()),
            _ => Err(self.malformed(format!(
                "expected a tensor, found {}",
                self.arena.get(id).type_name()
            ))),
        }
    }

    pub(super) fn bool_arg(&self, id: Id, what: &str) -> R<bool> {
        match self.arena.leaf(id) {
            Some(Value::Bool(b)) => Ok(*b),
            Some(Value::Int(i)) => Ok(*i != 0),
            _ => Err(self.malformed(format!("{what} must be a bool"))),
        }
    }

    pub(super) fn u64_leaf(&self, v: Option<&Value>, what: &str) -> R<u64> {
        match v {
            // torch computes with these in Python, where True is 1.
            Some(Value::Bool(b)) => Ok(u64::from(*b)),
            Some(Value::Int(i)) => {
                u64::try_from(*i).map_err(|_| self.malformed(format!("negative {what} {i}")))
            }
            Some(Value::BigInt(_)) => Err(CheckpointError::SizeOverflow {
                what: format!("{}: {what}", self.record),
                detail: "does not fit in 64 bits".into(),
            }),
            _ => Err(self.malformed(format!("{what} must be an int"))),
        }
    }
}
