//! Reading the zip container over the whole file as a byte slice (usually an mmap).
//!
//! Only the central directory is trusted for sizes and CRCs: torch writes zeros into local
//! headers and puts the real values in data descriptors. Every offset and size read from the file
//! is bounds-checked with checked arithmetic before it is used, so hostile input yields a typed
//! [`CheckpointError`], never a panic or an unbounded allocation.

use std::collections::HashMap;

use crate::error::CheckpointError;

pub use super::record::{display_name, read_entry, read_entry_within, verify_crc};

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
const U32_MARK: u64 = 0xFFFF_FFFF;

/// How a record's bytes are stored.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Method {
    /// Method 0: the bytes as they are (what torch writes; can be mapped without a copy).
    Stored,
    /// Method 8: raw deflate (torch reads it; re-zipped checkpoints use it).
    Deflated,
    /// Any other method (LZMA, bzip2, ...): torch's miniz reads none of them, but an entry that
    /// is never read does not stop it, so only reading such a record is an error.
    Unsupported(u16),
}

/// One central-directory entry, with the absolute offset of its data.
#[derive(Clone, Debug)]
pub struct Entry {
    /// Full name in the archive, e.g. `archive/data/0`, for messages: bytes that are not UTF-8
    /// are escaped as `\\xNN` (see [`display_name`]). Lookups use [`Entry::raw_name`].
    pub name: String,
    /// The name's bytes as the directory holds them; torch compares names as bytes.
    pub raw_name: Vec<u8>,
    pub method: Method,
    /// General-purpose flag bit 0: the data is encrypted (torch reads no encrypted record).
    pub encrypted: bool,
    /// Absolute file offset of the record's local header (from the central directory; the
    /// header itself is read by [`Entry::data_offset`], when the record is read).
    pub header_offset: u64,
    /// Where the central directory starts: no record's data may run into it.
    pub dir_start: u64,
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
    by_name: HashMap<Vec<u8>, usize>,
    /// The first entry's name up to its first `/`, as bytes (lookups) and for display.
    prefix_raw: Vec<u8>,
    prefix: String,
}

macro_rules! malformed {
    ($($fmt:tt)*) => { CheckpointError::MalformedZip { detail: format!($($fmt)*) } };
}

const EOCD_WHAT: &str = "end-of-central-directory record";
const ZIP64_EOCD_WHAT: &str = "zip64 end-of-central-directory record";
const CD_WHAT: &str = "central directory";

/// `file[off..off + len]`, or `Truncated` naming `what` (`available`: bytes left from `off`).
fn bytes<'a>(file: &'a [u8], off: u64, len: u64, what: &str) -> Result<&'a [u8], CheckpointError> {
    bytes_named(file, off, len, || what.to_string())
}

/// [`bytes`] with the name made only for the error: the directory walk runs once per record,
/// and formatting a name it never prints would cost more than the walk itself.
fn bytes_named(
    file: &[u8],
    off: u64,
    len: u64,
    what: impl Fn() -> String,
) -> Result<&[u8], CheckpointError> {
    let truncated = || CheckpointError::Truncated {
        what: what(),
        offset: off,
        needed: len,
        available: (file.len() as u64).saturating_sub(off),
    };
    let end = off.checked_add(len).ok_or_else(truncated)?;
    let (s, e) = (usize::try_from(off), usize::try_from(end));
    match (s, e) {
        (Ok(s), Ok(e)) => file.get(s..e).ok_or_else(truncated),
        _ => Err(truncated()),
    }
}

/// Little-endian field reads over a structure already bounds-checked by [`bytes`].
struct Le<'a>(&'a [u8]);

impl Le<'_> {
    fn at<const N: usize>(&self, at: usize) -> [u8; N] {
        let mut out = [0u8; N];
        if let Some(s) = self.0.get(at..at.saturating_add(N)) {
            out.copy_from_slice(s);
        }
        out
    }
    fn u16(&self, at: usize) -> u16 {
        u16::from_le_bytes(self.at(at))
    }
    fn u32(&self, at: usize) -> u32 {
        u32::from_le_bytes(self.at(at))
    }
    fn u64(&self, at: usize) -> u64 {
        u64::from_le_bytes(self.at(at))
    }
}

/// `len` bytes at `off` as a structure, if they are in the file and start with `sig`.
fn signed<'a>(file: &'a [u8], off: u64, len: u64, sig: u32) -> Option<Le<'a>> {
    let s = Le(bytes(file, off, len, "").ok()?);
    (s.u32(0) == sig).then_some(s)
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
    let last = len.saturating_sub(EOCD_LEN);
    let first = last.saturating_sub(MAX_COMMENT);
    let tail = bytes(file, first, len - first, EOCD_WHAT)?;
    let sig = EOCD_SIG.to_le_bytes();
    let candidates = || {
        tail.windows(4)
            .enumerate()
            .rev()
            .filter(|(_, w)| *w == sig)
            .map(|(i, _)| first + i as u64)
            .filter(|&pos| signed(file, pos, EOCD_LEN, EOCD_SIG).is_some())
    };
    // The last record whose comment fits the file; failing that the last record at all, since
    // torch's reader (miniz) does not check the comment length.
    let fits = |pos: u64| {
        signed(file, pos, EOCD_LEN, EOCD_SIG)
            .is_some_and(|rec| pos + EOCD_LEN + u64::from(rec.u16(20)) <= len)
    };
    candidates()
        .find(|&pos| fits(pos))
        .or_else(|| candidates().next())
        .ok_or_else(|| {
            // A file that starts like a zip but has no directory at its end was cut short
            // (an interrupted copy or download), which deserves a clearer word than "not a zip".
            if file.starts_with(&LOCAL_SIG.to_le_bytes()) {
                CheckpointError::Truncated {
                    what: "zip archive: its end-of-central-directory record is missing, so the \
                           file was cut short"
                        .into(),
                    offset: len,
                    needed: EOCD_LEN,
                    available: 0,
                }
            } else {
                malformed!("not a zip: no end-of-central-directory record")
            }
        })
}

fn read_directory(file: &[u8]) -> Result<Directory, CheckpointError> {
    let eocd_pos = find_eocd(file)?;
    let eocd = Le(bytes(file, eocd_pos, EOCD_LEN, EOCD_WHAT)?);
    let (count, size, offset) = (eocd.u16(10), eocd.u32(12), eocd.u32(16));
    let classic = Directory {
        count: u64::from(count),
        size: u64::from(size),
        offset: u64::from(offset),
        end: eocd_pos,
    };
    let loc_pos = eocd_pos.saturating_sub(ZIP64_LOCATOR_LEN);
    let Some(loc) = signed(file, loc_pos, ZIP64_LOCATOR_LEN, ZIP64_LOCATOR_SIG) else {
        return Ok(classic);
    };
    // The locator's offset ignores any bytes before the zip; fall back to the record that
    // immediately precedes the locator, where every writer puts it.
    let declared = loc.u64(8);
    let before = loc_pos.checked_sub(ZIP64_EOCD_LEN);
    let z_pos = [Some(declared), before]
        .into_iter()
        .flatten()
        .find(|&p| signed(file, p, ZIP64_EOCD_LEN, ZIP64_EOCD_SIG).is_some())
        .ok_or_else(|| {
            malformed!("zip64 locator at offset {loc_pos} points to offset {declared}, which holds no {ZIP64_EOCD_WHAT}")
        })?;
    let z = Le(bytes(file, z_pos, ZIP64_EOCD_LEN, ZIP64_EOCD_WHAT)?);
    Ok(Directory {
        count: z.u64(32),
        size: z.u64(40),
        offset: z.u64(48),
        end: z_pos,
    })
}

/// The central directory's absolute position: as declared, or shifted by bytes before the zip.
fn locate_directory(file: &[u8], dir: &Directory) -> Result<u64, CheckpointError> {
    if dir.count == 0 || signed(file, dir.offset, 4, CDH_SIG).is_some() {
        return Ok(dir.offset);
    }
    if let Some(actual) = dir.end.checked_sub(dir.size) {
        if actual > dir.offset && signed(file, actual, 4, CDH_SIG).is_some() {
            return Ok(actual);
        }
    }
    // A directory running off the end of the file is truncation.
    bytes(file, dir.offset, dir.size, CD_WHAT)?;
    Err(malformed!(
        "no central directory header at offset {} (declared by the {EOCD_WHAT})",
        dir.offset
    ))
}

/// Replaces the values whose classic field is 0xFFFFFFFF (`marked`) by the zip64 extra field's,
/// in the standard order: size, compressed size, local header offset.
fn apply_zip64(
    extra: &[u8],
    values: [&mut u64; 3],
    name: &str,
    pos: u64,
) -> Result<(), CheckpointError> {
    let needed = values.iter().filter(|v| ***v == U32_MARK).count();
    if needed == 0 {
        return Ok(());
    }
    let mut rest = extra;
    while let Some(head) = rest.get(..4).map(Le) {
        let (id, len) = (head.u16(0), usize::from(head.u16(2)));
        let body = rest.get(4..4 + len).unwrap_or(&[]);
        if id == ZIP64_EXTRA_ID {
            if body.len() < needed * 8 {
                return Err(malformed!("record {name} (central directory entry at offset {pos}): zip64 extra field of {len} bytes lacks values the central directory defers to it"));
            }
            let mut at = 0;
            for v in values.into_iter().filter(|v| **v == U32_MARK) {
                *v = Le(body).u64(at);
                at += 8;
            }
            return Ok(());
        }
        rest = rest.get(4 + len..).unwrap_or(&[]);
    }
    Err(malformed!(
        "record {name} (central directory entry at offset {pos}): 0xFFFFFFFF markers but no \
         zip64 extra field"
    ))
}

/// Parses one central-directory entry at `pos`; returns it and the offset of the next one. Only
/// the directory is read here: the local header is checked when the record is read
/// ([`Entry::data_offset`]), so opening an archive touches no page of its data.
fn parse_entry(
    file: &[u8],
    pos: u64,
    index: u64,
    shift: u64,
    dir_start: u64,
) -> Result<(Entry, u64), CheckpointError> {
    let what = || format!("central directory entry {index}");
    let h = Le(bytes_named(file, pos, CDH_LEN, what)?);
    if h.u32(0) != CDH_SIG {
        return Err(malformed!(
            "{}: no central directory header signature at offset {pos}",
            what()
        ));
    }
    let (name_len, extra_len) = (u64::from(h.u16(28)), u64::from(h.u16(30)));
    let raw_name = bytes_named(file, pos + CDH_LEN, name_len, what)?.to_vec();
    let name = display_name(&raw_name);
    let extra = bytes_named(file, pos + CDH_LEN + name_len, extra_len, what)?;
    let next = pos + CDH_LEN + name_len + extra_len + u64::from(h.u16(32));
    bytes_named(file, pos, next - pos, what)?;

    let encrypted = h.u16(8) & 1 != 0;
    let method = match h.u16(10) {
        0 => Method::Stored,
        8 => Method::Deflated,
        m => Method::Unsupported(m),
    };
    let (mut size, mut compressed, mut local) = (
        u64::from(h.u32(24)),
        u64::from(h.u32(20)),
        u64::from(h.u32(42)),
    );
    apply_zip64(extra, [&mut size, &mut compressed, &mut local], &name, pos)?;
    // torch's miniz refuses this when it opens the archive, used or not. An encrypted record
    // holds a 12-byte header more, and is refused only when read.
    if method == Method::Stored && !encrypted && size != compressed {
        return Err(malformed!("record {name} (central directory entry at offset {pos}) is stored but its sizes differ (compressed {compressed}, uncompressed {size})"));
    }
    let local_pos = local
        .checked_add(shift)
        .ok_or_else(|| CheckpointError::SizeOverflow {
            what: format!("local header of record {name}: its offset"),
            detail: format!(
                "offset {local} from the central directory entry at offset {pos}, shifted by the \
                 {shift} bytes before the archive"
            ),
        })?;
    // The header and at least the data lie before the directory (the exact data offset, after
    // the header's name and extra field, is checked when the header is read).
    let file_len = file.len() as u64;
    let header_end = local_pos.saturating_add(LOCAL_LEN);
    if header_end > file_len {
        return Err(CheckpointError::Truncated {
            what: format!("local header of record {name}"),
            offset: local_pos,
            needed: LOCAL_LEN,
            available: file_len.saturating_sub(local_pos),
        });
    }
    if header_end.saturating_add(compressed) > file_len {
        return Err(CheckpointError::Truncated {
            what: format!("record {name}"),
            offset: header_end,
            needed: compressed,
            available: file_len - header_end,
        });
    }
    if header_end > dir_start {
        return Err(malformed!("record {name}'s local header (offset {local_pos}) lies in the central directory at offset {dir_start}"));
    }
    if compressed > dir_start - header_end {
        return Err(malformed!("record {name}'s data ({compressed} bytes after its local header at offset {local_pos}) runs into the central directory at offset {dir_start}"));
    }
    let crc32 = h.u32(16);
    Ok((
        Entry {
            name,
            raw_name,
            method,
            encrypted,
            header_offset: local_pos,
            dir_start,
            compressed_size: compressed,
            size,
            crc32,
        },
        next,
    ))
}

impl Entry {
    /// The absolute offset of the record's data, after checking its local header: the
    /// signature, the same name as the directory's (Python's zipfile refuses a mismatch; torch's
    /// miniz does not look), and the data inside the file and before the central directory.
    /// Reading one header touches one page of the file, so this runs when the record is read,
    /// never for all records at open.
    pub fn data_offset(&self, file: &[u8]) -> Result<u64, CheckpointError> {
        let local_pos = self.header_offset;
        let local_what = || format!("local header of record {}", self.name);
        let l = Le(bytes_named(file, local_pos, LOCAL_LEN, local_what)?);
        if l.u32(0) != LOCAL_SIG {
            return Err(malformed!(
                "{}: no local header signature at offset {local_pos}",
                local_what()
            ));
        }
        let local_name = bytes_named(
            file,
            local_pos + LOCAL_LEN,
            u64::from(l.u16(26)),
            local_what,
        )?;
        if local_name != self.raw_name.as_slice() {
            return Err(malformed!(
                "{} at offset {local_pos} names {}, the central directory {}",
                local_what(),
                display_name(local_name),
                self.name
            ));
        }
        let data_offset = local_pos + LOCAL_LEN + u64::from(l.u16(26)) + u64::from(l.u16(28));
        bytes_named(file, data_offset, self.compressed_size, || {
            format!("record {}", self.name)
        })?;
        let data_end = data_offset.saturating_add(self.compressed_size);
        if data_end > self.dir_start {
            return Err(malformed!(
                "record {}'s data (offset {data_offset}, {} bytes) runs into the central directory at offset {}",
                self.name,
                self.compressed_size,
                self.dir_start
            ));
        }
        Ok(data_offset)
    }
}

impl ZipIndex {
    /// Parses the end-of-central-directory record (searching back over any comment), the zip64
    /// locator and record when present, and every central-directory entry, and locates each
    /// record's data through its local header. Tolerates bytes before the zip.
    pub fn parse(file: &[u8]) -> Result<ZipIndex, CheckpointError> {
        let dir = read_directory(file)?;
        // Bound the count by what the directory can physically hold before allocating anything.
        let most = dir.size / CDH_LEN;
        if dir.count > most {
            let (n, size, at) = (dir.count, dir.size, dir.end);
            return Err(malformed!("{EOCD_WHAT} at offset {at} declares {n} entries, but a central directory of {size} bytes holds at most {most}"));
        }
        let start = locate_directory(file, &dir)?;
        let dir_end = start + bytes(file, start, dir.size, CD_WHAT)?.len() as u64;
        let shift = start - dir.offset.min(start);
        // count <= size / 46 <= file length, so it fits in usize.
        let count = usize::try_from(dir.count).unwrap_or(0);
        let (mut entries, mut by_name) = (Vec::with_capacity(count), HashMap::with_capacity(count));
        let mut pos = start;
        // Local headers each belong to one entry: an archive whose entries share a header names
        // the same bytes twice (crafted; torch's miniz follows it without noticing). Checked
        // by sorting the directory's offsets, so no header page is touched.
        let mut headers: Vec<(u64, u64)> = Vec::with_capacity(count);
        for index in 0..dir.count {
            let (entry, next) = parse_entry(file, pos, index, shift, start)?;
            headers.push((entry.header_offset, index));
            if next > dir_end {
                let name = &entry.name;
                return Err(malformed!("central directory entry {index} ({name}, at offset {pos}) runs past the directory end at offset {dir_end}"));
            }
            if by_name
                .insert(entry.raw_name.clone(), entries.len())
                .is_some()
            {
                let name = &entry.name;
                return Err(malformed!("duplicate record name {name} (central directory entry {index}, at offset {pos})"));
            }
            entries.push(entry);
            pos = next;
        }
        headers.sort_unstable();
        if let Some(w) = headers.windows(2).find(|w| w[0].0 == w[1].0) {
            let ((header, a), (_, b)) = (w[0], w[1]);
            let (first, second) = (a.min(b), a.max(b));
            let name = usize::try_from(second)
                .ok()
                .and_then(|i| entries.get(i))
                .map_or("?", |e| e.name.as_str());
            return Err(malformed!("record {name} (central directory entry {second}) shares the local header at offset {header} with entry {first}"));
        }
        let first = entries.first().ok_or_else(|| {
            malformed!("archive holds no records (central directory at offset {start})")
        })?;
        let Some(slash) = first.raw_name.iter().position(|&b| b == b'/') else {
            return Err(malformed!(
                "file in archive is not in a subdirectory: {} (central directory entry 0, at \
                 offset {start})",
                first.name
            ));
        };
        let prefix_raw = first.raw_name[..slash].to_vec();
        let prefix = display_name(&prefix_raw);
        Ok(ZipIndex {
            entries,
            by_name,
            prefix_raw,
            prefix,
        })
    }

    /// The first record whose name is not UTF-8, as displayed (`\xNN` escapes).
    pub fn first_non_utf8_name(&self) -> Option<&str> {
        self.entries
            .iter()
            .find(|e| std::str::from_utf8(&e.raw_name).is_err())
            .map(|e| e.name.as_str())
    }

    /// The archive prefix: the text before the first `/` of the first central-directory entry
    /// (escaped for display when it is not UTF-8).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Looks up `<prefix>/<record>`, e.g. `data.pkl`, `data/0`, `version`, `.data/version`,
    /// comparing bytes as torch does: `record` is UTF-8, as torch encodes a Python str, so a
    /// name that is not UTF-8 answers to no record, never to a replacement character.
    pub fn get(&self, record: &str) -> Option<&Entry> {
        self.position(record).and_then(|i| self.entries.get(i))
    }

    /// Where [`ZipIndex::get`]'s entry is in directory order (see [`ZipIndex::entry`]).
    pub fn position(&self, record: &str) -> Option<usize> {
        self.position_in(&mut Vec::new(), &[record])
    }

    /// [`ZipIndex::position`] of the record named by `parts` joined (`["data/", key]`),
    /// building the full name in `scratch`: a caller looking up thousands of records reuses one
    /// buffer and formats nothing.
    pub fn position_in(&self, scratch: &mut Vec<u8>, parts: &[&str]) -> Option<usize> {
        scratch.clear();
        scratch.extend_from_slice(&self.prefix_raw);
        scratch.push(b'/');
        for p in parts {
            scratch.extend_from_slice(p.as_bytes());
        }
        self.by_name.get(scratch.as_slice()).copied()
    }

    /// The entry at `position` in directory order.
    pub fn entry(&self, position: usize) -> Option<&Entry> {
        self.entries.get(position)
    }

    /// Every record's full name for display (see [`Entry::name`]), in directory order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|e| e.name.as_str())
    }

    #[cfg(test)]
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }
}
