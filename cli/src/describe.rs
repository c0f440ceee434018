//! One canonical JSON description of a checkpoint's value tree, shared by `tensorport inspect
//! --json` and the tests that compare us with torch (`tests/interop/describe.py` writes the same
//! document from what `torch.load` returns). Tagged encodings keep every value exact: ints as
//! decimal strings, floats as their IEEE-754 bits.

use std::collections::HashMap;

use serde_json::{json, Map, Value as Json};
use sha2::{Digest, Sha256};

use tensorport::Result;
use tensorport::{DictKind, Storage, Tensor, Value};

/// Describes `value`: `{"structure": .., "tensors": [..]}` (without the `ok` flag).
/// `location_of` gives each storage's saved location tag; `key_of` its record key when known.
pub fn describe(
    value: &Value,
    location_of: &dyn Fn(&Storage) -> String,
    key_of: &dyn Fn(&Storage) -> Option<String>,
) -> Result<Json> {
    let mut d = Describer {
        tensors: Vec::new(),
        storage_index: HashMap::new(),
        location_of,
        key_of,
    };
    let mut path = Vec::new();
    let structure = d.value(value, &mut path)?;
    Ok(json!({"structure": structure, "tensors": d.tensors}))
}

struct Describer<'a> {
    tensors: Vec<Json>,
    storage_index: HashMap<usize, usize>,
    location_of: &'a dyn Fn(&Storage) -> String,
    key_of: &'a dyn Fn(&Storage) -> Option<String>,
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// SHA-256 of a tensor's values, C-contiguous and little-endian.
pub fn tensor_sha256(t: &Tensor) -> Result<String> {
    let bytes = t.contiguous_bytes()?;
    Ok(hex(&Sha256::digest(&bytes)))
}

fn float_bits(x: f64) -> Json {
    Json::String(format!("{:016x}", x.to_bits()))
}

fn bigint_decimal(le: &[u8]) -> String {
    // Two's complement little-endian → decimal, by repeated division of the magnitude.
    let neg = le.last().is_some_and(|b| b & 0x80 != 0);
    let mut mag: Vec<u8> = le.to_vec();
    if neg {
        let mut carry = 1u16;
        for b in mag.iter_mut() {
            let v = (!*b) as u16 + carry;
            *b = v as u8;
            carry = v >> 8;
        }
    }
    let mut digits = Vec::new();
    while mag.iter().any(|&b| b != 0) {
        let mut rem = 0u32;
        for b in mag.iter_mut().rev() {
            let cur = (rem << 8) | *b as u32;
            *b = (cur / 10) as u8;
            rem = cur % 10;
        }
        digits.push(b'0' + rem as u8);
    }
    if digits.is_empty() {
        digits.push(b'0');
    }
    if neg {
        digits.push(b'-');
    }
    digits.reverse();
    String::from_utf8(digits).unwrap_or_default()
}

fn key_path_text(k: &Value, encoded: &Json) -> String {
    match k {
        Value::Str(s) => s.to_string(),
        Value::Int(i) => i.to_string(),
        _ => encoded.to_string(),
    }
}

impl Describer<'_> {
    fn value(&mut self, v: &Value, path: &mut Vec<String>) -> Result<Json> {
        Ok(match v {
            Value::None => Json::Null,
            Value::Bool(b) => Json::Bool(*b),
            Value::Int(i) => json!({"int": i.to_string()}),
            Value::BigInt(b) => json!({"int": bigint_decimal(b)}),
            Value::Float(x) => json!({"float": float_bits(*x)}),
            Value::Complex(re, im) => json!({"complex": [float_bits(*re), float_bits(*im)]}),
            Value::Str(s) => Json::String(s.to_string()),
            Value::Bytes(b) => json!({"bytes": hex(b)}),
            Value::ByteArray(b) => json!({"bytearray": hex(b)}),
            Value::List(items) => json!({"list": self.seq(items, path)?}),
            Value::Tuple(items) => json!({"tuple": self.seq(items, path)?}),
            Value::Set(items) => {
                let mut enc = self.seq(items, path)?;
                enc.sort_by_cached_key(|j| j.to_string());
                json!({ "set": enc })
            }
            Value::Dict(d) => {
                let mut items = Vec::with_capacity(d.len());
                for (k, val) in d.iter() {
                    let kj = self.value(k, path)?;
                    path.push(key_path_text(k, &kj));
                    let vj = self.value(val, path)?;
                    path.pop();
                    items.push(Json::Array(vec![kj, vj]));
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
                        path.push("#metadata".into());
                        let mj = self.value(meta, path);
                        path.pop();
                        let mj = mj?;
                        m.insert("metadata".into(), mj);
                    }
                }
                Json::Object(m)
            }
            Value::Size(s) => json!({ "size": s.to_vec() }),
            Value::DType(dt) => json!({"dtype": dt.name()}),
            Value::Device(dev) => json!({"device": dev.to_string()}),
            Value::Tensor(t) => {
                let idx = self.tensors.len();
                let next = self.storage_index.len();
                let sidx = *self.storage_index.entry(t.storage().id()).or_insert(next);
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
                let sha = if t.storage().is_meta() {
                    Json::Null
                } else {
                    Json::String(tensor_sha256(t)?)
                };
                m.insert("sha256".into(), sha);
                self.tensors.push(Json::Object(m));
                json!({ "tensor": idx })
            }
        })
    }

    fn seq(&mut self, items: &[Value], path: &mut Vec<String>) -> Result<Vec<Json>> {
        let mut out = Vec::with_capacity(items.len());
        for (i, it) in items.iter().enumerate() {
            path.push(i.to_string());
            out.push(self.value(it, path)?);
            path.pop();
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bigints_print_in_decimal() {
        assert_eq!(
            bigint_decimal(&[0, 0, 0, 0, 0, 0, 0, 0, 0x40]),
            "1180591620717411303424"
        );
        assert_eq!(bigint_decimal(&[0xff]), "-1");
        assert_eq!(bigint_decimal(&[0x00, 0x80]), "-32768");
        assert_eq!(bigint_decimal(&[]), "0");
    }
}
