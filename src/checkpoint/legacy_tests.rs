//! The legacy reader's header checks as torch makes them, and messages that say where.

use crate::checkpoint::open::{Checkpoint, OpenOptions};
use crate::error::{Error, ErrorKind};

/// torch 1.x `_use_new_zipfile_serialization=False`: four float storages, keys at 829..925.
const FILE: &[u8] = include_bytes!("../../tests/fixtures/ok/legacy_state_dict.pt");
const PROTOCOL_PICKLE: &[u8] = b"\x80\x02M\xe9\x03.";
const KEYS_AT: usize = 829;
const COUNT_AT: usize = 925;

fn with_protocol(pickle: &[u8]) -> Vec<u8> {
    assert_eq!(&FILE[15..21], PROTOCOL_PICKLE);
    [&FILE[..15], pickle, &FILE[21..]].concat()
}

fn with_keys(pickle: &[u8]) -> Vec<u8> {
    [&FILE[..KEYS_AT], pickle, &FILE[COUNT_AT..]].concat()
}

fn open(bytes: &[u8]) -> crate::error::Result<Checkpoint> {
    Checkpoint::from_bytes(bytes, &OpenOptions::default())
}

fn message(r: crate::error::Result<Checkpoint>) -> String {
    let msg = match r {
        Ok(_) => panic!("opened"),
        Err(e) => e.to_string(),
    };
    assert!(!msg.contains("at byte 0"), "{msg}");
    assert!(!msg.contains("(at cpu)"), "{msg}");
    msg
}

#[test]
fn protocol_version_compares_as_python_does() {
    let reference = open(FILE).unwrap();
    // 1001.0 == 1001 and (1001+0j) == 1001 in Python: torch 2.15 loads both.
    let float = b"\x80\x02G\x40\x8f\x48\x00\x00\x00\x00\x00.";
    let complex =
        b"\x80\x02cbuiltins\ncomplex\nG\x40\x8f\x48\x00\x00\x00\x00\x00G\0\0\0\0\0\0\0\0\x86R.";
    for p in [&float[..], &complex[..]] {
        let c = open(&with_protocol(p)).unwrap();
        assert_eq!(c.storages().len(), reference.storages().len());
        for (a, b) in c.storages().iter().zip(reference.storages()) {
            assert_eq!(
                a.storage.host_bytes().unwrap(),
                b.storage.host_bytes().unwrap()
            );
        }
    }
    // True, 1002 and 1001.5 are not 1001 (torch: "Invalid protocol version").
    for (p, shown) in [
        (&b"\x80\x02\x88."[..], "True"),
        (b"\x80\x02M\xea\x03.", "1002"),
        (b"\x80\x02G\x40\x8f\x4c\x00\x00\x00\x00\x00.", "1001.5"),
    ] {
        let msg = message(open(&with_protocol(p)));
        assert!(
            msg.contains(&format!(
                "legacy protocol version {shown} (the pickle at file offset 15)"
            )),
            "{msg}"
        );
    }
}

#[test]
fn data_section_errors_name_the_storage_and_offset() {
    let mut file = FILE.to_vec();
    assert_eq!(&file[COUNT_AT..COUNT_AT + 8], &2u64.to_le_bytes());
    file[COUNT_AT] = 3;
    let r = open(&file);
    let kind = r.as_ref().err().and_then(Error::checkpoint_kind);
    assert_eq!(kind, Some(ErrorKind::StorageBounds));
    let msg = message(r);
    assert!(
        msg.contains("storage 139887084834816 (saved on 'cpu')"),
        "{msg}"
    );
    assert!(
        msg.contains("holds 3 elements (count at file offset 925)"),
        "{msg}"
    );
    assert!(msg.contains("declares 2"), "{msg}");
}

#[test]
fn storage_key_list_errors_say_which_pickle() {
    let msg = message(open(&with_keys(b"\x80\x02K\x05.")));
    assert!(
        msg.contains("storage keys (the pickle at file offset 829)"),
        "{msg}"
    );
    assert!(msg.contains("type int"), "{msg}");
    let msg = message(open(&with_keys(b"\x80\x02(Nl.")));
    assert!(msg.contains("key 0 is of type None"), "{msg}");
    let msg = message(open(&with_keys(b"\x80\x02(X\x01\x00\x00\x007l.")));
    assert!(msg.contains("storage '7', which the main pickle"), "{msg}");
    // Three of the four keys: the fourth storage has no data (torch leaves it uninitialized).
    let keys = &FILE[KEYS_AT..COUNT_AT];
    let cut = keys.windows(4).position(|w| w == b"q\x03X\x0f").unwrap() + 2;
    let three = [&keys[..cut], b"e."].concat();
    let msg = message(open(&with_keys(&three)));
    assert!(
        msg.contains("main pickle (the pickle at file offset 137)"),
        "{msg}"
    );
    assert!(
        msg.contains("which the data section does not hold"),
        "{msg}"
    );
}
