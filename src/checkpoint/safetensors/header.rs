//! The safetensors header: an 8-byte little-endian length, then that many bytes of JSON mapping
//! each tensor name to `{"dtype", "shape", "data_offsets"}` (offsets relative to the data that
//! follows the header), plus an optional `"__metadata__"` map of str → str.
//!
//! The header is parsed straight into typed entries (never into a generic JSON tree, which could
//! take ten times the header's size in memory), in file order, and every rule the reference
//! implementation enforces is checked here with the tensor named: the header fits the file and
//! the format's 100 MB cap, the dtype is known, sizes do not overflow, each tensor's byte range
//! holds exactly its shape, and the ranges tile the data section with no gap and no overlap.

use std::collections::HashSet;
use std::fmt;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;

use crate::dtype::DType;
use crate::error::CheckpointError;

/// The largest header the format allows (the reference implementation's `MAX_HEADER_SIZE`).
pub(crate) const MAX_HEADER: u64 = 100_000_000;

/// One tensor's header entry, checked.
#[derive(Clone, Debug)]
pub(crate) struct Entry {
    pub name: String,
    pub dtype: DType,
    pub shape: Vec<usize>,
    /// Byte range inside the data section.
    pub start: usize,
    pub end: usize,
}

/// A parsed, checked header.
#[derive(Debug)]
pub(crate) struct Header {
    /// Entries in data-offset order.
    pub entries: Vec<Entry>,
    /// `__metadata__`, in the header's order.
    pub metadata: Option<Vec<(String, String)>>,
    /// Where the data section starts in the file (8 + header length).
    pub data_start: usize,
}

/// Whether `bytes` start like a safetensors file: a plausible header length, then `{` (a header
/// that then runs past the end is the safetensors reader's to report as truncated). (A zip starts `PK`, a legacy torch file with the pickle protocol opcode `0x80`
/// followed by a magic number, whose ninth byte is never `{`.)
pub(crate) fn sniff(bytes: &[u8]) -> bool {
    let Some(len) = bytes.get(..8) else {
        return false;
    };
    let mut n = [0u8; 8];
    n.copy_from_slice(len);
    let n = u64::from_le_bytes(n);
    (2..=MAX_HEADER).contains(&n) && bytes.get(8) == Some(&b'{')
}

/// The safetensors dtype names, as the format spells them, and torch's dtype for each.
const DTYPES: [(&str, DType); 19] = [
    ("BOOL", DType::Bool),
    ("U8", DType::U8),
    ("I8", DType::I8),
    ("F8_E5M2", DType::F8E5M2),
    ("F8_E4M3", DType::F8E4M3Fn),
    ("F8_E8M0", DType::F8E8M0Fnu),
    ("F8_E4M3FNUZ", DType::F8E4M3Fnuz),
    ("F8_E5M2FNUZ", DType::F8E5M2Fnuz),
    ("I16", DType::I16),
    ("U16", DType::U16),
    ("F16", DType::F16),
    ("BF16", DType::BF16),
    ("I32", DType::I32),
    ("U32", DType::U32),
    ("F32", DType::F32),
    ("C64", DType::C64),
    ("F64", DType::F64),
    ("I64", DType::I64),
    ("U64", DType::U64),
];

/// The format's name for `dtype` and its rank in the reference implementation's dtype order
/// (writers sort tensors by descending rank, then by name); `None` for dtypes the format has no
/// name for (complex32, complex128, float4 pairs).
pub(crate) fn dtype_name(dtype: DType) -> Option<(&'static str, usize)> {
    // The reference's enum also has F4, F6_E2M3 and F6_E3M2 between BOOL and U8: ranks keep
    // their positions so the order matches.
    DTYPES
        .iter()
        .position(|(_, d)| *d == dtype)
        .map(|i| (DTYPES[i].0, if i == 0 { 0 } else { i + 3 }))
}

fn dtype_of(name: &str) -> Option<DType> {
    DTYPES.iter().find(|(n, _)| *n == name).map(|(_, d)| *d)
}

/// An entry as the JSON spells it; unknown fields are ignored, as the reference ignores them.
#[derive(Deserialize)]
struct RawEntry {
    dtype: String,
    shape: Vec<u64>,
    data_offsets: (u64, u64),
}

struct Parsed {
    entries: Vec<(String, RawEntry)>,
    metadata: Option<Vec<(String, String)>>,
    duplicate: Option<String>,
}

struct TopLevel;

impl<'de> DeserializeSeed<'de> for TopLevel {
    type Value = Parsed;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Parsed, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for TopLevel {
    type Value = Parsed;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object of tensor entries")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Parsed, A::Error> {
        let mut out = Parsed {
            entries: Vec::new(),
            metadata: None,
            duplicate: None,
        };
        let mut names = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if key == "__metadata__" {
                if out.metadata.is_some() {
                    out.duplicate.get_or_insert(key);
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
                let m = map.next_value::<OrderedStrings>()?;
                out.metadata = Some(m.0);
            } else {
                let entry = map
                    .next_value::<RawEntry>()
                    .map_err(|e| de::Error::custom(format!("tensor {}: {e}", quoted(&key))))?;
                if !names.insert(key.clone()) {
                    out.duplicate.get_or_insert(key);
                    continue;
                }
                out.entries.push((key, entry));
            }
        }
        Ok(out)
    }
}

/// A JSON object of str → str, kept in order.
struct OrderedStrings(Vec<(String, String)>);

impl<'de> Deserialize<'de> for OrderedStrings {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = OrderedStrings;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("__metadata__ as an object of string values")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<OrderedStrings, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, String>()? {
                    out.push((k, v));
                }
                Ok(OrderedStrings(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// A name as error messages quote it: cut to 200 characters, newlines escaped.
pub(crate) fn quoted(name: &str) -> String {
    let cut: String = name.chars().take(200).collect();
    let more = if cut.len() < name.len() { "..." } else { "" };
    format!("{:?}{more}", cut)
}

fn bad(detail: String) -> CheckpointError {
    CheckpointError::MalformedSafetensors { detail }
}

/// Parses and checks the header of `file` (the whole file's bytes).
pub(crate) fn parse(file: &[u8]) -> Result<Header, CheckpointError> {
    let Some(len) = file.get(..8) else {
        return Err(CheckpointError::Truncated {
            what: "safetensors header length".into(),
            offset: 0,
            needed: 8,
            available: file.len() as u64,
        });
    };
    let mut n = [0u8; 8];
    n.copy_from_slice(len);
    let n = u64::from_le_bytes(n);
    if n > MAX_HEADER {
        return Err(bad(format!(
            "the header claims {n} bytes; the format allows at most {MAX_HEADER}"
        )));
    }
    let available = file.len() as u64 - 8;
    if n > available {
        return Err(CheckpointError::Truncated {
            what: "safetensors header".into(),
            offset: 8,
            needed: n,
            available,
        });
    }
    // n ≤ MAX_HEADER, so it is a usize here.
    let data_start = 8 + n as usize;
    let text = std::str::from_utf8(&file[8..data_start])
        .map_err(|e| bad(format!("the header is not UTF-8 ({e})")))?;
    let mut de = serde_json::Deserializer::from_str(text);
    let parsed = TopLevel
        .deserialize(&mut de)
        .and_then(|p| de.end().map(|()| p))
        .map_err(|e| bad(format!("the header is not valid JSON: {e}")))?;
    if let Some(name) = parsed.duplicate {
        return Err(bad(format!("the header names {} twice", quoted(&name))));
    }
    let data_len = file.len() - data_start;
    let mut entries = Vec::with_capacity(parsed.entries.len());
    for (name, raw) in parsed.entries {
        entries.push(check_entry(name, raw, data_len)?);
    }
    entries.sort_by_key(|e| (e.start, e.end));
    let mut covered = 0usize;
    let mut prev: Option<&Entry> = None;
    for e in &entries {
        if e.start < covered {
            let other =
                prev.map_or_else(String::new, |p| format!(" of tensor {}", quoted(&p.name)));
            return Err(bad(format!(
                "tensor {}: bytes {}..{} overlap bytes ..{covered}{other}",
                quoted(&e.name),
                e.start,
                e.end
            )));
        }
        if e.start > covered {
            return Err(bad(format!(
                "tensor {} starts at data byte {}, leaving bytes {covered}..{} to no tensor",
                quoted(&e.name),
                e.start,
                e.start
            )));
        }
        covered = e.end;
        prev = Some(e);
    }
    if covered != data_len {
        return Err(bad(format!(
            "the tensors cover {covered} bytes of data but the file holds {data_len} after the \
             header"
        )));
    }
    Ok(Header {
        entries,
        metadata: parsed.metadata,
        data_start,
    })
}

fn check_entry(name: String, raw: RawEntry, data_len: usize) -> Result<Entry, CheckpointError> {
    let at = || format!("tensor {}", quoted(&name));
    let dtype = dtype_of(&raw.dtype).ok_or_else(|| {
        bad(format!(
            "{}: dtype {} is not one tensorport reads (known: {})",
            at(),
            quoted(&raw.dtype),
            DTYPES.map(|(n, _)| n).join(", ")
        ))
    })?;
    let (start, end) = raw.data_offsets;
    if end < start {
        return Err(bad(format!(
            "{}: data_offsets [{start}, {end}] end before they start",
            at()
        )));
    }
    if end > data_len as u64 {
        return Err(CheckpointError::StorageBounds {
            tensor: at(),
            detail: format!(
                "data_offsets [{start}, {end}] run past the end of the data section ({data_len} \
                 bytes)"
            ),
        });
    }
    let overflow = || CheckpointError::SizeOverflow {
        what: at(),
        detail: format!("shape {:?} of {}", raw.shape, raw.dtype),
    };
    let mut shape = Vec::with_capacity(raw.shape.len());
    let mut bytes = dtype.size() as u64;
    for &d in &raw.shape {
        shape.push(usize::try_from(d).map_err(|_| overflow())?);
        bytes = bytes.checked_mul(d).ok_or_else(overflow)?;
    }
    if end - start != bytes {
        return Err(CheckpointError::StorageBounds {
            tensor: at(),
            detail: format!(
                "data_offsets [{start}, {end}] hold {} bytes; {} {:?} needs {bytes}",
                end - start,
                raw.dtype,
                raw.shape
            ),
        });
    }
    // Both are at most data_len here.
    Ok(Entry {
        name,
        dtype,
        shape,
        start: start as usize,
        end: end as usize,
    })
}
