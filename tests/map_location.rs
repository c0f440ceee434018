//! `map_location` with torch.load's semantics, storage sharing, zero-copy opening, prefix
//! helpers and atomic saving, on fixtures written by real PyTorch.

mod common;

use std::sync::Arc;

use common::{describe_checkpoint, fixtures_dir, manifest};
use tensorport::checkpoint::{save_with, Checkpoint, SaveOptions};
use tensorport::{load, save, Device, ErrorKind, MapLocation, StateDict};

fn fixture(name: &str) -> std::path::PathBuf {
    fixtures_dir().join(name)
}

fn unavailable(r: tensorport::Result<Checkpoint>) -> String {
    match r {
        Ok(_) => panic!("expected a device error, the load succeeded"),
        Err(e) => {
            assert_eq!(
                e.checkpoint_kind(),
                Some(ErrorKind::DeviceUnavailable),
                "{e}"
            );
            e.to_string()
        }
    }
}

#[test]
fn gpu_tags_need_a_gpu_or_a_mapping() {
    for f in ["ok/cuda_tags.pt", "ok/legacy_cuda_tags.pt"] {
        // Keep: the saved cuda:N tags stand, and this machine (like CI) has no CUDA device.
        let msg = unavailable(load(fixture(f), &MapLocation::Keep));
        assert!(
            msg.contains("Attempting to deserialize object on a CUDA device"),
            "{msg}"
        );
        assert!(msg.contains("map_location"), "{msg}");
        // Everything to the CPU: loads, and equals torch's own reading of the file.
        let ckpt = load(fixture(f), &MapLocation::To(Device::Cpu)).expect("to cpu");
        ckpt.value()
            .visit_tensors(&mut |_, t| assert_eq!(t.device(), Device::Cpu));
        let m = manifest();
        assert_eq!(
            describe_checkpoint(&ckpt)["tensors"],
            m["files"][f]["describe"]["tensors"]
        );
        // A dict maps only the tags it lists; cuda:1 keeps its own location and fails.
        let only0 = MapLocation::Remap(vec![("cuda:0".into(), Device::Cpu)]);
        let msg = unavailable(load(fixture(f), &only0));
        assert!(msg.contains("cuda:1"), "{msg}");
        let both = MapLocation::parse("cuda:0=cpu,cuda:1=cpu").expect("parse");
        load(fixture(f), &both).expect("both tags mapped");
        // A function of the tag; None falls back to the saved location.
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let s2 = seen.clone();
        let func = MapLocation::Func(Arc::new(move |tag: &str| {
            s2.lock().expect("lock").push(tag.to_string());
            Some(Device::Cpu)
        }));
        load(fixture(f), &func).expect("func");
        assert_eq!(*seen.lock().expect("lock"), ["cuda:0", "cuda:1", "cpu"]);
        let none = MapLocation::Func(Arc::new(|tag: &str| {
            (tag == "cuda:0").then_some(Device::Cpu)
        }));
        unavailable(load(fixture(f), &none));
    }
}

#[test]
fn a_cuda_target_without_cuda_is_an_error_not_a_fallback() {
    let msg = unavailable(load(
        fixture("ok/net_state_dict.pt"),
        &MapLocation::To(Device::Cuda(0)),
    ));
    assert!(msg.contains("CUDA"), "{msg}");
    let msg = unavailable(load(
        fixture("ok/net_state_dict.pt"),
        &MapLocation::Remap(vec![("cpu".into(), Device::Cuda(3))]),
    ));
    assert!(msg.contains("cuda:3") || msg.contains("device 3"), "{msg}");
}

#[test]
fn map_location_strings_parse_like_torch_devices() {
    assert!(matches!(
        MapLocation::parse("cpu"),
        Ok(MapLocation::To(Device::Cpu))
    ));
    assert!(matches!(
        MapLocation::parse("cuda:2"),
        Ok(MapLocation::To(Device::Cuda(2)))
    ));
    assert!(matches!(
        MapLocation::parse("cuda"),
        Ok(MapLocation::To(Device::Cuda(0)))
    ));
    for bad in ["gpu", "cuda:-1", "cuda:1=", "=cpu", "cuda:1=tpu", ""] {
        assert!(MapLocation::parse(bad).is_err(), "{bad}");
    }
    assert_eq!(
        MapLocation::parse("cuda:1=cuda:0")
            .expect("remap")
            .retag("cuda:1"),
        "cuda:0"
    );
    assert_eq!(
        MapLocation::parse("cuda:1=cuda:0")
            .expect("remap")
            .retag("cuda:2"),
        "cuda:2"
    );
}

#[test]
fn open_is_zero_copy_and_sharing_survives() {
    let ckpt = Checkpoint::open(fixture("ok/net_state_dict.pt")).expect("open");
    for s in ckpt.storages() {
        assert!(s.storage.is_mapped(), "storage {} was copied", s.key);
    }
    let tied = load(fixture("ok/tied_weights.pt"), &MapLocation::Keep).expect("tied");
    let sd = tied.state_dict().expect("sd");
    let (a, b) = (
        sd.get("embed.weight").expect("a"),
        sd.get("lm_head.weight").expect("b"),
    );
    assert!(a.shares_storage(b));
    assert_eq!(tied.storages().len(), 2);
}

#[test]
fn dataparallel_prefix_round_trips_keys_and_metadata() {
    let plain = load(fixture("ok/net_state_dict.pt"), &MapLocation::Keep).expect("plain");
    let dp = load(
        fixture("ok/net_state_dict_dataparallel.pt"),
        &MapLocation::Keep,
    )
    .expect("dp");
    let plain_sd = plain.state_dict().expect("sd");
    let mut sd = dp.state_dict().expect("sd");
    assert!(sd.keys().all(|k| k.starts_with("module.")));
    sd.strip_prefix("module.").expect("strip");
    assert_eq!(
        sd.keys().collect::<Vec<_>>(),
        plain_sd.keys().collect::<Vec<_>>()
    );
    let meta_keys = |s: &StateDict| -> Vec<String> {
        let m = s.metadata().and_then(|m| m.as_dict()).expect("_metadata");
        m.iter()
            .map(|(k, _)| k.as_str().unwrap_or("?").to_string())
            .collect()
    };
    assert_eq!(meta_keys(&sd), meta_keys(&plain_sd));
    let mut again = sd.clone();
    again.add_prefix("module.").expect("add");
    assert_eq!(meta_keys(&again), meta_keys(&dp.state_dict().expect("sd")));
    assert_eq!(
        again.keys().collect::<Vec<_>>(),
        dp.state_dict().expect("sd").keys().collect::<Vec<_>>()
    );
}

#[test]
fn saving_is_atomic() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("model.pt");
    let net = load(fixture("ok/net_state_dict.pt"), &MapLocation::Keep).expect("net");
    save(net.value(), &path).expect("first save");
    let before = std::fs::read(&path).expect("read");
    // A mapped reader of the old file keeps its bytes while the file is replaced.
    let old = Checkpoint::open(&path).expect("open old");
    let tags = load(fixture("ok/tied_weights.pt"), &MapLocation::Keep).expect("tied");
    save(tags.value(), &path).expect("second save");
    assert_eq!(describe_checkpoint(&old), describe_checkpoint(&net));
    // A failed save (a storage with no data to write) leaves the file as it was and no
    // temporary file behind.
    let now = std::fs::read(&path).expect("read");
    let meta = tensorport::Tensor::from_storage(
        tensorport::Storage::meta(16),
        tensorport::DType::F32,
        0,
        vec![4],
        vec![1],
    )
    .expect("meta tensor");
    let bad = tensorport::Value::Tensor(meta);
    assert!(save_with(&bad, &path, &SaveOptions::default()).is_err());
    assert_eq!(std::fs::read(&path).expect("read"), now);
    assert_ne!(now, before);
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .expect("ls")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name() != "model.pt")
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}
