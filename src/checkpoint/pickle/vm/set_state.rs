//! BUILD on a tensor or Parameter, as torch's weights-only unpickler applies it: a plain tensor
//! gets `inst.set_(*state)`, a Parameter `Tensor.__setstate__(state)` (a 4-tuple is `set_`, a
//! 5-tuple replaces `.data` and sets `requires_grad`, a 3-tuple sets `requires_grad`). Torch's
//! files never contain these, but hand-made ones do, and ignoring the state would load other
//! values than torch. Every outcome here was checked against torch 2.15.

use super::arena::{Id, Obj};
use super::{Machine, R};
use crate::checkpoint::value::Value;
use crate::storage::Storage;
use crate::tensor::{contiguous_strides, Dims, Tensor};

impl Machine<'_> {
    /// Applies `state` to the tensor `inst` in place, so every memo reference sees the result.
    pub(super) fn build_tensor(&mut self, inst: Id, state: Id) -> R<()> {
        let Some(Value::Tensor(t)) = self.arena.leaf(inst).cloned() else {
            return Err(self.malformed("BUILD of a tensor on something else"));
        };
        let items = self.state_items(state, t.is_parameter())?;
        let new = if t.is_parameter() {
            self.parameter_setstate(&t, &items)?
        } else {
            self.set_(&t, &items)?
        };
        if let Some(slot) = self.arena.get_mut(inst) {
            *slot = Obj::Leaf(Value::Tensor(new));
        }
        Ok(())
    }

    /// The items torch unpacks from `state`: a tuple or list; for `set_(*state)` also a dict
    /// (its keys), which only works when it is empty.
    fn state_items(&self, state: Id, parameter: bool) -> R<Vec<Id>> {
        match self.arena.get(state) {
            Obj::Tuple { items, .. } => Ok(items.to_vec()),
            Obj::List(items) => Ok(items.clone()),
            Obj::Dict { items, .. } if !parameter && items.is_empty() => Ok(Vec::new()),
            other => Err(self.malformed(format!(
                "BUILD of a {} with a {} state (torch unpacks it as set_() arguments)",
                if parameter { "Parameter" } else { "tensor" },
                other.type_name()
            ))),
        }
    }

    /// `t.set_(*args)`: no arguments empties the tensor; one is a tensor or storage to view
    /// whole; three or four are `(storage, offset, size[, stride])`.
    fn set_(&mut self, t: &Tensor, args: &[Id]) -> R<Tensor> {
        let keep = |n: Tensor| {
            n.with_requires_grad(t.requires_grad())
                .with_parameter(t.is_parameter())
        };
        match *args {
            [] => {
                let empty = if t.storage().is_meta() {
                    Storage::meta(0)
                } else {
                    Storage::from_bytes(&[]).map_err(|e| self.malformed(e.to_string()))?
                };
                let e = Tensor::from_storage(empty, t.dtype(), 0, vec![0], vec![1])
                    .map_err(|e| self.malformed(e.to_string()))?;
                Ok(keep(e))
            }
            [src] => match self.arena.get(src) {
                Obj::Leaf(Value::Tensor(s)) if s.dtype() == t.dtype() => Ok(keep(s.clone())),
                Obj::Leaf(Value::Tensor(s)) => Err(self.malformed(format!(
                    "set_() of a {} tensor to a {} tensor",
                    t.dtype(),
                    s.dtype()
                ))),
                Obj::Storage(sref) => {
                    self.storage_dtype_matches(sref.dtype, t)?;
                    let n = sref.storage.nbytes() / t.dtype().size();
                    self.checked_view(
                        src,
                        0,
                        Dims::from_slice(&[n]),
                        Dims::from_slice(&[1]),
                        Some(t.dtype()),
                    )
                    .map(keep)
                }
                other => Err(self.malformed(format!(
                    "set_() with a {}, not a tensor or storage",
                    other.type_name()
                ))),
            },
            [src, offset, size] | [src, offset, size, _] => {
                let Obj::Storage(sref) = self.arena.get(src) else {
                    return Err(
                        self.malformed("set_(storage, offset, size, stride) needs a storage")
                    );
                };
                self.storage_dtype_matches(sref.dtype, t)?;
                let offset = self.offset_arg(offset)?;
                let shape = self.dims(size, "size")?;
                let strides = match args.get(3) {
                    Some(&st) => self.dims(st, "stride")?,
                    None => Dims::from_slice(&contiguous_strides(&shape)),
                };
                self.checked_view(src, offset, shape, strides, Some(t.dtype()))
                    .map(keep)
            }
            _ => Err(self.malformed(format!(
                "BUILD of a tensor: set_() takes 0, 1, 3 or 4 arguments, the state has {}",
                args.len()
            ))),
        }
    }

    fn storage_dtype_matches(&self, storage: Option<crate::dtype::DType>, t: &Tensor) -> R<()> {
        match storage {
            Some(d) if d != t.dtype() => Err(self.malformed(format!(
                "set_() of a {} tensor to a storage of {d}",
                t.dtype()
            ))),
            _ => Ok(()),
        }
    }

    /// `Tensor.__setstate__(state)` on a Parameter.
    fn parameter_setstate(&mut self, t: &Tensor, state: &[Id]) -> R<Tensor> {
        match *state {
            [_, _, _, _] if t.requires_grad() => Err(self.malformed(
                "BUILD of a Parameter that requires grad with a set_() state (torch: a leaf \
                 Variable that requires grad is being used in an in-place operation)",
            )),
            [_, _, _, _] => self.set_(t, state),
            // (data, _, hooks, requires_grad, _): `.data` is replaced, whatever its shape.
            [data, _, _, rg, _] => {
                let d = self.tensor_arg(data)?;
                let rg = self.bool_arg(rg, "requires_grad")?;
                Ok(d.with_parameter(true).with_requires_grad(rg))
            }
            [rg, _, _] => {
                let rg = self.bool_arg(rg, "requires_grad")?;
                Ok(t.clone().with_requires_grad(rg))
            }
            _ => Err(self.malformed(format!(
                "BUILD of a Parameter: its state must have 3, 4 or 5 items, not {}",
                state.len()
            ))),
        }
    }
}
