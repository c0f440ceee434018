//! The driver double's modules and launches (`relu_f32` from `kernels/ptx/relu.ptx` run by the
//! emulator), the launch checks, sticky errors, fault injection and the memory pool.

mod driver_common;

use driver_common::*;

#[test]
fn relu_runs_through_module_load_and_launch() {
    let _g = shared();
    let cu = &env().cu;
    ctx(8);
    let r = load_relu();
    // The in-process emulator (the static library) has the same kernel.
    assert!(tensorport_emu::kernels().contains(&("relu_f32".to_owned(), 3)));
    let x: Vec<f32> = (0..1000).map(|i| i as f32 - 500.0).collect();
    let (dx, dy) = (alloc(4000), alloc(4000));
    upload(dx, &x);
    assert_eq!(launch_relu(&r, 1000, dx, dy, 256, 0, null_mut()), SUCCESS);
    let want: Vec<f32> = x.iter().map(|v| v.max(0.0)).collect();
    assert_eq!(download(dy, 1000), want);
    // PTX that disagrees with the emulator's build is refused at load time.
    let mut module = null_mut();
    for (bad, want) in [
        (
            RELU_PTX.replace("relu_f32_param_0[8]", "relu_f32_param_0[16]"),
            INVALID_PTX,
        ),
        (RELU_PTX.replace("relu_f32", "relu_f16"), NOT_FOUND),
        ("not ptx".to_owned(), INVALID_PTX),
    ] {
        let text = CString::new(bad).unwrap();
        // SAFETY: NUL-terminated text; out-pointer to a local.
        assert_eq!(
            unsafe { (cu.cuModuleLoadData)(&mut module, text.as_ptr().cast()) },
            want
        );
    }
    // The synchronous checks: launch bounds, dynamic shared memory.
    assert_eq!(
        launch_relu(&r, 1000, dx, dy, 512, 0, null_mut()),
        INVALID_VALUE
    );
    assert_eq!(
        launch_relu(&r, 1000, dx, dy, 256, 16, null_mut()),
        INVALID_VALUE
    );
    // SAFETY: a context is current.
    assert_eq!(unsafe { (cu.cuCtxSynchronize)() }, SUCCESS);
}

#[test]
fn a_pointer_of_another_device_is_a_sticky_illegal_address() {
    let _g = shared();
    let Env { double, cu } = env();
    ctx(10);
    let foreign = alloc(4000);
    ctx(9);
    let r = load_relu();
    let dx = alloc(4000);
    assert_eq!(
        launch_relu(&r, 1000, dx, foreign, 256, 0, null_mut()),
        SUCCESS
    );
    // SAFETY: a context is current; out-pointer to a local.
    unsafe {
        assert_eq!((cu.cuCtxSynchronize)(), ILLEGAL_ADDRESS);
        let mut p = 0;
        assert_eq!(
            (cu.cuMemAlloc_v2)(&mut p, 16),
            ILLEGAL_ADDRESS,
            "sticky: every later call"
        );
    }
    let (code, why) = double.sticky(9).expect("sticky");
    assert_eq!(code, ILLEGAL_ADDRESS);
    assert!(why.contains("cuda:9"), "{why}");
    assert!(!double.is_sticky(10), "the other device keeps working");
    ctx(10);
    assert!(poisoned(&download(foreign, 4)));
}

#[test]
fn use_after_free_is_an_error_not_a_crash() {
    let _g = shared();
    let Env { double, cu } = env();
    ctx(11);
    let r = load_relu();
    let (dx, dy) = (alloc(4000), alloc(4000));
    // SAFETY: pointers from the double; out is writable.
    unsafe {
        assert_eq!((cu.cuMemFree_v2)(dx), SUCCESS);
        let mut out = [0f32; 4];
        assert_eq!(
            (cu.cuMemcpyDtoH_v2)(out.as_mut_ptr().cast(), dx, 16),
            INVALID_VALUE
        );
        assert_eq!(launch_relu(&r, 1000, dx, dy, 256, 0, null_mut()), SUCCESS);
        assert_eq!((cu.cuCtxSynchronize)(), ILLEGAL_ADDRESS);
    }
    assert!(double.is_sticky(11));
}

#[test]
fn injected_alloc_and_launch_failures() {
    let _g = shared();
    let Env { double, cu } = env();
    ctx(12);
    double.arm("TP_FAKE_CUDA_FAIL_ALLOC", 12, 2).unwrap();
    let mut p = 0;
    // SAFETY: out-pointer to a local; a context is current.
    unsafe {
        assert_eq!((cu.cuMemAlloc_v2)(&mut p, 16), SUCCESS);
        assert_eq!((cu.cuMemAlloc_v2)(&mut p, 16), OUT_OF_MEMORY);
        assert_eq!((cu.cuMemAlloc_v2)(&mut p, 16), SUCCESS);
        assert_eq!(
            (cu.cuMemAlloc_v2)(&mut p, 8 << 30),
            OUT_OF_MEMORY,
            "beyond capacity"
        );
    }
    let r = load_relu();
    let (dx, dy) = (alloc(400), alloc(400));
    double.arm("TP_FAKE_CUDA_FAIL_LAUNCH", 12, 1).unwrap();
    assert_eq!(
        launch_relu(&r, 100, dx, dy, 128, 0, null_mut()),
        LAUNCH_OUT_OF_RESOURCES
    );
    assert_eq!(launch_relu(&r, 100, dx, dy, 128, 0, null_mut()), SUCCESS);
    // SAFETY: a context is current.
    assert_eq!(unsafe { (cu.cuCtxSynchronize)() }, SUCCESS, "not sticky");
    assert!(!double.is_sticky(12));
}

#[test]
fn an_injected_launch_fault_is_sticky() {
    let _g = shared();
    let Env { double, cu } = env();
    ctx(13);
    let r = load_relu();
    let (dx, dy) = (alloc(400), alloc(400));
    double.arm("TP_FAKE_CUDA_FAULT_LAUNCH", 13, 2).unwrap();
    assert_eq!(launch_relu(&r, 100, dx, dy, 128, 0, null_mut()), SUCCESS);
    // SAFETY: a context is current.
    assert_eq!(unsafe { (cu.cuCtxSynchronize)() }, SUCCESS);
    assert_eq!(launch_relu(&r, 100, dx, dy, 128, 0, null_mut()), SUCCESS);
    // SAFETY: a context is current.
    assert_eq!(unsafe { (cu.cuCtxSynchronize)() }, ILLEGAL_ADDRESS);
    assert_eq!(double.sticky(13).map(|s| s.0), Some(ILLEGAL_ADDRESS));
}

#[test]
fn pools_off_refuses_stream_ordered_allocation() {
    let _g = shared();
    let Env { double, cu } = env();
    ctx(14);
    double.arm("TP_FAKE_CUDA_POOLS", 14, 0).unwrap();
    let mut p = 0;
    let mut attr = -1;
    // SAFETY: out-pointers to locals; a context is current.
    unsafe {
        assert_eq!((cu.cuDeviceGetAttribute)(&mut attr, 115, 14), SUCCESS);
        assert_eq!(attr, 0);
        assert_eq!((cu.cuMemAllocAsync)(&mut p, 16, null_mut()), NOT_SUPPORTED);
        // Without a current context, stream 0 names no stream at all.
        std::thread::spawn(|| {
            let mut p = 0;
            let rc = (env().cu.cuMemAllocAsync)(&mut p, 16, null_mut());
            assert_eq!(rc, INVALID_CONTEXT);
        })
        .join()
        .unwrap();
    }
}

#[test]
fn pool_release_threshold_accounting() {
    let _g = shared();
    let Env { double, cu } = env();
    ctx(15);
    let s = stream();
    let mut pool = null_mut();
    let get = |pool: *mut c_void, attr: c_int| {
        let mut v = 0u64;
        // SAFETY: a u64 attribute into a local.
        let rc = unsafe { (cu.cuMemPoolGetAttribute)(pool, attr, (&mut v as *mut u64).cast()) };
        assert_eq!(rc, SUCCESS);
        v
    };
    // SAFETY: handles from the double; out-pointers to locals.
    unsafe {
        assert_eq!((cu.cuDeviceGetDefaultMemPool)(&mut pool, 15), SUCCESS);
        let mut p = 0;
        assert_eq!((cu.cuMemAllocAsync)(&mut p, 1 << 20, s), SUCCESS);
        assert_eq!(get(pool, 7), 1 << 20, "used");
        assert_eq!((cu.cuMemFreeAsync)(p, s), SUCCESS);
        assert_eq!((cu.cuStreamSynchronize)(s), SUCCESS);
        // Threshold 0: the synchronisation released the freed megabyte.
        assert_eq!(double.pool_releases(15), 1);
        assert_eq!(get(pool, 5), 0, "reserved");
        let mut threshold: u64 = 2 << 20;
        let rc = (cu.cuMemPoolSetAttribute)(pool, 4, (&mut threshold as *mut u64).cast());
        assert_eq!(rc, SUCCESS);
        assert_eq!((cu.cuMemAllocAsync)(&mut p, 1 << 20, s), SUCCESS);
        assert_eq!(double.live(15), (1, 1 << 20));
        assert_eq!((cu.cuMemFreeAsync)(p, s), SUCCESS);
        assert_eq!((cu.cuStreamSynchronize)(s), SUCCESS);
        assert_eq!(double.live(15), (0, 0));
        assert_eq!(double.pool_releases(15), 1, "under the threshold: kept");
        assert_eq!(get(pool, 5), 1 << 20);
        assert_eq!((cu.cuMemPoolTrimTo)(pool, 0), SUCCESS);
        assert_eq!(double.pool_releases(15), 2);
        assert_eq!(get(pool, 5), 0);
    }
}

/// Stream capture: launches on a capturing stream are recorded, not run; the graph replays
/// them, reading the buffers as they are at replay; anything else on the stream during the
/// capture is refused and voids it; the legacy stream never captures.
#[test]
fn captured_launches_replay_and_other_work_voids_the_capture() {
    let _g = shared();
    let cu = &env().cu;
    ctx(7);
    let r = load_relu();
    let s = stream();
    let (dx, dy) = (alloc(400), alloc(400));
    let x: Vec<f32> = (0..100).map(|i| i as f32 - 50.0).collect();
    upload(dx, &x);
    // SAFETY: a context is current; out-pointers to locals; handles come from the double.
    unsafe {
        assert_eq!(
            (cu.cuStreamBeginCapture_v2)(null_mut(), 2),
            CAPTURE_UNSUPPORTED
        );
        assert_eq!((cu.cuStreamBeginCapture_v2)(s, 2), SUCCESS);
        assert_eq!((cu.cuStreamBeginCapture_v2)(s, 2), ILLEGAL_STATE);
        let mut status = -1;
        assert_eq!((cu.cuStreamIsCapturing)(s, &mut status), SUCCESS);
        assert_eq!(status, 1);
        assert_eq!(launch_relu(&r, 100, dx, dy, 128, 0, s), SUCCESS);
        // Recorded, not run: y is still what alloc left there.
        assert_eq!((cu.cuStreamEndCapture)(s, &mut null_mut()), SUCCESS);
        assert!(poisoned(&download(dy, 100)));
        let mut graph = null_mut();
        assert_eq!((cu.cuStreamEndCapture)(s, &mut graph), ILLEGAL_STATE);
    }
    // Capture again, keeping the graph this time.
    let mut graph = null_mut();
    let mut exec = null_mut();
    // SAFETY: as above.
    unsafe {
        assert_eq!((cu.cuStreamBeginCapture_v2)(s, 2), SUCCESS);
        assert_eq!(launch_relu(&r, 100, dx, dy, 128, 0, s), SUCCESS);
        assert_eq!((cu.cuStreamEndCapture)(s, &mut graph), SUCCESS);
        assert!(!graph.is_null());
        assert_eq!(
            (cu.cuGraphInstantiateWithFlags)(&mut exec, graph, 0),
            SUCCESS
        );
        assert_eq!((cu.cuGraphLaunch)(exec, s), SUCCESS);
        assert_eq!((cu.cuStreamSynchronize)(s), SUCCESS);
    }
    let want: Vec<f32> = x.iter().map(|v| v.max(0.0)).collect();
    assert_eq!(download(dy, 100), want);
    // A replay reads the input as it is now.
    let x2: Vec<f32> = x.iter().map(|v| -v).collect();
    upload(dx, &x2);
    // SAFETY: as above.
    unsafe {
        assert_eq!((cu.cuGraphLaunch)(exec, s), SUCCESS);
        assert_eq!((cu.cuStreamSynchronize)(s), SUCCESS);
    }
    let want2: Vec<f32> = x2.iter().map(|v| v.max(0.0)).collect();
    assert_eq!(download(dy, 100), want2);
    // A copy during a capture is refused and voids it.
    // SAFETY: as above; the host buffer outlives the (refused) copy.
    unsafe {
        assert_eq!((cu.cuStreamBeginCapture_v2)(s, 2), SUCCESS);
        assert_eq!(launch_relu(&r, 100, dx, dy, 128, 0, s), SUCCESS);
        let host = [0f32; 4];
        assert_eq!(
            (cu.cuMemcpyHtoDAsync_v2)(dx, host.as_ptr().cast(), 16, s),
            CAPTURE_UNSUPPORTED
        );
        let mut d = 0;
        assert_eq!((cu.cuMemAllocAsync)(&mut d, 64, s), CAPTURE_UNSUPPORTED);
        let mut status = -1;
        assert_eq!((cu.cuStreamIsCapturing)(s, &mut status), SUCCESS);
        assert_eq!(status, 2);
        let mut void = null_mut();
        assert_eq!((cu.cuStreamEndCapture)(s, &mut void), CAPTURE_INVALIDATED);
        assert!(void.is_null());
        // The stream works again once the capture has ended.
        assert_eq!((cu.cuStreamSynchronize)(s), SUCCESS);
        assert_eq!((cu.cuGraphExecDestroy)(exec), SUCCESS);
        assert_eq!((cu.cuGraphDestroy)(graph), SUCCESS);
        assert_eq!((cu.cuGraphDestroy)(graph), INVALID_HANDLE);
    }
}
