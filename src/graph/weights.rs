//! A program's weights, buffers and constants: each read from the archive as its config says
//! (raw storage bytes, shared between the tensors that alias them; or a `torch.save` file when
//! `use_pickle`), checked against its metadata (dtype, shape, strides, offset inside the bytes),
//! and placed once where `map_location` sends its saved device.

use std::collections::HashMap;

use serde_json::Value as Json;

use crate::checkpoint::placement::Placer;
use crate::checkpoint::records::host_storage;
use crate::checkpoint::zip::read::Method;
use crate::checkpoint::{Checkpoint, MapLocation};
use crate::checkpoint::{Limits, OpenOptions};
use crate::device::Device;
use crate::error::{Error, Result};
use crate::graph::archive::Archive;
use crate::graph::ir::{Feed, Graph};
use crate::graph::json::{bad, At};
use crate::graph::meta;
use crate::storage::Storage;
use crate::tensor::Tensor;

/// The largest pickled weight file read into memory (raw weights are mapped, not read).
const MAX_PICKLED_WEIGHT: u64 = 1 << 34;

/// Every fed value of `g`, by value id, on the host, with the device `map_location` sends it
/// to (the caller places it, after the planner has folded what it folds).
pub(crate) fn load(
    a: &Archive,
    g: &Graph,
    map_location: &MapLocation,
) -> Result<Vec<(usize, Tensor, Device)>> {
    load_feeds(a, &g.feeds, map_location)
}

/// Every tensor the archive's weight and constant configs list, numbered in their order, for
/// reading the weights without the graph (`convert`).
pub(crate) fn listed_feeds(a: &Archive) -> Result<Vec<(usize, String, Feed)>> {
    let m = &a.model;
    let mut out = Vec::new();
    for (feed, name) in [
        (
            Feed::Parameter,
            format!("data/weights/{m}_weights_config.json"),
        ),
        (
            Feed::Constant,
            format!("data/constants/{m}_constants_config.json"),
        ),
    ] {
        if a.entry(&name).is_none() {
            continue;
        }
        let doc = a.json(&name)?;
        let Some(config) = doc.get("config").and_then(Json::as_object) else {
            return Err(bad(&name, "no \"config\" object"));
        };
        for fqn in config.keys() {
            out.push((out.len(), fqn.clone(), feed));
        }
    }
    Ok(out)
}

/// The tensors `feeds` name, as [`load`] reads them.
pub(crate) fn load_feeds(
    a: &Archive,
    feeds: &[(usize, String, Feed)],
    map_location: &MapLocation,
) -> Result<Vec<(usize, Tensor, Device)>> {
    let m = &a.model;
    let configs = [
        (
            Feed::Parameter,
            "data/weights",
            format!("data/weights/{m}_weights_config.json"),
        ),
        (
            Feed::Constant,
            "data/constants",
            format!("data/constants/{m}_constants_config.json"),
        ),
    ];
    let mut docs: Vec<(Feed, &str, String, Json)> = Vec::new();
    for (feed, dir, name) in configs {
        let doc = match a.entry(&name) {
            Some(_) => a.json(&name)?,
            None => Json::Null,
        };
        docs.push((feed, dir, name, doc));
    }
    let mut placer = Placer::new(map_location, false);
    let mut files: HashMap<String, Storage> = HashMap::new();
    let mut out = Vec::with_capacity(feeds.len());
    for (id, fqn, feed) in feeds {
        let (dir, cname, doc) = match feed {
            Feed::Parameter | Feed::Buffer => (docs[0].1, &docs[0].2, &docs[0].3),
            Feed::Constant => (docs[1].1, &docs[1].2, &docs[1].3),
        };
        let at = format!("{cname}: {fqn}");
        let entry = doc.get("config").and_then(|c| c.get(fqn)).ok_or_else(|| {
            bad(
                &at,
                "the program reads this tensor but the archive's config does not list it",
            )
        })?;
        let e = At::new(entry, &at);
        let (pn, pp) = e.field("path_name")?;
        let path_name = At::new(pn, &pp).str()?;
        if path_name.contains('/') || path_name.contains("..") {
            return Err(bad(&pp, format!("{path_name:?} is not a file name")));
        }
        let record = format!("{dir}/{path_name}");
        let pickled = match e.opt("use_pickle")? {
            Some((v, vp)) => At::new(v, &vp).bool()?,
            None => false,
        };
        let (tm, tmp) = e.field("tensor_meta")?;
        let tm_at = At::new(tm, &tmp);
        let spec = meta::spec(fqn, tm, &tmp)?;
        let shape = meta::fixed(At::new(tm_at.field("sizes")?.0, &format!("{tmp}.sizes")))?;
        let (dev, dp) = tm_at.field("device")?;
        let tag = meta::location(At::new(dev, &dp))?;
        let t = if pickled {
            let bytes = a.read(&record, MAX_PICKLED_WEIGHT)?;
            let ck = pickled_file(a, &record, &bytes)?;
            let t = ck
                .value()
                .as_tensor()
                .cloned()
                .ok_or_else(|| bad(&at, "the pickled weight is not a tensor"))?;
            if t.dtype() != spec.dtype || t.shape() != shape.as_slice() {
                return Err(bad(
                    &at,
                    format!(
                        "the pickled tensor is {} {:?}, its metadata says {} {shape:?}",
                        t.dtype(),
                        t.shape(),
                        spec.dtype
                    ),
                ));
            }
            t
        } else {
            let strides = meta::fixed(At::new(
                tm_at.field("strides")?.0,
                &format!("{tmp}.strides"),
            ))?;
            let offset = match tm_at.opt("storage_offset")? {
                Some((o, op)) => match meta::dim(At::new(o, &op))? {
                    crate::graph::ir::Dim::Fixed(n) => n,
                    crate::graph::ir::Dim::Symbol(s) => {
                        return Err(bad(&op, format!("dynamic offset {s}")))
                    }
                },
                None => 0,
            };
            let storage = match files.get(&record) {
                Some(s) => s.clone(),
                None => {
                    let s = raw_storage(a, &record, spec.dtype.size())?;
                    files.insert(record.clone(), s.clone());
                    s
                }
            };
            // Checked: the sizes are the file's word (from_storage checks the view below).
            let numel = shape
                .iter()
                .try_fold(1usize, |a, &d| a.checked_mul(d))
                .ok_or_else(|| {
                    bad(
                        &at,
                        format!("{shape:?} has more elements than fit in memory"),
                    )
                })?;
            if storage.nbytes() == 0 && numel > 0 {
                // torch.load fills such a tensor with zeros; a program silently running on
                // zeros is the failure we refuse.
                return Err(bad(
                    &at,
                    format!("record {record} is empty but the tensor has {numel} elements"),
                ));
            }
            Tensor::from_storage(storage, spec.dtype, offset, shape.clone(), strides)
                .map_err(|e| bad(&at, e.to_string()))?
        };
        let target = placer
            .target(&tag)?
            .ok_or_else(|| bad(&at, "saved on the meta device: it holds no data"))?;
        out.push((*id, t, target));
    }
    Ok(out)
}

/// A `torch.save` file inside the archive (a pickled weight, the sample inputs), read within
/// what is left of the budget: its storages are copies of `bytes`, charged first, and its
/// pickle machine gets the rest as its own `max_bytes`.
pub(crate) fn pickled_file(a: &Archive, record: &str, bytes: &[u8]) -> Result<Checkpoint> {
    a.budget
        .charge(&format!("record {record} (copied)"), bytes.len() as u64)?;
    let opts = OpenOptions {
        limits: Limits {
            max_bytes: a.budget.remaining(),
            ..Limits::default()
        },
        ..OpenOptions::default()
    };
    Checkpoint::from_bytes(bytes, &opts)
}

/// The bytes of raw weight record `record`, zero-copy from the mapped archive when stored and
/// aligned for `itemsize`.
fn raw_storage(a: &Archive, record: &str, itemsize: usize) -> Result<Storage> {
    let e = a.entry(record).ok_or_else(|| Error::Program {
        at: record.to_string(),
        reason: "weight record missing from the archive".into(),
    })?;
    let bytes = a.read(record, MAX_PICKLED_WEIGHT)?;
    if bytes.len() % itemsize.max(1) != 0 {
        return Err(bad(
            record,
            format!(
                "{} bytes is not a whole number of {itemsize}-byte elements",
                bytes.len()
            ),
        ));
    }
    let method = e.method;
    let data_offset = e.data_offset(a.bytes())?;
    // A stored record is mapped in place when aligned for its dtype; otherwise it is copied.
    let aligned = usize::try_from(data_offset)
        .ok()
        .and_then(|o| (a.bytes().as_ptr() as usize).checked_add(o))
        .is_some_and(|p| p.is_multiple_of(itemsize.max(1)));
    if method == Method::Stored && !(aligned && a.map.is_some()) {
        a.budget
            .charge(&format!("record {record} (copied)"), bytes.len() as u64)?;
    }
    if method == Method::Stored {
        return host_storage(
            a.map.as_ref(),
            a.bytes(),
            method,
            data_offset,
            &bytes,
            itemsize,
            1,
        );
    }
    a.budget
        .charge(&format!("record {record} (copied)"), bytes.len() as u64)?;
    Storage::from_bytes(&bytes)
}
