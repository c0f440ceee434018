//! Hostile shapes of the value tree through the CLI (issue 10): shared objects, huge ints,
//! caps, untagged locations. Files are made with tensorport's writer, which keeps `Arc`
//! sharing as pickle memo references, exactly as torch.save does for shared objects; where
//! torch is installed, describe.py must produce the same document as `inspect --json`.

use std::path::Path;
use std::sync::Arc;

use serde_json::Value as Json;
use tensorport::checkpoint::{save, save_with, SaveOptions};
use tensorport::{DType, Dict, DictKind, Storage, Tensor, Value};

use super::{os, run};

fn list(items: Vec<Value>) -> Value {
    Value::List(Arc::from(items))
}

fn dict(items: Vec<(Value, Value)>) -> Value {
    let mut d = Dict::new(DictKind::Dict);
    for (k, v) in items {
        d.insert(k, v).expect("insert");
    }
    Value::Dict(Arc::new(d))
}

fn tensor() -> Value {
    Value::Tensor(Tensor::from_vec(vec![1.0f32, 2.0, 3.0], &[3]).expect("tensor"))
}

/// `inspect --json` of `path`, parsed, with the raw length of the output.
fn inspect_json(path: &Path) -> (Json, usize) {
    let (code, out, err) = run(&[os("inspect"), path.as_os_str(), os("--json")]);
    assert_eq!(code, 0, "{err}{}", &out[..out.len().min(500)]);
    (
        serde_json::from_str(&out).expect("one JSON document"),
        out.len(),
    )
}

/// The document describe.py writes from what torch.load returns, when torch is installed.
fn torch_doc(path: &Path, weights_only: bool) -> Option<Json> {
    let py = super::common::torch_python()?;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/interop/describe.py");
    let mut cmd = std::process::Command::new(py);
    cmd.arg(script).arg(path);
    if !weights_only {
        cmd.arg("--no-weights-only");
    }
    let o = cmd.output().expect("describe.py");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    Some(serde_json::from_slice(&o.stdout).expect("describe.py JSON"))
}

/// Our document equals torch's, storage keys (ours only) aside.
fn same_as_torch(ours: &Json, path: &Path, weights_only: bool) {
    let Some(theirs) = torch_doc(path, weights_only) else {
        super::common::skip_notice("no torch: describe.py comparison");
        return;
    };
    let mut ours = ours.clone();
    if let Some(m) = ours.as_object_mut() {
        // What torch.load has no counterpart of: the container, totals per dtype.
        for k in ["format", "totals", "metadata"] {
            m.remove(k);
        }
    }
    for t in ours["tensors"].as_array_mut().expect("tensors") {
        t.as_object_mut().expect("tensor").remove("storage_key");
    }
    assert!(ours == theirs, "ours and describe.py differ");
}

/// One tensor mentioned 1024 × 1024 times through a shared list: one entry, one hash, a
/// short table (the old walk expanded a million entries and rows).
#[test]
fn a_tensor_shared_a_million_times_is_described_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = dir.path().join("shared.pt");
    let inner = list(vec![tensor(); 1024]);
    save(&dict(vec![(Value::str("l"), list(vec![inner; 1024]))]), &f).expect("save");
    let (doc, len) = inspect_json(&f);
    assert_eq!(doc["tensors"].as_array().map(Vec::len), Some(1));
    assert!(len < 100_000, "{len} bytes");
    let outer = &doc["structure"]["dict"][0][1]["list"];
    assert_eq!(
        outer[1],
        serde_json::json!({"ref": 2}),
        "the inner list is object 2"
    );
    assert!(doc.get("truncated").is_none());
    same_as_torch(&doc, &f, true);

    let (code, out, err) = run(&[os("inspect"), f.as_os_str()]);
    assert_eq!(code, 0, "{err}");
    assert!(out.lines().count() < 2100, "{} lines", out.lines().count());
    let same = out
        .lines()
        .find(|l| l.starts_with("l/1 "))
        .expect("a row for l/1");
    assert!(same.ends_with("  same object as l/0"), "{same}");
    assert!(out.contains("1048576 tensors (1 distinct views)"), "{out}");
}

/// A 1 MiB string referenced 20,000 times is printed once, then as references; as a key of
/// 300 dicts it is cut in the table's key column.
#[test]
fn a_big_string_shared_many_times_is_printed_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = dir.path().join("strings.pt");
    let s = Value::Str(Arc::from("x".repeat(1 << 20)));
    let dicts: Vec<Value> = (0..300)
        .map(|_| dict(vec![(s.clone(), tensor())]))
        .collect();
    let v = dict(vec![
        (Value::str("refs"), list(vec![s.clone(); 20_000])),
        (Value::str("keys"), list(dicts)),
    ]);
    save(&v, &f).expect("save");
    let (doc, len) = inspect_json(&f);
    assert!(len < 2 << 20, "{len} bytes");
    // Objects 0, 1, 2: the top dict, the list, the string.
    assert_eq!(doc["structure"]["dict"][0][1]["list"][1]["ref"], 2);
    let path0 = doc["tensors"][0]["path"][2].as_str().expect("path step");
    assert!(path0.ends_with("...(1048576 characters)") && path0.len() < 300);
    same_as_torch(&doc, &f, true);

    let (code, out, err) = run(&[os("inspect"), f.as_os_str()]);
    assert_eq!(code, 0, "{err}");
    assert!(out.len() < 200_000, "{} bytes of table", out.len());
    assert!(out.contains("...(1048576 characters)"));
}

/// A legacy-format file (no CRCs to fix up) whose object is
/// `{<LONG4 of `le`>: "v", "small": 2**70}`; tensorport's writer refuses LONG4, as torch's
/// weights-only loader does.
fn legacy_with_long4(le: &[u8]) -> Vec<u8> {
    let mut f: Vec<u8> = Vec::new();
    f.extend_from_slice(b"\x80\x02\x8a\nl\xfc\x9cF\xf9 j\xa8P\x19.\x80\x02M\xe9\x03.");
    f.extend_from_slice(b"\x80\x02}q\x00(X\x10\x00\x00\x00protocol_versionq\x01M\xe9\x03");
    f.extend_from_slice(b"X\r\x00\x00\x00little_endianq\x02\x88X\n\x00\x00\x00type_sizesq");
    f.extend_from_slice(b"\x03}q\x04(X\x05\x00\x00\x00shortq\x05K\x02X\x03\x00\x00\x00intq");
    f.extend_from_slice(b"\x06K\x04X\x04\x00\x00\x00longq\x07K\x04uu.");
    f.extend_from_slice(b"\x80\x02}q\x00(\x8b");
    f.extend_from_slice(&(le.len() as u32).to_le_bytes());
    f.extend_from_slice(le);
    f.extend_from_slice(b"X\x01\x00\x00\x00vX\x05\x00\x00\x00small\x8a\x09");
    f.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0x40]);
    f.extend_from_slice(b"u.\x80\x02]q\x00.");
    f
}

/// A 128 KiB int (LONG4, ~100 s in the old quadratic decimal printer) prints in linear time:
/// hex past CPython's 4300 digits, in the JSON (`int_hex`, as describe.py) and in the table's
/// summary of keys (`0x...`, cut).
#[test]
fn huge_ints_print_in_hex_quickly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = dir.path().join("bigint.pt");
    let mut le = vec![0u8; 128 << 10];
    le[(128 << 10) - 1] = 0x40;
    std::fs::write(&f, legacy_with_long4(&le)).expect("write");
    let (doc, _) = inspect_json(&f);
    let hex = doc["structure"]["dict"][0][0]["int_hex"]
        .as_str()
        .expect("int_hex");
    assert_eq!(hex, format!("4{}", "0".repeat((128 << 11) - 1)));
    assert_eq!(
        doc["structure"]["dict"][1][1]["int"],
        "1180591620717411303424"
    );
    // torch's weights-only unpickler has no LONG4: compare with plain pickle.
    same_as_torch(&doc, &f, false);
    let (code, out, err) = run(&[os("inspect"), f.as_os_str()]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("(0x4000000") && out.contains("...(262146 characters)"),
        "{out}"
    );
}

/// Past a million units the rest of a container is `{"omitted": N}` and the document says it
/// is truncated (24000 distinct views 50 lists deep: 55 units each); an expanded view past
/// the hashing budget is "skipped" (one stride-0 view of 2^28 elements over 4 bytes, which
/// the old code materialized: 1 GiB).
#[test]
fn caps_are_applied_with_a_note() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = dir.path().join("caps.pt");
    let one = Storage::from_bytes(&1.0f32.to_le_bytes()).expect("storage");
    let expanded = Tensor::from_storage(one, DType::F32, 0, vec![1 << 28], vec![0]).expect("view");
    let data: Vec<u8> = (0..24000u32)
        .flat_map(|i| (i as f32).to_le_bytes())
        .collect();
    let storage = Storage::from_bytes(&data).expect("storage");
    let views: Vec<Value> = (0..24000)
        .map(|i| {
            let t = Tensor::from_storage(storage.clone(), DType::F32, i, vec![1], vec![1]);
            Value::Tensor(t.expect("view"))
        })
        .collect();
    let mut deep = list(views);
    for _ in 0..50 {
        deep = list(vec![deep]);
    }
    let v = dict(vec![
        (Value::str("expanded"), Value::Tensor(expanded)),
        (Value::str("deep"), deep),
        (Value::str("after"), Value::Int(7)),
    ]);
    save(&v, &f).expect("save");
    let (doc, _) = inspect_json(&f);
    assert_eq!(doc["tensors"][0]["sha256"], "skipped");
    assert_eq!(doc["truncated"], tensorport_cli::describe::TRUNCATED_NOTE);
    let mut bottom = &doc["structure"]["dict"][1][1];
    for _ in 0..50 {
        bottom = &bottom["list"][0];
    }
    let bottom = bottom["list"].as_array().expect("list");
    let shown = bottom.len() - 1;
    assert!(shown > 15000 && shown < 20000, "{shown}");
    assert_eq!(bottom[shown]["omitted"], 24000 - shown);
    assert_eq!(doc["tensors"].as_array().map(Vec::len), Some(shown + 1));
    assert_eq!(
        doc["structure"]["dict"][2],
        serde_json::json!({"omitted": 1})
    );
    same_as_torch(&doc, &f, true);
}

/// `convert` does not copy a location tag torch.load cannot restore: it names the tensor and
/// the tag on one line, and writes the file once the storage is retagged.
#[test]
fn convert_refuses_tags_torch_cannot_restore() {
    let dir = tempfile::tempdir().expect("tempdir");
    for tag in ["cpu:0", "foo:0"] {
        let f = dir.path().join("tagged.pt");
        let v = dict(vec![(Value::str("bad\nkey"), tensor())]);
        let loc = |_: &Storage| tag.to_string();
        save_with(
            &v,
            &f,
            &SaveOptions {
                location_of: Some(&loc),
                ..SaveOptions::default()
            },
        )
        .expect("save");
        let out = dir.path().join(format!("out-{}.pt", &tag[..3]));
        let (code, _, err) = run(&[os("convert"), f.as_os_str(), out.as_os_str()]);
        assert_eq!(code, 1, "{tag}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(tag) && !err.contains("panicked"), "{err}");
        assert!(!out.exists());
        if tag == "cpu:0" {
            assert!(err.contains("tensor 'bad"), "{err}");
            let (code, _, err) = run(&[
                os("convert"),
                f.as_os_str(),
                out.as_os_str(),
                os("--map-location"),
                os("cpu:0=cpu"),
            ]);
            assert_eq!(code, 0, "{err}");
            let (doc, _) = inspect_json(&out);
            assert_eq!(doc["tensors"][0]["location"], "cpu");
            same_as_torch(&doc, &out, true);
        }
    }
}
