//! Writing `.safetensors`: the bytes the reference implementation writes (tensors sorted by
//! descending dtype alignment, then by name; a compact JSON header padded with spaces to a
//! multiple of 8; the data in that order), through our atomic writer.
//!
//! What the format cannot hold is handled as Python's `safetensors.torch` handles it:
//! `save_file` refuses tensors that share memory and non-contiguous tensors, naming them;
//! `save_model` ([`SharedPolicy::Dedupe`]) keeps one name of each group of tensors sharing
//! memory (the first, in sorted order, that covers its whole storage) and records every dropped
//! name in `__metadata__` as `dropped → kept`, as `load_model` expects.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

use crate::checkpoint::safetensors::header::{dtype_name, quoted, MAX_HEADER};
use crate::checkpoint::save::write_atomically;
use crate::checkpoint::state_dict::StateDict;
use crate::device::Device;
use crate::error::{Error, Result};
use crate::tensor::Tensor;

/// What to do with tensors that share memory.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub enum SharedPolicy {
    /// Refuse, naming them (`safetensors.torch.save_file`).
    #[default]
    Refuse,
    /// Keep one name per group and record the others in `__metadata__`
    /// (`safetensors.torch.save_model`).
    Dedupe,
}

/// Options for [`save_safetensors`].
#[derive(Clone, Default)]
pub struct SafetensorsOptions {
    /// `__metadata__` (str → str), written in this order.
    pub metadata: Vec<(String, String)>,
    /// Tensors that share memory.
    pub shared: SharedPolicy,
    /// Write non-contiguous tensors as contiguous copies instead of refusing them
    /// (`save_model(..., force_contiguous=True)`).
    pub force_contiguous: bool,
    /// Told the bytes of tensor data written so far, out of all of them.
    pub progress: Option<crate::checkpoint::Progress>,
}

const OP: &str = "save_safetensors";

fn refuse(name: &'static str, reason: String) -> Error {
    Error::InvalidArgument {
        op: OP,
        name,
        reason,
    }
}

/// Saves the tensors of `tensors` as a `.safetensors` file at `path` (atomically). Returns the
/// names dropped as duplicates, each with the name kept in its place (empty unless
/// [`SharedPolicy::Dedupe`]).
pub fn save_safetensors(
    tensors: &StateDict,
    path: impl AsRef<Path>,
    opts: &SafetensorsOptions,
) -> Result<Vec<(String, String)>> {
    let path = path.as_ref();
    let mut metadata = opts.metadata.clone();
    let dropped = shared_groups(tensors, opts.shared)?;
    for (gone, kept) in &dropped {
        // The user's own metadata wins, as in save_model.
        if !metadata.iter().any(|(k, _)| k == gone) {
            metadata.push((gone.clone(), kept.clone()));
        }
    }
    let gone: std::collections::HashSet<&str> = dropped.iter().map(|(g, _)| g.as_str()).collect();
    let mut items: Vec<(&str, &Tensor, usize, &'static str)> = Vec::with_capacity(tensors.len());
    for (name, t) in tensors.iter() {
        if gone.contains(name) {
            continue;
        }
        if name == "__metadata__" {
            return Err(refuse(
                "name",
                "a tensor cannot be named __metadata__ (the header keeps that key)".into(),
            ));
        }
        let (dname, rank) = dtype_name(t.dtype()).ok_or_else(|| {
            refuse(
                "dtype",
                format!(
                    "tensor {}: safetensors has no dtype for {}",
                    quoted(name),
                    t.dtype()
                ),
            )
        })?;
        if !t.is_contiguous() && !opts.force_contiguous {
            return Err(refuse(
                "tensor",
                format!(
                    "tensor {} is not contiguous (shape {:?}, strides {:?}); safetensors stores \
                     only packed tensors: save its .contiguous() copy, or force_contiguous",
                    quoted(name),
                    t.shape(),
                    t.strides()
                ),
            ));
        }
        items.push((name, t, rank, dname));
    }
    items.sort_by(|a, b| b.2.cmp(&a.2).then(a.0.cmp(b.0)));

    let header = header_json(&items, &metadata)?;
    write_atomically(path, &mut |out| {
        let io = |source| Error::Io {
            op: "writing",
            path: path.to_path_buf(),
            source,
        };
        out.write_all(&(header.len() as u64).to_le_bytes())
            .map_err(io)?;
        out.write_all(&header).map_err(io)?;
        let total: u64 = items
            .iter()
            .map(|(_, t, _, _)| (t.numel() * t.dtype().size()) as u64)
            .sum();
        let mut done = 0u64;
        for (_, t, _, _) in &items {
            // A GPU tensor comes to the host one at a time.
            let host;
            let t = if t.device() == Device::Cpu {
                *t
            } else {
                host = t.to(&Device::Cpu)?;
                &host
            };
            let bytes = t.contiguous_bytes()?;
            out.write_all(&bytes).map_err(io)?;
            done += bytes.len() as u64;
            if let Some(p) = &opts.progress {
                p(done, total);
            }
        }
        Ok(())
    })?;
    Ok(dropped)
}

/// The header: `__metadata__` first when there is any, then each tensor in data order, padded
/// with spaces to a multiple of 8 bytes.
fn header_json(
    items: &[(&str, &Tensor, usize, &'static str)],
    metadata: &[(String, String)],
) -> Result<Vec<u8>> {
    let js = |s: &str| serde_json::to_string(s).unwrap_or_default();
    let mut h = String::from("{");
    if !metadata.is_empty() {
        h.push_str("\"__metadata__\":{");
        for (i, (k, v)) in metadata.iter().enumerate() {
            if i > 0 {
                h.push(',');
            }
            h.push_str(&js(k));
            h.push(':');
            h.push_str(&js(v));
        }
        h.push('}');
    }
    let mut offset = 0usize;
    for (i, (name, t, _, dname)) in items.iter().enumerate() {
        if i > 0 || !metadata.is_empty() {
            h.push(',');
        }
        let n = t
            .numel()
            .checked_mul(t.dtype().size())
            .ok_or_else(|| Error::Overflow {
                what: format!("bytes of tensor {}", quoted(name)),
            })?;
        let end = offset.checked_add(n).ok_or_else(|| Error::Overflow {
            what: "the data section's size".into(),
        })?;
        let dims: Vec<String> = t.shape().iter().map(usize::to_string).collect();
        h.push_str(&format!(
            "{}:{{\"dtype\":\"{dname}\",\"shape\":[{}],\"data_offsets\":[{offset},{end}]}}",
            js(name),
            dims.join(",")
        ));
        offset = end;
    }
    h.push('}');
    let padded = h.len().next_multiple_of(8);
    if padded as u64 > MAX_HEADER {
        return Err(refuse(
            "header",
            format!("the header would be {padded} bytes; the format allows at most {MAX_HEADER}"),
        ));
    }
    let mut bytes = h.into_bytes();
    bytes.resize(padded, b' ');
    Ok(bytes)
}

/// The names to drop as duplicates (`(dropped, kept)`, in sorted order), after refusing what
/// `policy` does not allow. Tensors share memory when their byte ranges in one storage overlap
/// (views of disjoint parts of one storage are written separately, as the reference does).
fn shared_groups(tensors: &StateDict, policy: SharedPolicy) -> Result<Vec<(String, String)>> {
    let mut by_storage: HashMap<usize, Vec<(usize, usize, &str, &Tensor)>> = HashMap::new();
    for (name, t) in tensors.iter() {
        if t.storage().nbytes() == 0 || t.storage().is_meta() {
            continue;
        }
        let (start, end) = byte_extent(t);
        by_storage
            .entry(t.storage().id())
            .or_default()
            .push((start, end, name, t));
    }
    let mut groups: Vec<Vec<(&str, &Tensor)>> = Vec::new();
    for (_, mut areas) in by_storage {
        if areas.len() < 2 {
            continue;
        }
        areas.sort_by(|a, b| (a.0, a.1, a.2).cmp(&(b.0, b.1, b.2)));
        // The reference's grouping: a tensor joins the group before it when it starts before
        // the previous tensor's end.
        let mut last_stop = areas[0].1;
        let mut current = vec![(areas[0].2, areas[0].3)];
        for &(start, stop, name, t) in &areas[1..] {
            if start >= last_stop {
                groups.push(std::mem::take(&mut current));
            }
            current.push((name, t));
            last_stop = stop;
        }
        groups.push(current);
    }
    groups.retain(|g| g.len() > 1);
    for g in &mut groups {
        g.sort_by(|a, b| a.0.cmp(b.0));
    }
    groups.sort_by(|a, b| a[0].0.cmp(b[0].0));
    if groups.is_empty() {
        return Ok(Vec::new());
    }
    let names = |g: &[(&str, &Tensor)]| {
        g.iter()
            .map(|(n, _)| quoted(n))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if policy == SharedPolicy::Refuse {
        return Err(refuse(
            "tensors",
            format!(
                "tensors [{}] share memory; safetensors would store them twice and load them \
                 unshared: save one of them, or deduplicate (save_model's rule)",
                names(&groups[0])
            ),
        ));
    }
    let mut dropped = Vec::new();
    for g in &groups {
        let complete = g.iter().find(|(_, t)| covers_storage(t)).ok_or_else(|| {
            refuse(
                "tensors",
                format!(
                    "tensors [{}] share memory and none covers the whole storage, so none can \
                     stand for the others; save .contiguous() copies",
                    names(g)
                ),
            )
        })?;
        for (n, _) in g {
            if *n != complete.0 {
                dropped.push((n.to_string(), complete.0.to_string()));
            }
        }
    }
    Ok(dropped)
}

/// The bytes of its storage a view reaches: from its first element to one past its last.
fn byte_extent(t: &Tensor) -> (usize, usize) {
    let item = t.dtype().size();
    let start = t.storage_offset().saturating_mul(item);
    if t.numel() == 0 {
        return (start, start);
    }
    let last = t
        .shape()
        .iter()
        .zip(t.strides())
        .fold(t.storage_offset(), |acc, (&d, &s)| {
            acc.saturating_add((d - 1).saturating_mul(s))
        });
    (start, last.saturating_add(1).saturating_mul(item))
}

fn covers_storage(t: &Tensor) -> bool {
    t.storage_offset() == 0 && t.numel().checked_mul(t.dtype().size()) == Some(t.storage().nbytes())
}
