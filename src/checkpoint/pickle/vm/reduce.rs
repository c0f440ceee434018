//! REDUCE, NEWOBJ and BUILD on the allowlisted globals that are not tensor rebuilds: the Python
//! containers and the small torch value types. Nothing is called: each global is a known
//! constructor, applied here to checked arguments.

use std::sync::Arc;

use super::arena::{Id, Obj};
use super::{Machine, R};
use crate::checkpoint::pickle::allowlist::Global;
use crate::checkpoint::value::{DictKind, Value};
use crate::torch_device::TorchDevice;

impl Machine<'_> {
    /// `func(*args)` for an allowlisted callable; returns the new object's id.
    pub(super) fn reduce(&mut self, func: Id, args: Id) -> R<Id> {
        let g = self.global_of(func, "REDUCE")?;
        let args = self.args_of(args, "REDUCE")?;
        match g {
            Global::Rebuild(r) => self.rebuild(r, &args),
            Global::Parameter => self.parameter(&args),
            Global::OrderedDict => self.new_dict(DictKind::OrderedDict, &args),
            Global::Counter => self.new_dict(DictKind::Counter, &args),
            Global::Set => self.new_set(&args),
            _ => {
                let v = self.call_value(g, &args)?;
                self.alloc(Obj::Leaf(v))
            }
        }
    }

    /// `cls.__new__(cls, *args)` (NEWOBJ, NEWOBJ_EX).
    pub(super) fn newobj(&mut self, cls: Id, args: Id, kwargs: Option<Id>) -> R<Id> {
        let g = self.global_of(cls, "NEWOBJ")?;
        let args = self.args_of(args, "NEWOBJ")?;
        if let Some(kw) = kwargs {
            match self.arena.get(kw) {
                Obj::Dict { items, .. } if items.is_empty() => {}
                _ => return Err(self.malformed("NEWOBJ_EX with keyword arguments")),
            }
        }
        match g {
            Global::Parameter => self.parameter(&args),
            Global::OrderedDict if args.is_empty() => self.new_dict(DictKind::OrderedDict, &[]),
            Global::Counter if args.is_empty() => self.new_dict(DictKind::Counter, &[]),
            Global::Set if args.is_empty() => self.new_set(&[]),
            other => Err(self.malformed(format!(
                "NEWOBJ of {} with these arguments is not supported",
                other.python_name()
            ))),
        }
    }

    /// BUILD: `inst.__setstate__(state)` for the types torch's weights-only loader allows.
    pub(super) fn build(&mut self, inst: Id, state: Id) -> R<()> {
        match self.arena.get(inst) {
            Obj::Dict {
                kind: DictKind::OrderedDict | DictKind::Counter,
                ..
            } => {}
            Obj::Leaf(Value::Tensor(_)) => return self.build_tensor(inst, state),
            other => {
                return Err(self.malformed(format!(
                    "BUILD can only update an OrderedDict, Tensor or Parameter, not a {}",
                    other.type_name()
                )))
            }
        }
        let Obj::Dict { items, .. } = self.arena.get(state) else {
            return Err(self.malformed("BUILD of an OrderedDict needs a dict of attributes"));
        };
        let mut new_attrs = Vec::with_capacity(items.len());
        for &(k, v) in items {
            match self.arena.leaf(k) {
                Some(Value::Str(name)) => new_attrs.push((name.clone(), v)),
                _ => return Err(self.malformed("attribute names must be strings")),
            }
        }
        if let Some(Obj::Dict { attrs, .. }) = self.arena.get_mut(inst) {
            for (name, v) in new_attrs {
                match attrs.iter_mut().find(|(n, _)| *n == name) {
                    Some(slot) => slot.1 = v,
                    None => attrs.push((name, v)),
                }
            }
        }
        Ok(())
    }

    pub(super) fn global_of(&self, id: Id, op: &str) -> R<Global> {
        match self.arena.get(id) {
            Obj::Global(g) => Ok(*g),
            other => Err(self.malformed(format!(
                "{op} on a {}, not an allowlisted callable",
                other.type_name()
            ))),
        }
    }

    /// A call's arguments, copied out of the arena (inline: a rebuild call has at most 7, and
    /// runs once per tensor).
    pub(super) fn args_of(&self, id: Id, op: &str) -> R<smallvec::SmallVec<[Id; 8]>> {
        self.arena
            .tuple_items(id)
            .map(smallvec::SmallVec::from_slice)
            .ok_or_else(|| self.malformed(format!("{op} arguments must be a tuple")))
    }

    /// The items of a list, set or tuple, borrowed.
    pub(super) fn seq_items(&self, id: Id) -> Option<&[Id]> {
        match self.arena.get(id) {
            Obj::List(v) | Obj::Set(v) => Some(v),
            Obj::Tuple { items, .. } => Some(items),
            _ => None,
        }
    }

    /// Items of a list, tuple or set argument.
    pub(super) fn seq_of(&self, id: Id) -> Option<Vec<Id>> {
        match self.arena.get(id) {
            Obj::List(v) | Obj::Set(v) => Some(v.clone()),
            Obj::Tuple { items, .. } => Some(items.to_vec()),
            _ => None,
        }
    }

    fn new_dict(&mut self, kind: DictKind, args: &[Id]) -> R<Id> {
        let items = match args {
            [] => Vec::new(),
            [src] => match self.arena.get(*src) {
                Obj::Dict { items, .. } => items.clone(),
                _ if kind == DictKind::OrderedDict => self.pairs_of(*src)?,
                other => {
                    return Err(self.malformed(format!(
                        "Counter of a {} is not supported",
                        other.type_name()
                    )))
                }
            },
            _ => return Err(self.malformed("too many arguments for a dict constructor")),
        };
        for &(k, _) in &items {
            self.check_hashable(k)?;
        }
        self.alloc(Obj::Dict {
            kind,
            items,
            attrs: Vec::new(),
        })
    }

    /// `[(k, v), ...]` as item pairs.
    fn pairs_of(&self, id: Id) -> R<Vec<(Id, Id)>> {
        let seq = self
            .seq_of(id)
            .ok_or_else(|| self.malformed("OrderedDict argument must be a dict or pairs"))?;
        seq.iter()
            .map(|&p| match self.seq_of(p).as_deref() {
                Some(&[k, v]) => Ok((k, v)),
                _ => Err(self.malformed("OrderedDict items must be pairs")),
            })
            .collect()
    }

    fn new_set(&mut self, args: &[Id]) -> R<Id> {
        let items = match args {
            [] => Vec::new(),
            [src] => self
                .seq_of(*src)
                .ok_or_else(|| self.malformed("set argument must be a list, tuple or set"))?,
            _ => return Err(self.malformed("too many arguments for set")),
        };
        for &k in &items {
            self.check_hashable(k)?;
        }
        self.alloc(Obj::Set(items))
    }

    fn parameter(&mut self, args: &[Id]) -> R<Id> {
        let (t, rg) = match args {
            [t] => (*t, true),
            [t, rg] => (*t, self.bool_arg(*rg, "requires_grad")?),
            _ => return Err(self.malformed("Parameter takes (tensor, requires_grad)")),
        };
        let tensor = self.tensor_arg(t)?;
        let p = tensor.with_parameter(true).with_requires_grad(rg);
        self.alloc(Obj::Leaf(Value::Tensor(p)))
    }

    fn call_value(&self, g: Global, args: &[Id]) -> R<Value> {
        let leaves: Vec<Option<&Value>> = args.iter().map(|&a| self.arena.leaf(a)).collect();
        let num = |v: Option<&Value>| match v {
            Some(Value::Int(i)) => Some(*i as f64),
            Some(Value::Bool(b)) => Some(f64::from(u8::from(*b))),
            Some(Value::Float(f)) => Some(*f),
            _ => None,
        };
        let bad = |what: &str| self.malformed(format!("bad arguments for {what}"));
        Ok(match (g, leaves.as_slice()) {
            (Global::Complex, [re]) => Value::Complex(num(*re).ok_or_else(|| bad("complex"))?, 0.0),
            (Global::Complex, [re, im]) => Value::Complex(
                num(*re).ok_or_else(|| bad("complex"))?,
                num(*im).ok_or_else(|| bad("complex"))?,
            ),
            (Global::CodecsEncode, [Some(Value::Str(s)), Some(Value::Str(enc))]) => {
                Value::Bytes(self.latin1(s, enc)?)
            }
            (Global::ByteArray, []) => Value::ByteArray(Arc::from(&[][..])),
            (Global::ByteArray, [Some(Value::Bytes(b))]) => Value::ByteArray(b.clone()),
            (Global::ByteArray, [Some(Value::Str(s)), Some(Value::Str(enc))]) => {
                Value::ByteArray(self.latin1(s, enc)?)
            }
            (Global::Size, []) => Value::Size(Arc::from(&[][..])),
            (Global::Size, [_]) => {
                let dims = self
                    .seq_of(args[0])
                    .ok_or_else(|| bad("torch.Size"))?
                    .iter()
                    .map(|&d| self.arena.leaf(d).and_then(Value::as_int))
                    .collect::<Option<Vec<i64>>>()
                    .ok_or_else(|| bad("torch.Size"))?;
                Value::Size(Arc::from(dims))
            }
            (Global::Device, [Some(Value::Str(s))]) => Value::Device(self.device(s, None)?),
            (Global::Device, [Some(Value::Str(s)), Some(Value::Int(i))]) => {
                Value::Device(self.device(s, Some(*i))?)
            }
            (Global::Device, [Some(Value::Str(s)), Some(Value::None)]) => {
                Value::Device(self.device(s, None)?)
            }
            (g, _) => {
                return Err(self.malformed(format!(
                    "calling {} with these arguments is not supported",
                    g.python_name()
                )))
            }
        })
    }

    fn latin1(&self, s: &str, encoding: &str) -> R<Arc<[u8]>> {
        if !matches!(
            encoding.to_ascii_lowercase().as_str(),
            "latin1" | "latin-1" | "iso-8859-1" | "l1"
        ) {
            return Err(self.malformed(format!("bytes encoded as '{encoding}', not latin1")));
        }
        s.chars()
            .map(|c| u8::try_from(u32::from(c)).ok())
            .collect::<Option<Vec<u8>>>()
            .map(Arc::from)
            .ok_or_else(|| self.malformed("latin1 bytes with a code point above 255"))
    }

    fn device(&self, s: &str, index: Option<i64>) -> R<TorchDevice> {
        let mut d = TorchDevice::parse(s).map_err(|e| self.malformed(e.to_string()))?;
        if let Some(i) = index {
            if d.index.is_some() {
                return Err(self.malformed("torch.device with two indices"));
            }
            d.index = Some(u64::try_from(i).map_err(|_| self.malformed("negative device index"))?);
        }
        Ok(d)
    }
}
