//! Round trips, cross-checks against the `zip` crate and Python's `zipfile`, zip64 parsing and
//! hostile input for the zip reader and writer.

use std::io::{Cursor, Read, Write};

use super::read::{read_entry, verify_crc, Method, ZipIndex};
use super::write::ZipWriter;
use crate::error::{CheckpointError, ErrorKind};

const NO_LIMIT: u64 = u64::MAX;

/// Deterministic pseudo-random bytes (xorshift).
fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut s = seed | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 24) as u8
        })
        .collect()
}

fn records() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("data.pkl", b"\x80\x02}q\x00.".to_vec()),
        (".format_version", b"1".to_vec()),
        ("data/0", Vec::new()),
        ("data/1", vec![7]),
        ("data/2", noise(100_000, 42)),
        ("version", b"3\n".to_vec()),
    ]
}

/// An archive written by our writer; the 100 KB record is split into three chunks.
fn sample() -> Vec<u8> {
    let mut zw = ZipWriter::new(Vec::new(), "archive");
    for (name, data) in records() {
        if data.len() > 1000 {
            let (a, rest) = data.split_at(333);
            let (b, c) = rest.split_at(50_000);
            zw.write_record(name, &[a, b, &[], c]).unwrap();
        } else {
            zw.write_record(name, &[&data]).unwrap();
        }
    }
    zw.finish().unwrap()
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}
fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}
fn put_u32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}
fn put_u64(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_le_bytes());
}
/// Offset of the central directory of an archive ending in a classic EOCD without comment.
fn cd_offset(b: &[u8]) -> usize {
    u32_at(b, b.len() - 22 + 16) as usize
}
/// Offset of the zip64 EOCD record our writer puts before the locator and the classic EOCD.
fn zip64_eocd(b: &[u8]) -> usize {
    b.len() - 22 - 20 - 56
}

fn kind(r: Result<ZipIndex, CheckpointError>) -> ErrorKind {
    match r {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.kind(),
    }
}

#[test]
fn round_trip() {
    let file = sample();
    let index = ZipIndex::parse(&file).unwrap();
    assert_eq!(index.prefix(), "archive");
    assert_eq!(index.entries().len(), records().len());
    for (name, data) in records() {
        let e = index.get(name).unwrap();
        assert_eq!(e.name, format!("archive/{name}"));
        assert_eq!(e.method, Method::Stored);
        assert_eq!(
            e.data_offset(&file).unwrap() % 64,
            0,
            "{name} is not 64-byte aligned"
        );
        assert_eq!(e.size, data.len() as u64);
        assert_eq!(e.crc32, crc32fast::hash(&data));
        let got = read_entry(&file, e, 0).unwrap();
        assert!(matches!(got, std::borrow::Cow::Borrowed(_)));
        assert_eq!(&*got, &data[..]);
        verify_crc(e, &got).unwrap();
    }
    assert!(index.get("missing").is_none());
}

#[test]
fn local_headers_match_torch() {
    let file = sample();
    let index = ZipIndex::parse(&file).unwrap();
    let mut pos = 0usize;
    for (i, (name, data)) in records().into_iter().enumerate() {
        assert_eq!(u32_at(&file, pos), 0x0403_4b50);
        assert_eq!(u16_at(&file, pos + 4), 0, "version needed");
        let flags = if data.is_empty() { 0x0800 } else { 0x0808 };
        assert_eq!(u16_at(&file, pos + 6), flags, "flags of {name}");
        assert_eq!(
            &file[pos + 8..pos + 26],
            &[0u8; 18],
            "method, time, date, CRC, sizes"
        );
        let name_len = u16_at(&file, pos + 26) as usize;
        let extra_len = u16_at(&file, pos + 28) as usize;
        let extra = &file[pos + 30 + name_len..pos + 30 + name_len + extra_len];
        assert_eq!(&extra[..2], b"FB");
        assert_eq!(u16_at(extra, 2) as usize, extra_len - 4);
        assert!(extra[4..].iter().all(|&b| b == b'Z'));
        let data_at = pos + 30 + name_len + extra_len;
        assert_eq!(
            index.entries()[i].data_offset(&file).unwrap(),
            data_at as u64
        );
        pos = data_at + data.len();
        if !data.is_empty() {
            assert_eq!(u32_at(&file, pos), 0x0807_4b50);
            assert_eq!(u32_at(&file, pos + 4), crc32fast::hash(&data));
            assert_eq!(u32_at(&file, pos + 8) as usize, data.len());
            assert_eq!(u32_at(&file, pos + 12) as usize, data.len());
            pos += 16;
        }
    }
    assert_eq!(pos, cd_offset(&file));
    // zip64 end record always written: made-by 0x031e, needed 45.
    let z = zip64_eocd(&file);
    assert_eq!(u32_at(&file, z), 0x0606_4b50);
    assert_eq!(u16_at(&file, z + 12), 0x031e);
    assert_eq!(u16_at(&file, z + 14), 45);
}

#[test]
fn zero_padding_still_writes_fb_field() {
    // 30 + len("a/") + len(name) + 4 must be 64 for a pad of 0: name of 28 bytes.
    let name = "x".repeat(28);
    let mut zw = ZipWriter::new(Vec::new(), "a");
    zw.write_record(&name, &[b"hi"]).unwrap();
    let file = zw.finish().unwrap();
    assert_eq!(u16_at(&file, 28), 4);
    assert_eq!(&file[30 + 30..30 + 34], b"FB\0\0");
    let index = ZipIndex::parse(&file).unwrap();
    assert_eq!(index.get(&name).unwrap().data_offset(&file).unwrap(), 64);
}

#[test]
fn zip_crate_reads_our_output() {
    let file = sample();
    let mut archive = zip::ZipArchive::new(Cursor::new(&file[..])).unwrap();
    assert_eq!(archive.len(), records().len());
    for (name, data) in records() {
        let mut f = archive.by_name(&format!("archive/{name}")).unwrap();
        assert_eq!(f.crc32(), crc32fast::hash(&data));
        let mut got = Vec::new();
        f.read_to_end(&mut got).unwrap();
        assert_eq!(got, data, "{name}");
    }
}

/// An archive written by the `zip` crate; `method` applies to every record.
fn zip_crate_archive(files: &[(&str, &[u8])], method: zip::CompressionMethod) -> Vec<u8> {
    let mut zw = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default().compression_method(method);
    for (name, data) in files {
        zw.start_file(*name, opts).unwrap();
        zw.write_all(data).unwrap();
    }
    zw.finish().unwrap().into_inner()
}

#[test]
fn reads_zip_crate_deflated_archive() {
    let big = [b"abcdefgh".repeat(10_000), noise(5000, 7)].concat();
    let files: [(&str, &[u8]); 3] = [
        ("model/data.pkl", b"\x80\x02K\x01."),
        ("model/data/0", &big),
        ("model/version", b"3\n"),
    ];
    let file = zip_crate_archive(&files, zip::CompressionMethod::Deflated);
    let index = ZipIndex::parse(&file).unwrap();
    assert_eq!(index.prefix(), "model");
    for (name, data) in files {
        let e = index.get(name.strip_prefix("model/").unwrap()).unwrap();
        assert_eq!(e.method, Method::Deflated);
        let got = read_entry(&file, e, 1 << 20).unwrap();
        assert_eq!(&*got, data);
        verify_crc(e, &got).unwrap();
    }
    let stored = zip_crate_archive(&files, zip::CompressionMethod::Stored);
    let index = ZipIndex::parse(&stored).unwrap();
    let e = index.get("data/0").unwrap();
    assert_eq!(e.method, Method::Stored);
    assert_eq!(&*read_entry(&stored, e, 0).unwrap(), &big[..]);
}

#[test]
fn python_zipfile_reads_our_output() {
    let file = sample();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sample.pt");
    std::fs::write(&path, &file).unwrap();
    let script = "import sys, zipfile\n\
                  z = zipfile.ZipFile(sys.argv[1])\n\
                  assert z.testzip() is None\n\
                  for i in z.infolist(): print(i.filename, i.file_size, i.CRC)\n";
    let out = match std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(&path)
        .output()
    {
        Ok(out) => out,
        Err(e) => {
            println!("skipping: python3 not runnable ({e})");
            return;
        }
    };
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let expected: String = records()
        .iter()
        .map(|(n, d)| format!("archive/{n} {} {}\n", d.len(), crc32fast::hash(d)))
        .collect();
    assert_eq!(String::from_utf8_lossy(&out.stdout), expected);
}

/// A one-record archive whose central directory defers sizes and offset to a zip64 extra
/// field (after an unrelated `FB` field), with only zip64 end records holding real values.
fn hand_built_zip64(junk_before: usize) -> Vec<u8> {
    let name = b"arc/data/0";
    let data = b"hello zip64";
    let mut f = vec![0xAAu8; junk_before];
    let local = f.len();
    f.extend(0x0403_4b50u32.to_le_bytes());
    f.extend([45, 0, 0, 0, 0, 0, 0, 0, 0, 0]); // needed, flags, method, time, date
    f.extend([0xFF; 12]); // CRC garbage and 0xFFFFFFFF sizes: must be ignored
    f.extend((name.len() as u16).to_le_bytes());
    f.extend(8u16.to_le_bytes());
    f.extend(name);
    f.extend([1, 0, 4, 0, 9, 9, 9, 9]); // miniz's non-standard short zip64 local field
    f.extend(data);
    let cd = f.len();
    let mut extra = vec![0x46, 0x42, 2, 0, b'Z', b'Z'];
    extra.extend([1, 0, 24, 0]);
    for v in [
        data.len() as u64,
        data.len() as u64,
        (local - junk_before) as u64,
    ] {
        extra.extend(v.to_le_bytes());
    }
    f.extend(0x0201_4b50u32.to_le_bytes());
    f.extend([0x1e, 3, 45, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    f.extend(crc32fast::hash(data).to_le_bytes());
    f.extend([0xFF; 8]);
    f.extend((name.len() as u16).to_le_bytes());
    f.extend((extra.len() as u16).to_le_bytes());
    f.extend([0u8; 10]); // comment, disk, attributes
    f.extend([0xFF; 4]);
    f.extend(name);
    f.extend(&extra);
    let cd_size = (f.len() - cd) as u64;
    let z = f.len();
    f.extend(0x0606_4b50u32.to_le_bytes());
    f.extend(44u64.to_le_bytes());
    f.extend([0x1e, 3, 45, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    for v in [1u64, 1, cd_size, (cd - junk_before) as u64] {
        f.extend(v.to_le_bytes());
    }
    f.extend(0x0706_4b50u32.to_le_bytes());
    f.extend(0u32.to_le_bytes());
    f.extend(((z - junk_before) as u64).to_le_bytes());
    f.extend(1u32.to_le_bytes());
    f.extend(0x0605_4b50u32.to_le_bytes());
    f.extend([0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF]);
    f.extend([0xFF; 8]);
    f.extend(5u16.to_le_bytes());
    f.extend(b"hello"); // a comment, searched back over
    f
}

#[test]
fn parses_zip64_markers() {
    for junk in [0, 100] {
        let file = hand_built_zip64(junk);
        let index = ZipIndex::parse(&file).unwrap();
        assert_eq!(index.prefix(), "arc");
        let e = index.get("data/0").unwrap();
        assert_eq!((e.size, e.compressed_size), (11, 11));
        let got = read_entry(&file, e, 0).unwrap();
        assert_eq!(&*got, b"hello zip64");
        verify_crc(e, &got).unwrap();
    }
    // A zip64 field too short for the three deferred values.
    let mut file = hand_built_zip64(0);
    let at = file.windows(4).rposition(|w| w == [1, 0, 24, 0]).unwrap();
    file[at + 2] = 16;
    let err = ZipIndex::parse(&file).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::MalformedZip);
    assert!(err.to_string().contains("arc/data/0"), "{err}");
}

#[test]
fn tolerates_bytes_before_the_archive() {
    let mut file = noise(1000, 3);
    file.extend(sample());
    let index = ZipIndex::parse(&file).unwrap();
    for (name, data) in records() {
        assert_eq!(
            &*read_entry(&file, index.get(name).unwrap(), 0).unwrap(),
            &data[..]
        );
    }
}

#[test]
fn zero_crc_is_not_checked() {
    let mut file = sample();
    let index = ZipIndex::parse(&file).unwrap();
    let mut e = index.get("data/2").unwrap().clone();
    e.crc32 = 0;
    let at = e.data_offset(&file).unwrap() as usize;
    file[at] ^= 1;
    verify_crc(&e, &read_entry(&file, &e, 0).unwrap()).unwrap();
}

// ---- hostile input: every case is a typed error, never a panic ----

#[test]
fn empty_and_random_bytes() {
    assert_eq!(kind(ZipIndex::parse(&[])), ErrorKind::MalformedZip);
    for (n, seed) in [(1, 1), (21, 2), (22, 3), (100, 4), (70_000, 5)] {
        assert!(ZipIndex::parse(&noise(n, seed)).is_err());
    }
    // Random bytes behind a valid-looking signature.
    let mut f = noise(500, 9);
    f.extend(0x0605_4b50u32.to_le_bytes());
    f.extend(noise(18, 10));
    f.extend([0, 0]);
    assert!(ZipIndex::parse(&f).is_err());
}

#[test]
fn hostile_entry_counts() {
    let mut file = sample();
    let z = zip64_eocd(&file);
    put_u64(&mut file, z + 32, 0xFFFF_FFFF);
    assert_eq!(kind(ZipIndex::parse(&file)), ErrorKind::MalformedZip);
    put_u64(&mut file, z + 32, u64::MAX);
    assert_eq!(kind(ZipIndex::parse(&file)), ErrorKind::MalformedZip);
    // A classic-only EOCD claiming 65535 entries in an empty directory.
    let mut eocd = 0x0605_4b50u32.to_le_bytes().to_vec();
    eocd.extend([0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF]);
    eocd.extend([0u8; 10]);
    assert_eq!(kind(ZipIndex::parse(&eocd)), ErrorKind::MalformedZip);
    // An empty archive has no prefix.
    eocd[8..10].copy_from_slice(&[0, 0]);
    eocd[10..12].copy_from_slice(&[0, 0]);
    assert_eq!(kind(ZipIndex::parse(&eocd)), ErrorKind::MalformedZip);
}

#[test]
fn directory_offset_past_eof() {
    let mut file = sample();
    let z = zip64_eocd(&file);
    put_u64(&mut file, z + 48, 1 << 40);
    assert_eq!(kind(ZipIndex::parse(&file)), ErrorKind::Truncated);
    let mut file = sample();
    put_u64(&mut file, z + 40, 1 << 40); // directory size
    assert!(ZipIndex::parse(&file).is_err());
}

#[test]
fn local_header_offset_past_eof() {
    let mut file = sample();
    let cd = cd_offset(&file);
    put_u32(&mut file, cd + 42, 0xFFFF_FFF0);
    let err = ZipIndex::parse(&file).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Truncated);
    assert!(err.to_string().contains("archive/data.pkl"), "{err}");
    // The 0xFFFFFFFF marker without a zip64 field is malformed.
    put_u32(&mut file, cd + 42, 0xFFFF_FFFF);
    assert_eq!(kind(ZipIndex::parse(&file)), ErrorKind::MalformedZip);
}

#[test]
fn record_data_past_eof() {
    let mut file = sample();
    let cd = cd_offset(&file);
    put_u32(&mut file, cd + 20, 0x7FFF_0000);
    put_u32(&mut file, cd + 24, 0x7FFF_0000);
    let err = ZipIndex::parse(&file).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Truncated);
    assert!(err.to_string().contains("record archive/data.pkl"), "{err}");
    // Stored with different sizes.
    put_u32(&mut file, cd + 24, 5);
    assert_eq!(kind(ZipIndex::parse(&file)), ErrorKind::MalformedZip);
}

#[test]
fn every_truncation_is_an_error() {
    // Every prefix of a small archive, and a stride through the 100 KB one.
    let mut zw = ZipWriter::new(Vec::new(), "archive");
    for (name, data) in records().iter().filter(|(_, d)| d.len() < 1000) {
        zw.write_record(name, &[data]).unwrap();
    }
    let small = zw.finish().unwrap();
    let deflated = zip_crate_archive(
        &[("m/a", &[1u8; 3000][..]), ("m/b", b"x")],
        zip::CompressionMethod::Deflated,
    );
    let full = sample();
    let lengths = (0..small.len())
        .map(|n| (&small, n))
        .chain((0..deflated.len()).map(|n| (&deflated, n)))
        .chain((0..full.len()).step_by(997).map(|n| (&full, n)))
        .chain((full.len() - 300..full.len()).map(|n| (&full, n)));
    for (file, len) in lengths {
        assert!(
            ZipIndex::parse(&file[..len]).is_err(),
            "prefix of {len} bytes parsed"
        );
    }
}

#[test]
fn bad_crc() {
    let mut file = sample();
    let index = ZipIndex::parse(&file).unwrap();
    let e = index.get("data/2").unwrap().clone();
    let at = e.data_offset(&file).unwrap() as usize;
    file[at + 500] ^= 0x40;
    let data = read_entry(&file, &e, 0).unwrap();
    let err = verify_crc(&e, &data).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ChecksumMismatch);
    assert!(err.to_string().contains("archive/data/2"), "{err}");
}

#[test]
fn deflate_limits_and_corruption() {
    let zeros = vec![0u8; 1 << 20];
    let file = zip_crate_archive(&[("m/bomb", &zeros[..])], zip::CompressionMethod::Deflated);
    let index = ZipIndex::parse(&file).unwrap();
    let e = index.get("bomb").unwrap();
    assert!(e.compressed_size < 10_000);
    let err = read_entry(&file, e, 1000).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ResourceLimit);
    assert_eq!(read_entry(&file, e, 1 << 20).unwrap().len(), 1 << 20);
    // Declared size smaller or larger than what the stream holds.
    for size in [0, 1000, (1 << 20) - 1, (1 << 20) + 1] {
        let mut lying = e.clone();
        lying.size = size;
        let err = read_entry(&file, &lying, NO_LIMIT).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::MalformedZip, "declared {size}");
    }
    // A stream cut short, and garbage instead of deflate.
    let mut short = e.clone();
    short.compressed_size /= 2;
    assert_eq!(
        read_entry(&file, &short, NO_LIMIT).unwrap_err().kind(),
        ErrorKind::MalformedZip
    );
    let mut garbage = file.clone();
    let at = e.data_offset(&file).unwrap() as usize;
    garbage[at..at + 64].copy_from_slice(&[0xFF; 64]);
    assert_eq!(
        read_entry(&garbage, e, NO_LIMIT).unwrap_err().kind(),
        ErrorKind::MalformedZip
    );
    // An entry pointing past the file.
    let mut past = e.clone();
    past.header_offset = u64::MAX - 3;
    assert_eq!(
        read_entry(&file, &past, NO_LIMIT).unwrap_err().kind(),
        ErrorKind::Truncated
    );
}

#[test]
fn unsupported_method_and_encryption_refused_when_read() {
    let mut file = sample();
    let cd = cd_offset(&file);
    file[cd + 10] = 14;
    let index = ZipIndex::parse(&file).unwrap();
    let err = read_entry(&file, index.get("data.pkl").unwrap(), NO_LIMIT).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UnsupportedFormat);
    assert!(err.to_string().contains("archive/data.pkl"), "{err}");
    assert!(err.to_string().contains("method 14 (LZMA)"), "{err}");
    file[cd + 10] = 0;
    file[cd + 8] |= 1;
    let index = ZipIndex::parse(&file).unwrap();
    let err = read_entry(&file, index.get("data.pkl").unwrap(), NO_LIMIT).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UnsupportedFormat);
    assert!(err.to_string().contains("archive/data.pkl"), "{err}");
    assert!(err.to_string().contains("encrypted"), "{err}");
}

#[test]
fn prefix_rules() {
    let file = zip_crate_archive(&[("data.pkl", b"x")], zip::CompressionMethod::Stored);
    let err = ZipIndex::parse(&file).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::MalformedZip);
    assert!(err.to_string().contains("not in a subdirectory"), "{err}");
    // Directory entries are kept; the prefix comes from the first entry.
    let file = zip_crate_archive(
        &[
            ("ck/", b""),
            ("ck/data.pkl", b"x"),
            ("other/version", b"3\n"),
        ],
        zip::CompressionMethod::Stored,
    );
    let index = ZipIndex::parse(&file).unwrap();
    assert_eq!(index.prefix(), "ck");
    assert!(index.get("data.pkl").is_some());
    assert!(index.get("version").is_none());
    assert_eq!(index.entries().len(), 3);
}

#[test]
fn duplicate_names_are_refused() {
    let mut zw = ZipWriter::new(Vec::new(), "a");
    zw.write_record("x", &[b"1"]).unwrap();
    zw.write_record("x", &[b"2"]).unwrap();
    let file = zw.finish().unwrap();
    assert_eq!(kind(ZipIndex::parse(&file)), ErrorKind::MalformedZip);
}

#[test]
fn deflated_size_beyond_deflate_ratio_is_refused_before_allocating() {
    // 100 compressed bytes cannot inflate to 1 TB: refused without reserving memory.
    // A local header for the record (so the refusal is the ratio's, not the header's), then
    // 100 bytes of "compressed" data.
    let mut file = vec![0u8; 38 + 100];
    file[..4].copy_from_slice(&0x0403_4b50u32.to_le_bytes());
    file[26..28].copy_from_slice(&8u16.to_le_bytes());
    file[30..38].copy_from_slice(b"a/data/0");
    let entry = super::read::Entry {
        name: "a/data/0".into(),
        raw_name: b"a/data/0".to_vec(),
        method: Method::Deflated,
        encrypted: false,
        header_offset: 0,
        dir_start: u64::MAX,
        compressed_size: 100,
        size: 1 << 40,
        crc32: 0,
    };
    match read_entry(&file, &entry, u64::MAX) {
        Err(e) => {
            assert_eq!(e.kind(), ErrorKind::MalformedZip, "{e}");
            assert!(e.to_string().contains("1099511627776"), "{e}");
        }
        Ok(_) => panic!("accepted a 1 TB claim"),
    }
}
