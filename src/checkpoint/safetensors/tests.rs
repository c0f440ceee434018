//! The reader and writer against the reference implementation (the `safetensors` crate, which
//! Python's `safetensors` package wraps): our files are byte-identical to its, its files read
//! back exactly, and every header it refuses we refuse too, with the tensor named.

use std::borrow::Cow;

use super::*;
use crate::checkpoint::{Checkpoint, OpenOptions, StateDict};
use crate::dtype::DType;
use crate::error::{Error, ErrorKind};
use crate::tensor::Tensor;

fn sample() -> StateDict {
    let mut sd = StateDict::new();
    let f: Vec<f32> = (0..12).map(|i| i as f32 * 0.5 - 2.0).collect();
    sd.insert("conv.weight", Tensor::from_slice(&f, &[3, 4]).unwrap());
    sd.insert(
        "bn.num_batches_tracked",
        Tensor::from_slice(&[7i64], &[]).unwrap(),
    );
    sd.insert(
        "mask",
        Tensor::from_bools(&[true, false, true], &[3]).unwrap(),
    );
    let h: Vec<half::f16> = (0..5).map(|i| half::f16::from_f32(i as f32)).collect();
    sd.insert("half", Tensor::from_slice(&h, &[5]).unwrap());
    sd.insert("empty", Tensor::from_slice::<f32>(&[], &[0, 3]).unwrap());
    sd
}

struct V<'a>(&'a Tensor);

impl safetensors::View for V<'_> {
    fn dtype(&self) -> safetensors::Dtype {
        use safetensors::Dtype as D;
        match self.0.dtype() {
            DType::F32 => D::F32,
            DType::I64 => D::I64,
            DType::Bool => D::BOOL,
            DType::F16 => D::F16,
            DType::U8 => D::U8,
            other => panic!("test dtype {other}"),
        }
    }
    fn shape(&self) -> &[usize] {
        self.0.shape()
    }
    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Owned(self.0.contiguous_bytes().unwrap().into_owned())
    }
    fn data_len(&self) -> usize {
        self.0.numel() * self.0.dtype().size()
    }
}

fn reference_bytes(sd: &StateDict, meta: &[(&str, &str)]) -> Vec<u8> {
    let info = (!meta.is_empty()).then(|| {
        meta.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    });
    safetensors::serialize(sd.iter().map(|(n, t)| (n.to_string(), V(t))), info).unwrap()
}

fn open_bytes(bytes: &[u8]) -> crate::error::Result<Checkpoint> {
    Checkpoint::from_bytes(bytes, &OpenOptions::default())
}

#[test]
fn our_file_is_the_reference_bytes() {
    let dir = tempfile::tempdir().unwrap();
    for meta in [vec![], vec![("format", "pt")]] {
        let path = dir.path().join("m.safetensors");
        let opts = SafetensorsOptions {
            metadata: meta
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Default::default()
        };
        save_safetensors(&sample(), &path, &opts).unwrap();
        assert_eq!(
            std::fs::read(&path).unwrap(),
            reference_bytes(&sample(), &meta)
        );
    }
}

#[test]
fn reference_file_reads_back_exactly() {
    let bytes = reference_bytes(&sample(), &[("format", "pt"), ("note", "x\ny")]);
    let ck = open_bytes(&bytes).unwrap();
    assert_eq!(ck.format(), crate::checkpoint::Format::Safetensors);
    let sd = ck.state_dict().unwrap();
    let names: Vec<&str> = sd.keys().collect();
    // load_file's order: by name.
    assert_eq!(
        names,
        [
            "bn.num_batches_tracked",
            "conv.weight",
            "empty",
            "half",
            "mask"
        ]
    );
    for (name, want) in sample().iter() {
        let got = sd.get(name).unwrap();
        assert_eq!(got.dtype(), want.dtype(), "{name}");
        assert_eq!(got.shape(), want.shape(), "{name}");
        assert_eq!(
            got.contiguous_bytes().unwrap(),
            want.contiguous_bytes().unwrap(),
            "{name}"
        );
    }
    let mut meta = ck.metadata().unwrap().to_vec();
    meta.sort();
    assert_eq!(
        meta,
        [
            ("format".to_string(), "pt".to_string()),
            ("note".to_string(), "x\ny".to_string())
        ]
    );
}

#[test]
fn reference_reader_reads_ours() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    save_safetensors(&sample(), &path, &SafetensorsOptions::default()).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let t = st.tensor("conv.weight").unwrap();
    assert_eq!(t.shape(), &[3, 4]);
    assert_eq!(
        t.data(),
        &*sample()
            .get("conv.weight")
            .unwrap()
            .contiguous_bytes()
            .unwrap()
    );
}

#[test]
fn tensors_are_windows_of_the_mapped_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    std::fs::write(&path, reference_bytes(&sample(), &[])).unwrap();
    let ck = Checkpoint::open(&path).unwrap();
    let sd = ck.state_dict().unwrap();
    assert!(sd.get("conv.weight").unwrap().storage().is_mapped());
}

#[test]
fn shared_tensors_are_refused_or_deduplicated_like_save_model() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tied.safetensors");
    let w = Tensor::from_slice(&[1f32, 2., 3., 4.], &[2, 2]).unwrap();
    let mut sd = StateDict::new();
    sd.insert("embed.weight", w.clone());
    sd.insert("head.weight", w.clone());
    sd.insert("bias", Tensor::from_slice(&[0f32; 2], &[2]).unwrap());
    let err = save_safetensors(&sd, &path, &SafetensorsOptions::default()).unwrap_err();
    assert!(
        err.to_string()
            .contains("\"embed.weight\", \"head.weight\""),
        "{err}"
    );
    assert!(!path.exists());
    let opts = SafetensorsOptions {
        shared: SharedPolicy::Dedupe,
        ..Default::default()
    };
    let dropped = save_safetensors(&sd, &path, &opts).unwrap();
    assert_eq!(
        dropped,
        [("head.weight".to_string(), "embed.weight".to_string())]
    );
    let ck = Checkpoint::open(&path).unwrap();
    assert_eq!(ck.state_dict().unwrap().len(), 2);
    assert_eq!(
        ck.metadata().unwrap(),
        [("head.weight".to_string(), "embed.weight".to_string())]
    );
    // Halves of one storage do not overlap: both are written.
    let whole = Tensor::from_slice(&[1f32, 2., 3., 4.], &[4]).unwrap();
    let (s, dt) = (whole.storage().clone(), DType::F32);
    let mut halves = StateDict::new();
    halves.insert(
        "a",
        Tensor::from_storage(s.clone(), dt, 0, vec![2], vec![1]).unwrap(),
    );
    halves.insert(
        "b",
        Tensor::from_storage(s.clone(), dt, 2, vec![2], vec![1]).unwrap(),
    );
    save_safetensors(&halves, &path, &SafetensorsOptions::default()).unwrap();
    // Overlapping views, none whole: no name can stand for the others.
    let mut parts = StateDict::new();
    parts.insert(
        "a",
        Tensor::from_storage(s.clone(), dt, 0, vec![3], vec![1]).unwrap(),
    );
    parts.insert(
        "b",
        Tensor::from_storage(s, dt, 1, vec![3], vec![1]).unwrap(),
    );
    let err = save_safetensors(&parts, &path, &opts).unwrap_err();
    assert!(
        err.to_string().contains("none covers the whole storage"),
        "{err}"
    );
}

#[test]
fn non_contiguous_tensors_are_refused_unless_forced() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.safetensors");
    let base = Tensor::from_slice(&[1f32, 2., 3., 4., 5., 6.], &[2, 3]).unwrap();
    let t = Tensor::from_storage(
        base.storage().clone(),
        DType::F32,
        0,
        vec![3, 2],
        vec![1, 3],
    )
    .unwrap();
    let mut sd = StateDict::new();
    sd.insert("t", t);
    let err = save_safetensors(&sd, &path, &SafetensorsOptions::default()).unwrap_err();
    assert!(err.to_string().contains("\"t\" is not contiguous"), "{err}");
    let opts = SafetensorsOptions {
        force_contiguous: true,
        ..Default::default()
    };
    save_safetensors(&sd, &path, &opts).unwrap();
    let got = Checkpoint::open(&path).unwrap().state_dict().unwrap();
    assert_eq!(
        got.get("t").unwrap().to_vec::<f32>().unwrap(),
        [1., 4., 2., 5., 3., 6.]
    );
}

#[test]
fn complex128_has_no_safetensors_dtype() {
    let dir = tempfile::tempdir().unwrap();
    let t = Tensor::zeros(DType::C128, &[2]).unwrap();
    let mut sd = StateDict::new();
    sd.insert("z", t);
    let err =
        save_safetensors(&sd, dir.path().join("z"), &SafetensorsOptions::default()).unwrap_err();
    assert!(err.to_string().contains("tensor \"z\""), "{err}");
}

/// A file with `header` as its JSON and `data` after it.
fn file(header: &str, data: &[u8]) -> Vec<u8> {
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out
}

fn refused(bytes: &[u8]) -> (ErrorKind, String) {
    let reference = safetensors::SafeTensors::deserialize(bytes);
    let ours = open_bytes(bytes);
    let Err(Error::Checkpoint(e)) = ours else {
        panic!("accepted or not a checkpoint error: {:?}", ours.err());
    };
    // Whatever we refuse, the reference refuses too (and the hostile cases below are ones it
    // refuses): we never read a file another reader would read differently.
    assert!(reference.is_err(), "the reference reads it; we said {e}");
    (e.kind(), e.to_string())
}

#[test]
fn hostile_headers_are_refused_with_the_tensor_named() {
    let t = |dtype: &str, shape: &str, s: u64, e: u64| {
        format!(r#"{{"dtype":"{dtype}","shape":{shape},"data_offsets":[{s},{e}]}}"#)
    };
    let cases: Vec<(Vec<u8>, ErrorKind, &str)> = vec![
        (
            file(&format!(r#"{{"w":{}}}"#, t("Q9", "[1]", 0, 4)), &[0; 4]),
            ErrorKind::MalformedSafetensors,
            "tensor \"w\": dtype \"Q9\"",
        ),
        (
            file(
                &format!(
                    r#"{{"a":{},"b":{}}}"#,
                    t("F32", "[2]", 0, 8),
                    t("F32", "[2]", 4, 12)
                ),
                &[0; 12],
            ),
            ErrorKind::MalformedSafetensors,
            "overlap",
        ),
        (
            file(&format!(r#"{{"a":{}}}"#, t("F32", "[2]", 0, 8)), &[0; 4]),
            ErrorKind::StorageBounds,
            "run past the end",
        ),
        (
            file(&format!(r#"{{"a":{}}}"#, t("F32", "[3]", 0, 8)), &[0; 8]),
            ErrorKind::StorageBounds,
            "hold 8 bytes; F32 [3] needs 12",
        ),
        (
            file(
                &format!(
                    r#"{{"a":{}}}"#,
                    t("F32", "[4294967296,4294967296,16]", 0, 8)
                ),
                &[0; 8],
            ),
            ErrorKind::SizeOverflow,
            "tensor \"a\"",
        ),
        (
            file(&format!(r#"{{"a":{}}}"#, t("U8", "[2]", 2, 4)), &[0; 4]),
            ErrorKind::MalformedSafetensors,
            "leaving bytes 0..2",
        ),
        (
            file(&format!(r#"{{"a":{}}}"#, t("U8", "[2]", 0, 2)), &[0; 5]),
            ErrorKind::MalformedSafetensors,
            "cover 2 bytes of data but the file holds 5",
        ),
        (
            file(
                &format!(
                    r#"{{"a":{},"a":{}}}"#,
                    t("U8", "[2]", 0, 2),
                    t("U8", "[2]", 2, 4)
                ),
                &[0; 4],
            ),
            ErrorKind::MalformedSafetensors,
            "names \"a\" twice",
        ),
        (
            file(r#"{"a":{"dtype":"F32","shape":[1]}}"#, &[0; 4]),
            ErrorKind::MalformedSafetensors,
            "tensor \"a\"",
        ),
        (
            file(r#"{"__metadata__":{"k":1}}"#, &[]),
            ErrorKind::MalformedSafetensors,
            "not valid JSON",
        ),
    ];
    for (bytes, kind, needle) in cases {
        let (k, msg) = refused(&bytes);
        assert_eq!(k, kind, "{msg}");
        assert!(msg.contains(needle), "{msg:?} lacks {needle:?}");
    }
}

#[test]
fn huge_or_truncated_headers_are_refused_before_reading() {
    // A header that claims more bytes than the file holds.
    let mut short = 1000u64.to_le_bytes().to_vec();
    short.extend_from_slice(b"{\"a\":");
    let (k, msg) = refused(&short);
    assert_eq!(k, ErrorKind::Truncated, "{msg}");
    // The sniffer leaves a file whose header claims more than the format's cap to the other
    // readers; the safetensors reader itself refuses it by the claim alone.
    let mut huge = (MAX_HEADER_PLUS_ONE).to_le_bytes().to_vec();
    huge.push(b'{');
    let e = header::parse(&huge).unwrap_err();
    assert!(e.to_string().contains("at most 100000000"), "{e}");
    assert!(!sniff(&huge));
}

const MAX_HEADER_PLUS_ONE: u64 = header::MAX_HEADER + 1;

#[test]
fn a_header_of_ten_thousand_tensors_reads() {
    // Every check is one pass over the entries after one sort (no per-entry search).
    let n = 10_000;
    let mut h = String::from("{");
    for i in 0..n {
        if i > 0 {
            h.push(',');
        }
        h.push_str(&format!(
            r#""t{i:05}":{{"dtype":"U8","shape":[1],"data_offsets":[{i},{}]}}"#,
            i + 1
        ));
    }
    h.push('}');
    let bytes = file(&h, &vec![0u8; n]);
    let ck = open_bytes(&bytes).unwrap();
    assert_eq!(ck.state_dict().unwrap().len(), n);
}
