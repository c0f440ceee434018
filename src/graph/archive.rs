//! The `.pt2` archive `torch.export.save` writes (the PT2 archive spec, schema 8.x): a zip whose
//! folder holds `archive_format` (`pt2`), `byteorder`, `models/<model>.json` (the graph), the
//! weights and constants (`data/weights/`, `data/constants/`: raw storage bytes plus a JSON
//! config, or a `torch.save` file when `use_pickle`), and `data/sample_inputs/<model>.pt`.
//!
//! Every record read is charged to the load's memory budget before it is inflated or parsed.

use std::sync::Arc;

use memmap2::Mmap;
use serde_json::Value as Json;

use crate::checkpoint::zip::read::{read_entry, verify_crc, Entry, Method, ZipIndex};
use crate::error::{Error, Result};
use crate::graph::budget::{parse_json, Budget};
use crate::graph::json::bad;

/// The largest JSON record read (a model's graph; densenet121's is a few MB).
pub(crate) const MAX_JSON_BYTES: u64 = 256 << 20;

/// An opened archive: its bytes (mapped), directory, and the model it holds.
pub(crate) struct Archive {
    pub(crate) map: Option<Arc<Mmap>>,
    pub(crate) index: ZipIndex,
    pub(crate) model: String,
    /// What this load may still allocate.
    pub(crate) budget: Budget,
}

impl Archive {
    /// The archive's bytes.
    pub(crate) fn bytes(&self) -> &[u8] {
        self.map.as_deref().map(|m| &m[..]).unwrap_or(&[])
    }

    /// Record `name` (under the archive's folder), or `None`.
    pub(crate) fn entry(&self, name: &str) -> Option<&Entry> {
        self.index.get(name)
    }

    /// Record `name`'s bytes, inflated up to `max` bytes. A deflated record's size is charged
    /// to the budget before anything is inflated (a stored one is the mapped file itself).
    pub(crate) fn read(&self, name: &str, max: u64) -> Result<std::borrow::Cow<'_, [u8]>> {
        let e = self.entry(name).ok_or_else(|| Error::Program {
            at: format!("{}/{name}", self.index.prefix()),
            reason: "record missing from the archive".into(),
        })?;
        if e.method == Method::Deflated && e.size <= max {
            self.budget
                .charge(&format!("record {} (inflated)", e.name), e.size)?;
        }
        Ok(read_entry(self.bytes(), e, max)?)
    }

    /// Record `name` parsed as JSON (capped at [`MAX_JSON_BYTES`] and by the budget).
    pub(crate) fn json(&self, name: &str) -> Result<Json> {
        let bytes = self.read(name, MAX_JSON_BYTES)?;
        // The graph and configs are small: check their CRC (weights are mapped, not read).
        if let Some(e) = self.entry(name) {
            verify_crc(e, &bytes)?;
        }
        parse_json(&bytes, name, &self.budget)
    }
}

/// Opens the archive in `map` and finds its model; the load may allocate `max_bytes`.
pub(crate) fn open(map: Option<Arc<Mmap>>, max_bytes: u64) -> Result<Archive> {
    let bytes: &[u8] = map.as_deref().map(|m| &m[..]).unwrap_or(&[]);
    let index = ZipIndex::parse(bytes)?;
    let probe = Archive {
        map: map.clone(),
        index,
        model: String::new(),
        budget: Budget::new(max_bytes),
    };
    let format = match probe.entry("archive_format") {
        Some(_) => probe.read("archive_format", 64)?.into_owned(),
        None if probe.entry("data.pkl").is_some() => {
            return Err(bad(
                "archive",
                "this is a torch.save checkpoint, not a torch.export program; open it with \
                 tensorport::load",
            ))
        }
        None => return Err(bad("archive_format", "record missing: not a .pt2 archive")),
    };
    if format.trim_ascii() != b"pt2" {
        return Err(bad(
            "archive_format",
            format!("{:?} is not \"pt2\"", String::from_utf8_lossy(&format)),
        ));
    }
    if let Some(b) = probe
        .entry("byteorder")
        .map(|_| probe.read("byteorder", 16))
        .transpose()?
    {
        if b.trim_ascii() != b"little" {
            return Err(bad(
                "byteorder",
                "only little-endian archives are supported",
            ));
        }
    }
    // torch.export.load refuses any archive version but its own ("0"): a newer spec may mean
    // something else by the same records.
    if probe.entry("archive_version").is_some() {
        let v = probe.read("archive_version", 64)?;
        if v.trim_ascii() != b"0" {
            return Err(bad(
                "archive_version",
                format!(
                    "archive version {:?}; this reader knows version 0 (torch 2.15)",
                    String::from_utf8_lossy(&v)
                ),
            ));
        }
    }
    let prefix = probe.index.prefix().to_string();
    let mut models = Vec::new();
    for e in probe.index.names() {
        let rel = e
            .strip_prefix(&prefix)
            .and_then(|r| r.strip_prefix('/'))
            .unwrap_or("");
        if rel.starts_with("data/aotinductor/") || rel.ends_with(".so") || rel.ends_with(".cubin") {
            return Err(bad(
                rel,
                "this is an AOTInductor package (compiled code), which tensorport does not \
                 execute; save the program with torch.export.save instead",
            ));
        }
        if let Some(m) = rel
            .strip_prefix("models/")
            .and_then(|m| m.strip_suffix(".json"))
        {
            if !m.contains('/') {
                models.push(m.to_string());
            }
        }
    }
    let model = match models.as_slice() {
        [one] => one.clone(),
        [] => return Err(bad("models/", "the archive holds no model")),
        many if many.iter().any(|m| m == "model") => "model".to_string(),
        many => {
            return Err(bad(
                "models/",
                format!("the archive holds several models ({many:?}) and none is named model"),
            ))
        }
    };
    Ok(Archive {
        map,
        index: probe.index,
        model,
        budget: probe.budget,
    })
}
