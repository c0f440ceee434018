//! `.safetensors` files (Hugging Face's format: a JSON header, then raw little-endian bytes, no
//! pickle), read zero-copy over the mapped file and written atomically.
//!
//! Our own reader rather than the `safetensors` crate's: the crate reports a size mismatch or an
//! overflow without naming the tensor and an unknown dtype as a JSON syntax error, and we want
//! every refusal to name the tensor and the field (`header.rs`). The writer (`write.rs`) makes
//! the same bytes as the crate (and so as Python's `safetensors.torch.save_file`), through the
//! atomic writer our `.pt` files use; the tests hold both to the reference implementation.
//!
//! Reading gives what `safetensors.torch.load_file` gives: a dict of every tensor, by name in
//! sorted order, each its own storage, placed where `map_location` sends `cpu`.

mod header;
mod write;

use std::sync::Arc;

use memmap2::Mmap;

use crate::checkpoint::placement::Placer;
use crate::checkpoint::records::{record_storage, RecordBytes, StorageInfo};
use crate::checkpoint::value::{Dict, DictKind, Value};
use crate::checkpoint::zip::read::Method;
use crate::error::{CheckpointError, Result};
use crate::tensor::{contiguous_strides, Tensor};

pub(crate) use header::sniff;
pub use write::{save_safetensors, SafetensorsOptions, SharedPolicy};

/// What [`open_safetensors`] reads: the value tree, its storages, and `__metadata__`.
pub(crate) type Opened = (Value, Vec<StorageInfo>, Option<Vec<(String, String)>>);

/// Reads a safetensors file from `bytes` (the mapped file when `map` is given).
pub(crate) fn open_safetensors(
    bytes: &[u8],
    map: Option<&Arc<Mmap>>,
    placer: &mut Placer,
) -> Result<Opened> {
    let header = header::parse(bytes)?;
    let mut entries = header.entries;
    // load_file's order: sorted by name.
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    let mut dict = Dict::new(DictKind::Dict);
    let mut storages = Vec::with_capacity(entries.len());
    for e in entries {
        let what = format!("tensor {}", header::quoted(&e.name));
        let offset = header.data_start + e.start;
        let record = RecordBytes {
            method: Method::Stored,
            data_offset: offset as u64,
            data: std::borrow::Cow::Borrowed(&bytes[offset..header.data_start + e.end]),
        };
        // The format is little-endian; a big-endian host swaps each element (each part of a
        // complex number) as it copies.
        let swap = if cfg!(target_endian = "big") {
            e.dtype.swap_unit()
        } else {
            1
        };
        let storage = record_storage(map, bytes, record, e.dtype.size(), swap, &what)?;
        let target = placer.target_for(&what, "cpu")?;
        let storage = placer.place(storage, target, "cpu")?;
        let strides = contiguous_strides(&e.shape);
        let tensor =
            Tensor::from_storage(storage.clone(), e.dtype, 0, e.shape, strides).map_err(|err| {
                CheckpointError::StorageBounds {
                    tensor: what.clone(),
                    detail: err.to_string(),
                }
            })?;
        storages.push(StorageInfo {
            key: e.name.clone(),
            location: "cpu".into(),
            dtype: Some(e.dtype),
            storage,
        });
        dict.insert(Value::str(&e.name), Value::Tensor(tensor))?;
    }
    Ok((Value::Dict(Arc::new(dict)), storages, header.metadata))
}

#[cfg(test)]
mod tests;
