//! Regressions from the second hostile pass (issue 10) about state and identity: BUILD on
//! tensors and Parameters (torch applies `set_`/`__setstate__`; we ignored it) and dict keys
//! (NaN identity, int/float equality, tensors hashed by identity). The torch outcome quoted in
//! each test was observed with `torch.load(f, weights_only=True)` on the same pickle in a zip.

use super::tests::{run_with, Asm, Res};
use crate::checkpoint::pickle::ops::*;
use crate::checkpoint::value::Value;
use crate::error::ErrorKind;

/// A 4-float tensor `[1, 2, 3, 4]`, memoized at 1 (storage key "0"), as a Parameter when `param`.
fn base_tensor(param: bool) -> Asm {
    let mut a = Asm::new();
    if param {
        a = a.global("torch._utils", "_rebuild_parameter").op(MARK);
    }
    a = a
        .rebuild_head()
        .storage("FloatStorage", "0", 4)
        .rebuild_tail(0, &[4], &[1]);
    if param {
        a = a
            .op(NEWFALSE)
            .global("collections", "OrderedDict")
            .op(EMPTY_TUPLE)
            .op(REDUCE)
            .op(TUPLE)
            .op(REDUCE);
    }
    a.put(1)
}

fn four_floats() -> Res {
    let mut res = Res::default();
    let bytes: Vec<u8> = [1f32, 2., 3., 4.]
        .iter()
        .flat_map(|x| x.to_le_bytes())
        .collect();
    res.records.insert("0".into(), bytes);
    res
}

fn built(p: &[u8]) -> Result<crate::tensor::Tensor, crate::error::CheckpointError> {
    run_with(p, &mut four_floats()).map(|v| v.as_tensor().unwrap().clone())
}

#[test]
fn build_on_a_tensor_is_set_() {
    // state () -> set_(): an empty float tensor.
    let t = built(&base_tensor(false).op(EMPTY_TUPLE).op(BUILD).stop()).unwrap();
    assert_eq!((t.shape(), t.storage().nbytes()), (&[0usize][..], 0));
    // state {} -> set_() as well; {'a': 1} -> set_('a'), a TypeError in torch.
    let t = built(&base_tensor(false).op(EMPTY_DICT).op(BUILD).stop()).unwrap();
    assert_eq!(t.numel(), 0);
    let p = base_tensor(false)
        .op(EMPTY_DICT)
        .str("a")
        .int(1)
        .op(SETITEM)
        .op(BUILD)
        .stop();
    assert_eq!(built(&p).unwrap_err().kind(), ErrorKind::MalformedPickle);
    // None: "argument after * must be an iterable".
    assert!(built(&base_tensor(false).op(NONE).op(BUILD).stop()).is_err());
    // (storage, 1, (2,), (1,)) -> [2, 3], and the memo sees the change.
    let p = base_tensor(false)
        .op(MARK)
        .storage("FloatStorage", "0", 4)
        .int(1)
        .op(MARK)
        .int(2)
        .op(TUPLE)
        .op(MARK)
        .int(1)
        .op(TUPLE)
        .op(TUPLE)
        .op(BUILD)
        .op(POP)
        .get(1)
        .stop();
    let t = built(&p).unwrap();
    assert_eq!(
        (t.to_vec::<f32>().unwrap(), t.storage_offset()),
        (vec![2., 3.], 1)
    );
    // (storage,) -> the whole storage, 1-d; (tensor,) -> that tensor's view.
    let p = base_tensor(false)
        .op(MARK)
        .storage("FloatStorage", "0", 4)
        .op(TUPLE)
        .op(BUILD)
        .stop();
    assert_eq!(
        built(&p).unwrap().to_vec::<f32>().unwrap(),
        vec![1., 2., 3., 4.]
    );
    // A storage of another dtype is refused, as torch's set_ does.
    let p = base_tensor(false)
        .op(MARK)
        .storage("DoubleStorage", "1", 2)
        .op(TUPLE)
        .op(BUILD)
        .stop();
    assert!(built(&p).is_err());
}

#[test]
fn build_on_a_parameter_is_setstate() {
    // (requires_grad, _, hooks): requires_grad set.
    let p = base_tensor(true)
        .op(NEWTRUE)
        .op(NONE)
        .op(EMPTY_DICT)
        .op(TUPLE3)
        .op(BUILD)
        .stop();
    let t = built(&p).unwrap();
    assert!(t.is_parameter() && t.requires_grad() && t.numel() == 4);
    // (data, _, hooks, requires_grad, _): .data replaced by a [1, 2] view.
    let p = base_tensor(true)
        .op(MARK)
        .rebuild_head()
        .storage("FloatStorage", "0", 4)
        .rebuild_tail(0, &[2], &[1])
        .op(NONE)
        .op(EMPTY_DICT)
        .op(NEWFALSE)
        .op(NONE)
        .op(TUPLE)
        .op(BUILD)
        .stop();
    let t = built(&p).unwrap();
    assert!(t.is_parameter() && !t.requires_grad());
    assert_eq!(t.to_vec::<f32>().unwrap(), vec![1., 2.]);
    // {} -> "not enough values to unpack (expected 3, got 0)"; None -> "has no len()".
    assert!(built(&base_tensor(true).op(EMPTY_DICT).op(BUILD).stop()).is_err());
    assert!(built(&base_tensor(true).op(NONE).op(BUILD).stop()).is_err());
}

fn dict_len(p: &[u8]) -> usize {
    match run_with(p, &mut four_floats()).unwrap() {
        Value::Dict(d) => d.len(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn dict_keys_follow_python_equality_and_identity() {
    let nan = |a: Asm| a.op(BINFLOAT).raw(&f64::NAN.to_be_bytes());
    // Two NaN literals are two objects: two keys.
    let p = nan(nan(Asm::new().op(EMPTY_DICT).op(MARK)).int(1))
        .int(2)
        .op(SETITEMS)
        .stop();
    assert_eq!(dict_len(&p), 2);
    // One memoized NaN used twice is one key (a dict checks identity before equality).
    let p = nan(Asm::new().op(EMPTY_DICT).op(MARK))
        .put(5)
        .int(1)
        .get(5)
        .int(2)
        .op(SETITEMS)
        .stop();
    assert_eq!(dict_len(&p), 1);
    // 2**64 and 2.0**64 are equal in Python: one key. So are 1, 1.0 and True.
    let p = Asm::new()
        .op(EMPTY_DICT)
        .op(MARK)
        .raw(&[LONG1, 9, 0, 0, 0, 0, 0, 0, 0, 0, 1])
        .int(1)
        .op(BINFLOAT)
        .raw(&2f64.powi(64).to_be_bytes())
        .int(2)
        .raw(&[LONG1, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0xff])
        .int(3)
        .op(BINFLOAT)
        .raw(&(-(2f64.powi(64))).to_be_bytes())
        .int(4)
        .int(1)
        .int(5)
        .op(BINFLOAT)
        .raw(&1f64.to_be_bytes())
        .int(6)
        .op(NEWTRUE)
        .int(7)
        .op(SETITEMS)
        .stop();
    // 2**64, -(2**64) (LONG1 ff..: -2**64) and 1 remain.
    assert_eq!(dict_len(&p), 3);
}

#[test]
fn tensors_are_dict_keys_by_identity() {
    // {t: 1, t: 2} with t memoized: one key; a second tensor is a second key.
    let p = base_tensor(false)
        .op(POP)
        .op(EMPTY_DICT)
        .op(MARK)
        .get(1)
        .int(1)
        .get(1)
        .int(2)
        .rebuild_head()
        .storage("FloatStorage", "0", 4)
        .rebuild_tail(0, &[4], &[1])
        .int(3)
        .op(SETITEMS)
        .stop();
    assert_eq!(dict_len(&p), 2);
}
