//! The machine's stack, memo and container helpers, and its error constructors.

use std::sync::Arc;

use super::arena::{Id, Items, Obj, MAX_KEY_NODES};
use super::{scalars, Machine, R};
use crate::checkpoint::pickle::allowlist::{self, Site};
use crate::checkpoint::pickle::ops::DecodeError;
use crate::checkpoint::value::{DictKind, Value};
use crate::error::CheckpointError;

impl Machine<'_> {
    pub(super) fn decode_error(&self, e: DecodeError) -> CheckpointError {
        match e {
            DecodeError::Unknown(b) => self.malformed(format!("unknown opcode 0x{b:02x}")),
            DecodeError::Truncated {
                name,
                needed,
                available,
            } => CheckpointError::Truncated {
                what: format!("{}: pickle opcode {name}", self.record),
                offset: self.at as u64,
                needed,
                available,
            },
            DecodeError::NegativeLength { name } => {
                self.malformed(format!("{name} with a negative length"))
            }
        }
    }

    /// A MalformedPickle error at the current opcode.
    pub(super) fn malformed(&self, detail: impl Into<String>) -> CheckpointError {
        CheckpointError::MalformedPickle {
            record: self.record.to_string(),
            offset: self.at as u64,
            opcode: Some(self.op),
            detail: detail.into(),
        }
    }

    pub(super) fn limit(&self, limit: &'static str, max: u64, value: u64) -> CheckpointError {
        CheckpointError::ResourceLimit {
            record: self.record.to_string(),
            limit,
            max,
            value,
        }
    }

    pub(super) fn site(&self) -> Site<'_> {
        Site {
            record: self.record,
            offset: self.at as u64,
            data: self.data,
        }
    }

    /// Adds a new object to the arena (counted against `max_objects` and `max_bytes`) without
    /// pushing it.
    pub(super) fn alloc(&mut self, obj: Obj) -> R<Id> {
        let n = self.arena.len() as u64;
        if n >= self.limits.max_objects {
            return Err(self.limit("max_objects", self.limits.max_objects, n + 1));
        }
        self.charge(obj_bytes(&obj))?;
        Ok(self.arena.push(obj))
    }

    pub(super) fn push_new(&mut self, obj: Obj) -> R<()> {
        let id = self.alloc(obj)?;
        self.push_id(id)
    }

    /// Bytes the live stack and mark stack occupy (they shrink again, so they are not `used`).
    fn live_bytes(&self) -> u64 {
        (self.stack.len() as u64 + self.marks.len() as u64 + 1) * ID_BYTES
    }

    /// Charges `bytes` that stay allocated until STOP against `max_bytes`.
    pub(super) fn charge(&mut self, bytes: u64) -> R<()> {
        self.used = self.used.saturating_add(bytes);
        self.check_budget()
    }

    fn check_budget(&self) -> R<()> {
        let total = self.used.saturating_add(self.live_bytes());
        if total > self.limits.max_bytes {
            return Err(self.limit(MAX_BYTES, self.limits.max_bytes, total));
        }
        Ok(())
    }

    /// Every push is counted: DUP, BINGET and MARK add no object but still grow the stack, so a
    /// record of them is a memory bomb of its own.
    pub(super) fn push_id(&mut self, id: Id) -> R<()> {
        self.check_budget()?;
        self.stack.push(id);
        Ok(())
    }

    pub(super) fn push_mark(&mut self) -> R<()> {
        self.check_budget()?;
        self.marks.push(self.stack.len());
        Ok(())
    }

    pub(super) fn push_leaf(&mut self, v: Value) -> R<()> {
        self.push_new(Obj::Leaf(v))
    }

    /// Counts `n` bytes of string data against `max_string_bytes` (and `max_bytes`).
    pub(super) fn count_bytes(&mut self, n: usize) -> R<()> {
        self.charge(n as u64)?;
        self.string_bytes = self.string_bytes.saturating_add(n as u64);
        if self.string_bytes > self.limits.max_string_bytes {
            return Err(self.limit(
                "max_string_bytes",
                self.limits.max_string_bytes,
                self.string_bytes,
            ));
        }
        Ok(())
    }

    pub(super) fn pop(&mut self) -> R<Id> {
        if self.stack.len() <= self.marks.last().copied().unwrap_or(0) {
            return Err(self.malformed("stack underflow"));
        }
        self.stack
            .pop()
            .ok_or_else(|| self.malformed("stack underflow"))
    }

    pub(super) fn top(&self) -> R<Id> {
        if self.stack.len() <= self.marks.last().copied().unwrap_or(0) {
            return Err(self.malformed("stack underflow"));
        }
        self.stack
            .last()
            .copied()
            .ok_or_else(|| self.malformed("stack underflow"))
    }

    /// The items above the last MARK, as a tuple's (inline when few).
    pub(super) fn pop_mark_items(&mut self) -> R<Items> {
        let m = self
            .marks
            .pop()
            .ok_or_else(|| self.malformed("no MARK before this opcode"))?;
        Ok(self.stack.drain(m.min(self.stack.len())..).collect())
    }

    pub(super) fn pop_mark(&mut self) -> R<Vec<Id>> {
        let m = self
            .marks
            .pop()
            .ok_or_else(|| self.malformed("no MARK before this opcode"))?;
        Ok(self.stack.split_off(m.min(self.stack.len())))
    }

    /// Any index up to 2^64 is allowed (Python's memo is a dict): indices past the dense range
    /// cost one map entry each, charged like everything else.
    pub(super) fn memo_put(&mut self, index: u64) -> R<()> {
        let top = self.top()?;
        let grown = self.memo.insert(index, top);
        self.charge(grown)
    }

    pub(super) fn memo_get(&mut self, index: u64) -> R<()> {
        let id = self
            .memo
            .get(index)
            .ok_or_else(|| self.malformed(format!("memo index {index} was never set")))?;
        self.push_id(id)
    }

    pub(super) fn check_hashable(&self, id: Id) -> R<()> {
        match self.arena.key_nodes(id) {
            Some(n) if n <= MAX_KEY_NODES => Ok(()),
            Some(n) => Err(self.limit("dict key size", MAX_KEY_NODES, n)),
            None => Err(self.malformed(format!(
                "unhashable {} used as a dict key or set item",
                self.arena.get(id).type_name()
            ))),
        }
    }

    pub(super) fn set_items(&mut self, pairs: Vec<Id>) -> R<()> {
        if !pairs.len().is_multiple_of(2) {
            return Err(self.malformed("SETITEMS with an odd number of items"));
        }
        for &k in pairs.iter().step_by(2) {
            self.check_hashable(k)?;
        }
        let target = self.top()?;
        let type_name = self.arena.get(target).type_name();
        self.charge(pairs.len() as u64 * ID_BYTES)?;
        match self.arena.get_mut(target) {
            Some(Obj::Dict { items, .. }) => {
                items.extend(pairs.chunks_exact(2).map(|c| (c[0], c[1])));
                Ok(())
            }
            _ => Err(self.malformed(format!(
                "can only set items of dict, OrderedDict or Counter, not {type_name}"
            ))),
        }
    }

    pub(super) fn append(&mut self, new: Vec<Id>) -> R<()> {
        let target = self.top()?;
        let type_name = self.arena.get(target).type_name();
        self.charge(new.len() as u64 * ID_BYTES)?;
        match self.arena.get_mut(target) {
            Some(Obj::List(items)) => {
                items.extend(new);
                Ok(())
            }
            _ => Err(self.malformed(format!("can only append to lists, not {type_name}"))),
        }
    }

    pub(super) fn add_items(&mut self, new: Vec<Id>) -> R<()> {
        for &k in &new {
            self.check_hashable(k)?;
        }
        let target = self.top()?;
        let type_name = self.arena.get(target).type_name();
        self.charge(new.len() as u64 * ID_BYTES)?;
        match self.arena.get_mut(target) {
            Some(Obj::Set(items)) => {
                items.extend(new);
                Ok(())
            }
            _ => Err(self.malformed(format!("ADDITEMS on {type_name}, not a set"))),
        }
    }

    pub(super) fn dict_from_flat(&mut self, flat: Vec<Id>) -> R<()> {
        self.push_new(Obj::Dict {
            kind: DictKind::Dict,
            items: Vec::new(),
            attrs: Vec::new(),
        })?;
        self.set_items(flat)
    }

    pub(super) fn push_tuple(&mut self, items: Items) -> R<()> {
        let n = self.arena.len() as u64;
        if n >= self.limits.max_objects {
            return Err(self.limit("max_objects", self.limits.max_objects, n + 1));
        }
        self.charge(OBJ_BYTES + items.len() as u64 * ID_BYTES)?;
        let id = self.arena.tuple(items);
        self.push_id(id)
    }

    pub(super) fn push_text(&mut self, bytes: &[u8]) -> R<()> {
        self.count_bytes(bytes.len())?;
        let s = std::str::from_utf8(bytes)
            .map_err(|e| self.malformed(format!("string is not valid UTF-8: {e}")))?;
        self.push_leaf(Value::Str(Arc::from(s)))
    }

    pub(super) fn push_py2_str(&mut self, bytes: &[u8]) -> R<()> {
        self.count_bytes(bytes.len())?;
        self.push_leaf(scalars::py2_str(bytes))
    }

    pub(super) fn global(&mut self, module: &str, name: &str) -> R<()> {
        let g = allowlist::resolve(module, name, self.site())?;
        self.push_new(Obj::Global(g))
    }

    pub(super) fn line_str<'b>(&self, b: &'b [u8]) -> R<&'b str> {
        std::str::from_utf8(b).map_err(|_| self.malformed("argument is not valid UTF-8"))
    }
}

/// The `limit` name of the working-memory budget in messages.
pub(super) const MAX_BYTES: &str = "working memory in bytes (Limits::max_bytes)";

/// One stack slot, mark or container item.
const ID_BYTES: u64 = std::mem::size_of::<Id>() as u64;
/// One arena object, before its payload.
pub(super) const OBJ_BYTES: u64 = std::mem::size_of::<Obj>() as u64;
const DENSE_SLOT_BYTES: u64 = std::mem::size_of::<Option<Id>>() as u64;
/// A hash-map entry with its control byte and load-factor slack, rounded up.
const SPARSE_ENTRY_BYTES: u64 = 48;

/// What an object costs in the arena: the slot plus the heap payload it owns.
fn obj_bytes(obj: &Obj) -> u64 {
    let payload = match obj {
        Obj::Leaf(Value::Tensor(t)) => 2 * ID_BYTES * t.shape().len() as u64,
        Obj::Leaf(_) | Obj::Global(_) | Obj::Storage(_) => 0,
        Obj::List(v) | Obj::Set(v) => v.len() as u64 * ID_BYTES,
        Obj::Tuple { items, .. } => items.len() as u64 * ID_BYTES,
        Obj::Dict { items, attrs, .. } => (items.len() + attrs.len()) as u64 * 2 * ID_BYTES,
    };
    OBJ_BYTES + payload
}

/// The pickle memo. Writers number entries densely from 0, so small indices live in a vector
/// (no hashing on the hot path); a sparse or hostile index above `DENSE` goes to a map, so a
/// single huge index costs one entry, not a huge table.
#[derive(Default)]
pub(super) struct Memo {
    dense: Vec<Option<Id>>,
    sparse: std::collections::HashMap<u64, Id>,
    count: u64,
}

impl Memo {
    const DENSE: u64 = 1 << 20;

    /// Sets entry `index`; returns the bytes the memo grew by (for the budget).
    pub(super) fn insert(&mut self, index: u64, id: Id) -> u64 {
        let mut grown = 0;
        let fresh = if index < Self::DENSE {
            let i = index as usize;
            if self.dense.len() <= i {
                grown = (i + 1 - self.dense.len()) as u64 * DENSE_SLOT_BYTES;
                self.dense.resize(i + 1, None);
            }
            self.dense[i].replace(id).is_none()
        } else {
            let fresh = self.sparse.insert(index, id).is_none();
            grown = u64::from(fresh) * SPARSE_ENTRY_BYTES;
            fresh
        };
        self.count += fresh as u64;
        grown
    }

    pub(super) fn get(&self, index: u64) -> Option<Id> {
        if index < Self::DENSE {
            self.dense.get(index as usize).copied().flatten()
        } else {
            self.sparse.get(&index).copied()
        }
    }

    /// Number of entries set, as Python's `len(memo)` (MEMOIZE's next index).
    pub(super) fn len(&self) -> u64 {
        self.count
    }
}
