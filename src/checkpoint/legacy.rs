//! The legacy (non-zip) format: `_use_new_zipfile_serialization=False`, torch < 1.6, and the
//! Python-2-era files in published weights. A chain of pickles (magic number, protocol version,
//! sys info, the object, the sorted storage keys) followed by each storage's element count and
//! little-endian bytes.
//!
//! Element sizes come from the storage classes named inside the main pickle, which precedes the
//! data, so the main pickle runs twice: once with data-less storages to learn each key's dtype
//! and count, and once, after the data section is indexed, with the real storages.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use memmap2::Mmap;

use crate::checkpoint::pickle::{vm::unpickle, Limits, StorageRequest, StorageResolver};
use crate::checkpoint::placement::Placer;
use crate::checkpoint::records::{
    expected_bytes, record_storage, to_usize, RecordBytes, StorageInfo,
};
use crate::checkpoint::value::Value;
use crate::checkpoint::zip::read::Method;
use crate::dtype::DType;
use crate::error::{CheckpointError, Result};
use crate::storage::Storage;

/// `0x1950a86a20f9469cfc6c`, little-endian, as pickled by LONG1.
const MAGIC_LE: [u8; 10] = [0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];
const PROTOCOL_VERSION: i64 = 1001;

/// Header pickles never name storages: the pickle's name and its file offset.
struct NoStorages(&'static str, usize);

impl StorageResolver for NoStorages {
    fn resolve(&mut self, req: &StorageRequest<'_>) -> Result<Storage, CheckpointError> {
        Err(CheckpointError::MalformedLegacy {
            part: self.0.to_string(),
            offset: self.1 as u64,
            detail: format!(
                "it names storage '{}', but torch reads header pickles without storages (its \
                 error: no persistent_load function was specified)",
                req.key
            ),
        })
    }
}

/// A scalar header value as Python prints it, for messages; other values by their type.
fn shown(v: &Value) -> String {
    match v {
        Value::None => "None".into(),
        Value::Bool(b) => (if *b { "True" } else { "False" }).into(),
        Value::Int(i) => i.to_string(),
        Value::Float(x) if x.is_finite() && x.fract() == 0.0 => format!("{x:.1}"),
        Value::Float(x) => x.to_string(),
        Value::Str(s) if s.len() <= 40 => format!("the str '{s}'"),
        other => format!("a value of type {}", other.type_name()),
    }
}

/// Whether a header value equals 1001 as Python's `!=` decides it: an int, a float or a complex
/// with no imaginary part (torch compares `protocol_version != 1001`; a bool is not 1001).
fn is_protocol_version(v: &Value) -> bool {
    const P: f64 = PROTOCOL_VERSION as f64;
    match v {
        Value::Int(i) => *i == PROTOCOL_VERSION,
        Value::Float(x) => *x == P,
        Value::Complex(re, im) => *re == P && *im == 0.0,
        _ => false,
    }
}

/// What the first pass learns about a storage key.
#[derive(Clone)]
struct Declared {
    dtype: Option<DType>,
    numel: u64,
    location: String,
}

/// First pass: records each key's storage class and size; storages hold no data.
#[derive(Default)]
struct Declare {
    keys: HashMap<String, Declared>,
}

impl StorageResolver for Declare {
    fn legacy_ids(&self) -> bool {
        true
    }

    fn resolve(&mut self, req: &StorageRequest<'_>) -> Result<Storage, CheckpointError> {
        let record = format!("storage {}", req.key);
        let nbytes = expected_bytes(req, || record.clone())?;
        self.keys.entry(req.key.to_string()).or_insert(Declared {
            dtype: req.dtype,
            numel: req.numel,
            location: req.location.to_string(),
        });
        let itemsize = req.dtype.map_or(1, |d| d.size() as u64);
        let view_bytes = match req.view {
            Some((_, _, size)) => size.checked_mul(itemsize),
            None => Some(nbytes),
        }
        .ok_or_else(|| CheckpointError::SizeOverflow {
            what: format!("{record}: its view"),
            detail: format!(
                "{} elements of {itemsize} bytes",
                req.view.map_or(0, |(_, _, size)| size)
            ),
        })?;
        Ok(Storage::meta(to_usize(view_bytes, || record.clone())?))
    }
}

/// Second pass: real storages from the indexed data section.
struct Bind<'a> {
    map: Option<&'a Arc<Mmap>>,
    bytes: &'a [u8],
    /// Where the main pickle starts in the file, for messages.
    main_start: usize,
    data: HashMap<String, (usize, usize)>,
    placer: &'a mut Placer,
    infos: Vec<StorageInfo>,
}

impl StorageResolver for Bind<'_> {
    fn legacy_ids(&self) -> bool {
        true
    }

    fn resolve(&mut self, req: &StorageRequest<'_>) -> Result<Storage, CheckpointError> {
        let record = format!("storage {}", req.key);
        let &(start, len) =
            self.data
                .get(req.key)
                .ok_or_else(|| CheckpointError::MalformedLegacy {
                    part: "main pickle".into(),
                    offset: self.main_start as u64,
                    detail: format!(
                        "it names storage '{}', which the data section does not hold (torch would \
                     leave its bytes uninitialized)",
                        req.key
                    ),
                })?;
        let itemsize = req.dtype.map_or(1, |d| d.size());
        let (start, len) = match req.view {
            None => (start, len),
            Some((_, off, size)) => {
                let bytes_of = |n: u64| usize::try_from(n).ok()?.checked_mul(itemsize);
                match (bytes_of(off), bytes_of(size)) {
                    (Some(o), Some(s)) if o.checked_add(s).is_some_and(|e| e <= len) => {
                        (start + o, s)
                    }
                    _ => {
                        return Err(CheckpointError::StorageBounds {
                            tensor: record,
                            detail: format!(
                                "a view of {size} elements of {itemsize} bytes at element \
                                 offset {off} lies outside its {len}-byte root storage"
                            ),
                        })
                    }
                }
            }
        };
        let target = self.placer.target_for(&record, req.location)?;
        let storage = match target {
            None => Storage::meta(len),
            Some(_) => {
                let data = self.bytes.get(start..start + len).unwrap_or(&[]);
                let bytes = RecordBytes {
                    method: Method::Stored,
                    data_offset: start as u64,
                    data: Cow::Borrowed(data),
                };
                record_storage(self.map, self.bytes, bytes, itemsize, 1, &record)?
            }
        };
        let storage = self.placer.place(storage, target, req.location)?;
        self.infos.push(StorageInfo {
            key: req.key.to_string(),
            location: req.location.to_string(),
            dtype: req.dtype,
            storage: storage.clone(),
        });
        Ok(storage)
    }
}

fn not_a_checkpoint(bytes: &[u8]) -> CheckpointError {
    let detail = if bytes.is_empty() {
        "the file is empty".to_string()
    } else if bytes.get(257..262) == Some(b"ustar") {
        "a tar-format checkpoint (torch < 0.4); torch.load refuses it with weights_only=True, and \
         so does tensorport"
            .to_string()
    } else {
        "neither a zip archive (torch >= 1.6), a safetensors file nor a legacy pickle stream"
            .to_string()
    };
    CheckpointError::UnsupportedFormat { detail }
}

pub(crate) fn open_legacy(
    bytes: &[u8],
    map: Option<&Arc<Mmap>>,
    limits: &Limits,
    placer: &mut Placer,
) -> Result<(Value, Vec<StorageInfo>)> {
    if bytes.first() != Some(&0x80) {
        return Err(not_a_checkpoint(bytes).into());
    }
    let mut pos = 0usize;
    let header = |pos: &mut usize, name: &'static str| -> Result<Value> {
        let rest = bytes.get(*pos..).unwrap_or(&[]);
        let (v, used) = unpickle(rest, name, &mut NoStorages(name, *pos), limits)?;
        *pos += used;
        Ok(v)
    };
    let magic = header(&mut pos, "legacy magic number")?;
    // The magic number has 73 bits, so only an int (never a float) can equal it.
    if !matches!(&magic, Value::BigInt(b) if **b == MAGIC_LE) {
        return Err(CheckpointError::UnsupportedFormat {
            detail: format!(
                "a pickle, but not a torch.save file: its first value, {}, is not torch's magic \
                 number 0x1950a86a20f9469cfc6c",
                shown(&magic)
            ),
        }
        .into());
    }
    let proto_at = pos;
    let proto = header(&mut pos, "legacy protocol version")?;
    if !is_protocol_version(&proto) {
        return Err(CheckpointError::UnsupportedFormat {
            detail: format!(
                "legacy protocol version {} (the pickle at file offset {proto_at}), where torch \
                 reads only {PROTOCOL_VERSION}",
                shown(&proto)
            ),
        }
        .into());
    }
    // The sys-info dict only describes the saving machine: the legacy writer already swapped
    // the data to little-endian. It is still parsed, so a hostile global in it is refused.
    header(&mut pos, "legacy sys info")?;
    let main_start = pos;
    let mut declare = Declare::default();
    let main = bytes.get(main_start..).unwrap_or(&[]);
    let (_, used) = unpickle(main, "legacy main pickle", &mut declare, limits)?;
    pos += used;
    let keys_at = pos;
    let (keys, used) = unpickle(
        bytes.get(pos..).unwrap_or(&[]),
        "legacy storage keys",
        &mut NoStorages("storage keys", pos),
        limits,
    )?;
    pos += used;
    let bad_keys = |detail: String| CheckpointError::MalformedLegacy {
        part: "storage keys".into(),
        offset: keys_at as u64,
        detail,
    };
    let keys = keys.as_seq().ok_or_else(|| {
        bad_keys(format!(
            "it holds a value of type {} where torch writes a list of storage keys",
            keys.type_name()
        ))
    })?;
    let mut data = HashMap::new();
    for (i, k) in keys.iter().enumerate() {
        let key = match k {
            Value::Str(s) => s.to_string(),
            Value::Int(i) => i.to_string(),
            other => {
                return Err(bad_keys(format!(
                    "key {i} is of type {}, not a str",
                    other.type_name()
                ))
                .into())
            }
        };
        let decl = declare.keys.get(&key).ok_or_else(|| {
            bad_keys(format!(
                "key {i} lists storage '{key}', which the main pickle (at file offset \
                 {main_start}) never names"
            ))
        })?;
        let what = format!("storage {key}");
        let count_at = pos;
        let count_bytes = bytes.get(pos..pos + 8).ok_or(CheckpointError::Truncated {
            what: format!("element count of {what}"),
            offset: pos as u64,
            needed: 8,
            available: bytes.len().saturating_sub(pos) as u64,
        })?;
        let mut c = [0u8; 8];
        c.copy_from_slice(count_bytes);
        let count = i64::from_le_bytes(c);
        pos += 8;
        if count < 0 || count as u64 != decl.numel {
            return Err(CheckpointError::StorageBounds {
                tensor: format!("{what} (saved on '{}')", decl.location),
                detail: format!(
                    "the data section holds {count} elements (count at file offset {count_at}), \
                     the main pickle declares {}",
                    decl.numel
                ),
            }
            .into());
        }
        let req = StorageRequest {
            key: &key,
            dtype: decl.dtype,
            location: &decl.location,
            numel: decl.numel,
            view: None,
        };
        let len = to_usize(expected_bytes(&req, || what.clone())?, || what.clone())?;
        if pos.checked_add(len).is_none_or(|e| e > bytes.len()) {
            return Err(CheckpointError::Truncated {
                what,
                offset: pos as u64,
                needed: len as u64,
                available: bytes.len().saturating_sub(pos) as u64,
            }
            .into());
        }
        data.insert(key, (pos, len));
        pos += len;
    }
    let mut bind = Bind {
        map,
        bytes,
        main_start,
        data,
        placer,
        infos: Vec::new(),
    };
    let (value, _) = unpickle(main, "legacy main pickle", &mut bind, limits)?;
    Ok((value, bind.infos))
}

#[cfg(test)]
#[path = "legacy_tests.rs"]
mod tests;
