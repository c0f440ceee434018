//! Writing the zip container byte for byte as torch 2.15's `PyTorchStreamWriter` (miniz) does:
//! stored records whose data starts at a multiple of 64 thanks to the `FB` local extra field,
//! zeros in local headers with a data descriptor after each non-empty record, and a zip64
//! end-of-central-directory record always.

use std::io::{self, Write};

const LOCAL_SIG: u32 = 0x0403_4b50;
const DESCRIPTOR_SIG: u32 = 0x0807_4b50;
const CDH_SIG: u32 = 0x0201_4b50;
const ZIP64_EOCD_SIG: u32 = 0x0606_4b50;
const ZIP64_LOCATOR_SIG: u32 = 0x0706_4b50;
const EOCD_SIG: u32 = 0x0605_4b50;
const LOCAL_LEN: u64 = 30;
const ALIGNMENT: u64 = 64;
const PAD_FIELD_ID: u16 = 0x4246; // "FB"
const ZIP64_EXTRA_ID: u16 = 0x0001;
const U32_MAX: u64 = 0xFFFF_FFFF;
const FLAG_UTF8: u16 = 0x0800;
const FLAG_DESCRIPTOR: u16 = 0x0008;

/// A record already written, remembered for the central directory.
struct Written {
    name: String,
    crc32: u32,
    size: u64,
    header_offset: u64,
    flags: u16,
}

/// Streams a torch-compatible zip archive into `W`, tracking the byte position itself.
pub struct ZipWriter<W: Write> {
    w: W,
    prefix: String,
    pos: u64,
    written: Vec<Written>,
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

fn put16(buf: &mut Vec<u8>, v: u16) {
    buf.extend_from_slice(&v.to_le_bytes());
}
fn put32(buf: &mut Vec<u8>, v: u32) {
    buf.extend_from_slice(&v.to_le_bytes());
}
fn put64(buf: &mut Vec<u8>, v: u64) {
    buf.extend_from_slice(&v.to_le_bytes());
}

/// `v` as a classic 32-bit field: the value, or the 0xFFFFFFFF zip64 marker.
fn clamp32(v: u64) -> u32 {
    u32::try_from(v.min(U32_MAX)).unwrap_or(u32::MAX)
}

/// The zip64 extra field (id 1) holding the given values in order; empty when there are none.
fn zip64_extra(values: &[u64]) -> Vec<u8> {
    let mut buf = Vec::new();
    if values.is_empty() {
        return buf;
    }
    put16(&mut buf, ZIP64_EXTRA_ID);
    put16(&mut buf, (values.len() * 8) as u16);
    for &v in values {
        put64(&mut buf, v);
    }
    buf
}

impl<W: Write> ZipWriter<W> {
    /// `prefix` is the archive folder (torch: the file stem, or `archive`).
    pub fn new(w: W, prefix: &str) -> ZipWriter<W> {
        ZipWriter {
            w,
            prefix: prefix.to_string(),
            pos: 0,
            written: Vec::new(),
        }
    }

    fn emit(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.w.write_all(bytes)?;
        self.pos = self
            .pos
            .checked_add(bytes.len() as u64)
            .ok_or_else(|| invalid("zip archive larger than 2^64 bytes".to_string()))?;
        Ok(())
    }

    /// Writes one stored record `<prefix>/<name>` from the concatenation of `chunks`, as torch
    /// does: zeros in the local header, the `FB` padding field so the data is 64-byte aligned,
    /// the data (CRC computed in the same pass), then a data descriptor when the record is non-empty.
    pub fn write_record(&mut self, name: &str, chunks: &[&[u8]]) -> io::Result<()> {
        let full = format!("{}/{name}", self.prefix);
        let name_len = u16::try_from(full.len())
            .map_err(|_| invalid(format!("zip record name {full} is longer than 65535 bytes")))?;
        let size = chunks
            .iter()
            .try_fold(0u64, |acc, c| acc.checked_add(c.len() as u64));
        let size = size.ok_or_else(|| invalid(format!("record {full}: size overflows u64")))?;
        let header_offset = self.pos;
        let big_size = size >= U32_MAX;
        let big_offset = header_offset >= U32_MAX;

        // miniz's local zip64 field: both sizes when the record is big, then the header offset
        // (non-standard, but what torch writes and what readers ignore).
        let mut z64 = Vec::new();
        if big_size {
            z64.extend([size, size]);
        }
        if big_offset {
            z64.push(header_offset);
        }
        let z64 = zip64_extra(&z64);

        let unpadded = header_offset + LOCAL_LEN + u64::from(name_len) + z64.len() as u64 + 4;
        let pad = (ALIGNMENT - unpadded % ALIGNMENT) % ALIGNMENT;
        let flags = if size == 0 {
            FLAG_UTF8
        } else {
            FLAG_UTF8 | FLAG_DESCRIPTOR
        };

        let mut head = Vec::with_capacity(LOCAL_LEN as usize + full.len() + z64.len() + 4 + 64);
        put32(&mut head, LOCAL_SIG);
        put16(&mut head, 0); // version needed
        put16(&mut head, flags);
        put16(&mut head, 0); // method: stored
        put16(&mut head, 0); // DOS time
        put16(&mut head, 0); // DOS date
        put32(&mut head, 0); // CRC (in the descriptor)
        put32(&mut head, 0); // compressed size
        put32(&mut head, 0); // uncompressed size
        put16(&mut head, name_len);
        put16(&mut head, (z64.len() as u64 + 4 + pad) as u16);
        head.extend_from_slice(full.as_bytes());
        head.extend_from_slice(&z64);
        put16(&mut head, PAD_FIELD_ID);
        put16(&mut head, pad as u16);
        head.resize(head.len() + pad as usize, b'Z');
        self.emit(&head)?;

        let mut crc = crc32fast::Hasher::new();
        for chunk in chunks {
            crc.update(chunk);
            self.emit(chunk)?;
        }
        let crc32 = crc.finalize();

        if size != 0 {
            let mut desc = Vec::with_capacity(24);
            put32(&mut desc, DESCRIPTOR_SIG);
            put32(&mut desc, crc32);
            if big_size || big_offset {
                put64(&mut desc, size);
                put64(&mut desc, size);
            } else {
                put32(&mut desc, clamp32(size));
                put32(&mut desc, clamp32(size));
            }
            self.emit(&desc)?;
        }
        self.written.push(Written {
            name: full,
            crc32,
            size,
            header_offset,
            flags,
        });
        Ok(())
    }

    /// Writes the central directory, then always a zip64 end-of-central-directory record and
    /// locator, then the classic end record (with overflow markers), as torch does. Returns `W`.
    pub fn finish(mut self) -> io::Result<W> {
        let dir_offset = self.pos;
        let mut dir = Vec::new();
        for rec in &self.written {
            let mut z64 = Vec::new();
            if rec.size >= U32_MAX {
                z64.extend([rec.size, rec.size]);
            }
            if rec.header_offset >= U32_MAX {
                z64.push(rec.header_offset);
            }
            let z64 = zip64_extra(&z64);
            put32(&mut dir, CDH_SIG);
            put16(&mut dir, 0); // version made by
            put16(&mut dir, 0); // version needed
            put16(&mut dir, rec.flags);
            put16(&mut dir, 0); // method: stored
            put16(&mut dir, 0); // DOS time
            put16(&mut dir, 0); // DOS date
            put32(&mut dir, rec.crc32);
            put32(&mut dir, clamp32(rec.size));
            put32(&mut dir, clamp32(rec.size));
            put16(&mut dir, rec.name.len() as u16); // checked in write_record
            put16(&mut dir, z64.len() as u16);
            put16(&mut dir, 0); // comment length
            put16(&mut dir, 0); // disk number
            put16(&mut dir, 0); // internal attributes
            put32(&mut dir, 0); // external attributes
            put32(&mut dir, clamp32(rec.header_offset));
            dir.extend_from_slice(rec.name.as_bytes());
            dir.extend_from_slice(&z64);
        }
        self.emit(&dir)?;
        let dir_size = dir.len() as u64;
        let count = self.written.len() as u64;

        let zip64_eocd_offset = self.pos;
        let mut tail = Vec::with_capacity(56 + 20 + 22);
        put32(&mut tail, ZIP64_EOCD_SIG);
        put64(&mut tail, 44); // size of the rest of the record
        put16(&mut tail, 0x031e); // made by: Unix, 3.0
        put16(&mut tail, 45); // needed: zip64
        put32(&mut tail, 0); // this disk
        put32(&mut tail, 0); // disk with the directory
        put64(&mut tail, count);
        put64(&mut tail, count);
        put64(&mut tail, dir_size);
        put64(&mut tail, dir_offset);

        put32(&mut tail, ZIP64_LOCATOR_SIG);
        put32(&mut tail, 0); // disk with the zip64 record
        put64(&mut tail, zip64_eocd_offset);
        put32(&mut tail, 1); // total disks

        let count16 = u16::try_from(count).unwrap_or(u16::MAX);
        put32(&mut tail, EOCD_SIG);
        put16(&mut tail, 0);
        put16(&mut tail, 0);
        put16(&mut tail, count16);
        put16(&mut tail, count16);
        put32(&mut tail, clamp32(dir_size));
        put32(&mut tail, clamp32(dir_offset));
        put16(&mut tail, 0); // comment length
        self.emit(&tail)?;
        self.w.flush()?;
        Ok(self.w)
    }
}
