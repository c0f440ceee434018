//! The zip container torch ≥ 1.6 writes: its version and byteorder records, `data.pkl`, and one
//! record per storage (`data/<key>`), each placed as it is resolved.

use std::sync::Arc;

use memmap2::Mmap;

use crate::checkpoint::pickle::{self, Limits, StorageRequest, StorageResolver};
use crate::checkpoint::placement::Placer;
use crate::checkpoint::records::{expected_bytes, host_storage, to_usize, StorageInfo};
use crate::checkpoint::value::Value;
use crate::checkpoint::zip::read::{read_entry, verify_crc, ZipIndex};
use crate::error::{CheckpointError, Result};
use crate::storage::Storage;

/// Largest pickle record we inflate (a deflated data.pkl beyond this is hostile).
const MAX_PICKLE_BYTES: u64 = 1 << 31;

pub(crate) fn open_zip(
    bytes: &[u8],
    map: Option<&Arc<Mmap>>,
    check_crc: bool,
    limits: &Limits,
    placer: &mut Placer,
) -> Result<(Value, Vec<StorageInfo>)> {
    let index = ZipIndex::parse(bytes)?;
    if index.get("constants.pkl").is_some() {
        return Err(CheckpointError::UnsupportedFormat {
            detail: "this is a TorchScript archive (torch.jit.save), not a torch.save checkpoint; \
                     save a state_dict with torch.save instead"
                .into(),
        }
        .into());
    }
    let prefix = index.prefix().to_string();
    let version = index
        .get("version")
        .or_else(|| index.get(".data/version"))
        .ok_or_else(|| CheckpointError::MissingRecord {
            name: format!("{prefix}/version"),
        })?;
    let vbytes = read_entry(bytes, version, 64)?;
    let vtext = std::str::from_utf8(&vbytes).unwrap_or("").trim();
    match vtext.parse::<u64>() {
        Ok(1..=10) => {}
        _ => {
            return Err(CheckpointError::UnsupportedFormat {
                detail: format!(
                    "record {}: format version {:?} is outside the range 1..=10 torch reads",
                    version.name, vtext
                ),
            }
            .into())
        }
    }
    let big_endian = match index.get("byteorder") {
        None => false,
        Some(e) => match &*read_entry(bytes, e, 16)? {
            b"little" => false,
            b"big" => true,
            other => {
                return Err(CheckpointError::UnsupportedFormat {
                    detail: format!(
                        "record {}: byteorder {:?} is neither little nor big",
                        e.name,
                        String::from_utf8_lossy(other)
                    ),
                }
                .into())
            }
        },
    };
    let pkl = index
        .get("data.pkl")
        .ok_or_else(|| CheckpointError::MissingRecord {
            name: format!("{prefix}/data.pkl"),
        })?;
    let pkl_bytes = read_entry(bytes, pkl, MAX_PICKLE_BYTES)?;
    if check_crc {
        verify_crc(pkl, &pkl_bytes)?;
    }
    let mut resolver = ZipResolver {
        bytes,
        map,
        index: &index,
        big_endian,
        verify_crc: check_crc,
        placer,
        infos: Vec::new(),
    };
    let (value, _) = pickle::vm::unpickle(&pkl_bytes, &pkl.name, &mut resolver, limits)?;
    Ok((value, resolver.infos))
}

struct ZipResolver<'a> {
    bytes: &'a [u8],
    map: Option<&'a Arc<Mmap>>,
    index: &'a ZipIndex,
    big_endian: bool,
    verify_crc: bool,
    placer: &'a mut Placer,
    infos: Vec<StorageInfo>,
}

impl StorageResolver for ZipResolver<'_> {
    fn resolve(&mut self, req: &StorageRequest<'_>) -> Result<Storage, CheckpointError> {
        let record = format!("data/{}", req.key);
        let entry = self
            .index
            .get(&record)
            .ok_or_else(|| CheckpointError::MissingRecord {
                name: format!("{}/{record}", self.index.prefix()),
            })?;
        let itemsize = req.dtype.map_or(1, |d| d.size());
        let want = expected_bytes(req, &record)?;
        if entry.size != want {
            return Err(CheckpointError::StorageBounds {
                tensor: format!("storage {record}"),
                detail: format!(
                    "record has {} bytes but the storage declares {} elements of {} bytes = {want}",
                    entry.size, req.numel, itemsize
                ),
            });
        }
        let target = self.placer.target(req.location)?;
        let storage = if target.is_none() {
            Storage::meta(to_usize(want, &record)?)
        } else {
            let data = read_entry(self.bytes, entry, entry.size)?;
            if self.verify_crc {
                verify_crc(entry, &data)?;
            }
            let swap = if self.big_endian {
                req.dtype.map_or(1, |d| d.swap_unit())
            } else {
                1
            };
            host_storage(
                self.map,
                self.bytes,
                entry.method,
                entry.data_offset,
                &data,
                itemsize,
                swap,
            )
            .map_err(|e| self.placer.fail(e))?
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
