//! Opening checkpoints (the front door): [`Checkpoint::open`] and [`load`], which choose the
//! zip (`zip_archive.rs`), safetensors (`safetensors/`) or legacy (`legacy.rs`) reader from the
//! file's first bytes and place storages with torch.load's
//! `map_location` semantics (`placement.rs`).
//!
//! [`Checkpoint::open`] maps the file and parses the central directory and the pickle; tensors
//! are zero-copy views of the mapped file wherever the record is stored, aligned and
//! little-endian. A record's local header (one page of the file per record, scattered) is read
//! and checked on the first access to its bytes, before any byte is exposed; a bad one is an
//! error there ([`Storage::host_bytes`](crate::Storage::host_bytes)), never data.
//! [`load`] additionally verifies every record's CRC-32 (which also makes the data resident) and
//! places each storage where `map_location` says, checking that the device exists.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use memmap2::{Mmap, MmapOptions};

use crate::checkpoint::pickle::Limits;
use crate::checkpoint::placement::{MapLocation, Placer, Progress};
use crate::checkpoint::records::StorageInfo;
use crate::checkpoint::state_dict::StateDict;
use crate::checkpoint::value::Value;
use crate::checkpoint::{legacy, safetensors, zip_archive};
use crate::device::Device;
use crate::error::{CheckpointError, Result};
use crate::storage::Storage;

/// Which container a checkpoint came in.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Format {
    /// The zip archive torch ≥ 1.6 writes.
    Zip,
    /// The stream of pickles written with `_use_new_zipfile_serialization=False` (and by old torch).
    Legacy,
    /// A `.safetensors` file (a JSON header, then raw bytes).
    Safetensors,
}

impl Format {
    /// `zip` or `legacy`, as `inspect --json` prints it.
    pub fn name(self) -> &'static str {
        match self {
            Format::Zip => "zip",
            Format::Legacy => "legacy",
            Format::Safetensors => "safetensors",
        }
    }
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
    /// Told the bytes of storage read and placed so far, out of the file's size.
    pub progress: Option<Progress>,
}

impl Default for OpenOptions {
    fn default() -> OpenOptions {
        OpenOptions {
            map_location: MapLocation::Keep,
            verify_crc: false,
            host_only: true,
            limits: Limits::default(),
            progress: None,
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
    metadata: Option<Vec<(String, String)>>,
}

impl Checkpoint {
    /// Opens a checkpoint lazily: storages stay on the host as zero-copy views of the mapped
    /// file, each record's local header is checked when its bytes are first read, CRCs are not
    /// checked, saved locations are recorded but not acted on.
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
        let mut placer = Placer::new(&opts.map_location, opts.host_only);
        if let Some(p) = &opts.progress {
            placer.report_to(p.clone(), bytes.len() as u64);
        }
        let mut metadata = None;
        // The format comes from the bytes, never from the file's name.
        let parsed = if bytes.starts_with(b"PK\x03\x04") {
            zip_archive::open_zip(bytes, map, opts.verify_crc, &opts.limits, &mut placer)
                .map(|(v, s)| (v, Format::Zip, s))
        } else if safetensors::sniff(bytes) {
            safetensors::open_safetensors(bytes, map, &mut placer).map(|(v, s, m)| {
                metadata = m;
                (v, Format::Safetensors, s)
            })
        } else {
            legacy::open_legacy(bytes, map, &opts.limits, &mut placer)
                .map(|(v, s)| (v, Format::Legacy, s))
        };
        // A storage that could not be placed stopped the parse: that error is the real one.
        let (value, format, storages) = match (parsed, placer.take_failure()) {
            (Err(_), Some(failure)) => return Err(failure),
            (parsed, _) => parsed?,
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
            metadata,
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
    /// The container the checkpoint came in.
    pub fn format(&self) -> Format {
        self.format
    }
    /// A safetensors file's `__metadata__` (str → str, in the header's order); `None` for
    /// torch.save files and safetensors files without it.
    pub fn metadata(&self) -> Option<&[(String, String)]> {
        self.metadata.as_deref()
    }
    /// The file it was read from (`<memory>` for [`Checkpoint::from_bytes`]).
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
            progress: None,
        },
    )
}

impl From<Device> for MapLocation {
    fn from(d: Device) -> MapLocation {
        MapLocation::To(d)
    }
}
