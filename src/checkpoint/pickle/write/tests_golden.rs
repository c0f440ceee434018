//! Byte-identity against torch 2.15's own data.pkl for the objects in `golden/gen_golden.py`
//! (built here with the same object sharing), plus an opt-in dump for a real `torch.load`.

use std::sync::Arc;

use crate::checkpoint::pickle::write::{pickle_checkpoint, PickledCheckpoint};
use crate::checkpoint::value::{Dict, DictKind, Value};
use crate::dtype::DType;
use crate::storage::Storage;
use crate::tensor::Tensor;
use crate::torch_device::TorchDevice;

fn s(x: &str) -> Value {
    Value::str(x)
}
fn dict(kind: DictKind, items: Vec<(Value, Value)>) -> Dict {
    let mut d = Dict::new(kind);
    for (k, v) in items {
        d.insert(k, v).unwrap();
    }
    d
}
fn seq(items: Vec<Value>) -> Arc<[Value]> {
    Arc::from(items)
}
fn f32s(v: &[f32], shape: &[usize]) -> Value {
    Value::Tensor(Tensor::from_slice(v, shape).unwrap())
}
fn cpu(_: &Storage) -> String {
    "cpu".into()
}
fn pickle(v: &Value) -> PickledCheckpoint {
    pickle_checkpoint(v, &cpu).unwrap()
}

pub(super) fn state_dict() -> Value {
    let mut sd = dict(
        DictKind::OrderedDict,
        vec![
            (s("w"), f32s(&[0., 1., 2., 3., 4., 5.], &[2, 3])),
            (s("b"), f32s(&[1., 2.], &[2])),
        ],
    );
    let version = dict(DictKind::Dict, vec![(s("version"), Value::Int(1))]);
    let meta = dict(
        DictKind::OrderedDict,
        vec![(s(""), Value::Dict(Arc::new(version)))],
    );
    sd.set_attr("_metadata", Value::Dict(Arc::new(meta)));
    Value::Dict(Arc::new(sd))
}

pub(super) fn training() -> Value {
    let base = Tensor::from_vec((0..12).map(|x| x as f32).collect(), &[3, 4]).unwrap();
    let view = |off, shape: &[usize], strides: &[usize]| {
        Value::Tensor(
            Tensor::from_storage(
                base.storage().clone(),
                DType::F32,
                off,
                shape.to_vec(),
                strides.to_vec(),
            )
            .unwrap(),
        )
    };
    let a = s("a");
    let name = s("name");
    let param = Tensor::from_slice(&[1f32, 2., 3.], &[3])
        .unwrap()
        .with_parameter(true)
        .with_requires_grad(true);
    let f8 = Tensor::from_raw_bytes(DType::F8E4M3Fn, &[2], &[0x38, 0x40]).unwrap();
    let u16s = Tensor::from_slice(&[1u16, 2, 3], &[3]).unwrap();
    let ones = Tensor::from_slice(&[1f32, 1.], &[2])
        .unwrap()
        .with_requires_grad(true);
    let counter = dict(DictKind::Counter, vec![(s("x"), Value::Int(2))]);
    let items = vec![
        (s("epoch"), Value::Int(3)),
        (Value::Int(0), Value::Float(1.5)),
        (Value::Int(1), Value::Float(f64::INFINITY)),
        (Value::Int(2), Value::Float(f64::NAN)),
        (Value::Int(-1), Value::Float(-2.5)),
        (name.clone(), s("héllo ☃")),
        (
            s("tup"),
            Value::Tuple(seq(vec![Value::Int(1), Value::Int(2)])),
        ),
        (
            s("tup4"),
            Value::Tuple(seq((1..=4).map(Value::Int).collect())),
        ),
        (
            s("lst"),
            Value::List(seq(vec![Value::Int(1), a.clone(), Value::None])),
        ),
        (s("none"), Value::None),
        (s("t"), Value::Bool(true)),
        (s("f"), Value::Bool(false)),
        (
            s("set"),
            Value::Set(seq(vec![Value::Int(1), Value::Int(2)])),
        ),
        (s("c"), Value::Complex(1.0, 2.0)),
        (s("bytes"), Value::Bytes(Arc::from(&b"\x00\x01\xff"[..]))),
        (s("ba"), Value::ByteArray(Arc::from(&b"ab"[..]))),
        (s("size"), Value::Size(Arc::from(&[2i64, 3][..]))),
        (s("dt"), Value::DType(DType::F16)),
        (
            s("dev"),
            Value::Device(TorchDevice::parse("cuda:1").unwrap()),
        ),
        (s("dev2"), Value::Device(TorchDevice::parse("cpu").unwrap())),
        (s("param"), Value::Tensor(param)),
        (s("f8"), Value::Tensor(f8)),
        (s("u16"), Value::Tensor(u16s)),
        (a, Value::Tensor(base.clone())),
        (s("view"), view(5, &[2, 2], &[4, 1])),
        (s("tr"), view(0, &[4, 3], &[1, 4])),
        (
            s("big"),
            Value::BigInt(Arc::from(&[0u8, 0, 0, 0, 0, 0, 0, 0, 0x40][..])),
        ),
        (s("neg"), Value::Int(-(1 << 40))),
        (s("sd"), state_dict()),
        (s("cnt"), Value::Dict(Arc::new(counter))),
        (s("again"), name),
        (s("rg"), Value::Tensor(ones)),
    ];
    Value::Dict(Arc::new(dict(DictKind::Dict, items)))
}

pub(super) fn big() -> Value {
    let strs: Vec<Value> = (0..1000).map(|i| s(&i.to_string())).collect();
    let d = dict(
        DictKind::Dict,
        strs.iter()
            .enumerate()
            .map(|(i, v)| (Value::Int(i as i64), v.clone()))
            .collect(),
    );
    let lst = Value::List(seq((0..1001).map(Value::Int).collect()));
    let od = dict(
        DictKind::OrderedDict,
        (0..1001)
            .map(|i| (s(&format!("k{i}")), Value::Int(i)))
            .collect(),
    );
    let big = |v: i128| Value::BigInt(Arc::from(&v.to_le_bytes()[..]));
    let mut p200 = vec![0u8; 26];
    p200[25] = 1;
    let ints = vec![
        Value::Int(255),
        Value::Int(256),
        Value::Int(65535),
        Value::Int(65536),
        Value::Int((1 << 31) - 1),
        Value::Int(1 << 31),
        Value::Int(-1),
        Value::Int(-(1 << 31)),
        Value::Int(-(1 << 31) - 1),
        Value::Int(i64::MAX),
        Value::Int(i64::MIN),
        big(1 << 64),
        big(1 << 70),
        big(-(1 << 70)),
        Value::BigInt(Arc::from(p200)),
        Value::Int(-128),
        Value::Int(127),
        Value::Int(128),
        Value::Int(0),
    ];
    let empty = vec![
        Value::List(seq(vec![])),
        Value::Dict(Arc::new(Dict::new(DictKind::Dict))),
        Value::Tuple(seq(vec![])),
        Value::Set(seq(vec![])),
        s(""),
        Value::Dict(Arc::new(Dict::new(DictKind::OrderedDict))),
        Value::ByteArray(Arc::from(&b""[..])),
        Value::Size(Arc::from(&[][..])),
    ];
    let items = vec![
        (s("d"), Value::Dict(Arc::new(d))),
        (s("l"), lst.clone()),
        (s("od"), Value::Dict(Arc::new(od))),
        (s("tail"), strs[999].clone()),
        (s("again"), lst),
        (s("ints"), Value::List(seq(ints))),
        (
            s("tup"),
            Value::Tuple(seq((1..=5).map(Value::Int).collect())),
        ),
        (s("empty"), Value::Tuple(seq(empty))),
    ];
    Value::Dict(Arc::new(dict(DictKind::Dict, items)))
}

/// Where two byte strings first differ, for a readable failure.
fn assert_same(ours: &[u8], torch: &[u8]) {
    if ours != torch {
        let at = ours.iter().zip(torch).take_while(|(a, b)| a == b).count();
        let ctx = |b: &[u8]| format!("{:?}", &b[at.saturating_sub(16)..(at + 16).min(b.len())]);
        panic!(
            "data.pkl differs at byte {at} (ours {} bytes, torch {}):\nours  {}\ntorch {}",
            ours.len(),
            torch.len(),
            ctx(ours),
            ctx(torch)
        );
    }
}

#[test]
fn state_dict_is_byte_identical_to_torch() {
    let p = pickle(&state_dict());
    assert_same(&p.data_pkl, include_bytes!("golden/state_dict.pkl"));
    let keys: Vec<_> = p
        .storages
        .iter()
        .map(|(k, s)| (k.as_str(), s.nbytes()))
        .collect();
    assert_eq!(keys, [("0", 24), ("1", 8)]);
}

#[test]
fn training_checkpoint_is_byte_identical_to_torch() {
    let p = pickle(&training());
    assert_same(&p.data_pkl, include_bytes!("golden/training.pkl"));
    let keys: Vec<_> = p
        .storages
        .iter()
        .map(|(k, s)| (k.as_str(), s.nbytes()))
        .collect();
    let want = [
        ("0", 12),
        ("1", 2),
        ("2", 6),
        ("3", 48),
        ("4", 24),
        ("5", 8),
        ("6", 8),
    ];
    assert_eq!(keys, want);
}

#[test]
fn batching_memo_and_ints_are_byte_identical_to_torch() {
    assert_same(&pickle(&big()).data_pkl, include_bytes!("golden/big.pkl"));
}

/// Writes torch-style archives of the golden objects into `$TENSORPORT_PWRITE_DUMP` for a
/// `torch.load(weights_only=True)` check by hand.
#[test]
#[ignore]
fn dump_archives_for_torch_load() {
    use std::io::Write;
    let Ok(dir) = std::env::var("TENSORPORT_PWRITE_DUMP") else {
        return;
    };
    for (name, v) in [
        ("state_dict", state_dict()),
        ("training", training()),
        ("big", big()),
    ] {
        let p = pickle(&v);
        let f = std::fs::File::create(format!("{dir}/{name}.pt")).unwrap();
        let mut z = zip::ZipWriter::new(f);
        let opt = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        let mut rec = |n: &str, b: &[u8]| {
            z.start_file(format!("archive/{n}"), opt).unwrap();
            z.write_all(b).unwrap();
        };
        rec("data.pkl", &p.data_pkl);
        rec("byteorder", b"little");
        for (k, s) in &p.storages {
            rec(&format!("data/{k}"), s.host_bytes().unwrap());
        }
        rec("version", b"3\n");
        z.finish().unwrap();
    }
}
