//! The machine's stack, memo and container helpers, and its error constructors.

use std::sync::Arc;

use super::arena::{Id, Obj, MAX_KEY_NODES};
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

    /// Adds a new object to the arena (counted against `max_objects`) without pushing it.
    pub(super) fn alloc(&mut self, obj: Obj) -> R<Id> {
        let n = self.arena.len() as u64;
        if n >= self.limits.max_objects {
            return Err(self.limit("max_objects", self.limits.max_objects, n + 1));
        }
        Ok(self.arena.push(obj))
    }

    pub(super) fn push_new(&mut self, obj: Obj) -> R<()> {
        let id = self.alloc(obj)?;
        self.stack.push(id);
        Ok(())
    }

    pub(super) fn push_leaf(&mut self, v: Value) -> R<()> {
        self.push_new(Obj::Leaf(v))
    }

    /// Counts `n` bytes of string data against `max_string_bytes`.
    pub(super) fn count_bytes(&mut self, n: usize) -> R<()> {
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

    pub(super) fn pop_mark(&mut self) -> R<Vec<Id>> {
        let m = self
            .marks
            .pop()
            .ok_or_else(|| self.malformed("no MARK before this opcode"))?;
        Ok(self.stack.split_off(m.min(self.stack.len())))
    }

    pub(super) fn memo_put(&mut self, index: u64) -> R<()> {
        if index > self.limits.max_memo {
            return Err(self.limit("max_memo", self.limits.max_memo, index));
        }
        let top = self.top()?;
        self.memo.insert(index, top);
        Ok(())
    }

    pub(super) fn memo_get(&mut self, index: u64) -> R<()> {
        let id = self
            .memo
            .get(index)
            .ok_or_else(|| self.malformed(format!("memo index {index} was never set")))?;
        self.stack.push(id);
        Ok(())
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

    pub(super) fn push_tuple(&mut self, items: Vec<Id>) -> R<()> {
        let n = self.arena.len() as u64;
        if n >= self.limits.max_objects {
            return Err(self.limit("max_objects", self.limits.max_objects, n + 1));
        }
        let id = self.arena.tuple(items);
        self.stack.push(id);
        Ok(())
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

    pub(super) fn insert(&mut self, index: u64, id: Id) {
        let fresh = if index < Self::DENSE {
            let i = index as usize;
            if self.dense.len() <= i {
                self.dense.resize(i + 1, None);
            }
            self.dense[i].replace(id).is_none()
        } else {
            self.sparse.insert(index, id).is_none()
        };
        self.count += fresh as u64;
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
