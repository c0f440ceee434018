//! Interop with real PyTorch: files we write are read by `torch.load(weights_only=True)` and
//! must describe exactly as we do (values, dtype, shape, stride, offset, sharing, location,
//! every non-tensor value); every torch-written fixture we re-save must come back identical.
//! Needs a python with torch (TENSORPORT_PYTHON, the CI venv, or python3); without one each
//! test prints that it skipped, and with TENSORPORT_REQUIRE_TORCH=1 it fails instead.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::{fixtures_dir, manifest, torch_python};
use serde_json::Value as Json;
use tensorport::checkpoint::{save_with, Checkpoint, OpenOptions, SaveOptions};
use tensorport::{Complex128, Complex64};
use tensorport::{DType, Dict, DictKind, Storage, Tensor, TorchDevice, Value};
use tensorport_cli::describe::describe;

/// Runs roundtrip_check.py once over every (file, expected description) pair.
fn check_with_torch(python: &Path, pairs: &[(PathBuf, Json)]) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/roundtrip_check.py");
    let mut cmd = std::process::Command::new(python);
    cmd.arg(&script).arg("--pairs");
    for (file, expected) in pairs {
        let exp = file.with_extension("expected.json");
        std::fs::write(&exp, expected.to_string()).expect("writing expected.json");
        cmd.arg(file).arg(&exp);
    }
    let out = cmd.output().expect("running python");
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "torch disagrees:\n{}{}",
        stdout
            .lines()
            .filter(|l| !l.starts_with("OK"))
            .collect::<Vec<_>>()
            .join("\n"),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Saves `value` and returns the file with the description torch must give it.
fn save_described(
    dir: &Path,
    name: &str,
    value: &Value,
    loc: &dyn Fn(&Storage) -> String,
) -> (PathBuf, Json) {
    let path = dir.join(name);
    save_with(
        value,
        &path,
        &SaveOptions {
            location_of: Some(loc),
            ..SaveOptions::default()
        },
    )
    .expect("save");
    let mut doc = describe(value, loc, &|_| None).expect("describe");
    doc["ok"] = Json::Bool(true);
    (path, doc)
}

fn s(x: &str) -> Value {
    Value::str(x)
}
fn t(x: Tensor) -> Value {
    Value::Tensor(x)
}
fn dict(kind: DictKind, items: Vec<(Value, Value)>) -> Value {
    let mut d = Dict::new(kind);
    for (k, v) in items {
        d.insert(k, v).expect("hashable key");
    }
    Value::Dict(Arc::new(d))
}

/// One tensor of every dtype, with bytes that exercise each format (inf, nan, -0.0, extremes).
fn every_dtype() -> Value {
    let mut items = Vec::new();
    for d in DType::ALL {
        let n = 7 * d.size();
        let mut bytes: Vec<u8> = (0..n).map(|i| (i * 37 + 11) as u8).collect();
        match d {
            DType::Bool => bytes = vec![0, 1, 1, 0, 1, 0, 0],
            DType::F32 => {
                bytes = bytemuck::cast_slice(&[
                    f32::INFINITY,
                    f32::NEG_INFINITY,
                    f32::NAN,
                    -0.0,
                    f32::MAX,
                    f32::MIN_POSITIVE / 2.0,
                    1.5,
                ])
                .to_vec()
            }
            DType::F64 => {
                bytes = bytemuck::cast_slice(&[
                    f64::INFINITY,
                    -f64::INFINITY,
                    f64::NAN,
                    -0.0,
                    f64::MAX,
                    5e-324,
                    1.5,
                ])
                .to_vec()
            }
            DType::C64 => {
                bytes = bytemuck::cast_slice(&[Complex64 { re: 1.0, im: -2.0 }; 7]).to_vec()
            }
            DType::C128 => {
                bytes = bytemuck::cast_slice(
                    &[Complex128 {
                        re: f64::NAN,
                        im: 0.5,
                    }; 7],
                )
                .to_vec()
            }
            _ => {}
        }
        let x = Tensor::from_raw_bytes(d, &[7], &bytes).expect("tensor");
        items.push((s(d.name()), t(x)));
    }
    dict(DictKind::Dict, items)
}

fn views_and_sharing() -> Value {
    let base = Tensor::from_vec((0..16).map(|x| x as f32).collect(), &[4, 4]).expect("base");
    let st = base.storage().clone();
    let view = |off, shape: Vec<usize>, stride: Vec<usize>| {
        Tensor::from_storage(st.clone(), DType::F32, off, shape, stride).expect("view")
    };
    let param = Tensor::from_vec(vec![1.0f64, 2.0], &[2])
        .expect("param")
        .with_parameter(true)
        .with_requires_grad(true);
    dict(
        DictKind::OrderedDict,
        vec![
            (s("base"), t(base.clone())),
            (s("slice"), t(view(5, vec![3, 2], vec![4, 1]))),
            (s("transpose"), t(view(0, vec![4, 4], vec![1, 4]))),
            (s("expand"), t(view(2, vec![3, 4], vec![0, 1]))),
            (s("scalar"), t(view(7, vec![], vec![]))),
            (s("tied"), t(base)),
            (
                s("empty"),
                t(Tensor::zeros(DType::I64, &[0, 3]).expect("empty")),
            ),
            (s("param"), t(param)),
            (
                s("grad"),
                t(Tensor::from_vec(vec![3.0f32], &[1])
                    .expect("g")
                    .with_requires_grad(true)),
            ),
        ],
    )
}

fn training_checkpoint() -> Value {
    let w = Tensor::from_vec(vec![0.5f32; 6], &[2, 3]).expect("w");
    let mut sd = Dict::new(DictKind::OrderedDict);
    sd.insert(s("fc.weight"), t(w.clone())).expect("key");
    let meta = dict(
        DictKind::OrderedDict,
        vec![
            (
                s(""),
                dict(DictKind::Dict, vec![(s("version"), Value::Int(1))]),
            ),
            (
                s("fc"),
                dict(DictKind::Dict, vec![(s("version"), Value::Int(1))]),
            ),
        ],
    );
    sd.set_attr("_metadata", meta);
    let step = Tensor::from_vec(vec![2.0f32], &[]).expect("step");
    let state = dict(
        DictKind::Dict,
        vec![(
            Value::Int(0),
            dict(
                DictKind::Dict,
                vec![(s("step"), t(step)), (s("exp_avg"), t(w))],
            ),
        )],
    );
    dict(
        DictKind::Dict,
        vec![
            (s("epoch"), Value::Int(5)),
            (s("model_state_dict"), Value::Dict(Arc::new(sd))),
            (
                s("optimizer"),
                dict(DictKind::Dict, vec![(s("state"), state)]),
            ),
            (s("loss"), Value::Float(0.25)),
            (s("best"), Value::Float(f64::INFINITY)),
            (s("nan"), Value::Float(f64::NAN)),
            (s("note"), s("ünïcødé ✓")),
            (
                s("tags"),
                Value::Tuple(Arc::from(vec![
                    s("a"),
                    Value::Int(1),
                    Value::None,
                    Value::Bool(true),
                ])),
            ),
            (
                s("ids"),
                Value::Set(Arc::from(vec![Value::Int(1), Value::Int(2), Value::Int(3)])),
            ),
            (
                s("list"),
                Value::List(Arc::from(vec![
                    Value::Int(-1),
                    Value::Int(256),
                    Value::Int(65536),
                    Value::Int(-(1 << 40)),
                    Value::Int(i64::MAX),
                ])),
            ),
            (s("c"), Value::Complex(1.0, 2.0)),
            (s("raw"), Value::Bytes(Arc::from(&b"\x00\xffbytes"[..]))),
            (s("size"), Value::Size(Arc::from(vec![2i64, 3]))),
            (s("dt"), Value::DType(DType::F16)),
            (
                s("dev"),
                Value::Device(TorchDevice::parse("cuda:1").expect("device")),
            ),
            (
                s("big"),
                Value::BigInt(Arc::from(vec![0u8, 0, 0, 0, 0, 0, 0, 0, 0x40])),
            ),
        ],
    )
}

#[test]
fn our_files_load_in_torch_identically() {
    let Some(py) = torch_python() else {
        common::skip_notice("no python with torch (set TENSORPORT_PYTHON or run .ci/run)");
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let cpu = |s: &Storage| s.device().location_tag();
    // Location tags as a GPU-saving torch writes them: torch reads them back through the
    // map_location callable that describe.py installs, so this needs no GPU.
    let gpu = |s: &Storage| {
        if s.nbytes().is_multiple_of(8) {
            "cuda:1".into()
        } else {
            "cuda:0".into()
        }
    };
    let pairs = vec![
        save_described(dir.path(), "dtypes.pt", &every_dtype(), &cpu),
        save_described(dir.path(), "views.pt", &views_and_sharing(), &cpu),
        save_described(dir.path(), "training.pt", &training_checkpoint(), &cpu),
        save_described(dir.path(), "cuda_tags.pt", &every_dtype(), &gpu),
    ];
    check_with_torch(&py, &pairs);
}

#[test]
fn torch_fixtures_survive_our_rewrite() {
    let Some(py) = torch_python() else {
        common::skip_notice("no python with torch (set TENSORPORT_PYTHON or run .ci/run)");
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let m = manifest();
    let mut pairs = Vec::new();
    for (name, spec) in m["files"].as_object().expect("files") {
        if spec["expect"] != "ok" {
            continue;
        }
        let ckpt = Checkpoint::open_with(fixtures_dir().join(name), &OpenOptions::default())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let loc = |s: &Storage| {
            ckpt.storage_info(s)
                .map_or_else(|| s.device().location_tag(), |i| i.location.clone())
        };
        let out = dir.path().join(name.replace('/', "_"));
        save_with(
            ckpt.value(),
            &out,
            &SaveOptions {
                location_of: Some(&loc),
                ..SaveOptions::default()
            },
        )
        .unwrap_or_else(|e| panic!("{name}: {e}"));
        pairs.push((out, spec["describe"].clone()));
    }
    assert!(pairs.len() >= 10, "only {} fixtures", pairs.len());
    check_with_torch(&py, &pairs);
}
