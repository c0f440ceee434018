//! Hostile input for the zip reader, second pass: claims that would make it allocate, names that
//! are not UTF-8, entries it cannot read but never needs, and messages that say where.

use std::io::Write;

use flate2::write::DeflateEncoder;
use flate2::Compression;

use super::alloc_count::peak_during;
use super::read::{read_entry, Entry, Method, ZipIndex};
use super::write::ZipWriter;
use crate::error::ErrorKind;

/// Bytes of the local header `deflated_entry` points at: 30 fixed bytes and the name.
const HDR: usize = 30 + 8;

/// A file holding one local header for `a/data/0` (method 8) and then `data` deflated: the
/// shape a reader checks before it reads a record's bytes.
fn deflate(data: &[u8]) -> Vec<u8> {
    let mut file = Vec::new();
    file.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
    file.extend_from_slice(&[20, 0, 0, 0, 8, 0, 0, 0, 0, 0]);
    file.extend_from_slice(&[0; 12]);
    file.extend_from_slice(&8u16.to_le_bytes());
    file.extend_from_slice(&0u16.to_le_bytes());
    file.extend_from_slice(b"a/data/0");
    assert_eq!(file.len(), HDR);
    let mut e = DeflateEncoder::new(file, Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn deflated_entry(compressed_size: u64, size: u64) -> Entry {
    Entry {
        name: "a/data/0".into(),
        raw_name: b"a/data/0".to_vec(),
        method: Method::Deflated,
        encrypted: false,
        header_offset: 0,
        dir_start: u64::MAX,
        compressed_size,
        size,
        crc32: 0,
    }
}

#[test]
fn inflation_memory_follows_the_stream_not_the_claim() {
    // 1 MiB of "compressed" bytes may claim up to ~1 GiB; this stream yields 100 bytes and then
    // ends. The old reader reserved the claimed 1 GiB before reading a byte.
    let mut file = deflate(&[7u8; 100]);
    file.resize(HDR + (1 << 20), 0);
    let entry = deflated_entry(1 << 20, 1 << 30);
    let (r, peak) = peak_during(|| read_entry(&file, &entry, u64::MAX));
    let err = r.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::MalformedZip, "{err}");
    let msg = err.to_string();
    assert!(msg.contains("inflates to 100 bytes"), "{msg}");
    assert!(
        msg.contains("a/data/0") && msg.contains(&format!("offset {HDR}")),
        "{msg}"
    );
    assert!(peak < 1 << 20, "peak {peak} bytes for a 100-byte stream");
}

#[test]
fn inflated_buffer_never_exceeds_the_claim_plus_one() {
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let mut file = deflate(&data);
    let entry = deflated_entry((file.len() - HDR) as u64, data.len() as u64);
    let (r, peak) = peak_during(|| read_entry(&file, &entry, u64::MAX));
    let got = r.unwrap().into_owned();
    assert_eq!(got, data);
    assert!(
        got.capacity() <= data.len() + 1,
        "capacity {}",
        got.capacity()
    );
    assert!(peak <= data.len() + 1 + (64 << 10), "peak {peak}");
    // A stream longer than the claim stops one byte past it.
    let short = deflated_entry((file.len() - HDR) as u64, 1000);
    let err = read_entry(&file, &short, u64::MAX).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("inflates to more than the 1000 bytes"),
        "{msg}"
    );
    // Cut short: the compressed bytes end inside the stream.
    file.truncate(file.len() / 2);
    let cut = deflated_entry((file.len() - HDR) as u64, data.len() as u64);
    let err = read_entry(&file, &cut, u64::MAX).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::MalformedZip, "{err}");
}

#[test]
fn empty_deflated_record() {
    let file = deflate(&[]);
    let entry = deflated_entry((file.len() - HDR) as u64, 0);
    assert!(read_entry(&file, &entry, u64::MAX).unwrap().is_empty());
}

/// An archive whose records are named `names` (with `X` standing for byte 0xff, patched in
/// after writing, in the local headers and the central directory alike).
fn archive_with_raw_names(prefix: &str, names: &[(&str, &[u8])]) -> Vec<u8> {
    let mut zw = ZipWriter::new(Vec::new(), prefix);
    for (name, data) in names {
        zw.write_record(name, &[data]).unwrap();
    }
    let mut file = zw.finish().unwrap();
    // Every name occurs once in its local header and once in the directory: patch both.
    for (name, _) in names {
        let full = format!("{prefix}/{name}");
        if !full.contains('X') {
            continue;
        }
        let patched = full.replace('X', "\u{1}").into_bytes();
        let mut at = 0;
        while let Some(i) = file[at..]
            .windows(full.len())
            .position(|w| w == full.as_bytes())
        {
            let pos = at + i;
            for (k, b) in patched.iter().enumerate() {
                if *b == 1 {
                    file[pos + k] = 0xff;
                }
            }
            at = pos + full.len();
        }
    }
    file
}

#[test]
fn names_that_are_not_utf8_are_kept_as_bytes() {
    // data/\xff and data/U+FFFD are two records: a lossy conversion made them one (duplicate).
    let file = archive_with_raw_names(
        "archive",
        &[
            ("data.pkl", b"p"),
            ("data/X", b"raw byte"),
            ("data/\u{FFFD}", b"replacement"),
        ],
    );
    let index = ZipIndex::parse(&file).unwrap();
    let e = index.get("data/\u{FFFD}").unwrap();
    assert_eq!(&*read_entry(&file, e, 0).unwrap(), b"replacement");
    assert!(index.get("data/X").is_none());
    let raw = index
        .entries()
        .iter()
        .find(|e| e.raw_name == b"archive/data/\xff")
        .unwrap();
    assert_eq!(raw.name, "archive/data/\\xff");
    assert_eq!(&*read_entry(&file, raw, 0).unwrap(), b"raw byte");
    assert!(index.names().any(|n| n == "archive/data/\\xff"));
}

#[test]
fn a_prefix_that_is_not_utf8_is_matched_as_bytes() {
    let file = archive_with_raw_names("arXc", &[("data.pkl", b"p"), ("version", b"3")]);
    let index = ZipIndex::parse(&file).unwrap();
    assert_eq!(index.prefix(), "ar\\xffc");
    assert_eq!(
        &*read_entry(&file, index.get("version").unwrap(), 0).unwrap(),
        b"3"
    );
    assert_eq!(index.get("data.pkl").unwrap().name, "ar\\xffc/data.pkl");
}

/// Patches one directory entry (found by name) of `file`: `method` and the flag bits `flags`.
fn patch_entry(file: &mut [u8], name: &str, method: Option<u16>, flags: u16) {
    let sig = 0x0201_4b50u32.to_le_bytes();
    let mut at = 0;
    while let Some(i) = file[at..].windows(4).position(|w| w == sig) {
        let pos = at + i;
        let len = u16::from_le_bytes([file[pos + 28], file[pos + 29]]) as usize;
        if &file[pos + 46..pos + 46 + len] == name.as_bytes() {
            if let Some(m) = method {
                file[pos + 10..pos + 12].copy_from_slice(&m.to_le_bytes());
            }
            file[pos + 8] |= flags as u8;
            return;
        }
        at = pos + 4;
    }
    panic!("no entry {name}");
}

#[test]
fn unreadable_entries_fail_only_when_read() {
    // torch opens archives holding unused LZMA, bzip2, unknown-method or encrypted entries.
    let mut zw = ZipWriter::new(Vec::new(), "archive");
    for name in ["data.pkl", "lzma", "bzip2", "m99", "secret"] {
        zw.write_record(name, &[b"payload"]).unwrap();
    }
    let mut file = zw.finish().unwrap();
    patch_entry(&mut file, "archive/lzma", Some(14), 0);
    patch_entry(&mut file, "archive/bzip2", Some(12), 0);
    patch_entry(&mut file, "archive/m99", Some(99), 0);
    patch_entry(&mut file, "archive/secret", None, 1);
    let index = ZipIndex::parse(&file).unwrap();
    assert_eq!(
        &*read_entry(&file, index.get("data.pkl").unwrap(), 0).unwrap(),
        b"payload"
    );
    for (name, says) in [
        ("lzma", "compression method 14 (LZMA)"),
        ("bzip2", "compression method 12 (bzip2)"),
        ("m99", "compression method 99"),
        ("secret", "encrypted"),
    ] {
        let e = index.get(name).unwrap();
        let err = read_entry(&file, e, u64::MAX).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::UnsupportedFormat, "{err}");
        let msg = err.to_string();
        assert!(msg.contains(&format!("record archive/{name}")), "{msg}");
        assert!(msg.contains(says), "{msg}");
        let at = e.data_offset(&file).unwrap();
        assert!(msg.contains(&format!("offset {at}")), "{msg}");
    }
}

#[test]
fn directory_errors_say_where() {
    let mut zw = ZipWriter::new(Vec::new(), "a");
    zw.write_record("x", &[b"1"]).unwrap();
    zw.write_record("x", &[b"2"]).unwrap();
    let file = zw.finish().unwrap();
    let msg = ZipIndex::parse(&file).unwrap_err().to_string();
    assert!(msg.contains("duplicate record name a/x"), "{msg}");
    assert!(msg.contains("at offset"), "{msg}");
}

fn two_records() -> Vec<u8> {
    let mut zw = ZipWriter::new(Vec::new(), "archive");
    zw.write_record("data.pkl", &[b"pickle"]).unwrap();
    zw.write_record("version", &[b"3\n"]).unwrap();
    zw.finish().unwrap()
}

/// The offset of the `n`th occurrence of `needle`.
fn nth(file: &[u8], needle: &[u8], n: usize) -> usize {
    file.windows(needle.len())
        .enumerate()
        .filter(|(_, w)| *w == needle)
        .nth(n)
        .unwrap()
        .0
}

#[test]
fn local_headers_must_agree_with_the_directory() {
    let good = two_records();
    assert!(ZipIndex::parse(&good).is_ok());
    // The local header (first occurrence) names another file than the directory.
    // The directory is all that opening reads; the header is checked when the record is read,
    // before any of its bytes are returned.
    let mut file = good.clone();
    let at = nth(&file, b"archive/data.pkl", 0);
    file[at + 15] = b'X';
    let index = ZipIndex::parse(&file).unwrap();
    let e = read_entry(&file, index.get("data.pkl").unwrap(), 0).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::MalformedZip, "{e}");
    assert!(e.to_string().contains("archive/data.pkX"), "{e}");
    assert!(read_entry(&file, index.get("version").unwrap(), 0).is_ok());
    // The second directory entry points at the first entry's local header.
    let mut file = good.clone();
    let cd = nth(&file, &0x0201_4b50u32.to_le_bytes(), 1);
    file[cd + 42..cd + 46].copy_from_slice(&0u32.to_le_bytes());
    let e = ZipIndex::parse(&file).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::MalformedZip, "{e}");
}

#[test]
fn a_comment_length_that_overruns_the_file_is_tolerated_as_torch_does() {
    let mut file = two_records();
    let n = file.len();
    file[n - 2..].copy_from_slice(&200u16.to_le_bytes());
    let index = ZipIndex::parse(&file).unwrap();
    assert!(index.get("version").is_some());
}
