//! Saved storage locations as torch 2.15's `torch.load` treats them, tag by tag, with and
//! without a `map_location` (each case checked against torch itself).

use crate::checkpoint::open::{Checkpoint, OpenOptions};
use crate::checkpoint::placement::MapLocation;
use crate::checkpoint::value::Value;
use crate::checkpoint::zip_archive::tests::saved;
use crate::device::Device;
use crate::error::{CheckpointError, Error, ErrorKind};

fn opened(
    bytes: &[u8],
    map_location: MapLocation,
    host_only: bool,
) -> crate::error::Result<Checkpoint> {
    let opts = OpenOptions {
        map_location,
        verify_crc: true,
        host_only,
        ..OpenOptions::default()
    };
    Checkpoint::from_bytes(bytes, &opts)
}

fn values(c: &Checkpoint) -> Vec<f32> {
    let Value::Tensor(t) = c.value() else {
        panic!("not a tensor")
    };
    t.to_vec::<f32>().unwrap()
}

/// Tags torch's default restore refuses (or, above index 127, tensorport does; `mps` is a device
/// tensorport cannot hold tensors on).
const REFUSED: [&str; 11] = [
    "cpu:0",
    "foo:0",
    "CUDA:0",
    "cuda:01",
    "cuda:-1",
    "cuda0",
    "cuda:128",
    "cuda:300",
    "meta:0",
    "mps",
    "privateuseone:0",
];

#[test]
fn default_restore_refuses_what_torch_refuses() {
    for tag in REFUSED {
        let file = saved(vec![1.0, 2.0], tag);
        for map_location in [
            MapLocation::Keep,
            MapLocation::Remap(vec![("zzz".into(), Device::Cpu)]),
            MapLocation::Func(std::sync::Arc::new(|_: &str| None)),
        ] {
            let err = match opened(&file, map_location, false) {
                Err(Error::Checkpoint(e @ CheckpointError::UnrestorableLocation { .. })) => e,
                Err(other) => panic!("{tag}: {other}"),
                Ok(_) => panic!("{tag}: loaded where torch refuses"),
            };
            assert_eq!(err.kind(), ErrorKind::DeviceUnavailable);
            let msg = err.to_string();
            assert!(
                msg.starts_with(&format!("storage data/0 is saved on '{tag}'")),
                "{msg}"
            );
            assert!(msg.contains("map_location"), "{msg}");
        }
    }
    let msg = opened(&saved(vec![1.0], "cuda:300"), MapLocation::Keep, false)
        .err()
        .unwrap()
        .to_string();
    assert!(msg.contains("device index 300 is above 127"), "{msg}");
}

#[test]
fn an_explicit_map_location_takes_any_tag() {
    // torch ignores the saved tag when map_location is a string or a device.
    for tag in REFUSED.iter().chain(&["cpu", "meta", "cuda:0"]) {
        let file = saved(vec![1.0, 2.0], tag);
        let c = opened(&file, MapLocation::To(Device::Cpu), false).unwrap();
        assert_eq!(values(&c), [1.0, 2.0], "{tag}");
        let listed = MapLocation::Remap(vec![(tag.to_string(), Device::Cpu)]);
        assert_eq!(values(&opened(&file, listed, false).unwrap()), [1.0, 2.0]);
        // Host-only opening (inspect, convert) records the tag verbatim.
        let c = opened(&file, MapLocation::Keep, true).unwrap();
        assert_eq!(c.storages()[0].location, *tag);
        assert_eq!(values(&c), [1.0, 2.0]);
    }
}

#[test]
fn cpu_and_meta_restore_by_default() {
    let c = opened(&saved(vec![3.0], "cpu"), MapLocation::Keep, false).unwrap();
    assert_eq!(values(&c), [3.0]);
    let c = opened(&saved(vec![3.0], "meta"), MapLocation::Keep, false).unwrap();
    assert!(c.storages()[0].storage.is_meta());
    // cuda:N is restorable: what stops it here is the device, not the tag.
    match opened(&saved(vec![3.0], "cuda:127"), MapLocation::Keep, false) {
        Err(Error::Checkpoint(CheckpointError::UnrestorableLocation { .. })) => {
            panic!("cuda:127 refused as a tag")
        }
        Err(e) => assert_eq!(
            e.checkpoint_kind(),
            Some(ErrorKind::DeviceUnavailable),
            "{e}"
        ),
        Ok(_) => {}
    }
}
