//! The legacy (non-zip) format: `_use_new_zipfile_serialization=False`, torch < 1.6, and the
//! Python-2-era files in published weights. A chain of pickles (magic number, protocol version,
//! sys info, the object, the sorted storage keys) followed by each storage's element count and
//! little-endian bytes.
//!
//! Element sizes come from the storage classes named inside the main pickle, which precedes the
//! data, so the main pickle runs twice: once with data-less storages to learn each key's dtype
//! and count, and once, after the data section is indexed, with the real storages.

use std::collections::HashMap;
use std::sync::Arc;

use memmap2::Mmap;

use crate::checkpoint::pickle::{vm::unpickle, Limits, StorageRequest, StorageResolver};
use crate::checkpoint::placement::Placer;
use crate::checkpoint::records::{expected_bytes, host_storage, to_usize, StorageInfo};
use crate::checkpoint::value::Value;
use crate::checkpoint::zip::read::Method;
use crate::dtype::DType;
use crate::error::{CheckpointError, Result};
use crate::storage::Storage;

/// `0x1950a86a20f9469cfc6c`, little-endian, as pickled by LONG1.
const MAGIC_LE: [u8; 10] = [0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];
const PROTOCOL_VERSION: i64 = 1001;

/// Header pickles never name storages.
struct NoStorages(&'static str);

impl StorageResolver for NoStorages {
    fn resolve(&mut self, req: &StorageRequest<'_>) -> Result<Storage, CheckpointError> {
        Err(CheckpointError::MalformedPickle {
            record: self.0.to_string(),
            offset: 0,
            opcode: None,
            detail: format!("unexpected storage '{}' in a header pickle", req.key),
        })
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
        let nbytes = expected_bytes(req, &record)?;
        self.keys.entry(req.key.to_string()).or_insert(Declared {
            dtype: req.dtype,
            numel: req.numel,
            location: req.location.to_string(),
        });
        let view_bytes = match req.view {
            Some((_, _, size)) => size.checked_mul(req.dtype.map_or(1, |d| d.size() as u64)),
            None => Some(nbytes),
        }
        .ok_or_else(|| CheckpointError::SizeOverflow {
            what: record.clone(),
            detail: "view size".into(),
        })?;
        Ok(Storage::meta(to_usize(view_bytes, &record)?))
    }
}

/// Second pass: real storages from the indexed data section.
struct Bind<'a> {
    map: Option<&'a Arc<Mmap>>,
    bytes: &'a [u8],
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
                .ok_or_else(|| CheckpointError::MissingRecord {
                    name: format!("legacy {record}"),
                })?;
        let itemsize = req.dtype.map_or(1, |d| d.size());
        let (start, len) = match req.view {
            None => (start, len),
            Some((_, off, size)) => {
                let off = to_usize(off, &record)?.checked_mul(itemsize);
                let size = to_usize(size, &record)?.checked_mul(itemsize);
                match (off, size) {
                    (Some(o), Some(s)) if o.checked_add(s).is_some_and(|e| e <= len) => {
                        (start + o, s)
                    }
                    _ => {
                        return Err(CheckpointError::StorageBounds {
                            tensor: record,
                            detail: format!(
                                "storage view {:?} outside its {len}-byte root",
                                req.view
                            ),
                        })
                    }
                }
            }
        };
        let target = self.placer.target(req.location)?;
        let storage = match target {
            None => Storage::meta(len),
            Some(_) => host_storage(
                self.map,
                self.bytes,
                Method::Stored,
                start as u64,
                &self.bytes[start..start + len],
                itemsize,
                1,
            )
            .map_err(|e| self.placer.fail(e))?,
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
        "neither a zip archive (torch >= 1.6) nor a legacy pickle stream".to_string()
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
        let (v, used) = unpickle(&bytes[*pos..], name, &mut NoStorages(name), limits)?;
        *pos += used;
        Ok(v)
    };
    let magic = header(&mut pos, "legacy magic number")?;
    if !matches!(&magic, Value::BigInt(b) if **b == MAGIC_LE) {
        return Err(CheckpointError::UnsupportedFormat {
            detail: format!("a pickle, but not a torch.save file (magic number {magic:?})"),
        }
        .into());
    }
    let proto = header(&mut pos, "legacy protocol version")?;
    if proto.as_int() != Some(PROTOCOL_VERSION) {
        return Err(CheckpointError::UnsupportedFormat {
            detail: format!("legacy protocol version {proto:?}, expected {PROTOCOL_VERSION}"),
        }
        .into());
    }
    // The sys-info dict only describes the saving machine: the legacy writer already swapped
    // the data to little-endian. It is still parsed, so a hostile global in it is refused.
    header(&mut pos, "legacy sys info")?;
    let main_start = pos;
    let mut declare = Declare::default();
    let (_, used) = unpickle(
        &bytes[main_start..],
        "legacy main pickle",
        &mut declare,
        limits,
    )?;
    pos += used;
    let (keys, used) = unpickle(
        &bytes[pos..],
        "legacy storage keys",
        &mut NoStorages("legacy storage keys"),
        limits,
    )?;
    pos += used;
    let keys = keys
        .as_seq()
        .ok_or_else(|| CheckpointError::MalformedPickle {
            record: "legacy storage keys".into(),
            offset: 0,
            opcode: None,
            detail: format!("expected a list of keys, found {}", keys.type_name()),
        })?;
    let mut data = HashMap::new();
    for k in keys {
        let key = match k {
            Value::Str(s) => s.to_string(),
            Value::Int(i) => i.to_string(),
            other => {
                return Err(CheckpointError::MalformedPickle {
                    record: "legacy storage keys".into(),
                    offset: 0,
                    opcode: None,
                    detail: format!("storage key {other:?} is not a str"),
                }
                .into())
            }
        };
        let decl = declare
            .keys
            .get(&key)
            .ok_or_else(|| CheckpointError::MalformedPickle {
                record: "legacy storage keys".into(),
                offset: 0,
                opcode: None,
                detail: format!("data section lists storage '{key}' that the pickle never names"),
            })?;
        let what = format!("storage {key}");
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
                tensor: what,
                detail: format!(
                    "data section holds {count} elements, the pickle declares {} (at {})",
                    decl.numel, decl.location
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
        let len = to_usize(expected_bytes(&req, &what)?, &what)?;
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
        data,
        placer,
        infos: Vec::new(),
    };
    let (value, _) = unpickle(
        &bytes[main_start..],
        "legacy main pickle",
        &mut bind,
        limits,
    )?;
    Ok((value, bind.infos))
}
