//! How each Python object is reduced, in the order CPython's pickler writes the pieces.

use std::borrow::Cow;
use std::rc::Rc;

use super::{
    invalid, op, ptr, tuple_op, Batch, Ident, Items, Kind, Mode, Task, Writer, BATCH, MAX_DEPTH,
};
use crate::checkpoint::value::{DictKind, Value};
use crate::dtype::DType;
use crate::error::{CheckpointError, Result};
use crate::tensor::Tensor;

impl<'a> Writer<'a, '_> {
    pub(super) fn value(&mut self, v: &'a Value, depth: usize) -> Result<()> {
        if depth > MAX_DEPTH {
            return Err(CheckpointError::ResourceLimit {
                record: "data.pkl".into(),
                limit: "nesting depth",
                max: MAX_DEPTH as u64,
                value: depth as u64,
            }
            .into());
        }
        let d = depth + 1;
        match v {
            Value::None => self.out.push(op::NONE),
            Value::Bool(b) => self.run(Task::Bool(*b))?,
            Value::Int(i) => self.int(*i as i128),
            Value::BigInt(b) => self.big_int(b)?,
            Value::Float(f) => self.run(Task::Float(*f))?,
            Value::Complex(re, im) => self.push([
                Task::Global("__builtin__", "complex"),
                Task::Float(*re),
                Task::Float(*im),
                Task::Op(op::TUPLE2),
                Task::Put(None),
                Task::Op(op::REDUCE),
                Task::Put(None),
            ]),
            Value::Str(s) => self.arc_str(s)?,
            Value::Bytes(b) => {
                let ident = Ident::Obj(Kind::Bytes, ptr(b));
                if !self.fetch(&ident) {
                    self.bytes(b, Some(ident));
                }
            }
            Value::ByteArray(b) => {
                // Empty slices may share one static allocation: no identity for them.
                let ident = (!b.is_empty()).then(|| Ident::Obj(Kind::ByteArray, ptr(b)));
                if ident.as_ref().is_some_and(|i| self.fetch(i)) {
                    return Ok(());
                }
                self.global("__builtin__", "bytearray")?;
                if b.is_empty() {
                    self.out.push(op::EMPTY_TUPLE);
                    self.push([Task::Op(op::REDUCE), Task::Put(ident)]);
                } else {
                    self.push([
                        Task::Op(op::TUPLE1),
                        Task::Put(None),
                        Task::Op(op::REDUCE),
                        Task::Put(ident),
                    ]);
                    self.bytes(b, None);
                }
            }
            Value::List(items) => {
                let ident = (!items.is_empty()).then(|| Ident::Obj(Kind::List, ptr(items)));
                if ident.as_ref().is_some_and(|i| self.fetch(i)) {
                    return Ok(());
                }
                self.out.push(op::EMPTY_LIST);
                self.put(ident)?;
                self.batch(Batch {
                    src: Items::Seq(items),
                    pos: 0,
                    mode: Mode::Exact,
                    depth: d,
                });
            }
            Value::Tuple(items) => {
                if items.is_empty() {
                    self.out.push(op::EMPTY_TUPLE);
                    return Ok(());
                }
                let ident = Ident::Obj(Kind::Tuple, ptr(items));
                if self.fetch(&ident) {
                    return Ok(());
                }
                self.push([Task::Op(tuple_op(items.len())), Task::Put(Some(ident))]);
                self.stack
                    .extend(items.iter().rev().map(|x| Task::Value(x, d)));
                if items.len() > 3 {
                    self.out.push(op::MARK);
                }
            }
            Value::Set(items) => {
                let ident = (!items.is_empty()).then(|| Ident::Obj(Kind::Set, ptr(items)));
                if ident.as_ref().is_some_and(|i| self.fetch(i)) {
                    return Ok(());
                }
                self.push([
                    Task::Global("__builtin__", "set"),
                    Task::Op(op::EMPTY_LIST),
                    Task::Put(None),
                    Task::Batch(Batch {
                        src: Items::Seq(items),
                        pos: 0,
                        mode: Mode::Exact,
                        depth: d,
                    }),
                    Task::Op(op::TUPLE1),
                    Task::Put(None),
                    Task::Op(op::REDUCE),
                    Task::Put(ident),
                ]);
            }
            Value::Dict(dict) => {
                let ident = Ident::Obj(Kind::Dict, ptr(dict));
                if self.fetch(&ident) {
                    return Ok(());
                }
                let pairs: Rc<[(&'a Value, &'a Value)]> = dict.iter().collect();
                let batch = |src, mode| {
                    Task::Batch(Batch {
                        src,
                        pos: 0,
                        mode,
                        depth: d,
                    })
                };
                match dict.kind() {
                    DictKind::Dict => self.push([
                        Task::Op(op::EMPTY_DICT),
                        Task::Put(Some(ident)),
                        batch(Items::Pairs(pairs), Mode::Exact),
                    ]),
                    DictKind::Counter => self.push([
                        Task::Global("collections", "Counter"),
                        Task::Op(op::EMPTY_DICT),
                        Task::Put(None),
                        batch(Items::Pairs(pairs), Mode::Exact),
                        Task::Op(op::TUPLE1),
                        Task::Put(None),
                        Task::Op(op::REDUCE),
                        Task::Put(Some(ident)),
                    ]),
                    DictKind::OrderedDict => {
                        // `__reduce__` gives (cls, (), vars(self) or None, None, items): the
                        // items come first, then the attribute dict and BUILD.
                        if !dict.attrs().is_empty() {
                            self.push([
                                Task::Op(op::EMPTY_DICT),
                                Task::Put(None),
                                batch(Items::Attrs(dict.attrs()), Mode::Exact),
                                Task::Op(op::BUILD),
                            ]);
                        }
                        self.push([
                            Task::Global("collections", "OrderedDict"),
                            Task::Op(op::EMPTY_TUPLE),
                            Task::Op(op::REDUCE),
                            Task::Put(Some(ident)),
                            batch(Items::Pairs(pairs), Mode::Generic),
                        ]);
                    }
                }
            }
            Value::Size(dims) => {
                let ident = Ident::Obj(Kind::Size, ptr(dims));
                if !self.fetch(&ident) {
                    self.push([
                        Task::Global("torch", "Size"),
                        Task::Ints(super::Ints::I(dims)),
                        Task::Op(op::TUPLE1),
                        Task::Put(None),
                        Task::Op(op::REDUCE),
                        Task::Put(Some(ident)),
                    ]);
                }
            }
            Value::DType(dt) => self.global("torch", dt.name())?,
            Value::Device(dev) => {
                self.global("torch", "device")?;
                self.unicode(&dev.kind)?;
                self.put(None)?;
                match dev.index {
                    Some(i) => {
                        self.int(i as i128);
                        self.out.push(op::TUPLE2);
                    }
                    None => self.out.push(op::TUPLE1),
                }
                self.put(None)?;
                self.out.push(op::REDUCE);
                self.put(None)?;
            }
            Value::Tensor(t) => self.tensor(t, false),
        }
        Ok(())
    }

    /// `bytes`: `_codecs.encode(latin1_str, 'latin1')`. torch writes `bytes()` for an empty
    /// value, which its own weights-only loader refuses; an empty str encodes to the same value.
    fn bytes(&mut self, b: &'a [u8], ident: Option<Ident>) {
        self.push([
            Task::Global("_codecs", "encode"),
            Task::Latin1(b),
            Task::ConstStr("latin1"),
            Task::Op(op::TUPLE2),
            Task::Put(None),
            Task::Op(op::REDUCE),
            Task::Put(ident),
        ]);
    }

    /// A tensor reduction; a Parameter wraps the plain-tensor reduction of its data.
    pub(super) fn tensor(&mut self, t: &'a Tensor, inner: bool) {
        if t.is_parameter() && !inner {
            self.push([
                Task::Global("torch._utils", "_rebuild_parameter"),
                Task::Tensor(t, true),
                Task::Bool(t.requires_grad()),
                Task::EmptyOrderedDict,
                Task::Op(op::TUPLE3),
                Task::Put(None),
                Task::Op(op::REDUCE),
                Task::Put(None),
            ]);
            return;
        }
        let typed = t.dtype().storage_class().is_some();
        self.push([
            Task::Op(op::TUPLE),
            Task::Put(None),
            Task::Op(op::REDUCE),
            Task::Put(None),
        ]);
        if !typed {
            self.push([Task::Global("torch", t.dtype().name())]);
        }
        self.push([
            Task::Global(
                "torch._utils",
                if typed {
                    "_rebuild_tensor_v2"
                } else {
                    "_rebuild_tensor_v3"
                },
            ),
            Task::Op(op::MARK),
            Task::PersId(t),
            Task::Int(t.storage_offset() as i128),
            Task::Ints(super::Ints::U(t.shape())),
            Task::Ints(super::Ints::U(t.strides())),
            Task::Bool(t.requires_grad() && !inner),
            Task::EmptyOrderedDict,
        ]);
    }

    /// `BINPERSID ('storage', storage_class, key, location, numel)`, registering the storage.
    pub(super) fn persid(&mut self, t: &Tensor) -> Result<()> {
        let storage = t.storage();
        if storage.is_meta() {
            return Err(invalid(format!(
                "{t:?}: a meta storage holds no data to save"
            )));
        }
        let dtype = t.dtype();
        // Untyped storages count bytes, and torch checks them as uint8.
        let (module, class, item, check) = match dtype.storage_class() {
            Some(c) => ("torch", c, dtype.size(), dtype),
            None => ("torch.storage", "UntypedStorage", 1, DType::U8),
        };
        let nbytes = storage.nbytes();
        if !nbytes.is_multiple_of(item) {
            return Err(invalid(format!(
                "{t:?}: storage of {nbytes} bytes is not a whole number of {dtype} elements"
            )));
        }
        let id = storage.id();
        match self.storage_index.get(&id) {
            Some(&(_, seen)) if seen != check && nbytes != 0 => {
                return Err(invalid(
                    "Cannot save multiple tensors or storages that view the same data as \
                     different types"
                        .into(),
                ));
            }
            Some(_) => {}
            None => {
                let key = self.storages.len().to_string();
                self.storage_index.insert(id, (self.storages.len(), check));
                self.storages.push((key, storage.clone()));
            }
        }
        self.out.push(op::MARK);
        self.const_str(Cow::Borrowed("storage"))?;
        self.global(module, class)?;
        let key_ident = Ident::StorageKey(id);
        if !self.fetch(&key_ident) {
            let idx = self.storage_index.get(&id).map_or(0, |e| e.0);
            let key = self.storages[idx].0.clone();
            self.unicode(&key)?;
            self.put(Some(key_ident))?;
        }
        // torch's 'cpu'/'mps'/'meta' tags are constants; 'cuda:N' is a fresh str each call.
        let location = (self.location_of)(storage);
        if location.contains(':') {
            self.unicode(&location)?;
            self.put(None)?;
        } else {
            self.const_str(Cow::Owned(location))?;
        }
        self.int((nbytes / item) as i128);
        self.out.push(op::TUPLE);
        self.put(None)?;
        self.out.push(op::BINPERSID);
        Ok(())
    }

    /// Writes one batch of a container's items and queues the next one.
    pub(super) fn batch(&mut self, b: Batch<'a>) {
        let n = b.src.len();
        let remaining = n - b.pos;
        let seq = matches!(b.src, Items::Seq(_));
        let (one, many) = if seq {
            (op::APPEND, op::APPENDS)
        } else {
            (op::SETITEM, op::SETITEMS)
        };
        let single = match b.mode {
            Mode::Exact => b.pos == 0 && n == 1,
            Mode::Generic => remaining == 1,
        };
        if single {
            self.stack.push(Task::Op(one));
            self.push_item(&b.src, b.pos, b.depth);
            return;
        }
        if remaining == 0 && (b.pos == 0 || b.mode == Mode::Generic || seq) {
            return;
        }
        let chunk = remaining.min(BATCH);
        let more = match (b.mode, seq) {
            (Mode::Exact, true) => chunk < remaining,
            // batch_dict_exact loops while a batch was full, even into an empty one.
            _ => chunk == BATCH,
        };
        if more {
            self.stack.push(Task::Batch(Batch {
                src: b.src.clone(),
                pos: b.pos + chunk,
                ..b
            }));
        }
        self.stack.push(Task::Op(many));
        for i in (b.pos..b.pos + chunk).rev() {
            self.push_item(&b.src, i, b.depth);
        }
        self.stack.push(Task::Op(op::MARK));
    }

    fn push_item(&mut self, src: &Items<'a>, i: usize, d: usize) {
        match src {
            Items::Seq(s) => self.stack.push(Task::Value(&s[i], d)),
            Items::Pairs(p) => self.push([Task::Value(p[i].0, d), Task::Value(p[i].1, d)]),
            Items::Attrs(a) => self.push([Task::ArcStr(&a[i].0), Task::Value(&a[i].1, d)]),
        }
    }
}
