//! The zip checkpoint reader against torch's rules: the version record (which one, and how its
//! text is read), the pickle's inflation budget, and storages held once.

use std::borrow::Cow;
use std::io::{Cursor, Write};

use super::parse_version;
use crate::checkpoint::open::{Checkpoint, OpenOptions};
use crate::checkpoint::records::{record_storage, RecordBytes};
use crate::checkpoint::save::{save_with, SaveOptions};
use crate::checkpoint::value::Value;
use crate::checkpoint::zip::alloc_count::peak_during;
use crate::checkpoint::zip::read::{read_entry, Method, ZipIndex};
use crate::checkpoint::zip::write::ZipWriter;
use crate::error::{CheckpointError, Error, ErrorKind};
use crate::storage::Storage;
use crate::tensor::Tensor;

/// A torch.save-layout checkpoint of one f32 tensor `data`, every storage tagged `tag`.
pub(crate) fn saved(data: Vec<f32>, tag: &str) -> Vec<u8> {
    let n = data.len();
    let value = Value::Tensor(Tensor::from_vec(data, &[n]).unwrap());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ckpt.pt");
    let location = |_: &Storage| tag.to_string();
    let opts = SaveOptions {
        location_of: Some(&location),
        ..SaveOptions::default()
    };
    save_with(&value, &path, &opts).unwrap();
    std::fs::read(&path).unwrap()
}

/// `file` rewritten: records named in `set` replaced or added (`None` drops them), every
/// record deflated when `deflate`.
pub(crate) fn rezip(file: &[u8], set: &[(&str, Option<&[u8]>)], deflate: bool) -> Vec<u8> {
    let index = ZipIndex::parse(file).unwrap();
    let prefix = format!("{}/", index.prefix());
    let mut records: Vec<(String, Vec<u8>)> = index
        .entries()
        .iter()
        .map(|e| {
            let rel = e.name.strip_prefix(&prefix).unwrap().to_string();
            (rel, read_entry(file, e, u64::MAX).unwrap().into_owned())
        })
        .collect();
    for (name, data) in set {
        records.retain(|(n, _)| n != name);
        if let Some(d) = data {
            records.push((name.to_string(), d.to_vec()));
        }
    }
    if !deflate {
        let mut zw = ZipWriter::new(Vec::new(), index.prefix());
        for (name, data) in &records {
            zw.write_record(name, &[data]).unwrap();
        }
        return zw.finish().unwrap();
    }
    let mut zw = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, data) in &records {
        zw.start_file(format!("{prefix}{name}"), opts).unwrap();
        zw.write_all(data).unwrap();
    }
    zw.finish().unwrap().into_inner()
}

fn open(bytes: &[u8]) -> crate::error::Result<Checkpoint> {
    Checkpoint::from_bytes(bytes, &OpenOptions::default())
}

fn checkpoint_error(r: crate::error::Result<Checkpoint>) -> CheckpointError {
    match r {
        Err(Error::Checkpoint(e)) => e,
        Err(other) => panic!("not a checkpoint error: {other}"),
        Ok(_) => panic!("opened"),
    }
}

#[test]
fn version_text_is_read_as_std_stoull_reads_it() {
    // Each checked against torch 2.15 (`version` record alone): ok, or the value it reports.
    for (text, want) in [
        (&b"3junk"[..], 3),
        (b" \t\n\x0b\x0c\r3", 3),
        (b"+3", 3),
        (b"3 ", 3),
        (b"3\n", 3),
        (b"003", 3),
        (b"3\0x", 3),
        (b"10", 10),
        (b"11", 11),
        (b"0x3", 0),
        (b"-0", 0),
        (b"-1", u64::MAX),
        (b"18446744073709551615", u64::MAX),
        (b"-18446744073709551615", 1),
    ] {
        assert_eq!(parse_version(text), Ok(want), "{}", text.escape_ascii());
    }
    // torch: "Couldn't parse the version", or IndexError: stoull.
    for text in [
        &b""[..],
        b"junk",
        b"+ 3",
        b"\x003",
        b"\xa03",
        b"99999999999999999999",
    ] {
        assert!(parse_version(text).is_err(), "{}", text.escape_ascii());
    }
}

#[test]
fn version_record_as_torch_reads_it() {
    let base = saved(vec![1.0, 2.0], "cpu");
    let v = |file: &[u8]| open(file).map(|_| ());
    // Trailing junk after the number, as torch reads it (refused before).
    v(&rezip(&base, &[("version", Some(b"3junk"))], false)).unwrap();
    // `.data/version` wins over `version`, both ways.
    let both = |data: &[u8], plain: &[u8]| {
        rezip(
            &base,
            &[("version", Some(plain)), (".data/version", Some(data))],
            false,
        )
    };
    v(&both(b"3\n", b"junk")).unwrap();
    let err = checkpoint_error(open(&both(b"junk", b"3\n")));
    assert_eq!(err.kind(), ErrorKind::UnsupportedFormat);
    let msg = err.to_string();
    assert!(msg.contains("ckpt/.data/version"), "{msg}");
    assert!(
        msg.contains("cannot read the format version from 'junk'"),
        "{msg}"
    );
    v(&rezip(
        &base,
        &[(".data/version", Some(b"3")), ("version", None)],
        false,
    ))
    .unwrap();
    // Out of range: the value and the text it came from.
    let err = checkpoint_error(open(&rezip(&base, &[("version", Some(b"-1"))], false)));
    let msg = err.to_string();
    assert!(msg.contains("18446744073709551615 (from '-1')"), "{msg}");
    assert!(msg.contains("1..=10"), "{msg}");
    let err = checkpoint_error(open(&rezip(&base, &[("version", None)], false)));
    assert_eq!(err.kind(), ErrorKind::MissingRecord);
}

#[test]
fn pickle_inflation_is_capped_by_the_reader_budget() {
    let file = rezip(&saved(vec![1.0; 4], "cpu"), &[], true);
    let pkl_size = ZipIndex::parse(&file)
        .unwrap()
        .get("data.pkl")
        .unwrap()
        .size;
    open(&file).unwrap();
    let mut opts = OpenOptions::default();
    opts.limits.max_bytes = pkl_size - 1;
    let err = match Checkpoint::from_bytes(&file, &opts) {
        Err(Error::Checkpoint(e)) => e,
        _ => panic!("a pickle above max_bytes was inflated"),
    };
    assert_eq!(err.kind(), ErrorKind::ResourceLimit);
    let msg = err.to_string();
    assert!(
        msg.contains("ckpt/data.pkl") && msg.contains("max_bytes"),
        "{msg}"
    );
}

#[test]
fn a_deflated_storage_is_held_once() {
    // 4 MiB of f32 that deflate cannot shrink much: the inflated record becomes the storage.
    let n = 1 << 20;
    let mut s = 0x9e37_79b9_7f4a_7c15u64;
    let data: Vec<f32> = (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 40) as f32
        })
        .collect();
    let file = rezip(&saved(data.clone(), "cpu"), &[], true);
    let entry_method = ZipIndex::parse(&file)
        .unwrap()
        .get("data/0")
        .unwrap()
        .method;
    assert_eq!(entry_method, Method::Deflated);
    let (ckpt, peak) = peak_during(|| open(&file).unwrap());
    let record = 4 * n;
    assert!(
        peak < record + record / 4,
        "peak {peak} bytes to open a {record}-byte deflated record"
    );
    let Value::Tensor(t) = ckpt.value() else {
        panic!("not a tensor")
    };
    assert_eq!(t.to_vec::<f32>().unwrap(), data);
}

#[test]
fn an_inflated_record_is_owned_and_swapped_in_place() {
    let inflated: Vec<u8> = (0..64u8).collect();
    let ptr = inflated.as_ptr();
    let record = RecordBytes {
        method: Method::Deflated,
        data_offset: 0,
        data: Cow::Owned(inflated),
    };
    let s = record_storage(None, &[], record, 4, 4, "storage data/0").unwrap();
    let bytes = s.host_bytes().unwrap();
    assert_eq!(bytes.as_ptr(), ptr, "the inflated buffer was copied");
    assert_eq!(&bytes[..8], &[3, 2, 1, 0, 7, 6, 5, 4]);
}

#[test]
fn an_archive_with_a_name_that_is_not_utf8_is_refused_as_torch_refuses_it() {
    // torch decodes every record name before reading any: one undecodable name, even of a
    // record nothing uses, fails the load (UnicodeDecodeError).
    let file = rezip(&saved(vec![1.0], "cpu"), &[("extraXX", Some(b"x"))], false);
    let mut patched = file.clone();
    let needle = b"/extraXX";
    let mut at = 0;
    while let Some(i) = patched[at..]
        .windows(needle.len())
        .position(|w| w == needle)
    {
        let pos = at + i + needle.len() - 2;
        patched[pos..pos + 2].copy_from_slice(b"\xfe\xff");
        at = pos + 2;
    }
    assert!(open(&file).is_ok());
    let e = checkpoint_error(open(&patched));
    assert_eq!(e.kind(), ErrorKind::MalformedZip, "{e}");
    assert!(e.to_string().contains("extra\\xfe\\xff"), "{e}");
}

/// `Checkpoint::open` reads no local header at open (a page fault each, scattered through the
/// file): a record's header is checked on the first access to its bytes, and a bad one is an
/// error there, never data. `load` still checks every record before it returns.
#[test]
fn open_checks_a_record_header_on_first_access_and_load_at_once() {
    let data: Vec<f32> = (0..1000).map(|i| i as f32 * 0.5).collect();
    let good = saved(data.clone(), "cpu");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ckpt.pt");
    std::fs::write(&path, &good).unwrap();
    let ckpt = Checkpoint::open(&path).unwrap();
    let Value::Tensor(t) = ckpt.value() else {
        panic!("not a tensor")
    };
    assert!(t.storage().is_mapped());
    assert_eq!(t.to_vec::<f32>().unwrap(), data);

    // The storage record's local header names another file than the directory.
    let mut bad = good.clone();
    let name = b"ckpt/data/0";
    let at = bad.windows(name.len()).position(|w| w == name).unwrap();
    bad[at + name.len() - 1] = b'9';
    std::fs::write(&path, &bad).unwrap();
    let ckpt = Checkpoint::open(&path).unwrap();
    let Value::Tensor(t) = ckpt.value() else {
        panic!("not a tensor")
    };
    for _ in 0..2 {
        let err = match t.storage().host_bytes() {
            Err(Error::Checkpoint(e)) => e,
            other => panic!("not a checkpoint error: {:?}", other.map(<[u8]>::len)),
        };
        assert_eq!(err.kind(), ErrorKind::MalformedZip, "{err}");
        assert!(err.to_string().contains("ckpt/data/9"), "{err}");
    }
    assert!(t.to_vec::<f32>().is_err());
    let err = checkpoint_error(crate::checkpoint::open::load(
        &path,
        &crate::MapLocation::Keep,
    ));
    assert_eq!(err.kind(), ErrorKind::MalformedZip, "{err}");
}
