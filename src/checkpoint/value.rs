//! The Python-value tree a checkpoint unpickles to. Containers are `Arc`-shared, so an object
//! the pickle references many times (through its memo) is one object here too, never a copy.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::tensor::Tensor;
use crate::torch_device::TorchDevice;

/// A Python value as torch.save pickles it.
#[derive(Clone)]
pub enum Value {
    /// `None`.
    None,
    /// `True` / `False`.
    Bool(bool),
    /// An int that fits in 64 bits.
    Int(i64),
    /// An integer outside i64, as minimal two's-complement little-endian bytes (pickle's LONG1).
    BigInt(Arc<[u8]>),
    /// A float.
    Float(f64),
    /// A complex: real and imaginary parts.
    Complex(f64, f64),
    /// A str.
    Str(Arc<str>),
    /// `bytes`.
    Bytes(Arc<[u8]>),
    /// `bytearray`.
    ByteArray(Arc<[u8]>),
    /// A list.
    List(Arc<[Value]>),
    /// A tuple.
    Tuple(Arc<[Value]>),
    /// A set or frozenset, in the order the pickle built it.
    Set(Arc<[Value]>),
    /// A dict, OrderedDict or Counter (see [`DictKind`]).
    Dict(Arc<Dict>),
    /// `torch.Size`.
    Size(Arc<[i64]>),
    /// A `torch.dtype`.
    DType(DType),
    /// A `torch.device`.
    Device(TorchDevice),
    /// A tensor (or `nn.Parameter`: see [`Tensor::is_parameter`]).
    Tensor(Tensor),
}

/// Which Python mapping type a [`Dict`] is.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum DictKind {
    /// `dict`.
    Dict,
    /// `collections.OrderedDict` (what `state_dict()` returns).
    OrderedDict,
    /// `collections.Counter`.
    Counter,
}

/// An insertion-ordered mapping with Python key semantics (`1`, `1.0` and `True` are one key),
/// plus the attributes BUILD set on it (`_metadata` on a state dict).
#[derive(Clone)]
pub struct Dict {
    kind: DictKind,
    entries: Vec<(Value, Value)>,
    index: HashMap<HashKey, usize>,
    attrs: Vec<(Arc<str>, Value)>,
}

/// The hashable identity of a dict key.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum HashKey {
    /// `None`.
    None,
    /// An int (bools and floats equal to it hash to this too).
    Int(i64),
    /// An int beyond 64 bits, minimal two's-complement little-endian.
    BigInt(Arc<[u8]>),
    /// A float that is no int, by its bits.
    Float(u64),
    /// A complex that is no float, by its parts' bits.
    Complex(u64, u64),
    /// A str.
    Str(Arc<str>),
    /// `bytes`.
    Bytes(Arc<[u8]>),
    /// A tuple of hashable values.
    Tuple(Vec<HashKey>),
    /// A `torch.dtype`.
    DType(DType),
    /// A `torch.device`, by its name.
    Device(String),
    /// An object equal only to itself: a tensor (tensors hash by identity), or a NaN (NaN !=
    /// NaN, but a dict finds the very same object by identity). Keys made from a checkpoint
    /// carry the unpickled object's identity; others get a fresh one, as a new object would.
    Identity(u64),
}

/// A fresh identity for a value that has none yet (`HashKey::Identity`). Unpickled objects use
/// their arena index, which stays far below this range.
fn fresh_identity() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1 << 62);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// The minimal two's-complement little-endian bytes of an integral float beyond i64 (Python:
/// `2.0**64 == 2**64`, so they are one key).
fn integral_float_bigint(f: f64) -> Arc<[u8]> {
    let bits = f.to_bits();
    let exp = ((bits >> 52) & 0x7ff) as i64 - 1075;
    let mant = (bits & ((1 << 52) - 1)) | (1 << 52);
    // |f| = mant * 2^exp with exp >= 11 here (|f| >= 2^63).
    let shift = exp.max(0) as usize;
    let mut mag = vec![0u8; shift / 8 + 9];
    let m = u128::from(mant) << (shift % 8);
    for (i, b) in m.to_le_bytes().iter().take(9).enumerate() {
        mag[shift / 8 + i] = *b;
    }
    mag.push(0);
    if f < 0.0 {
        let mut carry = 1u16;
        for byte in mag.iter_mut() {
            let x = u16::from(!*byte) + carry;
            *byte = x as u8;
            carry = x >> 8;
        }
    }
    // Drop sign-extension bytes that keep the sign.
    let fill = if f < 0.0 { 0xff } else { 0 };
    let mut n = mag.len();
    while n > 1 && mag[n - 1] == fill && (mag[n - 2] & 0x80 != 0) == (f < 0.0) {
        n -= 1;
    }
    Arc::from(&mag[..n])
}

impl Value {
    /// Shorthand for a string value.
    pub fn str(s: &str) -> Value {
        Value::Str(Arc::from(s))
    }

    /// The Python type name, for messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::None => "None",
            Value::Bool(_) => "bool",
            Value::Int(_) | Value::BigInt(_) => "int",
            Value::Float(_) => "float",
            Value::Complex(..) => "complex",
            Value::Str(_) => "str",
            Value::Bytes(_) => "bytes",
            Value::ByteArray(_) => "bytearray",
            Value::List(_) => "list",
            Value::Tuple(_) => "tuple",
            Value::Set(_) => "set",
            Value::Dict(d) => match d.kind {
                DictKind::Dict => "dict",
                DictKind::OrderedDict => "OrderedDict",
                DictKind::Counter => "Counter",
            },
            Value::Size(_) => "torch.Size",
            Value::DType(_) => "torch.dtype",
            Value::Device(_) => "torch.device",
            Value::Tensor(_) => "Tensor",
        }
    }

    /// The key identity of this value, or `None` when Python could not hash it.
    pub fn hash_key(&self) -> Option<HashKey> {
        Some(match self {
            Value::None => HashKey::None,
            Value::Bool(b) => HashKey::Int(*b as i64),
            Value::Int(i) => HashKey::Int(*i),
            Value::BigInt(b) => HashKey::BigInt(b.clone()),
            Value::Float(f) if f.is_nan() => HashKey::Identity(fresh_identity()),
            Value::Float(f) => {
                if f.fract() == 0.0 && *f >= -9.223372036854776e18 && *f < 9.223372036854776e18 {
                    HashKey::Int(*f as i64)
                } else if f.fract() == 0.0 {
                    HashKey::BigInt(integral_float_bigint(*f))
                } else {
                    HashKey::Float(f.to_bits())
                }
            }
            Value::Complex(re, im) if re.is_nan() || im.is_nan() => {
                HashKey::Identity(fresh_identity())
            }
            Value::Complex(re, im) if *im == 0.0 => return Value::Float(*re).hash_key(),
            Value::Complex(re, im) => HashKey::Complex(re.to_bits(), im.to_bits()),
            Value::Str(s) => HashKey::Str(s.clone()),
            Value::Bytes(b) => HashKey::Bytes(b.clone()),
            Value::Tuple(items) => HashKey::Tuple(
                items
                    .iter()
                    .map(|v| v.hash_key())
                    .collect::<Option<Vec<_>>>()?,
            ),
            Value::Size(d) => HashKey::Tuple(d.iter().map(|&x| HashKey::Int(x)).collect()),
            Value::DType(d) => HashKey::DType(*d),
            Value::Device(d) => HashKey::Device(d.to_string()),
            Value::Tensor(_) => HashKey::Identity(fresh_identity()),
            _ => return None,
        })
    }

    /// The str, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
    /// The int (bools count, as in Python), if this is one.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            Value::Bool(b) => Some(*b as i64),
            _ => None,
        }
    }
    /// The value as a float, if this is a float or an int.
    pub fn as_float(&self) -> Option<f64> {
        match self {
            Value::Float(f) => Some(*f),
            Value::Int(i) => Some(*i as f64),
            _ => None,
        }
    }
    /// The tensor, if this is one.
    pub fn as_tensor(&self) -> Option<&Tensor> {
        match self {
            Value::Tensor(t) => Some(t),
            _ => None,
        }
    }
    /// The mapping, if this is a dict, OrderedDict or Counter.
    pub fn as_dict(&self) -> Option<&Dict> {
        match self {
            Value::Dict(d) => Some(d),
            _ => None,
        }
    }
    /// Items of a list, tuple or set.
    pub fn as_seq(&self) -> Option<&[Value]> {
        match self {
            Value::List(v) | Value::Tuple(v) | Value::Set(v) => Some(v),
            _ => None,
        }
    }

    /// Follows a path of keys: dict keys match a `str` key, or an `int` key written in decimal;
    /// list and tuple items are indexed by decimal position.
    pub fn get_path<S: AsRef<str>>(&self, path: &[S]) -> Result<&Value> {
        let mut cur = self;
        for (depth, part) in path.iter().enumerate() {
            let part = part.as_ref();
            let found = match cur {
                Value::Dict(d) => d
                    .get_str(part)
                    .or_else(|| part.parse::<i64>().ok().and_then(|i| d.get(&Value::Int(i)))),
                Value::List(v) | Value::Tuple(v) => {
                    part.parse::<usize>().ok().and_then(|i| v.get(i))
                }
                _ => None,
            };
            cur = found.ok_or_else(|| Error::NotFound {
                what: "key",
                key: path[..=depth]
                    .iter()
                    .map(|p| p.as_ref())
                    .collect::<Vec<_>>()
                    .join("/"),
            })?;
        }
        Ok(cur)
    }

    /// Calls `f(path, tensor)` for every tensor in the tree, in pickle order. Paths hold each
    /// dict key (as `str`, or its `repr`-like text for other keys) and each sequence index.
    pub fn visit_tensors(&self, f: &mut dyn FnMut(&[String], &Tensor)) {
        let mut path = Vec::new();
        self.visit(&mut path, f);
    }

    fn visit(&self, path: &mut Vec<String>, f: &mut dyn FnMut(&[String], &Tensor)) {
        match self {
            Value::Tensor(t) => f(path, t),
            Value::Dict(d) => {
                for (k, v) in d.iter() {
                    path.push(k.key_text());
                    v.visit(path, f);
                    path.pop();
                }
            }
            Value::List(items) | Value::Tuple(items) | Value::Set(items) => {
                for (i, v) in items.iter().enumerate() {
                    path.push(i.to_string());
                    v.visit(path, f);
                    path.pop();
                }
            }
            _ => {}
        }
    }
}

/// How a dict key appears in a path: strings as they are, ints in decimal, others as debug text.
impl Value {
    /// A dict key as text: a str as it is, an int in decimal, anything else as its debug form
    /// (for tables and messages).
    pub fn key_text(&self) -> String {
        match self {
            Value::Str(s) => s.to_string(),
            Value::Int(i) => i.to_string(),
            other => format!("{other:?}"),
        }
    }
}

impl Dict {
    /// An empty mapping of `kind`.
    pub fn new(kind: DictKind) -> Dict {
        Dict {
            kind,
            entries: Vec::new(),
            index: HashMap::new(),
            attrs: Vec::new(),
        }
    }

    /// An empty dict with room for `n` entries (the reader knows how many it will insert).
    pub(crate) fn with_capacity(kind: DictKind, n: usize) -> Dict {
        Dict {
            kind,
            entries: Vec::with_capacity(n),
            index: HashMap::with_capacity(n),
            attrs: Vec::new(),
        }
    }

    /// Which Python mapping type this is.
    pub fn kind(&self) -> DictKind {
        self.kind
    }
    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }
    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Sets `key` to `value`: an existing key keeps its position, a new one goes last (Python's
    /// dict order). Fails for keys Python cannot hash.
    pub fn insert(&mut self, key: Value, value: Value) -> Result<()> {
        let hk = key.hash_key().ok_or_else(|| Error::ValueType {
            path: "dict key".into(),
            expected: "a hashable key",
            got: key.type_name(),
        })?;
        self.insert_hashed(key, hk, value);
        Ok(())
    }

    /// `insert` with the key's identity already known (the reader's, which knows which NaNs
    /// and tensors are the same object).
    pub(crate) fn insert_hashed(&mut self, key: Value, hk: HashKey, value: Value) {
        match self.index.get(&hk) {
            Some(&i) => self.entries[i].1 = value,
            None => {
                self.index.insert(hk, self.entries.len());
                self.entries.push((key, value));
            }
        }
    }

    /// The value under `key`, with Python's key equality.
    pub fn get(&self, key: &Value) -> Option<&Value> {
        let hk = key.hash_key()?;
        self.index.get(&hk).map(|&i| &self.entries[i].1)
    }

    /// The value under the str key `key`.
    pub fn get_str(&self, key: &str) -> Option<&Value> {
        self.index
            .get(&HashKey::Str(Arc::from(key)))
            .map(|&i| &self.entries[i].1)
    }

    /// `(key, value)` in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (&Value, &Value)> {
        self.entries.iter().map(|(k, v)| (k, v))
    }

    /// Attributes set by BUILD, in order (a state dict's `_metadata`).
    pub fn attrs(&self) -> &[(Arc<str>, Value)] {
        &self.attrs
    }

    /// The attribute `name` (e.g. `_metadata`) that BUILD set.
    pub fn attr(&self, name: &str) -> Option<&Value> {
        self.attrs
            .iter()
            .find(|(k, _)| &**k == name)
            .map(|(_, v)| v)
    }

    /// Sets the attribute `name`, replacing an earlier one.
    pub fn set_attr(&mut self, name: &str, value: Value) {
        match self.attrs.iter_mut().find(|(k, _)| &**k == name) {
            Some(slot) => slot.1 = value,
            None => self.attrs.push((Arc::from(name), value)),
        }
    }

    /// A state dict's `_metadata` (module path → `{'version': n}`), when present.
    pub fn metadata(&self) -> Option<&Dict> {
        self.attr("_metadata").and_then(|v| v.as_dict())
    }
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::None => f.write_str("None"),
            Value::Bool(b) => f.write_str(if *b { "True" } else { "False" }),
            Value::Int(i) => write!(f, "{i}"),
            Value::BigInt(b) => write!(f, "int(0x{})", hex_le(b)),
            Value::Float(x) => write!(f, "{x:?}"),
            Value::Complex(re, im) => write!(f, "({re:?}+{im:?}j)"),
            Value::Str(s) => write!(f, "{s:?}"),
            Value::Bytes(b) => write!(f, "b'{}'", b.escape_ascii()),
            Value::ByteArray(b) => write!(f, "bytearray(b'{}')", b.escape_ascii()),
            Value::List(v) => f.debug_list().entries(v.iter()).finish(),
            Value::Tuple(v) => {
                let mut t = f.debug_tuple("");
                for x in v.iter() {
                    t.field(x);
                }
                t.finish()
            }
            Value::Set(v) => f.debug_set().entries(v.iter()).finish(),
            Value::Dict(d) => {
                if d.kind != DictKind::Dict {
                    write!(f, "{:?}", d.kind)?;
                }
                f.debug_map().entries(d.iter()).finish()
            }
            Value::Size(s) => write!(f, "torch.Size({s:?})"),
            Value::DType(d) => write!(f, "torch.{d}"),
            Value::Device(d) => write!(f, "device('{d}')"),
            Value::Tensor(t) => write!(f, "{t:?}"),
        }
    }
}

fn hex_le(b: &[u8]) -> String {
    b.iter().rev().map(|x| format!("{x:02x}")).collect()
}

impl fmt::Debug for Dict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_key_semantics() {
        let mut d = Dict::new(DictKind::Dict);
        d.insert(Value::Int(1), Value::str("a")).unwrap();
        d.insert(Value::Bool(true), Value::str("b")).unwrap();
        d.insert(Value::Float(1.0), Value::str("c")).unwrap();
        d.insert(Value::str("1"), Value::str("d")).unwrap();
        assert_eq!(d.len(), 2);
        assert_eq!(d.get(&Value::Int(1)).unwrap().as_str(), Some("c"));
        assert!(d
            .insert(Value::List(Arc::from(vec![])), Value::None)
            .is_err());
    }
}
