//! GPU faults survived, with nothing lost, and the runtime bugs the driver double found, each
//! pinned by a test that failed before its fix. Every test runs in a process of its own
//! (`common::gpu::isolated`) with the double configured for it, because it arms faults, counts
//! live allocations, or leaves a device unusable for the rest of the process.
//!
//! "Nothing lost" means: a typed error naming the device and the operation, no panic, no device
//! or pinned allocation left alive once the tensors are dropped and the caches emptied (the
//! double counts them), host data and files on disk untouched, and the device usable again
//! unless the fault was one CUDA makes sticky.

#[macro_use]
mod common;

use common::gpu::{double, isolated};
use common::rng::Rng;
use tensorport::checkpoint::StateDict;
use tensorport::cuda::{availability, empty_cache, synchronize};
use tensorport::nn::{Module, Net};
use tensorport::ops::relu;
use tensorport::{load, save, Device, Error, ErrorKind, MapLocation, NoCudaReason, Tensor};

const CUDA0: Device = Device::Cuda(0);
const CUDA1: Device = Device::Cuda(1);

fn host(n: usize, seed: u64) -> Tensor {
    Tensor::from_vec(Rng::new(seed).vec_scaled(n, 2.0), &[n]).expect("tensor")
}

fn bytes(t: &Tensor) -> Vec<u8> {
    t.to(&Device::Cpu)
        .expect("to host")
        .contiguous_bytes()
        .expect("bytes")
        .into_owned()
}

/// Asserts `got == want` byte for byte, naming the first difference (not printing megabytes).
fn assert_same(got: &[u8], want: &[u8], what: &str) {
    let first = got.iter().zip(want).position(|(a, b)| a != b);
    assert!(
        got.len() == want.len() && first.is_none(),
        "{what}: {} vs {} bytes, first difference at byte {first:?} (0xff: the poison of a fresh \
         allocation, i.e. read before written)",
        got.len(),
        want.len()
    );
}

/// Asserts that nothing is left alive on `devices` (device memory) or pinned, once the caches
/// are emptied.
fn assert_no_leaks(devices: &[usize]) {
    let d = double().expect("the driver double");
    for &i in devices {
        empty_cache(&Device::Cuda(i)).expect("empty_cache");
        assert_eq!(d.live(i as i32), (0, 0), "live allocations on cuda:{i}");
    }
    assert_eq!(d.live_pinned(), (0, 0), "live pinned allocations");
}

/// A state dict of six float tensors (one big enough for the pinned staging path).
fn six_tensors() -> StateDict {
    let mut sd = StateDict::new();
    for (i, n) in [1000usize, 5000, (16 << 20) / 4 + 99, 7, 4096, 300]
        .into_iter()
        .enumerate()
    {
        sd.insert(&format!("t{i}"), host(n, i as u64));
    }
    sd
}

#[test]
fn out_of_memory_halfway_through_loading_a_checkpoint() {
    isolated(test_name!(), &[], || {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("six.pt");
        let sd = six_tensors();
        save(&sd.to_value(), &path).expect("save");
        let on_disk = std::fs::read(&path).expect("read");
        // The fourth device allocation of the load fails.
        double()
            .expect("double")
            .arm("TP_FAKE_CUDA_FAIL_ALLOC", 0, 4)
            .expect("arm");
        let err = match load(&path, &MapLocation::To(CUDA0)) {
            Err(e) => e,
            Ok(_) => panic!("the load must fail when an allocation does"),
        };
        assert!(
            matches!(&err, Error::Cuda { device: CUDA0, code: 2, op, .. } if op.contains("allocating")),
            "{err:?}"
        );
        assert_eq!(err.checkpoint_kind(), Some(ErrorKind::ResourceLimit));
        let text = err.to_string();
        assert!(
            text.contains("cuda:0") && text.contains("CUDA_ERROR_OUT_OF_MEMORY"),
            "{text}"
        );
        // The three tensors placed before the failure were freed with the half-built result.
        assert_no_leaks(&[0]);
        assert_eq!(
            std::fs::read(&path).expect("read"),
            on_disk,
            "the file is untouched"
        );
        // Not sticky: the same load now works, bit for bit.
        let ck = load(&path, &MapLocation::To(CUDA0)).expect("load after the failure");
        for (k, t) in sd.iter() {
            let got = ck.state_dict().expect("sd").get(k).expect("tensor").clone();
            assert_eq!(got.device(), CUDA0);
            assert_same(&bytes(&got), &bytes(t), k);
        }
        drop(ck);
        assert_no_leaks(&[0]);
    });
}

#[test]
fn launch_failure_in_the_middle_of_a_forward() {
    isolated(test_name!(), &[], || {
        let x = Tensor::from_vec(
            Rng::new(5).vec_scaled(4 * 3 * 32 * 32, 2.0),
            &[4, 3, 32, 32],
        )
        .expect("x");
        let x_before = bytes(&x);
        let mut net = Net::new(1).expect("net");
        let want = net
            .forward(&x)
            .expect("cpu forward")
            .to_vec::<f32>()
            .expect("f32");
        net.to_device(&CUDA0).expect("to GPU");
        let xg = x.to(&CUDA0).expect("x to GPU");
        // conv1 with its relu and pool (one launch), then conv2 (6 -> 16 channels, 5x5: the
        // register-blocked small-channel kernel, relu and pool fused too) is refused at launch.
        double()
            .expect("double")
            .arm("TP_FAKE_CUDA_FAIL_LAUNCH", 0, 2)
            .expect("arm");
        let err = net.forward(&xg).expect_err("the second launch fails");
        assert!(
            matches!(&err, Error::Cuda { device: CUDA0, op, name, .. }
                if op.contains("conv2d_small5_pool_f32") && name == "CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES"),
            "{err:?}"
        );
        assert_same(&bytes(&x), &x_before, "host input untouched");
        // The device is fine: the next forward gives the CPU's answer (within the kernels'
        // reduction-order tolerance, checked bit-exactly elsewhere against the same kernels).
        let again = net.forward(&xg).expect("forward after the failure");
        let got = again
            .to(&Device::Cpu)
            .expect("host")
            .to_vec::<f32>()
            .expect("f32");
        for (g, c) in got.iter().zip(&want) {
            assert!((g - c).abs() <= 1e-4 + 1e-4 * c.abs(), "{g} vs {c}");
        }
        drop((net, xg, again));
        assert_no_leaks(&[0]);
    });
}

#[test]
fn a_faulted_device_is_unusable_and_the_others_are_not() {
    isolated(test_name!(), &[("TP_FAKE_CUDA_DEVICES", "2")], || {
        let x = host(10_000, 3);
        let on1 = x.to(&CUDA1).expect("to cuda:1");
        double()
            .expect("double")
            .arm("TP_FAKE_CUDA_FAULT_LAUNCH", 1, 1)
            .expect("arm");
        // The launch is queued fine; the fault shows when its result is read.
        let y = relu(&on1).expect("queued");
        let err = y.to(&Device::Cpu).expect_err("reading a faulted result");
        assert!(
            matches!(&err, Error::CudaFault { device: CUDA1, .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains("sticky"), "{err}");
        assert!(double().expect("double").is_sticky(1));
        // Sticky: every later operation on cuda:1 says so.
        for r in [
            x.to(&CUDA1).map(|_| ()),
            synchronize(&CUDA1),
            on1.to(&Device::Cpu).map(|_| ()),
        ] {
            assert!(
                matches!(r, Err(Error::CudaFault { device: CUDA1, .. })),
                "{r:?}"
            );
        }
        // cuda:0 is untouched and works.
        let on0 = x.to(&CUDA0).expect("to cuda:0");
        let r0 = relu(&on0).expect("relu on cuda:0");
        assert_same(&bytes(&r0), &bytes(&relu(&x).expect("cpu relu")), "r0");
        assert_eq!(
            x.to_vec::<f32>().expect("host"),
            host(10_000, 3).to_vec::<f32>().expect("h")
        );
        drop((on0, r0));
        assert_no_leaks(&[0]);
    });
}

#[test]
fn a_save_of_gpu_tensors_that_fails_halfway_keeps_the_previous_file() {
    isolated(test_name!(), &[], || {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("model.pt");
        let mut old = StateDict::new();
        old.insert("w", host(100, 1));
        save(&old.to_value(), &path).expect("first save");
        let before = std::fs::read(&path).expect("read");
        // A state dict whose second tensor lives on a device that then faults.
        let mut sd = StateDict::new();
        sd.insert("a", host(1000, 2));
        let g = host(1000, 3).to(&CUDA0).expect("to GPU");
        double()
            .expect("double")
            .arm("TP_FAKE_CUDA_FAULT_LAUNCH", 0, 1)
            .expect("arm");
        let r = relu(&g).expect("queued");
        sd.insert("b", r);
        let err = save(&sd.to_value(), &path).expect_err("the save must fail");
        assert!(
            matches!(&err, Error::CudaFault { device: CUDA0, .. }),
            "{err:?}"
        );
        assert_eq!(
            std::fs::read(&path).expect("read"),
            before,
            "previous file intact"
        );
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .expect("ls")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names.len(), 1, "no temporary file left behind: {names:?}");
        assert_eq!(
            load(&path, &MapLocation::Keep)
                .expect("old file loads")
                .state_dict()
                .expect("sd")
                .get("w")
                .expect("w")
                .to_vec::<f32>()
                .expect("f32"),
            host(100, 1).to_vec::<f32>().expect("f32")
        );
    });
}

/// Bug: `DeviceBuf` had no `Drop`; cudarc freed with `cuMemFreeAsync(ptr, 0)` on whatever
/// context was current. On a thread with none, the free failed, the memory leaked, and the
/// stored error made the next unrelated call on the device fail with
/// `CUDA_ERROR_INVALID_CONTEXT`.
#[test]
fn a_buffer_dropped_on_a_thread_without_a_context_is_freed() {
    isolated(test_name!(), &[], || {
        let x = host(50_000, 4);
        let g = x.to(&CUDA0).expect("to GPU");
        std::thread::spawn(move || drop(g)).join().expect("thread");
        let again = x.to(&CUDA0).expect("the next call works");
        assert_same(
            &bytes(&relu(&again).expect("relu")),
            &bytes(&relu(&x).expect("cpu")),
            "relu after the drop",
        );
        synchronize(&CUDA0).expect("no error stored by the free");
        drop(again);
        assert_no_leaks(&[0]);
    });
}

/// Bug: dropped on a thread whose current context is another GPU's, the free was queued on
/// that GPU's stream, so it ran before this GPU's pending kernel that still read the buffer
/// (the pool could hand the memory to someone else meanwhile). The double makes the kernel
/// slow and checks every pointer of a launch when it runs.
#[test]
fn a_buffer_dropped_on_a_thread_bound_to_another_gpu_outlives_its_kernels() {
    isolated(
        test_name!(),
        &[
            ("TP_FAKE_CUDA_DEVICES", "2"),
            ("TP_FAKE_CUDA_OP_DELAY_US", "20000"),
        ],
        || {
            let x = host(100_000, 6);
            let g = x.to(&CUDA0).expect("to cuda:0");
            let y = relu(&g).expect("queued on cuda:0");
            std::thread::spawn(move || {
                // This thread's current context becomes cuda:1's.
                let other = host(10, 1).to(&CUDA1).expect("to cuda:1");
                drop(g);
                drop(other);
            })
            .join()
            .expect("thread");
            assert_same(&bytes(&y), &bytes(&relu(&x).expect("cpu relu")), "y");
            synchronize(&CUDA1).expect("cuda:1 fine");
            drop(y);
            assert_no_leaks(&[0, 1]);
        },
    );
}

/// Bug: a GPU-to-GPU copy went through cudarc's cross-context `memcpy_dtod`, which queued
/// `cuMemcpyPeerAsync` on stream 0 with the source context current, so later work on the
/// destination did not wait for it and read stale memory. With copies that take time
/// (`TP_FAKE_CUDA_DMA_GBPS`) a kernel on the destination saw the poison of a fresh allocation.
#[test]
fn a_peer_copy_is_ordered_before_later_work_on_the_destination() {
    isolated(
        test_name!(),
        &[
            ("TP_FAKE_CUDA_DEVICES", "2"),
            ("TP_FAKE_CUDA_DMA_GBPS", "0.25"),
        ],
        || {
            let x = host(1 << 20, 8);
            let a = x.to(&CUDA0).expect("to cuda:0");
            for _ in 0..3 {
                let b = a.to(&CUDA1).expect("peer copy");
                let y = relu(&b).expect("relu on cuda:1");
                assert_same(&bytes(&y), &bytes(&relu(&x).expect("cpu relu")), "y");
                let back = b.to(&CUDA0).expect("and back");
                assert_same(&bytes(&back), &bytes(&x), "back");
            }
            drop(a);
            assert_no_leaks(&[0, 1]);
        },
    );
}

/// Bug: the pool's release threshold was the driver's default, 0, so each synchronisation
/// returned the freed activations to the OS and the next forward mapped them again.
#[test]
fn the_memory_pool_keeps_freed_memory_across_synchronize() {
    isolated(test_name!(), &[], || {
        let mut net = Net::new(2).expect("net");
        net.to_device(&CUDA0).expect("to GPU");
        let x = Tensor::from_vec(
            Rng::new(1).vec_scaled(8 * 3 * 32 * 32, 2.0),
            &[8, 3, 32, 32],
        )
        .expect("x")
        .to(&CUDA0)
        .expect("x");
        for _ in 0..3 {
            let y = net.forward(&x).expect("forward");
            drop(y);
            synchronize(&CUDA0).expect("sync");
        }
        assert_eq!(
            double().expect("double").pool_releases(0),
            0,
            "memory went back to the OS at a synchronize"
        );
    });
}

#[test]
fn the_toolkit_stub_driver_is_named_as_such() {
    isolated(test_name!(), &[("TP_FAKE_CUDA_STUB", "1")], || {
        assert_eq!(availability(), Err(NoCudaReason::StubDriver));
        let err = host(3, 1).to(&CUDA0).expect_err("no usable driver");
        assert!(
            matches!(
                &err,
                Error::CudaUnavailable {
                    reason: NoCudaReason::StubDriver,
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains("stub"), "{err}");
    });
}

#[test]
fn a_driver_without_an_entry_point_is_a_typed_reason_not_a_panic() {
    isolated(
        test_name!(),
        &[("TP_FAKE_CUDA_DROP_SYMBOL", "cuMemcpyPeerAsync")],
        || {
            assert_eq!(
                availability(),
                Err(NoCudaReason::MissingSymbol {
                    symbol: "cuMemcpyPeerAsync".into()
                })
            );
            let err = host(3, 1).to(&CUDA0).expect_err("no usable driver");
            assert!(err.to_string().contains("cuMemcpyPeerAsync"), "{err}");
        },
    );
}

/// Bug: all work went to each context's legacy stream (stream 0), whose meaning depends on the
/// calling thread's current context. Now each device has one explicit stream, created once.
#[test]
fn each_device_queues_its_work_on_one_stream_of_its_own() {
    isolated(test_name!(), &[("TP_FAKE_CUDA_DEVICES", "2")], || {
        let x = host(1000, 1);
        for d in [CUDA0, CUDA1, CUDA0, CUDA1] {
            let y = relu(&x.to(&d).expect("to GPU")).expect("relu");
            assert_same(&bytes(&y), &bytes(&relu(&x).expect("cpu")), "relu");
        }
        let calls = double().expect("double").calls();
        let count = |name: &str| calls.iter().find(|(n, _)| n == name).map_or(0, |c| c.1);
        assert_eq!(
            count("cuStreamCreate"),
            2,
            "one stream per device: {calls:?}"
        );
    });
}
