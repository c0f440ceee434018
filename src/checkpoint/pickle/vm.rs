//! The pickle machine. It runs protocol 0–5 pickles over an arena of objects (see `arena`),
//! resolves globals symbolically (see `allowlist`), rebuilds tensors over storages supplied by a
//! [`StorageResolver`] (see `rebuild`), and at STOP turns the result into a [`Value`] tree
//! (see `freeze`). It never executes anything from the stream.

#[path = "vm/arena.rs"]
mod arena;
#[path = "vm/conj_neg.rs"]
mod conj_neg;
#[path = "vm/freeze.rs"]
mod freeze;
#[path = "vm/persistent.rs"]
mod persistent;
#[path = "vm/rebuild.rs"]
mod rebuild;
#[path = "vm/reduce.rs"]
mod reduce;
#[path = "vm/scalars.rs"]
mod scalars;
#[path = "vm/set_state.rs"]
mod set_state;
#[path = "vm/stack.rs"]
mod stack;
#[cfg(test)]
#[path = "vm/tests.rs"]
mod tests;
#[cfg(test)]
#[path = "vm/tests_errors.rs"]
mod tests_errors;
#[cfg(test)]
#[path = "vm/tests_hostile.rs"]
mod tests_hostile;
#[cfg(test)]
#[path = "vm/tests_state.rs"]
mod tests_state;
#[cfg(test)]
#[path = "vm/tests_torch.rs"]
mod tests_torch;

use std::collections::HashMap;

use stack::Memo;
use std::sync::Arc;

use self::arena::{Arena, Id, Items, Obj};
use super::ops::{self, Instr};
use super::{Limits, StorageResolver};
use crate::checkpoint::value::Value;
use crate::error::CheckpointError;

/// Runs the pickle in `data` (the record named `record`, used in every error message) and returns
/// the value on the stack at STOP, plus the offset just after STOP (legacy files chain pickles).
pub fn unpickle(
    data: &[u8],
    record: &str,
    resolver: &mut dyn StorageResolver,
    limits: &Limits,
) -> Result<(Value, usize), CheckpointError> {
    let mut m = Machine {
        data,
        record,
        limits,
        resolver,
        arena: Arena::new(),
        stack: Vec::new(),
        marks: Vec::new(),
        used: 0,
        memo: Memo::default(),
        storages: HashMap::new(),
        string_bytes: 0,
        tensors: 0,
        at: 0,
        op: 0,
    };
    let (root, end) = m.run()?;
    let budget = limits.max_bytes.saturating_sub(m.used);
    let value = freeze::freeze(&m.arena, root, record, limits, budget)?;
    Ok((value, end))
}

struct Machine<'a> {
    data: &'a [u8],
    record: &'a str,
    limits: &'a Limits,
    resolver: &'a mut dyn StorageResolver,
    arena: Arena,
    stack: Vec<Id>,
    /// Stack lengths at each open MARK.
    marks: Vec<usize>,
    memo: Memo,
    /// Storages already resolved, by key.
    storages: HashMap<Arc<str>, arena::StorageRef>,
    string_bytes: u64,
    /// Bytes charged against `limits.max_bytes` for what the machine keeps until STOP (objects,
    /// container slots, memo entries, strings); the live stack is counted on top of this.
    used: u64,
    /// Tensors rebuilt so far (numbers them in messages).
    tensors: usize,
    /// Offset and byte of the opcode being run.
    at: usize,
    op: u8,
}

type R<T> = Result<T, CheckpointError>;

impl Machine<'_> {
    fn run(&mut self) -> R<(Id, usize)> {
        let mut pos = 0;
        loop {
            self.at = pos;
            self.op = self.data.get(pos).copied().unwrap_or(0);
            let ins = ops::decode(self.data, pos).map_err(|e| self.decode_error(e))?;
            pos = ins.next;
            if ins.op.code == ops::STOP {
                return Ok((self.pop()?, pos));
            }
            self.step(ins)?;
        }
    }

    fn step(&mut self, ins: Instr<'_>) -> R<()> {
        use ops::*;
        let (uint, bytes) = match ins.arg {
            Arg::Uint(u) => (u, &[][..]),
            Arg::Bytes(b) => (0, b),
            _ => (0, &[][..]),
        };
        match ins.op.code {
            PROTO if uint > 5 => {
                return Err(self.malformed(format!("unsupported pickle protocol {uint}")))
            }
            PROTO => {}
            // The frame must be there: CPython's unpickler reads it whole before running it.
            FRAME => {
                let left = self.data.len().saturating_sub(ins.next);
                if uint > left as u64 {
                    return Err(CheckpointError::Truncated {
                        what: format!("{}: pickle FRAME", self.record),
                        offset: self.at as u64,
                        needed: uint,
                        available: left as u64,
                    });
                }
            }
            MARK => self.push_mark()?,
            NONE => self.push_leaf(Value::None)?,
            NEWTRUE => self.push_leaf(Value::Bool(true))?,
            NEWFALSE => self.push_leaf(Value::Bool(false))?,
            BININT1 | BININT2 => self.push_leaf(Value::Int(uint as i64))?,
            BININT => {
                let Arg::Int(i) = ins.arg else {
                    return Err(self.malformed("bad BININT"));
                };
                self.push_leaf(Value::Int(i))?
            }
            BINFLOAT => {
                let Arg::Float(f) = ins.arg else {
                    return Err(self.malformed("bad BINFLOAT"));
                };
                self.push_leaf(Value::Float(f))?
            }
            INT | LONG => {
                let v = scalars::text_int(bytes, ins.op.code == INT).map_err(|e| match e {
                    scalars::TextIntError::Invalid => self.malformed("invalid integer literal"),
                    scalars::TextIntError::TooLong(n) => self.limit(
                        "digits of a text integer (CPython's sys.get_int_max_str_digits)",
                        scalars::MAX_INT_DIGITS as u64,
                        n as u64,
                    ),
                })?;
                self.push_leaf(v)?
            }
            LONG1 | LONG4 => {
                self.count_bytes(bytes.len())?;
                self.push_leaf(scalars::int_from_le(bytes))?
            }
            FLOAT => {
                let f = self
                    .line_str(bytes)?
                    .trim()
                    .parse::<f64>()
                    .map_err(|_| self.malformed("invalid float literal"))?;
                self.push_leaf(Value::Float(f))?
            }
            STRING => {
                let raw = scalars::unquote_py2(bytes)
                    .ok_or_else(|| self.malformed("invalid STRING literal"))?;
                self.push_py2_str(&raw)?
            }
            BINSTRING | SHORT_BINSTRING => self.push_py2_str(bytes)?,
            UNICODE => {
                let s = scalars::raw_unicode_escape(bytes)
                    .ok_or_else(|| self.malformed("invalid UNICODE literal"))?;
                self.push_text(s.as_bytes())?
            }
            BINUNICODE | SHORT_BINUNICODE | BINUNICODE8 => self.push_text(bytes)?,
            BINBYTES | SHORT_BINBYTES | BINBYTES8 => {
                self.count_bytes(bytes.len())?;
                self.push_leaf(Value::Bytes(Arc::from(bytes)))?
            }
            BYTEARRAY8 => {
                self.count_bytes(bytes.len())?;
                self.push_leaf(Value::ByteArray(Arc::from(bytes)))?
            }
            EMPTY_LIST => self.push_new(Obj::List(Vec::new()))?,
            EMPTY_SET => self.push_new(Obj::Set(Vec::new()))?,
            EMPTY_DICT => self.dict_from_flat(Vec::new())?,
            EMPTY_TUPLE => self.push_tuple(Items::new())?,
            LIST => {
                let items = self.pop_mark()?;
                self.push_new(Obj::List(items))?
            }
            DICT => {
                let flat = self.pop_mark()?;
                self.dict_from_flat(flat)?
            }
            TUPLE => {
                let items = self.pop_mark_items()?;
                self.push_tuple(items)?
            }
            TUPLE1 | TUPLE2 | TUPLE3 => {
                let n = usize::from(ins.op.code - TUPLE1 + 1);
                let mut items = Items::new();
                for _ in 0..n {
                    items.push(self.pop()?);
                }
                items.reverse();
                self.push_tuple(items)?
            }
            APPEND => {
                let v = self.pop()?;
                self.append(vec![v])?
            }
            APPENDS => {
                let items = self.pop_mark()?;
                self.append(items)?
            }
            SETITEM => {
                let v = self.pop()?;
                let k = self.pop()?;
                self.set_items(vec![k, v])?
            }
            SETITEMS => {
                let items = self.pop_mark()?;
                self.set_items(items)?
            }
            ADDITEMS => {
                let items = self.pop_mark()?;
                self.add_items(items)?
            }
            FROZENSET => {
                return Err(CheckpointError::UnsafeGlobal {
                    record: self.record.to_string(),
                    offset: self.at as u64,
                    global: "builtins.frozenset".into(),
                    reason: "frozenset is not in torch's weights-only allowlist".into(),
                })
            }
            POP => {
                if self.stack.len() > self.marks.last().copied().unwrap_or(0) {
                    self.stack.pop();
                } else {
                    self.pop_mark()?;
                }
            }
            POP_MARK => {
                self.pop_mark()?;
            }
            DUP => {
                let t = self.top()?;
                self.push_id(t)?
            }
            BINPUT | LONG_BINPUT => self.memo_put(uint)?,
            MEMOIZE => self.memo_put(self.memo.len())?,
            PUT => {
                let i =
                    scalars::decimal_u64(bytes).ok_or_else(|| self.malformed("bad PUT index"))?;
                self.memo_put(i)?
            }
            BINGET | LONG_BINGET => self.memo_get(uint)?,
            GET => {
                let i =
                    scalars::decimal_u64(bytes).ok_or_else(|| self.malformed("bad GET index"))?;
                self.memo_get(i)?
            }
            GLOBAL | INST => {
                let Arg::Lines(m, n) = ins.arg else {
                    return Err(self.malformed("bad GLOBAL"));
                };
                let (m, n) = (self.line_str(m)?, self.line_str(n)?);
                self.global(m, n)?;
                if ins.op.code == INST {
                    return Err(self.malformed("INST (old-style class instances) is not supported"));
                }
            }
            STACK_GLOBAL => {
                let name = self.pop()?;
                let module = self.pop()?;
                let (Some(Value::Str(m)), Some(Value::Str(n))) = (
                    self.arena.leaf(module).cloned(),
                    self.arena.leaf(name).cloned(),
                ) else {
                    return Err(self.malformed("STACK_GLOBAL needs two strings"));
                };
                self.global(&m, &n)?
            }
            REDUCE => {
                let args = self.pop()?;
                let func = self.pop()?;
                let id = self.reduce(func, args)?;
                self.push_id(id)?
            }
            NEWOBJ => {
                let args = self.pop()?;
                let cls = self.pop()?;
                let id = self.newobj(cls, args, None)?;
                self.push_id(id)?
            }
            NEWOBJ_EX => {
                let kwargs = self.pop()?;
                let args = self.pop()?;
                let cls = self.pop()?;
                let id = self.newobj(cls, args, Some(kwargs))?;
                self.push_id(id)?
            }
            BUILD => {
                let state = self.pop()?;
                let inst = self.top()?;
                self.build(inst, state)?
            }
            BINPERSID => {
                let pid = self.pop()?;
                let id = self.persistent_load(pid)?;
                self.push_id(id)?
            }
            PERSID => {
                return Err(self
                    .malformed("PERSID with a string id is not a storage reference torch writes"))
            }
            other => {
                let name = ops::info(other).map_or("?", |o| o.name);
                return Err(
                    self.malformed(format!("opcode {name} is not supported in checkpoints"))
                );
            }
        }
        Ok(())
    }
}
