//! The pickle writer: turns a [`Value`] tree into the `data.pkl` that `torch.save` (protocol 2,
//! CPython's C pickler with `fix_imports`) writes for the same Python object, using only opcodes
//! that torch's weights-only unpickler accepts.
//!
//! Mirrors CPython where it shows in the bytes: every str/tuple/list/dict/global/REDUCE result is
//! memoized right after creation (BINPUT, LONG_BINPUT from index 256); an object met again (same
//! `Arc`) is fetched with BINGET; exact lists and dicts are batched as `_pickle.c` does
//! (`batch_list_exact`/`batch_dict_exact`: a single item uses APPEND/SETITEM, otherwise MARK
//! batches of 1000, and a dict of a multiple of 1000 items ends with an empty batch), while
//! OrderedDict items go through the generic iterator batching (a trailing single item uses
//! SETITEM). The writer is iterative: nesting depth is capped at [`MAX_DEPTH`], never the stack.
//!
//! Object sharing follows `Arc` identity (Python's `id()`), plus what torch shares by itself:
//! the constants 'storage', 'latin1' and 'cpu'/'mps'/'meta' locations, one key str per storage,
//! and CPython's empty-string singleton. Tensors have no identity here: each occurrence is its
//! own REDUCE (torch would fetch a tensor object met twice). One deliberate difference: empty
//! `bytes` are written as `_codecs.encode('', 'latin1')`, since torch's `bytes()` form is refused
//! by its own weights-only loader.

use std::borrow::Cow;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;

use crate::checkpoint::value::Value;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::storage::Storage;
use crate::tensor::Tensor;

mod objects;
mod scalars;

use scalars::tuple_op;

/// Opcode bytes come from the one table the reader decodes with.
use super::ops as op;

/// Deepest container nesting the writer accepts.
pub const MAX_DEPTH: usize = 1000;
/// Items per MARK … APPENDS/SETITEMS batch (CPython's BATCHSIZE).
const BATCH: usize = 1000;

/// A pickled checkpoint: the `data.pkl` bytes and the storages its persistent ids name.
pub struct PickledCheckpoint {
    pub data_pkl: Vec<u8>,
    /// One entry per distinct storage, key "0", "1", ... in first-seen order (the order torch 2.x
    /// writes them); the saver writes record data/<key> from each storage's whole byte buffer.
    pub storages: Vec<(String, Storage)>,
}

/// Pickles `value` as torch.save does (protocol 2). `location_of` gives the location tag written
/// into each storage's persistent id (normally `storage.device().location_tag()`, e.g. "cpu", "cuda:0").
pub fn pickle_checkpoint(
    value: &Value,
    location_of: &dyn Fn(&Storage) -> String,
) -> Result<PickledCheckpoint> {
    let mut w = Writer {
        out: vec![op::PROTO, 2],
        memo: HashMap::new(),
        memo_len: 0,
        stack: vec![Task::Value(value, 0)],
        storages: Vec::new(),
        storage_index: HashMap::new(),
        location_of,
    };
    while let Some(task) = w.stack.pop() {
        w.run(task)?;
    }
    w.out.push(op::STOP);
    Ok(PickledCheckpoint {
        data_pkl: w.out,
        storages: w.storages,
    })
}

/// What a memo entry stands for, so that a later occurrence can be fetched with BINGET.
#[derive(Clone, PartialEq, Eq, Hash)]
enum Ident {
    /// An `Arc`-shared value, by kind and pointer (Python's `id()`).
    Obj(Kind, usize),
    Global(&'static str, &'static str),
    /// A string torch takes from one constant object each time ('storage', 'latin1', 'cpu', and
    /// CPython's empty-string singleton).
    Const(Cow<'static, str>),
    /// The key string of a storage (torch's `id_map` hands out one str per storage).
    StorageKey(usize),
}

#[derive(Copy, Clone, PartialEq, Eq, Hash)]
enum Kind {
    Str,
    Bytes,
    ByteArray,
    List,
    Tuple,
    Set,
    Dict,
    Size,
}

fn ptr<T: ?Sized>(a: &Arc<T>) -> usize {
    Arc::as_ptr(a) as *const u8 as usize
}

/// Pending work; the stack runs them last-pushed first.
enum Task<'a> {
    Value(&'a Value, usize),
    /// A tensor; `true` for the `self.data` inside a Parameter's reduction.
    Tensor(&'a Tensor, bool),
    Op(u8),
    /// Memoize the stack top (under an identity when it can be met again).
    Put(Option<Ident>),
    Global(&'static str, &'static str),
    ConstStr(&'static str),
    ArcStr(&'a Arc<str>),
    /// `bytes` decoded as latin-1 into a fresh str.
    Latin1(&'a [u8]),
    Int(i128),
    Float(f64),
    Bool(bool),
    Ints(Ints<'a>),
    /// `OrderedDict()` (a tensor's backward hooks).
    EmptyOrderedDict,
    PersId(&'a Tensor),
    Batch(Batch<'a>),
}

#[derive(Copy, Clone)]
enum Ints<'a> {
    U(&'a [usize]),
    I(&'a [i64]),
}

/// The items of one container, written as APPEND(S) or SETITEM(S) batches.
struct Batch<'a> {
    src: Items<'a>,
    pos: usize,
    mode: Mode,
    depth: usize,
}

#[derive(Clone)]
enum Items<'a> {
    Seq(&'a [Value]),
    Pairs(Rc<[(&'a Value, &'a Value)]>),
    Attrs(&'a [(Arc<str>, Value)]),
}

#[derive(Copy, Clone, PartialEq, Eq)]
enum Mode {
    /// `batch_list_exact` / `batch_dict_exact` (`list` and `dict` objects).
    Exact,
    /// `batch_list` / `batch_dict` on an iterator (reduce list/dict items: OrderedDict).
    Generic,
}

impl Items<'_> {
    fn len(&self) -> usize {
        match self {
            Items::Seq(s) => s.len(),
            Items::Pairs(p) => p.len(),
            Items::Attrs(a) => a.len(),
        }
    }
}

struct Writer<'a, 'f> {
    out: Vec<u8>,
    memo: HashMap<Ident, u32>,
    memo_len: u32,
    stack: Vec<Task<'a>>,
    storages: Vec<(String, Storage)>,
    /// Storage id → (index into `storages`, dtype used for the mixed-dtype check).
    storage_index: HashMap<usize, (usize, DType)>,
    location_of: &'f dyn Fn(&Storage) -> String,
}

fn invalid(reason: String) -> Error {
    Error::InvalidArgument {
        op: "pickle_checkpoint",
        name: "value",
        reason,
    }
}

impl<'a> Writer<'a, '_> {
    /// Pushes `tasks` so that they run in the given order.
    fn push<const N: usize>(&mut self, tasks: [Task<'a>; N]) {
        self.stack.extend(tasks.into_iter().rev());
    }

    fn run(&mut self, task: Task<'a>) -> Result<()> {
        match task {
            Task::Value(v, depth) => self.value(v, depth)?,
            Task::Tensor(t, inner) => self.tensor(t, inner),
            Task::Op(b) => self.out.push(b),
            Task::Put(ident) => self.put(ident)?,
            Task::Global(m, n) => self.global(m, n)?,
            Task::ConstStr(s) => self.const_str(Cow::Borrowed(s))?,
            Task::ArcStr(s) => self.arc_str(s)?,
            Task::Latin1(b) => {
                self.latin1(b)?;
                self.put(None)?;
            }
            Task::Int(i) => self.int(i),
            Task::Float(f) => {
                self.out.push(op::BINFLOAT);
                self.out.extend_from_slice(&f.to_bits().to_be_bytes());
            }
            Task::Bool(b) => self.out.push(if b { op::NEWTRUE } else { op::NEWFALSE }),
            Task::Ints(ints) => self.ints(ints)?,
            Task::EmptyOrderedDict => self.push([
                Task::Global("collections", "OrderedDict"),
                Task::Op(op::EMPTY_TUPLE),
                Task::Op(op::REDUCE),
                Task::Put(None),
            ]),
            Task::PersId(t) => self.persid(t)?,
            Task::Batch(b) => self.batch(b),
        }
        Ok(())
    }

    /// Writes BINGET when `ident` is memoized already.
    fn fetch(&mut self, ident: &Ident) -> bool {
        let Some(&idx) = self.memo.get(ident) else {
            return false;
        };
        match u8::try_from(idx) {
            Ok(i) => self.out.extend_from_slice(&[op::BINGET, i]),
            Err(_) => {
                self.out.push(op::LONG_BINGET);
                self.out.extend_from_slice(&idx.to_le_bytes());
            }
        }
        true
    }

    fn put(&mut self, ident: Option<Ident>) -> Result<()> {
        let idx = self.memo_len;
        self.memo_len = idx.checked_add(1).ok_or_else(|| Error::Overflow {
            what: "pickle memo index".into(),
        })?;
        match u8::try_from(idx) {
            Ok(i) => self.out.extend_from_slice(&[op::BINPUT, i]),
            Err(_) => {
                self.out.push(op::LONG_BINPUT);
                self.out.extend_from_slice(&idx.to_le_bytes());
            }
        }
        if let Some(ident) = ident {
            self.memo.insert(ident, idx);
        }
        Ok(())
    }

    fn global(&mut self, module: &'static str, name: &'static str) -> Result<()> {
        let ident = Ident::Global(module, name);
        if !self.fetch(&ident) {
            self.out.push(op::GLOBAL);
            for part in [module, name] {
                self.out.extend_from_slice(part.as_bytes());
                self.out.push(b'\n');
            }
            self.put(Some(ident))?;
        }
        Ok(())
    }

    fn const_str(&mut self, s: Cow<'static, str>) -> Result<()> {
        let ident = Ident::Const(s.clone());
        if !self.fetch(&ident) {
            self.unicode(&s)?;
            self.put(Some(ident))?;
        }
        Ok(())
    }

    fn arc_str(&mut self, s: &Arc<str>) -> Result<()> {
        if s.is_empty() {
            return self.const_str(Cow::Borrowed(""));
        }
        let ident = Ident::Obj(Kind::Str, ptr(s));
        if !self.fetch(&ident) {
            self.unicode(s)?;
            self.put(Some(ident))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_golden;
