//! Opening checkpoints and placing their storages with torch.load's `map_location` semantics.
//!
//! [`Checkpoint::open`] maps the file and parses the index and the pickle; tensors are zero-copy
//! views of the mapped file wherever the record is stored, aligned and little-endian.
//! [`load`] additionally verifies every record's CRC-32 (which also makes the data resident) and
//! places each storage where `map_location` says, checking that the device exists.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use memmap2::{Mmap, MmapOptions};

use crate::checkpoint::legacy;
use crate::checkpoint::pickle::{Limits, StorageRequest, StorageResolver};
use crate::checkpoint::state_dict::StateDict;
use crate::checkpoint::value::Value;
use crate::checkpoint::zip::read::{read_entry, verify_crc, Method, ZipIndex};
use crate::checkpoint::{pickle, placement};
use crate::device::Device;
use crate::dtype::DType;
use crate::error::{CheckpointError, Error, Result};
use crate::storage::{AlignedBuf, Storage};

use crate::checkpoint::placement::MapLocation;

/// Which container a checkpoint came in.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Format {
    /// The zip archive torch ≥ 1.6 writes.
    Zip,
    /// The stream of pickles written with `_use_new_zipfile_serialization=False` (and by old torch).
    Legacy,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Zip => "zip",
            Format::Legacy => "legacy",
        }
    }
}

/// What a checkpoint records about one storage.
#[derive(Clone, Debug)]
pub struct StorageInfo {
    /// Record key (`data/<key>`; a decimal pointer in legacy files).
    pub key: String,
    /// The saved location tag (`cpu`, `cuda:1`).
    pub location: String,
    /// The storage class's dtype, `None` for `UntypedStorage`.
    pub dtype: Option<DType>,
    /// The storage as placed.
    pub storage: Storage,
}

/// How to open a checkpoint.
#[derive(Clone)]
pub struct OpenOptions {
    /// Where storages go.
    pub map_location: MapLocation,
    /// Check every record's CRC-32 against the zip directory.
    pub verify_crc: bool,
    /// Keep placement on the host and record saved tags only (no device checks); used by
    /// `inspect` and `convert`.
    pub host_only: bool,
    /// Caps for the pickle machine.
    pub limits: Limits,
}

impl Default for OpenOptions {
    fn default() -> OpenOptions {
        OpenOptions {
            map_location: MapLocation::Keep,
            verify_crc: false,
            host_only: true,
            limits: Limits::default(),
        }
    }
}

/// An opened checkpoint: its value tree and what it says about each storage.
pub struct Checkpoint {
    value: Value,
    format: Format,
    storages: Vec<StorageInfo>,
    by_id: HashMap<usize, usize>,
    path: PathBuf,
}

/// Largest pickle record we inflate (a deflated data.pkl beyond this is hostile).
const MAX_PICKLE_BYTES: u64 = 1 << 31;

impl Checkpoint {
    /// Opens a checkpoint lazily: storages stay on the host as zero-copy views of the mapped
    /// file, CRCs are not checked, saved locations are recorded but not acted on.
    pub fn open(path: impl AsRef<Path>) -> Result<Checkpoint> {
        Checkpoint::open_with(path, &OpenOptions::default())
    }

    /// Opens a checkpoint with explicit options.
    pub fn open_with(path: impl AsRef<Path>, opts: &OpenOptions) -> Result<Checkpoint> {
        let path = path.as_ref();
        let io = |source| CheckpointError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = File::open(path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        let map = if len == 0 {
            None
        } else {
            // SAFETY: the map is read-only. If another process truncates the file while it is
            // mapped, reads fault (SIGBUS); tensorport's own writer never does that (it writes a
            // new file and renames it over the old one).
            let m = unsafe { MmapOptions::new().map(&file) }.map_err(io)?;
            Some(Arc::new(m))
        };
        let bytes: &[u8] = map.as_deref().map(|m| &m[..]).unwrap_or(&[]);
        Checkpoint::parse(bytes, map.as_ref(), opts, path)
    }

    /// Reads a checkpoint held in memory (storages are copied out of `bytes`).
    pub fn from_bytes(bytes: &[u8], opts: &OpenOptions) -> Result<Checkpoint> {
        Checkpoint::parse(bytes, None, opts, Path::new("<memory>"))
    }

    fn parse(
        bytes: &[u8],
        map: Option<&Arc<Mmap>>,
        opts: &OpenOptions,
        path: &Path,
    ) -> Result<Checkpoint> {
        let mut placer = placement::Placer::new(opts)?;
        let (value, format, storages) = if bytes.starts_with(b"PK\x03\x04") {
            let (v, s) = open_zip(bytes, map, opts, &mut placer)?;
            (v, Format::Zip, s)
        } else {
            let (v, s) = legacy::open_legacy(bytes, map, opts, &mut placer)?;
            (v, Format::Legacy, s)
        };
        let by_id = storages
            .iter()
            .enumerate()
            .map(|(i, s)| (s.storage.id(), i))
            .collect();
        Ok(Checkpoint {
            value,
            format,
            storages,
            by_id,
            path: path.to_path_buf(),
        })
    }

    /// The unpickled value tree.
    pub fn value(&self) -> &Value {
        &self.value
    }
    /// Consumes the checkpoint, keeping its value tree (the storages stay alive through it).
    pub fn into_value(self) -> Value {
        self.value
    }
    pub fn format(&self) -> Format {
        self.format
    }
    pub fn path(&self) -> &Path {
        &self.path
    }
    /// Every storage, in the order the pickle first named them.
    pub fn storages(&self) -> &[StorageInfo] {
        &self.storages
    }
    /// What the checkpoint says about the storage behind `storage`, if it came from this file.
    pub fn storage_info(&self, storage: &Storage) -> Option<&StorageInfo> {
        self.by_id.get(&storage.id()).map(|&i| &self.storages[i])
    }
    /// The state dict at the top level or under a usual key (`model_state_dict`, ...).
    pub fn state_dict(&self) -> Result<StateDict> {
        StateDict::find(&self.value)
    }
    /// The state dict under `key` (a `/`-separated path).
    pub fn state_dict_at(&self, key: &str) -> Result<StateDict> {
        let parts: Vec<&str> = key.split('/').collect();
        StateDict::from_value(self.value.get_path(&parts)?)
    }
}

/// Reads a checkpoint as `torch.load(path, map_location=..., weights_only=True)` does: every
/// record's CRC is checked, and every storage is placed where `map_location` says (an error when
/// that device does not exist; never a silent fallback).
pub fn load(path: impl AsRef<Path>, map_location: &MapLocation) -> Result<Checkpoint> {
    Checkpoint::open_with(
        path,
        &OpenOptions {
            map_location: map_location.clone(),
            verify_crc: true,
            host_only: false,
            limits: Limits::default(),
        },
    )
}

fn open_zip(
    bytes: &[u8],
    map: Option<&Arc<Mmap>>,
    opts: &OpenOptions,
    placer: &mut placement::Placer,
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
    if opts.verify_crc {
        verify_crc(pkl, &pkl_bytes)?;
    }
    let mut resolver = ZipResolver {
        bytes,
        map,
        index: &index,
        big_endian,
        verify_crc: opts.verify_crc,
        placer,
        infos: Vec::new(),
    };
    let (value, _) = pickle::vm::unpickle(&pkl_bytes, &pkl.name, &mut resolver, &opts.limits)?;
    Ok((value, resolver.infos))
}

struct ZipResolver<'a> {
    bytes: &'a [u8],
    map: Option<&'a Arc<Mmap>>,
    index: &'a ZipIndex,
    big_endian: bool,
    verify_crc: bool,
    placer: &'a mut placement::Placer,
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
            .map_err(|e| resource(&record, e))?
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

/// `numel × itemsize` of a storage request, checked.
pub(crate) fn expected_bytes(
    req: &StorageRequest<'_>,
    record: &str,
) -> Result<u64, CheckpointError> {
    let itemsize = req.dtype.map_or(1, |d| d.size()) as u64;
    req.numel
        .checked_mul(itemsize)
        .filter(|&b| usize::try_from(b).is_ok())
        .ok_or_else(|| CheckpointError::SizeOverflow {
            what: format!("storage {record}"),
            detail: format!("{} elements of {itemsize} bytes", req.numel),
        })
}

pub(crate) fn to_usize(n: u64, what: &str) -> Result<usize, CheckpointError> {
    usize::try_from(n).map_err(|_| CheckpointError::SizeOverflow {
        what: what.to_string(),
        detail: format!("{n} bytes do not fit this machine's address space"),
    })
}

fn resource(record: &str, e: Error) -> CheckpointError {
    match e {
        Error::Checkpoint(c) => c,
        other => CheckpointError::ResourceLimit {
            record: format!("{record}: {other}"),
            limit: "host memory for a storage",
            max: 0,
            value: 0,
        },
    }
}

/// A host storage for record bytes `data`: a zero-copy window of the map when the record is
/// stored, aligned for its dtype and needs no byte swap; otherwise an aligned owned copy
/// (swapped in units of `swap` bytes when `swap > 1`).
pub(crate) fn host_storage(
    map: Option<&Arc<Mmap>>,
    file: &[u8],
    method: Method,
    data_offset: u64,
    data: &[u8],
    itemsize: usize,
    swap: usize,
) -> Result<Storage> {
    if let (Some(map), Method::Stored, 1) = (map, method, swap) {
        let start = data_offset as usize;
        let aligned = (file.as_ptr() as usize + start).is_multiple_of(itemsize.max(1));
        if aligned {
            return Storage::mapped(map.clone(), start, data.len());
        }
    }
    let mut buf = AlignedBuf::from_slice(data)?;
    if swap > 1 {
        for unit in buf.as_mut_slice().chunks_exact_mut(swap) {
            unit.reverse();
        }
    }
    Ok(Storage::from_buf(buf))
}

impl From<Device> for MapLocation {
    fn from(d: Device) -> MapLocation {
        MapLocation::To(d)
    }
}
