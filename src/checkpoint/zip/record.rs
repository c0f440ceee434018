//! One record's bytes: zero-copy when stored, inflated when deflated, refused (naming the record)
//! when encrypted or compressed with a method torch cannot read; and its CRC check.

use std::borrow::Cow;

use super::inflate::inflate;
use super::read::{Entry, Method};
use crate::error::CheckpointError;

/// A record name for messages: valid UTF-8 as it is, every other byte as `\xNN`, so two names
/// that differ in their bytes never print the same (a lossy conversion would print U+FFFD).
pub fn display_name(raw: &[u8]) -> String {
    // Nearly every name is UTF-8: one validation and one copy.
    if let Ok(s) = std::str::from_utf8(raw) {
        return s.to_string();
    }
    let mut out = String::new();
    for chunk in raw.utf8_chunks() {
        out.push_str(chunk.valid());
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

/// The record's uncompressed bytes: a zero-copy slice of `file` when stored, inflated to exactly
/// `entry.size` bytes when deflated (refused with `ResourceLimit` above `max_inflated`).
pub fn read_entry<'a>(
    file: &'a [u8],
    entry: &Entry,
    max_inflated: u64,
) -> Result<Cow<'a, [u8]>, CheckpointError> {
    read_entry_within(file, entry, max_inflated, "inflated record size")
}

/// [`read_entry`], naming the budget `limit` in the `ResourceLimit` error (e.g. `max_bytes`).
pub fn read_entry_within<'a>(
    file: &'a [u8],
    entry: &Entry,
    max_inflated: u64,
    limit: &'static str,
) -> Result<Cow<'a, [u8]>, CheckpointError> {
    let at = entry.data_offset(file)?;
    let name = &entry.name;
    let unsupported = |what: String| CheckpointError::UnsupportedFormat {
        detail: format!("record {name} (data at offset {at}) {what}, which torch cannot read"),
    };
    if entry.encrypted {
        return Err(unsupported("is encrypted".into()));
    }
    let raw = file
        .get(usize::try_from(at).unwrap_or(usize::MAX)..)
        .and_then(|rest| rest.get(..usize::try_from(entry.compressed_size).ok()?))
        .ok_or_else(|| CheckpointError::Truncated {
            what: format!("record {name}"),
            offset: at,
            needed: entry.compressed_size,
            available: (file.len() as u64).saturating_sub(at),
        })?;
    match entry.method {
        Method::Stored if entry.size == entry.compressed_size => Ok(Cow::Borrowed(raw)),
        Method::Stored => {
            let (c, u) = (entry.compressed_size, entry.size);
            Err(CheckpointError::MalformedZip {
                detail: format!(
                    "record {name} (data at offset {at}) is stored but its sizes differ \
                     (compressed {c}, uncompressed {u})"
                ),
            })
        }
        Method::Deflated => inflate(raw, entry, at, max_inflated, limit).map(Cow::Owned),
        Method::Unsupported(m) => Err(unsupported(format!(
            "uses compression method {m}{}",
            method_name(m)
        ))),
    }
}

/// The usual name of a zip compression method, for messages.
fn method_name(m: u16) -> &'static str {
    match m {
        1 => " (shrink)",
        6 => " (implode)",
        9 => " (deflate64)",
        12 => " (bzip2)",
        14 => " (LZMA)",
        93 => " (zstd)",
        95 => " (xz)",
        98 => " (PPMd)",
        _ => "",
    }
}

/// Checks `data` against the directory CRC-32. A directory CRC of 0 is accepted unchecked, since
/// torch writes 0 when CRCs are disabled.
pub fn verify_crc(entry: &Entry, data: &[u8]) -> Result<(), CheckpointError> {
    if entry.crc32 == 0 {
        return Ok(());
    }
    let actual = crc32fast::hash(data);
    if actual != entry.crc32 {
        return Err(CheckpointError::ChecksumMismatch {
            record: entry.name.clone(),
            expected: entry.crc32,
            actual,
        });
    }
    Ok(())
}
