//! Opcode-level unit tests of the pickle writer.

use std::sync::Arc;

use super::{op, pickle_checkpoint, PickledCheckpoint, MAX_DEPTH};
use crate::checkpoint::value::{Dict, DictKind, Value};
use crate::device::Device;
use crate::dtype::DType;
use crate::storage::Storage;
use crate::tensor::Tensor;

fn cpu(_: &Storage) -> String {
    "cpu".into()
}
fn pickle(v: &Value) -> PickledCheckpoint {
    pickle_checkpoint(v, &cpu).unwrap()
}
/// The bytes between PROTO 2 and STOP.
fn body(v: &Value) -> Vec<u8> {
    let p = pickle(v).data_pkl;
    assert_eq!(&p[..2], &[op::PROTO, 2]);
    assert_eq!(p.last(), Some(&op::STOP));
    p[2..p.len() - 1].to_vec()
}
fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}
fn list(items: Vec<Value>) -> Value {
    Value::List(Arc::from(items))
}
fn tensor_at(storage: &Storage, dtype: DType, offset: usize, n: usize) -> Value {
    Value::Tensor(Tensor::from_storage(storage.clone(), dtype, offset, vec![n], vec![1]).unwrap())
}
fn err(v: &Value) -> String {
    match pickle_checkpoint(v, &cpu) {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn scalars() {
    assert_eq!(body(&Value::None), b"N");
    assert_eq!(body(&Value::Bool(true)), [op::NEWTRUE]);
    assert_eq!(body(&Value::Bool(false)), [op::NEWFALSE]);
    assert_eq!(
        body(&Value::Float(1.5)),
        cat(&[b"G", &1.5f64.to_be_bytes()])
    );
    assert_eq!(body(&Value::str("hé")), b"X\x03\0\0\0h\xc3\xa9q\x00");
}

#[test]
fn ints_at_every_opcode_boundary() {
    let cases: &[(i64, &[u8])] = &[
        (0, b"K\x00"),
        (255, b"K\xff"),
        (256, b"M\x00\x01"),
        (65535, b"M\xff\xff"),
        (65536, b"J\x00\x00\x01\x00"),
        (i32::MAX as i64, b"J\xff\xff\xff\x7f"),
        (-1, b"J\xff\xff\xff\xff"),
        (i32::MIN as i64, b"J\x00\x00\x00\x80"),
        (1 << 31, b"\x8a\x05\x00\x00\x00\x80\x00"),
        (-(1 << 31) - 1, b"\x8a\x05\xff\xff\xff\x7f\xff"),
        (i64::MAX, b"\x8a\x08\xff\xff\xff\xff\xff\xff\xff\x7f"),
        (i64::MIN, b"\x8a\x08\x00\x00\x00\x00\x00\x00\x00\x80"),
        (-(1 << 40), b"\x8a\x06\x00\x00\x00\x00\x00\xff"),
    ];
    for &(i, want) in cases {
        assert_eq!(body(&Value::Int(i)), want, "{i}");
    }
}

#[test]
fn big_ints_are_normalized() {
    let big = |b: &[u8]| body(&Value::BigInt(Arc::from(b)));
    // 2**64: 9 bytes, given with redundant zero padding.
    assert_eq!(
        big(&[0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0]),
        b"\x8a\x09\0\0\0\0\0\0\0\0\x01"
    );
    // -2**70 with redundant 0xff padding.
    assert_eq!(
        big(&[0, 0, 0, 0, 0, 0, 0, 0, 0xc0, 0xff, 0xff]),
        b"\x8a\x09\0\0\0\0\0\0\0\0\xc0"
    );
    // Small values take the short opcodes, as CPython would.
    assert_eq!(big(&[7, 0, 0]), b"K\x07");
    assert_eq!(big(&[0xff, 0xff]), b"J\xff\xff\xff\xff");
    assert_eq!(big(&[]), b"K\x00");
    let mut huge = vec![0u8; 300];
    huge[299] = 1;
    assert!(err(&Value::BigInt(Arc::from(huge))).contains("LONG4"));
}

#[test]
fn containers_and_memo() {
    // Tuples: EMPTY_TUPLE (no memo), TUPLE1..3, MARK … TUPLE; then memoized.
    let t = |n: i64| Value::Tuple(Arc::from((0..n).map(Value::Int).collect::<Vec<_>>()));
    assert_eq!(body(&t(0)), b")");
    assert_eq!(body(&t(1)), b"K\x00\x85q\x00");
    assert_eq!(body(&t(3)), b"K\x00K\x01K\x02\x87q\x00");
    assert_eq!(body(&t(4)), b"(K\x00K\x01K\x02K\x03tq\x00");
    // A one-item list uses APPEND; more items MARK … APPENDS.
    assert_eq!(body(&list(vec![Value::None])), b"]q\x00Na");
    assert_eq!(body(&list(vec![Value::None, Value::None])), b"]q\x00(NNe");
    // The same Arc twice is fetched; an equal but distinct one is written again.
    let shared = Value::str("k");
    let v = list(vec![shared.clone(), shared, Value::str("k")]);
    assert_eq!(body(&v), b"]q\x00(X\x01\0\0\0kq\x01h\x01X\x01\0\0\0kq\x02e");
    // Empty strings share CPython's singleton; empty lists are never aliased.
    let e = list(vec![
        Value::str(""),
        Value::str(""),
        list(vec![]),
        list(vec![]),
    ]);
    assert_eq!(body(&e), b"]q\x00(X\0\0\0\0q\x01h\x01]q\x02]q\x03e");
}

#[test]
fn dicts() {
    let mut d = Dict::new(DictKind::Dict);
    d.insert(Value::Int(1), Value::None).unwrap();
    assert_eq!(body(&Value::Dict(Arc::new(d.clone()))), b"}q\x00K\x01Ns");
    d.insert(Value::Int(2), Value::None).unwrap();
    assert_eq!(body(&Value::Dict(Arc::new(d))), b"}q\x00(K\x01NK\x02Nu");
    let mut od = Dict::new(DictKind::OrderedDict);
    od.insert(Value::Int(1), Value::None).unwrap();
    od.set_attr("_metadata", Value::None);
    let want = cat(&[
        b"ccollections\nOrderedDict\nq\x00)Rq\x01K\x01Ns",
        b"}q\x02X\x09\0\0\0_metadataq\x03Nsb",
    ]);
    assert_eq!(body(&Value::Dict(Arc::new(od))), want);
}

#[test]
fn bytes_and_empty_bytes() {
    let b = body(&Value::Bytes(Arc::from(&b"\xff"[..])));
    let want =
        b"c_codecs\nencode\nq\x00X\x02\0\0\0\xc3\xbfq\x01X\x06\0\0\0latin1q\x02\x86q\x03Rq\x04";
    assert_eq!(b, want);
    // torch writes `__builtin__ bytes` + () here, which its weights-only loader refuses.
    let e = body(&Value::Bytes(Arc::from(&b""[..])));
    assert_eq!(&e[..18], b"c_codecs\nencode\nq\x00");
    assert_eq!(&e[18..25], b"X\0\0\0\0q\x01");
}

#[test]
fn storages_are_deduplicated_in_first_seen_order() {
    let a = Storage::from_bytes(&[0; 16]).unwrap();
    let b = Storage::from_bytes(&[0; 8]).unwrap();
    let v = list(vec![
        tensor_at(&b, DType::F32, 0, 2),
        tensor_at(&a, DType::F32, 1, 2),
        tensor_at(&b, DType::F32, 1, 1),
    ]);
    let p = pickle(&v);
    let keys: Vec<_> = p
        .storages
        .iter()
        .map(|(k, s)| (k.clone(), s.id()))
        .collect();
    assert_eq!(keys, [("0".to_string(), b.id()), ("1".to_string(), a.id())]);
    // The third tensor names key "0" again through the memo; numel is the whole storage.
    let n_key0 = p
        .data_pkl
        .windows(7)
        .filter(|w| w == b"X\x01\0\0\x000q")
        .count();
    assert_eq!(n_key0, 1);
    assert!(p.data_pkl.windows(3).any(|w| w == b"K\x04t"));
}

#[test]
fn mixed_dtype_views_of_one_storage_are_refused() {
    let s = Storage::from_bytes(&[0; 8]).unwrap();
    let v = list(vec![
        tensor_at(&s, DType::F32, 0, 2),
        tensor_at(&s, DType::I32, 0, 2),
    ]);
    assert!(err(&v).contains("view the same data as different types"));
    // Untyped (v3) storages count as uint8, as in torch: uint8 + float8 is fine.
    let v = list(vec![
        tensor_at(&s, DType::U8, 0, 8),
        tensor_at(&s, DType::F8E4M3Fn, 0, 8),
    ]);
    let p = pickle(&v);
    assert_eq!(p.storages.len(), 1);
    assert!(p.data_pkl.windows(12).any(|w| w == b"UntypedStora"));
    // Empty storages are exempt.
    let e = Storage::from_bytes(&[]).unwrap();
    let v = list(vec![
        tensor_at(&e, DType::F32, 0, 0),
        tensor_at(&e, DType::I64, 0, 0),
    ]);
    assert_eq!(pickle(&v).storages.len(), 1);
}

#[test]
fn unsavable_storages_are_refused() {
    let meta = Value::Tensor(
        Tensor::from_storage(Storage::meta(8), DType::F32, 0, vec![2], vec![1]).unwrap(),
    );
    assert!(err(&meta).contains("meta"));
    let odd = Storage::from_bytes(&[0; 6]).unwrap();
    assert!(err(&tensor_at(&odd, DType::F32, 0, 1)).contains("whole number"));
}

#[test]
fn cuda_locations_are_fresh_strings_cpu_is_shared() {
    let s1 = Storage::from_bytes(&[0; 4]).unwrap();
    let s2 = Storage::from_bytes(&[0; 4]).unwrap();
    let v = list(vec![
        tensor_at(&s1, DType::F32, 0, 1),
        tensor_at(&s2, DType::F32, 0, 1),
        tensor_at(&s1, DType::F32, 0, 1),
    ]);
    let loc = |s: &Storage| Device::Cuda(if s.id() == s1.id() { 0 } else { 1 }).location_tag();
    let p = pickle_checkpoint(&v, &loc).unwrap();
    let count = |p: &[u8], pat: &[u8]| p.windows(pat.len()).filter(|w| *w == pat).count();
    assert_eq!(count(&p.data_pkl, b"X\x06\0\0\0cuda:0"), 2);
    assert!(p.data_pkl.windows(11).any(|w| w == b"X\x06\0\0\0cuda:1"));
    let p = pickle(&v);
    assert_eq!(count(&p.data_pkl, b"X\x03\0\0\0cpu"), 1);
}

#[test]
fn parameters_wrap_a_plain_tensor() {
    let t = Tensor::from_slice(&[1f32], &[1])
        .unwrap()
        .with_parameter(true);
    let p = pickle(&Value::Tensor(t)).data_pkl;
    let text = String::from_utf8_lossy(&p);
    let at_param = text.find("_rebuild_parameter").unwrap();
    let at_v2 = text.find("_rebuild_tensor_v2").unwrap();
    assert!(at_param < at_v2);
    // Outer requires_grad (False here), a fresh OrderedDict() (GLOBAL fetched), TUPLE3, REDUCE.
    assert!(p.ends_with(b"\x89h\x09)Rq\x0d\x87q\x0eRq\x0f."), "{p:?}");
}

#[test]
fn depth_is_capped_without_recursion() {
    let nest = |n: usize| (0..n).fold(Value::None, |v, _| list(vec![v]));
    assert!(pickle_checkpoint(&nest(MAX_DEPTH), &cpu).is_ok());
    assert!(err(&nest(MAX_DEPTH + 1)).contains("nesting depth"));
}

#[test]
fn long_memo_indices() {
    let items: Vec<Value> = (0..300).map(|i| Value::str(&i.to_string())).collect();
    let mut all = items.clone();
    all.push(items[299].clone());
    let p = body(&list(all));
    // Memo 0 is the list; string 299 is memo 300 → LONG_BINPUT, then LONG_BINGET.
    assert!(p.ends_with(b"X\x03\x00\x00\x00299r\x2c\x01\0\0j\x2c\x01\0\0e"));
}
