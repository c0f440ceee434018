//! The CUDA runtime: detection, transfers, checkpoints on GPUs (ops: `tests/cuda_ops.rs`).
//!
//! Tests that need no GPU run everywhere and check that a machine without a driver or device
//! gets typed errors, never a panic. GPU tests are written once as `fn(&Device)` bodies in
//! `bodies` and expanded by `gpu_tests!` into one test each that runs the body on every GPU
//! present; with no GPU they print that they skipped, unless `TENSORPORT_REQUIRE_CUDA=1`, which
//! turns the skip into a failure (set it on GPU CI machines).

#[macro_use]
mod common;

use common::rng::Rng;
use tensorport::checkpoint::{Checkpoint, StateDict};
use tensorport::cuda::STAGE_MIN;
use tensorport::cuda::{availability as cuda_availability, device_count as cuda_device_count};
use tensorport::ops::relu;
use tensorport::ops::{max_pool2d, MaxPool2dArgs};
use tensorport::{load, save, Device, Error, MapLocation, NoCudaReason, Tensor};

use bodies::*;

gpu_tests!(
    round_trip_is_bit_exact,
    views_stay_views,
    gpu_to_gpu,
    non_contiguous_input_is_a_typed_error,
    checkpoint_loads_onto_gpu_with_sharing,
    save_of_gpu_tensors_writes_cuda_tags,
);

#[cfg(feature = "cuda")]
#[test]
fn stage_min_matches_the_runtime() {
    assert_eq!(STAGE_MIN, tensorport::cuda::STAGE_MIN);
}

#[test]
fn detection_is_typed_and_cached() {
    let _ = common::gpu::setup();
    let a = cuda_availability();
    assert_eq!(a, cuda_availability());
    assert_eq!(cuda_device_count(), a.clone().unwrap_or(0));
    #[cfg(not(feature = "cuda"))]
    assert_eq!(a, Err(NoCudaReason::NotCompiled));
    if let Err(reason) = &a {
        assert!(!reason.to_string().is_empty());
        println!("no CUDA here: {reason}");
    }
}

#[test]
fn moving_to_a_missing_gpu_is_a_typed_error() {
    let _ = common::gpu::setup();
    let t = Tensor::from_vec(vec![1f32, -2.0, 3.0], &[3]).unwrap();
    let count = cuda_device_count();
    // An ordinal past the last device fails everywhere, with or without GPUs.
    match t.to(&Device::Cuda(count)) {
        Err(Error::CudaUnavailable { reason, .. }) => match cuda_availability() {
            Ok(n) => assert_eq!(
                reason,
                NoCudaReason::OrdinalOutOfRange {
                    ordinal: n,
                    count: n
                }
            ),
            Err(r) => assert_eq!(reason, r),
        },
        other => panic!(
            "expected Error::CudaUnavailable, got {:?}",
            other.map(|t| t.device())
        ),
    }
    // To the same device is a cheap clone sharing the storage.
    let same = t.to(&Device::Cpu).unwrap();
    assert!(same.shares_storage(&t));
}

#[test]
fn loading_onto_a_missing_gpu_is_a_typed_error() {
    let _ = common::gpu::setup();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sd.pt");
    let mut sd = StateDict::new();
    sd.insert("w", Tensor::from_vec(vec![1f32, 2.0], &[2]).unwrap());
    save(&sd.to_value(), &path).unwrap();
    let ordinal = cuda_device_count();
    let err = match load(&path, &MapLocation::To(Device::Cuda(ordinal))) {
        Err(e) => e,
        Ok(_) => panic!("loading onto cuda:{ordinal} must fail"),
    };
    assert_eq!(
        err.checkpoint_kind(),
        Some(tensorport::ErrorKind::DeviceUnavailable),
        "{err}"
    );
    // map_location=cpu still works on the same file.
    let ck = load(&path, &MapLocation::To(Device::Cpu)).unwrap();
    assert_eq!(
        ck.state_dict().unwrap().get("w").unwrap().device(),
        Device::Cpu
    );
}

#[test]
fn ops_on_cpu_are_unchanged_by_dispatch() {
    let x = Tensor::from_vec(Rng::new(1).vec_scaled(2 * 3 * 6 * 6, 2.0), &[2, 3, 6, 6]).unwrap();
    assert_eq!(relu(&x).unwrap().device(), Device::Cpu);
    let y = max_pool2d(&x, &MaxPool2dArgs::new(2)).unwrap();
    assert_eq!(y.shape(), &[2, 3, 3, 3]);
}

/// The GPU test bodies, one `fn(&Device)` each.
/// The GPU test bodies, one `fn(&Device)` each.
mod bodies {
    use super::*;
    use crate::common::closeness::{assert_close, Tol};

    fn bytes_of(t: &Tensor) -> Vec<u8> {
        t.contiguous_bytes().unwrap().into_owned()
    }

    pub fn round_trip_is_bit_exact(dev: &Device) {
        // Empty, small (pageable path), and larger than the staging threshold with a ragged
        // last chunk (pinned double-buffered path).
        let big = STAGE_MIN * 2 + 12_345;
        for n in [0usize, 1, 1000, big / 4] {
            let mut v = Rng::new(n as u64).vec_scaled(n, 2.0);
            if n > 3 {
                v[0] = f32::NAN;
                v[1] = -0.0;
                v[2] = f32::from_bits(1); // a denormal
            }
            let host = Tensor::from_vec(v, &[n]).unwrap();
            let on_gpu = host.to(dev).unwrap();
            assert_eq!(on_gpu.device(), *dev);
            assert_eq!(on_gpu.shape(), host.shape());
            let back = on_gpu.to(&Device::Cpu).unwrap();
            assert_eq!(bytes_of(&back), bytes_of(&host), "{n} elements");
        }
        // Other dtypes travel as bytes.
        let ints = Tensor::from_vec((0..1000i64).collect::<Vec<_>>(), &[10, 100]).unwrap();
        let back = ints.to(dev).unwrap().to(&Device::Cpu).unwrap();
        assert_eq!(back.to_vec::<i64>().unwrap(), ints.to_vec::<i64>().unwrap());
        // Host reads of device data are typed errors, not panics.
        assert!(ints.to(dev).unwrap().to_vec::<i64>().is_err());
    }

    pub fn views_stay_views(dev: &Device) {
        let base = Tensor::from_vec(Rng::new(7).vec_scaled(4 * 6, 2.0), &[4, 6]).unwrap();
        // A transposed window at an offset: [3, 2] over rows 1.., columns 0..2, transposed.
        let view = Tensor::from_storage(
            base.storage().clone(),
            base.dtype(),
            6,
            vec![2, 3],
            vec![1, 6],
        )
        .unwrap();
        let g = view.to(dev).unwrap();
        assert_eq!(g.shape(), view.shape());
        assert_eq!(g.strides(), view.strides());
        assert_eq!(g.storage_offset(), view.storage_offset());
        assert_eq!(g.storage().nbytes(), base.storage().nbytes());
        let back = g.to(&Device::Cpu).unwrap();
        assert_eq!(back.to_vec::<f32>().unwrap(), view.to_vec::<f32>().unwrap());
        // Same device: a clone sharing the device storage.
        assert!(g.to(dev).unwrap().shares_storage(&g));
    }

    pub fn gpu_to_gpu(dev: &Device) {
        let host = Tensor::from_vec(Rng::new(3).vec_scaled(3 << 20, 2.0), &[3, 1 << 20]).unwrap();
        let a = host.to(dev).unwrap();
        for other in 0..cuda_device_count() {
            let target = Device::Cuda(other);
            let b = a.to(&target).unwrap();
            assert_eq!(b.device(), target);
            assert_eq!(b.shares_storage(&a), target == *dev);
            let back = b.to(&Device::Cpu).unwrap();
            assert!(
                bytes_of(&back) == bytes_of(&host),
                "{dev} -> {target}: the bytes differ"
            );
        }
    }

    pub fn non_contiguous_input_is_a_typed_error(dev: &Device) {
        let base = Tensor::from_vec(Rng::new(2).vec_scaled(4 * 6, 2.0), &[4, 6]).unwrap();
        let t = Tensor::from_storage(
            base.storage().clone(),
            base.dtype(),
            0,
            vec![6, 4],
            vec![1, 6],
        )
        .unwrap();
        let g = t.to(dev).unwrap();
        assert!(matches!(relu(&g), Err(Error::InvalidArgument { .. })));
        // The documented way round it.
        let fixed = g
            .to(&Device::Cpu)
            .unwrap()
            .contiguous()
            .unwrap()
            .to(dev)
            .unwrap();
        let got = relu(&fixed)
            .unwrap()
            .to(&Device::Cpu)
            .unwrap()
            .to_vec::<f32>()
            .unwrap();
        assert_close(
            "relu of the fixed copy",
            &got,
            &relu(&t).unwrap().to_vec::<f32>().unwrap(),
            Tol::Exact,
        );
    }

    pub fn checkpoint_loads_onto_gpu_with_sharing(dev: &Device) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("shared.pt");
        // Three tensors over two storages: `w` and its row view `w_row1` share one, and `big`
        // is large enough to take the pinned staging path.
        let w = Tensor::from_vec(Rng::new(9).vec_scaled(4 * 5, 2.0), &[4, 5]).unwrap();
        let w_row1 =
            Tensor::from_storage(w.storage().clone(), w.dtype(), 5, vec![5], vec![1]).unwrap();
        let big = Tensor::from_vec(
            Rng::new(4).vec_scaled(STAGE_MIN / 2 + 777, 2.0),
            &[STAGE_MIN / 2 + 777],
        )
        .unwrap();
        let mut sd = StateDict::new();
        sd.insert("w", w.clone());
        sd.insert("w_row1", w_row1.clone());
        sd.insert("big", big.clone());
        save(&sd.to_value(), &path).unwrap();

        let ck = load(&path, &MapLocation::To(*dev)).unwrap();
        assert_eq!(
            ck.storages().len(),
            2,
            "one device buffer per saved storage"
        );
        let got = ck.state_dict().unwrap();
        for (name, want) in [("w", &w), ("w_row1", &w_row1), ("big", &big)] {
            let t = got.get(name).unwrap();
            assert_eq!(t.device(), *dev, "{name}");
            assert_eq!(t.shape(), want.shape(), "{name}");
            let host = t.to(&Device::Cpu).unwrap();
            assert_eq!(bytes_of(&host), bytes_of(want), "{name}");
        }
        let (gw, grow) = (got.get("w").unwrap(), got.get("w_row1").unwrap());
        assert!(
            gw.shares_storage(grow),
            "shared on the host, shared on the device"
        );
        assert_eq!(grow.storage_offset(), 5);
    }

    pub fn save_of_gpu_tensors_writes_cuda_tags(dev: &Device) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gpu.pt");
        let host = Tensor::from_vec(Rng::new(8).vec_scaled(300, 2.0), &[3, 100]).unwrap();
        let mut sd = StateDict::new();
        sd.insert("x", host.to(dev).unwrap());
        sd.insert("y", host.clone());
        save(&sd.to_value(), &path).unwrap();
        let ck = Checkpoint::open(&path).unwrap();
        let mut tags: Vec<String> = ck.storages().iter().map(|s| s.location.clone()).collect();
        tags.sort();
        assert_eq!(tags, vec!["cpu".to_string(), dev.location_tag()]);
        // Opened on the host (Checkpoint::open keeps host placement), the bytes are intact.
        let x = ck
            .state_dict()
            .unwrap()
            .get("x")
            .unwrap()
            .to_vec::<f32>()
            .unwrap();
        assert_eq!(x, host.to_vec::<f32>().unwrap());
        // And loaded with map_location=Keep, it lands back on the GPU.
        let back = load(&path, &MapLocation::Keep).unwrap();
        assert_eq!(back.state_dict().unwrap().get("x").unwrap().device(), *dev);
    }
}

cuda_configs!();
