//! The zip container torch ≥ 1.6 writes: its version and byteorder records, `data.pkl`, and one
//! record per storage (`data/<key>`), each placed as it is resolved.

use std::sync::Arc;

use memmap2::Mmap;

use crate::checkpoint::pickle::{self, Limits, StorageRequest, StorageResolver};
use crate::checkpoint::placement::Placer;
use crate::checkpoint::records::{
    expected_bytes, record_storage, to_usize, RecordBytes, StorageInfo,
};
use crate::checkpoint::value::Value;
use crate::checkpoint::zip::read::{
    display_name, read_entry, read_entry_within, verify_crc, Method, ZipIndex,
};
use crate::device::Device;
use crate::error::{CheckpointError, Result};
use crate::storage::{Locate, Storage};

/// The format versions torch 2.15's `PyTorchStreamReader` reads (kMin/kMaxSupportedFileFormatVersion).
const VERSIONS: std::ops::RangeInclusive<u64> = 1..=10;

/// The version record's text read as torch reads it, with C's `std::stoull` (base 10): leading
/// C whitespace skipped, an optional sign (a minus negates modulo 2^64, as `strtoull` does),
/// digits up to the first non-digit (`3junk` is 3). No digits, or a value beyond 64 bits, is an
/// error (torch: "Couldn't parse the version", `IndexError: stoull`).
pub(crate) fn parse_version(text: &[u8]) -> Result<u64, String> {
    let is_c_space = |b: &u8| matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r');
    let start = text
        .iter()
        .position(|b| !is_c_space(b))
        .unwrap_or(text.len());
    let rest = &text[start..];
    let (negative, rest) = match rest.first() {
        Some(b'-') => (true, &rest[1..]),
        Some(b'+') => (false, &rest[1..]),
        _ => (false, rest),
    };
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 {
        return Err("it does not start with a decimal number".into());
    }
    let mut value: u64 = 0;
    for &d in &rest[..digits] {
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(d - b'0')))
            .ok_or("its number does not fit in 64 bits")?;
    }
    Ok(if negative {
        value.wrapping_neg()
    } else {
        value
    })
}

pub(crate) fn open_zip(
    bytes: &[u8],
    map: Option<&Arc<Mmap>>,
    check_crc: bool,
    limits: &Limits,
    placer: &mut Placer,
) -> Result<(Value, Vec<StorageInfo>)> {
    let index = Arc::new(ZipIndex::parse(bytes)?);
    if let Some(name) = index.first_non_utf8_name() {
        // torch lists every record as a Python str before reading any (`get_all_records`), so
        // a single undecodable name, used or not, makes it refuse the archive.
        return Err(CheckpointError::MalformedZip {
            detail: format!(
                "record name {name} is not UTF-8 (torch decodes every record name and refuses \
                 the archive)"
            ),
        }
        .into());
    }
    if index.get("constants.pkl").is_some() {
        return Err(CheckpointError::UnsupportedFormat {
            detail: "this is a TorchScript archive (torch.jit.save), not a torch.save checkpoint; \
                     save a state_dict with torch.save instead"
                .into(),
        }
        .into());
    }
    let prefix = index.prefix().to_string();
    // torch reads `.data/version` when the archive has it, else `version`.
    let version = index
        .get(".data/version")
        .or_else(|| index.get("version"))
        .ok_or_else(|| CheckpointError::MissingRecord {
            name: format!("{prefix}/version"),
        })?;
    let vbytes = read_entry_within(bytes, version, limits.max_bytes, "max_bytes")?;
    let shown = || display_name(&vbytes[..vbytes.len().min(32)]);
    match parse_version(&vbytes) {
        Ok(v) if VERSIONS.contains(&v) => {}
        Ok(v) => {
            let (lo, hi) = (VERSIONS.start(), VERSIONS.end());
            return Err(CheckpointError::UnsupportedFormat {
                detail: format!(
                    "record {}: format version {v} (from '{}') is outside the range {lo}..={hi} \
                     torch reads",
                    version.name,
                    shown()
                ),
            }
            .into());
        }
        Err(why) => {
            return Err(CheckpointError::UnsupportedFormat {
                detail: format!(
                    "record {}: cannot read the format version from '{}': {why}",
                    version.name,
                    shown()
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
                        "record {}: byteorder '{}' is neither little nor big",
                        e.name,
                        display_name(&other[..other.len().min(32)])
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
    // The inflated pickle is working memory of the reader: it counts against its budget.
    let pkl_bytes = read_entry_within(bytes, pkl, limits.max_bytes, "max_bytes")?;
    if check_crc {
        verify_crc(pkl, &pkl_bytes)?;
    }
    let mut resolver = ZipResolver {
        bytes,
        map,
        index: &index,
        lazy: map.filter(|_| !check_crc),
        big_endian,
        verify_crc: check_crc,
        placer,
        infos: Vec::new(),
        name: Vec::new(),
    };
    let (value, _) = pickle::vm::unpickle(&pkl_bytes, &pkl.name, &mut resolver, limits)?;
    Ok((value, resolver.infos))
}

struct ZipResolver<'a> {
    bytes: &'a [u8],
    map: Option<&'a Arc<Mmap>>,
    index: &'a Arc<ZipIndex>,
    /// The map, when records are located on first access (`Checkpoint::open` without CRC
    /// checks): each record's local header is then read when its bytes are, not at open.
    lazy: Option<&'a Arc<Mmap>>,
    big_endian: bool,
    verify_crc: bool,
    placer: &'a mut Placer,
    infos: Vec<StorageInfo>,
    /// Scratch for full record names (one lookup per storage).
    name: Vec<u8>,
}

impl StorageResolver for ZipResolver<'_> {
    fn resolve(&mut self, req: &StorageRequest<'_>) -> Result<Storage, CheckpointError> {
        let position = self.index.position_in(&mut self.name, &["data/", req.key]);
        // Only messages need the name.
        let record = || format!("data/{}", req.key);
        let entry = position.and_then(|i| self.index.entry(i)).ok_or_else(|| {
            CheckpointError::MissingRecord {
                name: format!("{}/{}", self.index.prefix(), record()),
            }
        })?;
        let itemsize = req.dtype.map_or(1, |d| d.size());
        let want = expected_bytes(req, record)?;
        if entry.size != want {
            return Err(CheckpointError::StorageBounds {
                tensor: format!("storage {}", record()),
                detail: format!(
                    "record has {} bytes but the storage declares {} elements of {} bytes = {want}",
                    entry.size, req.numel, itemsize
                ),
            });
        }
        let what = || format!("storage {}", record());
        let target = if self.placer.is_host_only() {
            Some(Device::Cpu)
        } else {
            self.placer.target_for(&what(), req.location)?
        };
        let lazy = self.lazy.filter(|_| {
            target == Some(Device::Cpu)
                && entry.method == Method::Stored
                && !entry.encrypted
                && (!self.big_endian || itemsize == 1)
        });
        let storage = if target.is_none() {
            Storage::meta(to_usize(want, record)?)
        } else if let (Some(map), Some(position)) = (lazy, position) {
            let at = RecordAt {
                index: Arc::clone(self.index),
                position,
            };
            Storage::mapped_lazily(
                Arc::clone(map),
                Box::new(at),
                to_usize(want, record)?,
                itemsize,
            )
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
            let record = RecordBytes {
                method: entry.method,
                data_offset: entry.data_offset(self.bytes)?,
                data,
            };
            record_storage(self.map, self.bytes, record, itemsize, swap, &what())?
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

/// A stored record found through its local header on first access (see `storage::Locate`).
struct RecordAt {
    index: Arc<ZipIndex>,
    position: usize,
}

impl Locate for RecordAt {
    fn locate(&self, map: &[u8]) -> Result<usize> {
        let entry =
            self.index
                .entry(self.position)
                .ok_or_else(|| CheckpointError::MissingRecord {
                    name: format!("{} (entry {})", self.index.prefix(), self.position),
                })?;
        let at = entry.data_offset(map)?;
        Ok(to_usize(at, || entry.name.clone())?)
    }
}

#[cfg(test)]
#[path = "zip_archive_tests.rs"]
pub(crate) mod tests;
