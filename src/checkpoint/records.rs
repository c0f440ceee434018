//! What the zip and legacy readers share: the storage records they describe ([`StorageInfo`]),
//! the checked size of a storage request, and host storages over a record's bytes (zero-copy
//! windows of the mapped file where possible).

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
