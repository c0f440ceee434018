//! Tensor rebuilds on pickles written by torch 2.15 (the snippet is above each hex literal).

use super::tests::{hex, run, run_with, Asm, Res};
use crate::checkpoint::pickle::ops::*;
use crate::checkpoint::pickle::Limits;
use crate::dtype::{Complex64, DType};

#[test]
fn state_dict_shares_one_storage() {
    // base = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    // torch.save(OrderedDict(a=base, view=base[1:, 1:3], t=base.t()), f) -> data.pkl
    let p = hex("800263636f6c6c656374696f6e730a4f726465726564446963740a71002952710128580100000061710263746f7263682e5f7574696c730a5f72656275696c645f74656e736f725f76320a71032828580700000073746f72616765710463746f7263680a466c6f617453746f726167650a71055801000000307106580300000063707571074b0c747108514b004b034b048671094b044b0186710a8968002952710b74710c52710d580400000076696577710e6803282868046805680668074b0c74710f514b054b024b028671104b044b018671118968002952711274711352711458010000007471156803282868046805680668074b0c747116514b004b044b038671174b014b048671188968002952711974711a52711b752e");
    let mut res = Res::default();
    res.records.insert("0".into(), hex("000000000000803f0000004000004040000080400000a0400000c0400000e04000000041000010410000204100003041"));
    let v = run_with(&p, &mut res).unwrap();
    assert_eq!(res.calls, vec!["0"]);
    let t = |k: &str| v.get_path(&[k]).unwrap().as_tensor().unwrap().clone();
    let (a, view, tr) = (t("a"), t("view"), t("t"));
    assert!(a.shares_storage(&view) && a.shares_storage(&tr));
    assert_eq!(view.storage_offset(), 5);
    assert_eq!(view.to_vec::<f32>().unwrap(), vec![5., 6., 9., 10.]);
    assert_eq!(tr.strides(), &[1, 4]);
    assert_eq!(tr.to_vec::<f32>().unwrap()[..3], [0., 4., 8.]);
}

#[test]
fn rebuild_v3_float8_and_parameter() {
    // torch.save({'x': torch.tensor([1.0, -2.0]).to(torch.float8_e4m3fn)}, f) -> data.pkl
    let p = hex("80027d7100580100000078710163746f7263682e5f7574696c730a5f72656275696c645f74656e736f725f76330a71022828580700000073746f72616765710363746f7263682e73746f726167650a556e747970656453746f726167650a71045801000000307105580300000063707571064b02747107514b004b028571084b018571098963636f6c6c656374696f6e730a4f726465726564446963740a710a2952710b63746f7263680a666c6f6174385f65346d33666e0a710c74710d52710e732e");
    let mut res = Res::default();
    res.records.insert("0".into(), vec![0x38, 0xc0]);
    let v = run_with(&p, &mut res).unwrap();
    let x = v.get_path(&["x"]).unwrap().as_tensor().unwrap();
    assert_eq!((x.dtype(), x.shape()), (DType::F8E4M3Fn, &[2usize][..]));
    assert_eq!(&*x.contiguous_bytes().unwrap(), &[0x38, 0xc0]);
    // torch.save({'p': torch.nn.Parameter(torch.tensor([1.0]))}, f) -> data.pkl
    let p = hex("80027d7100580100000070710163746f7263682e5f7574696c730a5f72656275696c645f706172616d657465720a710263746f7263682e5f7574696c730a5f72656275696c645f74656e736f725f76320a71032828580700000073746f72616765710463746f7263680a466c6f617453746f726167650a71055801000000307106580300000063707571074b01747108514b004b018571094b0185710a8963636f6c6c656374696f6e730a4f726465726564446963740a710b2952710c74710d52710e88680b2952710f877110527111732e");
    let v = run(&p).unwrap();
    let t = v.get_path(&["p"]).unwrap().as_tensor().unwrap();
    assert!(t.is_parameter() && t.requires_grad());
}

#[test]
fn conj_and_neg_metadata_are_applied() {
    // torch.save({'c': torch.tensor([1+2j, 3-4j], dtype=torch.complex64).conj(),
    //             'n': torch._neg_view(torch.tensor([1.0, -2.0]))}, f) -> data.pkl
    let p = hex("80027d710028580100000063710163746f7263682e5f7574696c730a5f72656275696c645f74656e736f725f76320a71022828580700000073746f72616765710363746f7263680a436f6d706c6578466c6f617453746f726167650a71045801000000307105580300000063707571064b02747107514b004b028571084b018571098963636f6c6c656374696f6e730a4f726465726564446963740a710a2952710b7d710c5804000000636f6e6a710d887374710e52710f58010000006e711068022828680363746f7263680a466c6f617453746f726167650a7111580100000031711268064b02747113514b004b028571144b0185711589680a295271167d711758030000006e65677118887374711952711a752e");
    let mut res = Res::default();
    res.records
        .insert("0".into(), hex("0000803f0000004000004040000080c0"));
    res.records.insert("1".into(), hex("0000803f000000c0"));
    let v = run_with(&p, &mut res).unwrap();
    let c = v.get_path(&["c"]).unwrap().as_tensor().unwrap();
    let want = [Complex64 { re: 1., im: -2. }, Complex64 { re: 3., im: 4. }];
    assert_eq!(c.to_vec::<Complex64>().unwrap(), want);
    let n = v.get_path(&["n"]).unwrap().as_tensor().unwrap();
    assert_eq!(n.to_vec::<f32>().unwrap(), vec![-1., 2.]);
    // Meta storages (first pass over legacy files) keep the plain view.
    let mut res = Res {
        meta: true,
        ..Res::default()
    };
    let v = run_with(&p, &mut res).unwrap();
    assert!(v
        .get_path(&["n"])
        .unwrap()
        .as_tensor()
        .unwrap()
        .storage()
        .is_meta());
}

#[test]
fn legacy_ids_int_keys_and_stop_offset() {
    // Legacy 6-tuple id with an int key and no view; `_rebuild_tensor` (4 args); a second pickle
    // follows STOP.
    let p = Asm::new()
        .global("torch._utils", "_rebuild_tensor")
        .op(MARK)
        .op(MARK)
        .str("storage")
        .global("torch", "LongStorage")
        .raw(&[LONG1, 6, 0x10, 0x32, 0x54, 0x76, 0x98, 0x00])
        .str("cuda:0")
        .int(2)
        .op(NONE)
        .op(TUPLE)
        .op(BINPERSID)
        .int(1)
        .op(MARK)
        .int(1)
        .op(TUPLE)
        .op(MARK)
        .int(1)
        .op(TUPLE)
        .op(TUPLE)
        .op(REDUCE)
        .stop();
    let len = p.len();
    let mut data = p;
    data.extend_from_slice(&[PROTO, 2, NONE, STOP]);
    let mut res = Res {
        legacy: true,
        ..Res::default()
    };
    let (v, end) = super::unpickle(&data, "x", &mut res, &Limits::default()).unwrap();
    assert_eq!(end, len);
    assert_eq!(res.calls, vec![(0x9876543210u64).to_string()]);
    let t = v.as_tensor().unwrap();
    assert_eq!(
        (t.dtype(), t.storage_offset(), t.numel()),
        (DType::I64, 1, 1)
    );
}

#[test]
fn wrapped_rebuilds_and_pair_constructors() {
    // _rebuild_from_type_v2(_rebuild_tensor_v2, Parameter, (<v2 args>), {}) then BUILD
    // (False, None, {}) on it (Tensor.__setstate__'s requires_grad, _, hooks);
    // Parameter(tensor, False) via NEWOBJ; _rebuild_parameter_with_state(t, True, {}, {});
    // OrderedDict([('k', 1)]).
    let v2_args = |a: Asm, key: &str| {
        a.op(MARK)
            .storage("FloatStorage", key, 2)
            .int(0)
            .op(MARK)
            .int(2)
            .op(TUPLE)
            .op(MARK)
            .int(1)
            .op(TUPLE)
            .op(NEWFALSE)
            .op(EMPTY_DICT)
            .op(TUPLE)
    };
    let a = Asm::new()
        .op(MARK)
        .global("torch._tensor", "_rebuild_from_type_v2")
        .op(MARK)
        .global("torch._utils", "_rebuild_tensor_v2")
        .global("torch.nn.parameter", "Parameter")
        .put(9);
    let a = v2_args(a, "0")
        .op(EMPTY_DICT)
        .op(TUPLE)
        .op(REDUCE)
        .op(NEWFALSE)
        .op(NONE)
        .op(EMPTY_DICT)
        .op(TUPLE3)
        .op(BUILD)
        .get(9)
        .global("torch._utils", "_rebuild_tensor_v2");
    let a = v2_args(a, "1")
        .op(REDUCE)
        .op(NEWFALSE)
        .op(TUPLE2)
        .op(NEWOBJ);
    let a = a
        .global("torch._utils", "_rebuild_parameter_with_state")
        .op(MARK)
        .global("torch._utils", "_rebuild_tensor_v2");
    let a = v2_args(a, "0")
        .op(REDUCE)
        .op(NEWTRUE)
        .op(EMPTY_DICT)
        .op(EMPTY_DICT)
        .op(TUPLE)
        .op(REDUCE);
    let p = a
        .global("collections", "OrderedDict")
        .op(EMPTY_LIST)
        .str("k")
        .int(1)
        .op(TUPLE2)
        .op(APPEND)
        .op(TUPLE1)
        .op(REDUCE)
        .op(TUPLE)
        .stop();
    let mut res = Res::default();
    let v = run_with(&p, &mut res).unwrap();
    assert_eq!(res.calls, vec!["0", "1"]);
    let t = |i: usize| v.as_seq().unwrap()[i].as_tensor().unwrap().clone();
    assert!(t(0).is_parameter() && !t(0).requires_grad());
    assert!(t(1).is_parameter() && !t(1).requires_grad());
    assert!(t(2).is_parameter() && t(2).requires_grad() && t(2).shares_storage(&t(0)));
    assert_eq!(
        format!("{:?}", v.as_seq().unwrap()[3]),
        "OrderedDict{\"k\": 1}"
    );
}
