//! One test per way a hostile or broken pickle is refused.

use super::tests::{run, run_with, Asm, Res};
use crate::checkpoint::pickle::ops::*;
use crate::checkpoint::pickle::Limits;
use crate::dtype::DType;
use crate::error::{CheckpointError, ErrorKind};

fn kind(r: Result<crate::checkpoint::value::Value, CheckpointError>) -> (ErrorKind, String) {
    let e = r.expect_err("the pickle must be refused");
    (e.kind(), e.to_string())
}

fn assert_kind(data: &[u8], want: ErrorKind, needle: &str) {
    let (k, msg) = kind(run(data));
    assert_eq!(k, want, "{msg}");
    assert!(msg.contains(needle), "{msg:?} lacks {needle:?}");
    assert!(
        msg.contains("data.pkl") || k == ErrorKind::StorageBounds || k == ErrorKind::SizeOverflow,
        "{msg}"
    );
}

#[test]
fn unknown_opcode_names_byte_and_offset() {
    let e = run(&[PROTO, 2, NONE, 0xff, STOP]).unwrap_err();
    let CheckpointError::MalformedPickle { offset, opcode, .. } = e else {
        panic!("{e}")
    };
    assert_eq!((offset, opcode), (3, Some(0xff)));
}

#[test]
fn truncated_streams() {
    assert_kind(
        b"\x80\x02X\x05\x00\x00\x00ab",
        ErrorKind::Truncated,
        "BINUNICODE",
    );
    assert_kind(b"\x80\x02N", ErrorKind::Truncated, "opcode");
    assert_kind(b"\x80\x02ctorch\nSize", ErrorKind::Truncated, "GLOBAL");
    assert_kind(
        b"\x80\x02\x8e\xff\xff\xff\xff\xff\xff\xff\x7f",
        ErrorKind::Truncated,
        "BINBYTES8",
    );
}

#[test]
fn stack_and_mark_misuse() {
    assert_kind(b"\x80\x02a.", ErrorKind::MalformedPickle, "underflow");
    assert_kind(b"\x80\x02](a.", ErrorKind::MalformedPickle, "underflow");
    assert_kind(b"\x80\x02(.", ErrorKind::MalformedPickle, "underflow");
    assert_kind(b"\x80\x02Nt.", ErrorKind::MalformedPickle, "MARK");
    assert_kind(b"\x80\x02}(K\x01u.", ErrorKind::MalformedPickle, "odd");
    assert_kind(
        b"\x80\x02h\x03.",
        ErrorKind::MalformedPickle,
        "memo index 3",
    );
}

#[test]
fn structural_rules() {
    assert_kind(
        b"\x80\x02}N\x8a\x00a.",
        ErrorKind::MalformedPickle,
        "append to lists",
    );
    assert_kind(b"\x80\x02]NNs.", ErrorKind::MalformedPickle, "set items");
    assert_kind(b"\x80\x02]}b.", ErrorKind::MalformedPickle, "BUILD");
    assert_kind(
        b"\x80\x02}]Ns.",
        ErrorKind::MalformedPickle,
        "unhashable list",
    );
    assert_kind(
        b"\x80\x02K\x01)R.",
        ErrorKind::MalformedPickle,
        "not an allowlisted callable",
    );
    assert_kind(b"\x80\x02P0\n.", ErrorKind::MalformedPickle, "PERSID");
    assert_kind(b"\x80\x05\x97.", ErrorKind::MalformedPickle, "NEXT_BUFFER");
    let p = Asm::new()
        .global("_codecs", "encode")
        .str("\u{20ac}")
        .str("latin1")
        .op(TUPLE2)
        .op(REDUCE)
        .stop();
    assert_kind(&p, ErrorKind::MalformedPickle, "above 255");
}

#[test]
fn unsafe_globals_via_global_and_stack_global() {
    for (m, n, want) in [
        ("posix", "system", "posix.system"),
        ("__builtin__", "eval", "builtins.eval"),
    ] {
        let p = Asm::new().global(m, n).stop();
        let e = run(&p).unwrap_err();
        let CheckpointError::UnsafeGlobal {
            offset, ref global, ..
        } = e
        else {
            panic!("{e}")
        };
        assert_eq!((offset, global.as_str()), (2, want));
        let m = if m == "__builtin__" { "builtins" } else { m };
        let p = Asm::new().str(m).str(n).op(STACK_GLOBAL).stop();
        let e = run(&p).unwrap_err();
        let CheckpointError::UnsafeGlobal {
            ref global,
            ref reason,
            ..
        } = e
        else {
            panic!("{e}")
        };
        assert_eq!(global, want);
        assert!(
            reason.contains("blocked") || reason.contains("never allowed"),
            "{reason}"
        );
    }
    // INST names a class too.
    assert_kind(
        b"\x80\x02(ios\nsystem\n.",
        ErrorKind::UnsafeGlobal,
        "os.system",
    );
    assert_kind(
        b"\x80\x02c__builtin__\nfrozenset\n.",
        ErrorKind::UnsafeGlobal,
        "frozenset",
    );
    assert_kind(
        b"\x80\x04(\x91.",
        ErrorKind::UnsafeGlobal,
        "builtins.frozenset",
    );
    assert_kind(
        &Asm::new().global("torch._utils", "_rebuild_qtensor").stop(),
        ErrorKind::UnsupportedFormat,
        "_rebuild_qtensor",
    );
}

#[test]
fn unsafe_global_inside_metadata_state() {
    // OrderedDict() BUILD {'_metadata': nt.system} — refused when the global is met.
    let p = Asm::new()
        .global("collections", "OrderedDict")
        .op(EMPTY_TUPLE)
        .op(REDUCE)
        .op(EMPTY_DICT)
        .str("_metadata")
        .global("nt", "system")
        .op(SETITEM)
        .op(BUILD)
        .stop();
    assert_kind(&p, ErrorKind::UnsafeGlobal, "nt.system");
}

#[test]
fn whole_module_pickles_get_state_dict_advice() {
    let p = Asm::new()
        .global("torch.nn.modules.linear", "Linear")
        .op(EMPTY_TUPLE)
        .op(NEWOBJ)
        .stop();
    assert_kind(&p, ErrorKind::UnsafeGlobal, "model.state_dict()");
    // A user class whose state carries nn.Module attributes.
    let p = Asm::new()
        .global("__main__", "Net")
        .op(EMPTY_TUPLE)
        .op(NEWOBJ)
        .op(EMPTY_DICT)
        .str("_parameters")
        .op(NONE)
        .op(SETITEM)
        .str("_modules")
        .op(NONE)
        .op(SETITEM)
        .op(BUILD)
        .stop();
    assert_kind(&p, ErrorKind::UnsafeGlobal, "model.state_dict()");
    let p = Asm::new().global("argparse", "Namespace").stop();
    let (_, msg) = kind(run(&p));
    assert!(!msg.contains("state_dict"), "{msg}");
}

fn tensor_pickle(numel: &[u8], offset: i32, size: &[i32], stride: &[i32]) -> Vec<u8> {
    Asm::new()
        .rebuild_head()
        .op(MARK)
        .str("storage")
        .global("torch", "FloatStorage")
        .str("0")
        .str("cpu")
        .raw(numel)
        .op(TUPLE)
        .op(BINPERSID)
        .rebuild_tail(offset, size, stride)
        .stop()
}

#[test]
fn storage_sizes_and_views_are_checked() {
    // numel 2**60 float32s: 2**62 bytes fit in a u64 but must never reach an allocation; 2**62
    // elements overflow 64 bits.
    for top in [0x10, 0x40] {
        let mut res = Res::default();
        let p = tensor_pickle(&[LONG1, 8, 0, 0, 0, 0, 0, 0, 0, top], 0, &[1], &[1]);
        let (k, msg) = kind(run_with(&p, &mut res));
        assert_eq!(k, ErrorKind::SizeOverflow, "{msg}");
        assert!(msg.contains("storage 0"), "{msg}");
        assert!(res.calls.is_empty());
    }
    // A view past the end of a 6-element storage.
    let p = tensor_pickle(&[BININT1, 6], 2, &[2, 3], &[3, 1]);
    let (k, msg) = kind(run(&p));
    assert_eq!(k, ErrorKind::StorageBounds, "{msg}");
    assert!(msg.contains("tensor #0 (storage data/0)"), "{msg}");
    // Huge strides overflow instead of wrapping.
    let p = tensor_pickle(&[BININT1, 6], 0, &[2, 2], &[i32::MAX, 1 << 30]);
    assert_kind(&p, ErrorKind::StorageBounds, "tensor #0");
    assert_kind(
        &tensor_pickle(&[BININT1, 6], 0, &[-1], &[1]),
        ErrorKind::StorageBounds,
        "negative size",
    );
    assert_kind(
        &tensor_pickle(&[BININT1, 6], -1, &[1], &[1]),
        ErrorKind::StorageBounds,
        "negative",
    );
}

#[test]
fn resolver_bytes_and_shared_keys_are_checked() {
    let mut res = Res::default();
    res.records.insert("0".into(), vec![0; 8]);
    let (k, msg) = kind(run_with(
        &tensor_pickle(&[BININT1, 6], 0, &[1], &[1]),
        &mut res,
    ));
    assert_eq!(k, ErrorKind::StorageBounds, "{msg}");
    // One key declared again with another size and dtype: torch serves the cached storage, so
    // the second tensor reinterprets the same 8 bytes; a view past them is still refused.
    let two = |size: i32| {
        Asm::new()
            .op(MARK)
            .rebuild_head()
            .storage("FloatStorage", "k", 2)
            .rebuild_tail(0, &[2], &[1])
            .rebuild_head()
            .storage("IntStorage", "k", 3)
            .rebuild_tail(0, &[size], &[1])
            .op(TUPLE)
            .stop()
    };
    let v = run(&two(2)).unwrap();
    let (a, b) = (&v.as_seq().unwrap()[0], &v.as_seq().unwrap()[1]);
    let (a, b) = (a.as_tensor().unwrap(), b.as_tensor().unwrap());
    assert!(a.shares_storage(b));
    assert_eq!((a.dtype(), b.dtype()), (DType::F32, DType::I32));
    assert_kind(&two(3), ErrorKind::StorageBounds, "needs 12 bytes");
}

#[test]
fn unsupported_tensor_metadata() {
    let p = Asm::new()
        .rebuild_head()
        .storage("FloatStorage", "0", 1)
        .int(0)
        .op(MARK)
        .int(1)
        .op(TUPLE)
        .op(MARK)
        .int(1)
        .op(TUPLE)
        .op(NEWFALSE)
        .op(EMPTY_DICT)
        .op(EMPTY_DICT)
        .str("sparse")
        .op(NEWTRUE)
        .op(SETITEM)
        .op(TUPLE)
        .op(REDUCE)
        .stop();
    assert_kind(&p, ErrorKind::UnsupportedFormat, "sparse");
}

#[test]
fn deep_nesting_and_cycles_hit_the_depth_limit() {
    // 100,000 nested lists, in the default 2 MiB test thread.
    let n = 100_000;
    let mut p = vec![PROTO, 2];
    p.extend(std::iter::repeat_n(EMPTY_LIST, n));
    p.extend(std::iter::repeat_n(APPEND, n - 1));
    p.push(STOP);
    let start = std::time::Instant::now();
    assert_kind(&p, ErrorKind::ResourceLimit, "max_depth");
    // 100,000 nested MARK ... TUPLE.
    let mut p = vec![PROTO, 2];
    p.extend(std::iter::repeat_n(MARK, n));
    p.push(NONE);
    p.extend(std::iter::repeat_n(TUPLE, n));
    p.push(STOP);
    assert_kind(&p, ErrorKind::ResourceLimit, "max_depth");
    assert!(start.elapsed().as_secs() < 5);
    // A list that contains itself: legal Python, but no tree, and said so (not "max_depth").
    assert_kind(
        b"\x80\x02]q\x00h\x00a.",
        ErrorKind::UnsupportedFormat,
        "list that contains itself",
    );
}

#[test]
fn memo_and_object_limits() {
    // Python's memo is a dict: an index near 2^32 is legal and costs one entry.
    let p = b"\x80\x02Nr\x00\x00\x00\x800j\x00\x00\x00\x80.";
    assert!(matches!(run(p), Ok(crate::checkpoint::value::Value::None)));
    assert_kind(
        b"\x80\x02j\x00\x00\x00\x80.",
        ErrorKind::MalformedPickle,
        "never set",
    );
    let p = b"\x80\x02Nr\xff\xff\xff\xff0j\xff\xff\xff\xff.";
    let (v, _) = super::unpickle(p, "data.pkl", &mut Res::default(), &Limits::default()).unwrap();
    assert!(matches!(v, crate::checkpoint::value::Value::None));
    // Sparse entries are charged to the budget: 100,000 of them do not fit in 1 MiB.
    let mut p = vec![PROTO, 2, NONE];
    for i in 0..100_000u32 {
        p.push(LONG_BINPUT);
        p.extend_from_slice(&(0x8000_0000 + i).to_le_bytes());
    }
    p.push(STOP);
    let tight = Limits {
        max_bytes: 1 << 20,
        ..Limits::default()
    };
    let e = super::unpickle(&p, "data.pkl", &mut Res::default(), &tight).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ResourceLimit, "{e}");
    assert!(e.to_string().contains("max_bytes"), "{e}");
    let small = Limits {
        max_objects: 3,
        max_string_bytes: 4,
        ..Limits::default()
    };
    let e = super::unpickle(b"\x80\x02NNNN.", "r", &mut Res::default(), &small).unwrap_err();
    assert!(e.to_string().contains("max_objects"), "{e}");
    let e = super::unpickle(b"\x80\x02C\x05aaaaa.", "r", &mut Res::default(), &small).unwrap_err();
    assert!(e.to_string().contains("max_string_bytes"), "{e}");
}

#[test]
fn mutated_and_truncated_pickles_never_panic() {
    let base = Asm::new()
        .global("collections", "OrderedDict")
        .op(EMPTY_TUPLE)
        .op(REDUCE)
        .put(0)
        .str("w")
        .rebuild_head()
        .storage("FloatStorage", "0", 6)
        .rebuild_tail(0, &[2, 3], &[3, 1])
        .op(SETITEM)
        .op(EMPTY_DICT)
        .str("_metadata")
        .op(EMPTY_DICT)
        .str("")
        .get(0)
        .op(SETITEM)
        .op(SETITEM)
        .op(BUILD)
        .stop();
    // `_metadata` holding the dict itself is a cycle.
    assert_kind(&base, ErrorKind::UnsupportedFormat, "contains itself");
    let base = [
        &base[..base.len() - 6],
        &[NONE, SETITEM, SETITEM, BUILD, STOP],
    ]
    .concat();
    assert!(run(&base).is_ok(), "{:?}", run(&base));
    for i in 0..base.len() {
        let _ = run(&base[..i]);
        for b in [
            0x00, 0x01, 0x7f, 0x80, 0xff, b'(', b'.', b'h', b'R', b'b', b'Q', b'a',
        ] {
            let mut m = base.clone();
            m[i] = b;
            let _ = run(&m);
        }
    }
}
