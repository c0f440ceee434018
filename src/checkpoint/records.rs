//! What the zip and legacy readers share: the storage records they describe ([`StorageInfo`]),
//! the checked size of a storage request, and host storages over a record's bytes, each held
//! once (zero-copy windows of the mapped file where possible, the inflated buffer itself when a
//! record had to be inflated).

use std::borrow::Cow;
use std::sync::Arc;

use memmap2::Mmap;

use crate::checkpoint::pickle::StorageRequest;
use crate::checkpoint::zip::read::Method;
use crate::dtype::DType;
use crate::error::{CheckpointError, Result};
use crate::storage::{AlignedBuf, Storage};

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

/// `numel × itemsize` of a storage request, checked; `record` names it in the error (made only
/// then: this runs once per storage).
pub(crate) fn expected_bytes(
    req: &StorageRequest<'_>,
    record: impl Fn() -> String,
) -> Result<u64, CheckpointError> {
    let itemsize = req.dtype.map_or(1, |d| d.size()) as u64;
    req.numel
        .checked_mul(itemsize)
        .filter(|&b| usize::try_from(b).is_ok())
        .ok_or_else(|| CheckpointError::SizeOverflow {
            what: format!("storage {}", record()),
            detail: format!("{} elements of {itemsize} bytes", req.numel),
        })
}

pub(crate) fn to_usize(n: u64, what: impl Fn() -> String) -> Result<usize, CheckpointError> {
    usize::try_from(n).map_err(|_| CheckpointError::SizeOverflow {
        what: what(),
        detail: format!("{n} bytes do not fit this machine's address space"),
    })
}

/// A host storage for record bytes `data`; see [`record_storage`]. For callers that hold a
/// borrowed slice (the `.pt2` weights); `what` in errors is "a weight record".
pub(crate) fn host_storage(
    map: Option<&Arc<Mmap>>,
    file: &[u8],
    method: Method,
    data_offset: u64,
    data: &[u8],
    itemsize: usize,
    swap: usize,
) -> Result<Storage> {
    let record = RecordBytes {
        method,
        data_offset,
        data: Cow::Borrowed(data),
    };
    Ok(record_storage(
        map,
        file,
        record,
        itemsize,
        swap,
        "a weight record",
    )?)
}

/// A record's bytes as [`read_entry`](crate::checkpoint::zip::read::read_entry) returned them,
/// and where they lie in the file.
pub(crate) struct RecordBytes<'a> {
    pub method: Method,
    pub data_offset: u64,
    pub data: Cow<'a, [u8]>,
}

/// The host storage `what` (e.g. `storage data/0`) over a record's bytes, holding them once:
/// a zero-copy window of the map when the record is stored, aligned for its dtype and needs no
/// byte swap; the inflated buffer itself when the record was inflated (swapped in place, in
/// units of `swap` bytes when `swap > 1`); otherwise an aligned copy.
pub(crate) fn record_storage(
    map: Option<&Arc<Mmap>>,
    file: &[u8],
    record: RecordBytes<'_>,
    itemsize: usize,
    swap: usize,
    what: &str,
) -> Result<Storage, CheckpointError> {
    let swap_units = |bytes: &mut [u8]| {
        if swap > 1 {
            for unit in bytes.chunks_exact_mut(swap) {
                unit.reverse();
            }
        }
    };
    let data = match record.data {
        Cow::Owned(mut inflated) => {
            swap_units(&mut inflated);
            return Ok(Storage::from_vec(inflated));
        }
        Cow::Borrowed(data) => data,
    };
    if let (Some(map), Method::Stored, 1) = (map, record.method, swap) {
        if let Ok(start) = usize::try_from(record.data_offset) {
            let aligned = (file.as_ptr() as usize)
                .wrapping_add(start)
                .is_multiple_of(itemsize.max(1));
            if aligned {
                return Storage::mapped(map.clone(), start, data.len()).map_err(|e| {
                    CheckpointError::StorageBounds {
                        tensor: what.to_string(),
                        detail: e.to_string(),
                    }
                });
            }
        }
    }
    let mut buf = AlignedBuf::from_slice(data).map_err(|_| CheckpointError::OutOfMemory {
        what: what.to_string(),
        bytes: data.len() as u64,
    })?;
    swap_units(buf.as_mut_slice());
    Ok(Storage::from_buf(buf))
}
