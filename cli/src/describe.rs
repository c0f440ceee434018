//! One canonical JSON description of a checkpoint's value tree, shared by `tensorport inspect
//! --json` and the tests that compare us with torch (`tests/interop/describe.py` writes the same
//! document from what `torch.load` returns; its docstring is the full specification). Tagged
//! encodings keep every value exact: ints as decimal strings (hex past CPython's 4300-digit
//! limit), floats as their IEEE-754 bits.
//!
//! The output is linear in the number of *distinct* objects, whatever the sharing:
//! - **References.** A *shareable* object is a non-empty list, tuple, set, dict, OrderedDict or
//!   Counter, a str of at least [`SHARE_MIN_CHARS`] characters, bytes or a bytearray of at least
//!   that many bytes, or an int outside i64. Shareable objects are numbered 0, 1, 2, ... in the
//!   order the walk first meets them; meeting one again gives `{"ref": N}` instead of describing
//!   it again. Identity is `Arc` pointer identity here and `id()` in Python; both come from the
//!   pickle memo, so they coincide. Not shareable: what Python caches or we hold by value (small
//!   and empty objects, i64 ints, floats; `()` is one object in Python, any `[]` is not), and
//!   torch.Size. Inside a set nothing is numbered or referenced (Python walks a set in hash
//!   order, we in pickle order), so set items are described in full.
//! - **Tensors** are values here (cloned handles) and objects in Python, so they are
//!   deduplicated by *view* on both sides: storage, dtype, shape, stride, offset, requires_grad,
//!   is_parameter. A view met again is `{"tensor": i}` of its first entry; each view is hashed
//!   once.
//! - **Caps.** The walk spends [`MAX_UNITS`] units: one per value (a reference or a tensor
//!   mention included), plus one per [`TEXT_UNIT`] characters of a str, of the hex of bytes, or
//!   of an int's text, plus one per element of a torch.Size, plus one per step of the path of a
//!   new tensor entry. Once they are spent, the rest of each unfinished container becomes one
//!   `{"omitted": N}` item (N items not shown); a set is either shown whole or as
//!   `{"set": [{"omitted": N}]}`. Path steps are cut to [`MAX_STEP_CHARS`] characters. A view
//!   is hashed only while the bytes hashed stay within [`HASH_FACTOR`] times the bytes of the
//!   distinct storages met so far plus [`HASH_SLACK`] (a few KB of views can otherwise ask for
//!   terabytes of hashing); past that its sha256 is `"skipped"`. Either cap adds the top-level
//!   `"truncated": TRUNCATED_NOTE`.

mod hash;
mod text;

use std::collections::HashMap;

use serde_json::{json, Map, Value as Json};

pub use hash::{dims, view_sha256};
use tensorport::{DType, DictKind, Result, Storage, Tensor, Value};
pub use text::{canonical, hex, int_text};

/// Units the walk may spend (see the module documentation).
pub const MAX_UNITS: i64 = 1_000_000;
/// Characters of text per unit.
pub const TEXT_UNIT: usize = 64;
/// Strings and byte strings shorter than this are never referenced (Python caches some).
pub const SHARE_MIN_CHARS: usize = 64;
/// Longest path step; longer ones keep this many characters and say how long they were.
pub const MAX_STEP_CHARS: usize = 200;
/// Hashing budget: this many times the bytes of the storages met so far ...
pub const HASH_FACTOR: u64 = 2;
/// ... plus this many bytes.
pub const HASH_SLACK: u64 = 256 << 20;
/// The value of the top-level `"truncated"` member when a cap was reached.
pub const TRUNCATED_NOTE: &str = "output capped: after 1000000 units (values, path steps, \
    64-character pieces of text) the rest of each container is {\"omitted\": N}, and views past \
    the hashing budget have sha256 \"skipped\"";

/// Describes `value`: `{"structure": .., "tensors": [..]}`, plus `"truncated"` when a cap was
/// reached (without the `ok` flag). `location_of` gives each storage's saved location tag;
/// `key_of` its record key when known.
pub fn describe(
    value: &Value,
    location_of: &dyn Fn(&Storage) -> String,
    key_of: &dyn Fn(&Storage) -> Option<String>,
) -> Result<Json> {
    let mut d = Describer {
        tensors: Vec::new(),
        storage_index: HashMap::new(),
        views: HashMap::new(),
        shared: HashMap::new(),
        in_set: 0,
        units: MAX_UNITS,
        truncated: false,
        hashed: 0,
        storage_bytes: 0,
        host: HashMap::new(),
        location_of,
        key_of,
    };
    let mut path = Vec::new();
    let structure = d.value(value, &mut path)?;
    let mut doc = json!({"structure": structure, "tensors": d.tensors});
    if d.truncated {
        doc["truncated"] = json!(TRUNCATED_NOTE);
    }
    Ok(doc)
}

/// SHA-256 of a tensor's values, C-contiguous and little-endian.
pub fn tensor_sha256(t: &Tensor) -> Result<String> {
    view_sha256(t)
}

#[derive(PartialEq, Eq, Hash)]
struct ViewKey {
    storage: usize,
    dtype: DType,
    shape: Vec<usize>,
    stride: Vec<usize>,
    offset: usize,
    requires_grad: bool,
    is_parameter: bool,
}

struct Describer<'a> {
    tensors: Vec<Json>,
    storage_index: HashMap<usize, usize>,
    views: HashMap<ViewKey, usize>,
    /// (kind, address) of each shareable object met → its number.
    shared: HashMap<(u8, usize), usize>,
    in_set: usize,
    units: i64,
    truncated: bool,
    hashed: u64,
    storage_bytes: u64,
    /// Host copies of GPU storages, by storage id.
    host: HashMap<usize, Storage>,
    location_of: &'a dyn Fn(&Storage) -> String,
    key_of: &'a dyn Fn(&Storage) -> Option<String>,
}

/// The identity of a shareable object, or `None` when `v` is not one.
fn share_id(v: &Value) -> Option<(u8, usize)> {
    match v {
        Value::List(a) if !a.is_empty() => Some((0, a.as_ptr() as usize)),
        Value::Tuple(a) if !a.is_empty() => Some((1, a.as_ptr() as usize)),
        Value::Set(a) if !a.is_empty() => Some((2, a.as_ptr() as usize)),
        Value::Dict(d) if !d.is_empty() => Some((3, std::sync::Arc::as_ptr(d) as usize)),
        Value::Str(s) if s.len() >= SHARE_MIN_CHARS && s.chars().count() >= SHARE_MIN_CHARS => {
            Some((4, s.as_ptr() as usize))
        }
        Value::Bytes(b) if b.len() >= SHARE_MIN_CHARS => Some((5, b.as_ptr() as usize)),
        Value::ByteArray(b) if b.len() >= SHARE_MIN_CHARS => Some((6, b.as_ptr() as usize)),
        Value::BigInt(b) => Some((7, b.as_ptr() as usize)),
        _ => None,
    }
}

/// Units for a text leaf of `chars` characters.
fn text_units(chars: usize) -> i64 {
    1 + (chars / TEXT_UNIT) as i64
}

/// A dict key as a path step: a str as is, an int as decimal, anything else as the canonical
/// text of its encoding; cut to [`MAX_STEP_CHARS`].
pub fn key_step(k: &Value, encoded: &Json) -> String {
    match k {
        Value::Str(s) => cut_step(s),
        Value::Int(i) => i.to_string(),
        _ => cut_step(&canonical(encoded)),
    }
}

/// `s`, or its first [`MAX_STEP_CHARS`] characters and its length in characters.
pub fn cut_step(s: &str) -> String {
    match s.char_indices().nth(MAX_STEP_CHARS) {
        None => s.to_string(),
        Some((at, _)) => format!("{}...({} characters)", &s[..at], s.chars().count()),
    }
}

impl Describer<'_> {
    fn value(&mut self, v: &Value, path: &mut Vec<String>) -> Result<Json> {
        if self.in_set == 0 {
            if let Some(id) = share_id(v) {
                let next = self.shared.len();
                if let Some(&n) = self.shared.get(&id) {
                    self.units -= 1;
                    return Ok(json!({ "ref": n }));
                }
                self.shared.insert(id, next);
            }
        }
        Ok(match v {
            Value::None => self.leaf(Json::Null),
            Value::Bool(b) => self.leaf(Json::Bool(*b)),
            Value::Int(i) => self.leaf(json!({"int": i.to_string()})),
            Value::BigInt(b) => {
                let (tag, text) = int_text(b)?;
                self.units -= text_units(text.len());
                json!({ tag: text })
            }
            Value::Float(x) => self.leaf(json!({"float": float_bits(*x)})),
            Value::Complex(re, im) => {
                self.leaf(json!({"complex": [float_bits(*re), float_bits(*im)]}))
            }
            Value::Str(s) => {
                self.units -= text_units(s.chars().count());
                Json::String(s.to_string())
            }
            Value::Bytes(b) => {
                self.units -= text_units(b.len() * 2);
                json!({"bytes": hex(b)?})
            }
            Value::ByteArray(b) => {
                self.units -= text_units(b.len() * 2);
                json!({"bytearray": hex(b)?})
            }
            Value::List(items) => json!({"list": self.seq(items, path)?}),
            Value::Tuple(items) => json!({"tuple": self.seq(items, path)?}),
            Value::Set(items) => json!({"set": self.set(items, path)?}),
            Value::Dict(d) => self.dict(d, path)?,
            Value::Size(s) => {
                self.units -= 1 + s.len() as i64;
                json!({ "size": s.to_vec() })
            }
            Value::DType(dt) => self.leaf(json!({"dtype": dt.name()})),
            Value::Device(dev) => self.leaf(json!({"device": dev.to_string()})),
            Value::Tensor(t) => json!({ "tensor": self.tensor(t, path)? }),
        })
    }

    fn leaf(&mut self, j: Json) -> Json {
        self.units -= 1;
        j
    }

    fn seq(&mut self, items: &[Value], path: &mut Vec<String>) -> Result<Vec<Json>> {
        self.units -= 1;
        let mut out = Vec::new();
        for (i, it) in items.iter().enumerate() {
            if self.units <= 0 && self.in_set == 0 {
                self.truncated = true;
                out.push(json!({ "omitted": items.len() - i }));
                break;
            }
            path.push(i.to_string());
            let j = self.value(it, path);
            path.pop();
            out.push(j?);
        }
        Ok(out)
    }

    /// A set whole, or one `omitted` item when its full description does not fit what is left.
    fn set(&mut self, items: &[Value], path: &mut Vec<String>) -> Result<Vec<Json>> {
        if self.in_set == 0 && !fits(items, self.units - 1) {
            self.units -= 1;
            self.truncated = true;
            return Ok(vec![json!({ "omitted": items.len() })]);
        }
        self.in_set += 1;
        let enc = self.seq(items, path);
        self.in_set -= 1;
        let mut enc = enc?;
        enc.sort_by_cached_key(canonical);
        Ok(enc)
    }

    fn dict(&mut self, d: &tensorport::Dict, path: &mut Vec<String>) -> Result<Json> {
        self.units -= 1;
        let mut items = Vec::new();
        for (i, (k, val)) in d.iter().enumerate() {
            if self.units <= 0 && self.in_set == 0 {
                self.truncated = true;
                items.push(json!({ "omitted": d.len() - i }));
                break;
            }
            path.push("#key".into());
            let kj = self.value(k, path);
            path.pop();
            let kj = kj?;
            path.push(key_step(k, &kj));
            let vj = self.value(val, path);
            path.pop();
            items.push(Json::Array(vec![kj, vj?]));
        }
        let tag = match d.kind() {
            DictKind::Dict => "dict",
            DictKind::OrderedDict => "odict",
            DictKind::Counter => "counter",
        };
        let mut m = Map::new();
        m.insert(tag.into(), Json::Array(items));
        if d.kind() == DictKind::OrderedDict {
            if let Some(meta) = d.attr("_metadata") {
                let mj = if self.units <= 0 && self.in_set == 0 {
                    self.truncated = true;
                    json!({"omitted": 1})
                } else {
                    path.push("#metadata".into());
                    let mj = self.value(meta, path);
                    path.pop();
                    mj?
                };
                m.insert("metadata".into(), mj);
            }
        }
        Ok(Json::Object(m))
    }

    /// The index of `t`'s entry in `tensors`, made on the first mention of its view.
    fn tensor(&mut self, t: &Tensor, path: &[String]) -> Result<usize> {
        self.units -= 1;
        let key = ViewKey {
            storage: t.storage().id(),
            dtype: t.dtype(),
            shape: t.shape().to_vec(),
            stride: t.strides().to_vec(),
            offset: t.storage_offset(),
            requires_grad: t.requires_grad(),
            is_parameter: t.is_parameter(),
        };
        if let Some(&i) = self.views.get(&key) {
            return Ok(i);
        }
        self.units -= 1 + path.len() as i64;
        let idx = self.tensors.len();
        let next = self.storage_index.len();
        let sidx = *self.storage_index.entry(key.storage).or_insert_with(|| {
            self.storage_bytes = self
                .storage_bytes
                .saturating_add(t.storage().nbytes() as u64);
            next
        });
        self.views.insert(key, idx);
        let mut m = Map::new();
        m.insert("path".into(), json!(path));
        m.insert("dtype".into(), json!(t.dtype().name()));
        m.insert("shape".into(), json!(t.shape()));
        m.insert("stride".into(), json!(t.strides()));
        m.insert("storage_offset".into(), json!(t.storage_offset()));
        m.insert("storage_index".into(), json!(sidx));
        if let Some(k) = (self.key_of)(t.storage()) {
            m.insert("storage_key".into(), json!(k));
        }
        m.insert("location".into(), json!((self.location_of)(t.storage())));
        m.insert("requires_grad".into(), json!(t.requires_grad()));
        m.insert("is_parameter".into(), json!(t.is_parameter()));
        let view_bytes = (t.numel() as u64).saturating_mul(t.dtype().size() as u64);
        let allowed = self
            .storage_bytes
            .saturating_mul(HASH_FACTOR)
            .saturating_add(HASH_SLACK);
        let sha = if t.storage().is_meta() {
            Json::Null
        } else if self.hashed.saturating_add(view_bytes) <= allowed {
            self.hashed += view_bytes;
            Json::String(self.sha256(t)?)
        } else {
            self.truncated = true;
            json!("skipped")
        };
        m.insert("sha256".into(), sha);
        self.tensors.push(Json::Object(m));
        Ok(idx)
    }
}

impl Describer<'_> {
    /// The hash of a view; a storage on a GPU (`tensorport load --map-location cuda:0 --json`)
    /// is copied to the host once.
    fn sha256(&mut self, t: &Tensor) -> Result<String> {
        if t.storage().device() == tensorport::Device::Cpu {
            return view_sha256(t);
        }
        let id = t.storage().id();
        let host = match self.host.get(&id) {
            Some(h) => h.clone(),
            None => {
                let h = t.storage().to_host()?;
                self.host.insert(id, h.clone());
                h
            }
        };
        let shape = t.shape().to_vec();
        let strides = t.strides().to_vec();
        view_sha256(&Tensor::from_storage(
            host,
            t.dtype(),
            t.storage_offset(),
            shape,
            strides,
        )?)
    }
}

/// Whether the full description of a set's items costs at most `left` units (a set's items
/// are never references); stops counting as soon as it does not.
fn fits(items: &[Value], left: i64) -> bool {
    let mut left = left;
    let mut stack: Vec<&Value> = items.iter().rev().collect();
    while let Some(v) = stack.pop() {
        left -= match v {
            Value::Str(s) => text_units(s.chars().count()),
            Value::Bytes(b) | Value::ByteArray(b) => text_units(b.len() * 2),
            Value::BigInt(b) => int_text(b).map_or(i64::MAX, |(_, t)| text_units(t.len())),
            Value::Size(s) => 1 + s.len() as i64,
            Value::List(a) | Value::Tuple(a) | Value::Set(a) => {
                stack.extend(a.iter().rev());
                1
            }
            Value::Dict(d) => {
                for (k, v) in d.iter() {
                    stack.push(v);
                    stack.push(k);
                }
                1
            }
            _ => 1,
        };
        if left < 0 {
            return false;
        }
    }
    true
}

fn float_bits(x: f64) -> Json {
    Json::String(format!("{:016x}", x.to_bits()))
}
