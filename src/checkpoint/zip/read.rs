//! Reading the zip container over the whole file as a byte slice (usually an mmap).
//!
//! Only the central directory is trusted for sizes and CRCs: torch writes zeros into local
//! headers and puts the real values in data descriptors. Every offset and size read from the file
//! is bounds-checked with checked arithmetic before it is used, so hostile input yields a typed
//! [`CheckpointError`], never a panic or an unbounded allocation.

use std::borrow::Cow;
use std::collections::HashMap;

use flate2::{Decompress, FlushDecompress, Status};

use crate::error::CheckpointError;

const EOCD_SIG: u32 = 0x0605_4b50;
const EOCD_LEN: u64 = 22;
const ZIP64_LOCATOR_SIG: u32 = 0x0706_4b50;
const ZIP64_LOCATOR_LEN: u64 = 20;
const ZIP64_EOCD_SIG: u32 = 0x0606_4b50;
const ZIP64_EOCD_LEN: u64 = 56;
const CDH_SIG: u32 = 0x0201_4b50;
const CDH_LEN: u64 = 46;
const LOCAL_SIG: u32 = 0x0403_4b50;
const LOCAL_LEN: u64 = 30;
const ZIP64_EXTRA_ID: u16 = 0x0001;
const MAX_COMMENT: u64 = 0xFFFF;
const U32_MARK: u32 = 0xFFFF_FFFF;
const U16_MARK: u16 = 0xFFFF;

/// How a record's bytes are stored.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Method {
    /// Method 0: the bytes as they are (what torch writes; can be mapped without a copy).
    Stored,
    /// Method 8: raw deflate (torch reads it; re-zipped checkpoints use it).
    Deflated,
}

/// One central-directory entry, with the absolute offset of its data.
#[derive(Clone, Debug)]
pub struct Entry {
    /// Full name in the archive, e.g. `archive/data/0`.
    pub name: String,
    pub method: Method,
    /// Absolute file offset of the record's (compressed) bytes, from the local header.
    pub data_offset: u64,
    /// From the central directory (zip64-aware).
    pub compressed_size: u64,
    /// Uncompressed size, from the central directory.
    pub size: u64,
    /// From the central directory; 0 means "not recorded".
    pub crc32: u32,
}

/// The parsed central directory of a checkpoint archive.
#[derive(Debug)]
pub struct ZipIndex {
    entries: Vec<Entry>,
    by_name: HashMap<String, usize>,
    prefix: String,
}

fn malformed(detail: String) -> CheckpointError {
    CheckpointError::MalformedZip { detail }
}

/// `file[off..off + len]`, or `Truncated` naming `what`.
fn bytes<'a>(file: &'a [u8], off: u64, len: u64, what: &str) -> Result<&'a [u8], CheckpointError> {
    let file_len = file.len() as u64;
    let truncated = || CheckpointError::Truncated {
        what: what.to_string(),
        offset: off,
        needed: len,
        available: file_len.saturating_sub(off),
    };
    let end = off.checked_add(len).ok_or_else(truncated)?;
    if end > file_len {
        return Err(truncated());
    }
    // Both bounds are <= file.len(), so they fit in usize.
    let (s, e) = (usize::try_from(off), usize::try_from(end));
    match (s, e) {
        (Ok(s), Ok(e)) => file.get(s..e).ok_or_else(truncated),
        _ => Err(truncated()),
    }
}

/// Little-endian field reads over a bounds-checked structure.
struct Le<'a>(&'a [u8]);

impl Le<'_> {
    fn u16(&self, at: usize) -> u16 {
        let mut b = [0u8; 2];
        if let Some(s) = self.0.get(at..at + 2) {
            b.copy_from_slice(s);
        }
        u16::from_le_bytes(b)
    }
    fn u32(&self, at: usize) -> u32 {
        let mut b = [0u8; 4];
        if let Some(s) = self.0.get(at..at + 4) {
            b.copy_from_slice(s);
        }
        u32::from_le_bytes(b)
    }
    fn u64(&self, at: usize) -> u64 {
        let mut b = [0u8; 8];
        if let Some(s) = self.0.get(at..at + 8) {
            b.copy_from_slice(s);
        }
        u64::from_le_bytes(b)
    }
}

/// Where the central directory is, as the end records declare it.
struct Directory {
    count: u64,
    size: u64,
    offset: u64,
    /// Where the central directory should end: the zip64 EOCD record or the classic EOCD.
    end: u64,
}

/// Finds the classic EOCD, searching back over a comment of up to 64 KiB.
fn find_eocd(file: &[u8]) -> Result<u64, CheckpointError> {
    let len = file.len() as u64;
    let not_zip = || malformed("not a zip: no end-of-central-directory record".to_string());
    let last = len.checked_sub(EOCD_LEN).ok_or_else(not_zip)?;
    let first = last.saturating_sub(MAX_COMMENT);
    let mut pos = last;
    loop {
        let rec = Le(bytes(
            file,
            pos,
            EOCD_LEN,
            "end-of-central-directory record",
        )?);
        let comment = u64::from(rec.u16(20));
        if rec.u32(0) == EOCD_SIG && pos + EOCD_LEN + comment <= len {
            return Ok(pos);
        }
        if pos == first {
            return Err(not_zip());
        }
        pos -= 1;
    }
}

fn read_directory(file: &[u8]) -> Result<Directory, CheckpointError> {
    let eocd_pos = find_eocd(file)?;
    let eocd = Le(bytes(
        file,
        eocd_pos,
        EOCD_LEN,
        "end-of-central-directory record",
    )?);
    let classic = Directory {
        count: u64::from(eocd.u16(10)),
        size: u64::from(eocd.u32(12)),
        offset: u64::from(eocd.u32(16)),
        end: eocd_pos,
    };
    let Some(loc_pos) = eocd_pos.checked_sub(ZIP64_LOCATOR_LEN) else {
        return Ok(classic);
    };
    let loc = Le(bytes(file, loc_pos, ZIP64_LOCATOR_LEN, "zip64 locator")?);
    if loc.u32(0) != ZIP64_LOCATOR_SIG {
        return Ok(classic);
    }
    // The locator's offset ignores any prefix before the zip; fall back to the record that
    // immediately precedes the locator, where every writer puts it.
    let is_zip64_eocd = |pos: u64| {
        bytes(
            file,
            pos,
            ZIP64_EOCD_LEN,
            "zip64 end-of-central-directory record",
        )
        .map(|b| Le(b).u32(0) == ZIP64_EOCD_SIG)
        .unwrap_or(false)
    };
    let declared = loc.u64(8);
    let z_pos = if is_zip64_eocd(declared) {
        declared
    } else {
        match loc_pos.checked_sub(ZIP64_EOCD_LEN) {
            Some(p) if is_zip64_eocd(p) => p,
            _ => {
                return Err(malformed(format!(
                    "zip64 locator at offset {loc_pos} points to offset {declared}, \
                     which holds no zip64 end-of-central-directory record"
                )))
            }
        }
    };
    let z = Le(bytes(
        file,
        z_pos,
        ZIP64_EOCD_LEN,
        "zip64 end-of-central-directory record",
    )?);
    Ok(Directory {
        count: z.u64(32),
        size: z.u64(40),
        offset: z.u64(48),
        end: z_pos,
    })
}

/// The central directory's absolute position: as declared, or shifted by a prefix before the zip.
fn locate_directory(file: &[u8], dir: &Directory) -> Result<u64, CheckpointError> {
    let has_sig = |pos: u64| {
        bytes(file, pos, 4, "central directory")
            .map(|b| Le(b).u32(0) == CDH_SIG)
            .unwrap_or(false)
    };
    if dir.count == 0 || has_sig(dir.offset) {
        return Ok(dir.offset);
    }
    if let Some(actual) = dir.end.checked_sub(dir.size) {
        if actual > dir.offset && has_sig(actual) {
            return Ok(actual);
        }
    }
    // Report a directory running off the end of the file as truncation.
    bytes(file, dir.offset, dir.size, "central directory")?;
    Err(malformed(format!(
        "no central directory header at offset {} (declared by the end-of-central-directory record)",
        dir.offset
    )))
}

/// Values a central-directory entry may defer to its zip64 extra field.
struct Sizes {
    size: u64,
    compressed: u64,
    local_offset: u64,
}

/// Applies the zip64 extra field (id 1) to the fields whose classic value is 0xFFFFFFFF.
fn apply_zip64(
    extra: &[u8],
    sizes: &mut Sizes,
    marks: [bool; 3],
    name: &str,
) -> Result<(), CheckpointError> {
    let mut rest = extra;
    while rest.len() >= 4 {
        let head = Le(rest);
        let (id, len) = (head.u16(0), usize::from(head.u16(2)));
        let Some(body) = rest.get(4..4 + len) else {
            // A malformed trailing field; only fatal if we needed zip64 values from it.
            break;
        };
        if id == ZIP64_EXTRA_ID {
            let mut at = 0usize;
            let fields = [
                &mut sizes.size,
                &mut sizes.compressed,
                &mut sizes.local_offset,
            ];
            for (field, marked) in fields.into_iter().zip(marks) {
                if !marked {
                    continue;
                }
                let Some(v) = body.get(at..at + 8) else {
                    return Err(malformed(format!(
                        "record {name}: zip64 extra field of {len} bytes lacks a value the \
                         central directory defers to it"
                    )));
                };
                *field = Le(v).u64(0);
                at += 8;
            }
            return Ok(());
        }
        rest = rest.get(4 + len..).unwrap_or(&[]);
    }
    if marks.iter().any(|&m| m) {
        return Err(malformed(format!(
            "record {name}: central directory uses 0xFFFFFFFF markers but has no zip64 extra field"
        )));
    }
    Ok(())
}

/// Parses one central-directory entry at `pos`; returns it and the offset of the next one.
fn parse_entry(
    file: &[u8],
    pos: u64,
    index: u64,
    shift: u64,
) -> Result<(Entry, u64), CheckpointError> {
    let what = format!("central directory entry {index}");
    let h = Le(bytes(file, pos, CDH_LEN, &what)?);
    if h.u32(0) != CDH_SIG {
        return Err(malformed(format!(
            "{what}: no central directory header signature at offset {pos}"
        )));
    }
    let (flags, method) = (h.u16(8), h.u16(10));
    let crc32 = h.u32(16);
    let (name_len, extra_len, comment_len) = (
        u64::from(h.u16(28)),
        u64::from(h.u16(30)),
        u64::from(h.u16(32)),
    );
    let name_bytes = bytes(file, pos + CDH_LEN, name_len, &what)?;
    let name = String::from_utf8_lossy(name_bytes).into_owned();
    let extra = bytes(file, pos + CDH_LEN + name_len, extra_len, &what)?;
    let next = pos + CDH_LEN + name_len + extra_len + comment_len;
    bytes(file, pos, next - pos, &what)?;

    if flags & 1 != 0 {
        return Err(CheckpointError::UnsupportedFormat {
            detail: format!("record {name} is encrypted"),
        });
    }
    let method = match method {
        0 => Method::Stored,
        8 => Method::Deflated,
        m => return Err(CheckpointError::UnsupportedFormat {
            detail: format!(
                "record {name} uses compression method {m} (only stored and deflate are supported)"
            ),
        }),
    };
    let (csize, usize_, lofs) = (h.u32(20), h.u32(24), h.u32(42));
    let mut sizes = Sizes {
        size: u64::from(usize_),
        compressed: u64::from(csize),
        local_offset: u64::from(lofs),
    };
    apply_zip64(
        extra,
        &mut sizes,
        [usize_ == U32_MARK, csize == U32_MARK, lofs == U32_MARK],
        &name,
    )?;
    if method == Method::Stored && sizes.size != sizes.compressed {
        return Err(malformed(format!(
            "record {name} is stored but its sizes differ (compressed {}, uncompressed {})",
            sizes.compressed, sizes.size
        )));
    }

    let local_what = format!("local header of record {name}");
    let local_pos =
        sizes
            .local_offset
            .checked_add(shift)
            .ok_or_else(|| CheckpointError::SizeOverflow {
                what: local_what.clone(),
                detail: format!("offset {} + {shift}", sizes.local_offset),
            })?;
    let l = Le(bytes(file, local_pos, LOCAL_LEN, &local_what)?);
    if l.u32(0) != LOCAL_SIG {
        return Err(malformed(format!(
            "{local_what}: no local header signature at offset {local_pos}"
        )));
    }
    let data_offset = local_pos + LOCAL_LEN + u64::from(l.u16(26)) + u64::from(l.u16(28));
    bytes(
        file,
        data_offset,
        sizes.compressed,
        &format!("record {name}"),
    )?;
    let entry = Entry {
        name,
        method,
        data_offset,
        compressed_size: sizes.compressed,
        size: sizes.size,
        crc32,
    };
    Ok((entry, next))
}

impl ZipIndex {
    /// Parses the end-of-central-directory record (searching back over any comment), the zip64
    /// locator and record when present, and every central-directory entry, and locates each
    /// record's data through its local header. Tolerates bytes before the zip.
    pub fn parse(file: &[u8]) -> Result<ZipIndex, CheckpointError> {
        let dir = read_directory(file)?;
        // Bound the count by what the directory can physically hold before allocating anything.
        if dir.count > dir.size / CDH_LEN {
            return Err(malformed(format!(
                "end-of-central-directory record declares {} entries, but a central directory of \
                 {} bytes holds at most {}",
                dir.count,
                dir.size,
                dir.size / CDH_LEN
            )));
        }
        let start = locate_directory(file, &dir)?;
        let dir_bytes = bytes(file, start, dir.size, "central directory")?;
        let shift = start - dir.offset.min(start);
        let dir_end = start + dir_bytes.len() as u64;

        let count = usize::try_from(dir.count).map_err(|_| CheckpointError::SizeOverflow {
            what: "central directory".to_string(),
            detail: format!("{} entries", dir.count),
        })?;
        let mut entries = Vec::with_capacity(count);
        let mut by_name = HashMap::with_capacity(count);
        let mut pos = start;
        for index in 0..dir.count {
            let (entry, next) = parse_entry(file, pos, index, shift)?;
            if next > dir_end {
                return Err(malformed(format!(
                    "central directory entry {index} ({}) runs past the directory end at offset {dir_end}",
                    entry.name
                )));
            }
            if by_name.insert(entry.name.clone(), entries.len()).is_some() {
                return Err(malformed(format!("duplicate record name {}", entry.name)));
            }
            entries.push(entry);
            pos = next;
        }
        let first = entries
            .first()
            .ok_or_else(|| malformed("archive holds no records".to_string()))?;
        let prefix = match first.name.split_once('/') {
            Some((p, _)) => p.to_string(),
            None => {
                return Err(malformed(format!(
                    "file in archive is not in a subdirectory: {}",
                    first.name
                )))
            }
        };
        Ok(ZipIndex {
            entries,
            by_name,
            prefix,
        })
    }

    /// The archive prefix: the text before the first `/` of the first central-directory entry.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Looks up `<prefix>/<record>`, e.g. `data.pkl`, `data/0`, `version`, `.data/version`.
    pub fn get(&self, record: &str) -> Option<&Entry> {
        let full = format!("{}/{record}", self.prefix);
        self.by_name.get(&full).and_then(|&i| self.entries.get(i))
    }

    /// Every entry, in central-directory order.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }
}

/// The record's uncompressed bytes: a zero-copy slice of `file` when stored, inflated to exactly
/// `entry.size` bytes when deflated (refused with `ResourceLimit` above `max_inflated`).
pub fn read_entry<'a>(
    file: &'a [u8],
    entry: &Entry,
    max_inflated: u64,
) -> Result<Cow<'a, [u8]>, CheckpointError> {
    let what = format!("record {}", entry.name);
    let raw = bytes(file, entry.data_offset, entry.compressed_size, &what)?;
    match entry.method {
        Method::Stored => {
            if entry.size != entry.compressed_size {
                return Err(malformed(format!(
                    "{what} is stored but its sizes differ (compressed {}, uncompressed {})",
                    entry.compressed_size, entry.size
                )));
            }
            Ok(Cow::Borrowed(raw))
        }
        Method::Deflated => inflate(raw, entry, max_inflated).map(Cow::Owned),
    }
}

fn inflate(raw: &[u8], entry: &Entry, max_inflated: u64) -> Result<Vec<u8>, CheckpointError> {
    if entry.size > max_inflated {
        return Err(CheckpointError::ResourceLimit {
            record: entry.name.clone(),
            limit: "inflated record size",
            max: max_inflated,
            value: entry.size,
        });
    }
    let overflow = || CheckpointError::SizeOverflow {
        what: format!("record {}", entry.name),
        detail: format!("inflated size {} does not fit in memory", entry.size),
    };
    // One byte of slack detects a stream that inflates to more than the directory says.
    let cap = usize::try_from(entry.size)
        .ok()
        .and_then(|n| n.checked_add(1))
        .ok_or_else(overflow)?;
    let mut out = Vec::with_capacity(cap);
    let mut z = Decompress::new(false);
    loop {
        let (in_before, out_before) = (z.total_in(), z.total_out());
        let input = usize::try_from(in_before)
            .ok()
            .and_then(|i| raw.get(i..))
            .unwrap_or(&[]);
        let status = z
            .decompress_vec(input, &mut out, FlushDecompress::Finish)
            .map_err(|e| {
                malformed(format!(
                    "record {}: corrupt deflate stream after {} bytes: {e}",
                    entry.name, in_before
                ))
            })?;
        if out.len() as u64 > entry.size {
            return Err(malformed(format!(
                "record {} inflates to more than its declared {} bytes",
                entry.name, entry.size
            )));
        }
        match status {
            Status::StreamEnd => break,
            Status::Ok | Status::BufError
                if z.total_in() == in_before && z.total_out() == out_before =>
            {
                return Err(malformed(format!(
                    "record {}: deflate stream ends early after {} of {} bytes",
                    entry.name,
                    z.total_in(),
                    raw.len()
                )));
            }
            Status::Ok | Status::BufError => {}
        }
    }
    if out.len() as u64 != entry.size {
        return Err(malformed(format!(
            "record {} inflates to {} bytes, the central directory says {}",
            entry.name,
            out.len(),
            entry.size
        )));
    }
    Ok(out)
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
