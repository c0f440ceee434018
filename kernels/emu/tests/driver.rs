//! The CPU-backed driver double (`tensorport_emu::driver`), driven through its C ABI exactly as
//! cudarc drives a real driver: devices, contexts, memory, copies, streams and events, and the
//! knobs read at `cuInit` (in child processes). Launch tests are in `driver_launch.rs`; the
//! shared set-up and the rules for running in parallel are in `driver_common`.

mod driver_common;

use driver_common::*;

#[test]
fn devices_names_and_attributes() {
    let _g = shared();
    let Env { double, cu } = env();
    // SAFETY: out-pointers to locals throughout.
    unsafe {
        let mut n = 0;
        assert_eq!((cu.cuDeviceGetCount)(&mut n), SUCCESS);
        assert_eq!(n, 16);
        let mut v = 0;
        assert_eq!((cu.cuDriverGetVersion)(&mut v), SUCCESS);
        assert_eq!(v, 12040);
        let mut dev = -1;
        assert_eq!((cu.cuDeviceGet)(&mut dev, 3), SUCCESS);
        assert_eq!(dev, 3);
        let mut name = [0 as c_char; 64];
        assert_eq!((cu.cuDeviceGetName)(name.as_mut_ptr(), 64, 3), SUCCESS);
        let name = CStr::from_ptr(name.as_ptr()).to_str().unwrap();
        assert_eq!(name, "tensorport driver double (cuda:3)");
        for (attr, want) in [
            (75, 9),
            (76, 0),
            (16, 132),
            (1, 1024),
            (4, 64),
            (10, 32),
            (115, 1),
        ] {
            let mut x = -1;
            assert_eq!((cu.cuDeviceGetAttribute)(&mut x, attr, 0), SUCCESS);
            assert_eq!(x, want, "attribute {attr}");
        }
        let mut x = 0;
        assert_eq!((cu.cuDeviceGetAttribute)(&mut x, 135, 0), INVALID_VALUE);
        let mut total = 0usize;
        assert_eq!((cu.cuDeviceTotalMem_v2)(&mut total, 0), SUCCESS);
        assert_eq!(total, 4096 << 20);
        // Counted: cuDeviceGetUuid_v2 is called by this test only.
        let before = count(double, "cuDeviceGetUuid_v2");
        let mut uuid = [0u8; 16];
        assert_eq!((cu.cuDeviceGetUuid_v2)(&mut uuid, 0), SUCCESS);
        assert_eq!(count(double, "cuDeviceGetUuid_v2"), before + 1);
        let mut s: *const c_char = std::ptr::null();
        assert_eq!((cu.cuGetErrorName)(ILLEGAL_ADDRESS, &mut s), SUCCESS);
        assert_eq!(
            CStr::from_ptr(s).to_str().unwrap(),
            "CUDA_ERROR_ILLEGAL_ADDRESS"
        );
        assert_eq!((cu.cuGetErrorName)(STUB_LIBRARY, &mut s), SUCCESS);
        // No context is current on this fresh test thread.
        let mut c: Ctx = null_mut();
        assert_eq!((cu.cuCtxGetCurrent)(&mut c), SUCCESS);
        assert!(c.is_null());
        assert_eq!((cu.cuCtxSynchronize)(), INVALID_CONTEXT);
        let c0 = ctx(0);
        let mut again: Ctx = null_mut();
        assert_eq!((cu.cuDevicePrimaryCtxRetain)(&mut again, 0), SUCCESS);
        assert_eq!(c0, again, "one primary context per device");
    }
}

#[test]
fn bare_dlopen_returns_the_double() {
    let _g = shared();
    let d = &env().double;
    let name = CString::new("libcuda.so").unwrap();
    extern "C" {
        fn dlopen(filename: *const c_char, flags: c_int) -> *mut c_void;
    }
    // SAFETY: what cudarc does: RTLD_LAZY | RTLD_LOCAL by bare name.
    let h = unsafe { dlopen(name.as_ptr(), 1) };
    assert_eq!(h, d.handle());
    assert_eq!(d.path(), std::path::Path::new(driver::LIB));
}

#[test]
fn allocations_are_poisoned_and_round_trip() {
    let _g = shared();
    let d = &env().double;
    ctx(1);
    let p = alloc(1000);
    assert_eq!(p % 256, 0);
    assert!(poisoned(&download(p, 250)));
    let data: Vec<f32> = (0..250).map(|i| i as f32 - 100.0).collect();
    upload(p, &data);
    assert_eq!(download(p, 250), data);
    // Beyond the allocation: refused when queued.
    let mut out = [0f32; 4];
    // SAFETY: out is writable; the range is rejected before anything is read.
    let rc = unsafe { (env().cu.cuMemcpyDtoH_v2)(out.as_mut_ptr().cast(), p + 996, 8) };
    assert_eq!(rc, INVALID_VALUE);
    let q = alloc(64);
    assert_eq!(d.live(1), (2, 1064));
    // SAFETY: pointers from cuMemAlloc_v2.
    unsafe {
        assert_eq!((env().cu.cuMemFree_v2)(p), SUCCESS);
        assert_eq!((env().cu.cuMemFree_v2)(q), SUCCESS);
        assert_eq!((env().cu.cuMemFree_v2)(q), INVALID_VALUE, "double free");
    }
    assert_eq!(d.live(1), (0, 0));
}

#[test]
fn pageable_is_staged_and_pinned_is_read_when_the_copy_runs() {
    let _g = exclusive();
    let Env { double, cu } = env();
    ctx(2);
    double.arm("TP_FAKE_CUDA_OP_DELAY_US", 0, 20_000).unwrap();
    let s = stream();
    let p = alloc(16);
    let q = alloc(16);
    // SAFETY: host buffers outlive the synchronisations below; pinned memory is freed last.
    unsafe {
        let mut host = [1f32; 4];
        assert_eq!(
            (cu.cuMemcpyHtoDAsync_v2)(p, host.as_ptr().cast(), 16, s),
            SUCCESS
        );
        host = [2f32; 4]; // after the call: the staged copy must not see this
        let mut pinned: *mut c_void = null_mut();
        assert_eq!((cu.cuMemHostAlloc)(&mut pinned, 16, 0), SUCCESS);
        let pin = std::slice::from_raw_parts_mut(pinned.cast::<f32>(), 4);
        pin.copy_from_slice(&[3.0; 4]);
        assert_eq!((cu.cuMemcpyHtoDAsync_v2)(q, pinned, 16, s), SUCCESS);
        pin.copy_from_slice(&[4.0; 4]); // before the copy runs: a pinned copy reads this
        assert_eq!((cu.cuStreamQuery)(s), NOT_READY);
        // Into pinned memory, device to host is asynchronous: nothing there yet.
        assert_eq!((cu.cuMemcpyDtoHAsync_v2)(pinned, p, 16, s), SUCCESS);
        assert_eq!(pin[0], 4.0);
        assert_eq!((cu.cuStreamSynchronize)(s), SUCCESS);
        assert_eq!(pin, &[1.0; 4]);
        assert_eq!(host, [2.0; 4]);
        // Into pageable memory it returns only when done.
        let mut back = [0f32; 4];
        assert_eq!(
            (cu.cuMemcpyDtoHAsync_v2)(back.as_mut_ptr().cast(), q, 16, s),
            SUCCESS
        );
        assert_eq!(back, [4.0; 4]);
        assert_eq!(double.live_pinned(), (1, 16));
        assert_eq!((cu.cuMemFreeHost)(pinned), SUCCESS);
        assert_eq!(double.live_pinned(), (0, 0));
    }
    double.arm("TP_FAKE_CUDA_OP_DELAY_US", 0, 0).unwrap();
}

#[test]
fn a_stream_runs_its_work_in_order() {
    let _g = exclusive();
    let Env { double, cu } = env();
    ctx(3);
    double.arm("TP_FAKE_CUDA_OP_DELAY_US", 0, 5_000).unwrap();
    let s = stream();
    let p = alloc(64);
    // SAFETY: the host buffer outlives the synchronising download.
    unsafe {
        for v in 1..=5u8 {
            assert_eq!((cu.cuMemsetD8Async)(p, v, 64, s), SUCCESS);
        }
        assert_eq!((cu.cuStreamQuery)(s), NOT_READY);
        let mut back = [0u8; 64];
        assert_eq!(
            (cu.cuMemcpyDtoHAsync_v2)(back.as_mut_ptr().cast(), p, 64, s),
            SUCCESS
        );
        assert_eq!(
            back, [5u8; 64],
            "the last memset wins, and the download waited for it"
        );
        assert_eq!((cu.cuStreamDestroy_v2)(s), SUCCESS);
        assert_eq!((cu.cuStreamQuery)(s), 400, "destroyed stream");
        // A blocking stream (flags 0) and the legacy stream synchronise implicitly.
        let mut blocking: Stream = null_mut();
        assert_eq!((cu.cuStreamCreate)(&mut blocking, 0), SUCCESS);
        assert_eq!((cu.cuMemsetD8Async)(p, 6, 64, blocking), SUCCESS);
        assert_eq!(
            (cu.cuMemcpyDtoHAsync_v2)(back.as_mut_ptr().cast(), p, 64, null_mut()),
            SUCCESS
        );
        assert_eq!(back, [6u8; 64]);
    }
    double.arm("TP_FAKE_CUDA_OP_DELAY_US", 0, 0).unwrap();
}

#[test]
fn events_order_streams_and_devices() {
    let _g = exclusive();
    let Env { double, cu } = env();
    double.arm("TP_FAKE_CUDA_OP_DELAY_US", 0, 20_000).unwrap();
    // SAFETY: handles and pointers from the double; host buffers outlive their copies.
    unsafe {
        ctx(5);
        let s_b = stream();
        let dst = alloc(64);
        ctx(4);
        let s_a = stream();
        let src = alloc(64);
        let mut ev: Event = null_mut();
        assert_eq!((cu.cuEventCreate)(&mut ev, 2), SUCCESS);
        assert_eq!((cu.cuEventQuery)(ev), SUCCESS, "never recorded: complete");
        assert_eq!((cu.cuMemsetD8Async)(src, 7, 64, s_a), SUCCESS);
        assert_eq!((cu.cuEventRecord)(ev, s_a), SUCCESS);
        assert_eq!((cu.cuEventQuery)(ev), NOT_READY);
        // Device 5's stream waits for device 4's memset, then copies across (UVA).
        assert_eq!((cu.cuStreamWaitEvent)(s_b, ev, 0), SUCCESS);
        assert_eq!((cu.cuMemcpyDtoDAsync_v2)(dst, src, 64, s_b), SUCCESS);
        assert_eq!((cu.cuStreamSynchronize)(s_b), SUCCESS);
        assert_eq!((cu.cuEventQuery)(ev), SUCCESS);
        let mut back = [0u8; 64];
        assert_eq!(
            (cu.cuMemcpyDtoHAsync_v2)(back.as_mut_ptr().cast(), dst, 64, s_b),
            SUCCESS
        );
        assert_eq!(back, [7u8; 64]);
        // Two streams of one device: the second waits for the first's record.
        let s_c = stream();
        assert_eq!((cu.cuMemsetD8Async)(src, 9, 64, s_a), SUCCESS);
        assert_eq!((cu.cuEventRecord)(ev, s_a), SUCCESS);
        assert_eq!((cu.cuStreamWaitEvent)(s_c, ev, 0), SUCCESS);
        assert_eq!(
            (cu.cuMemcpyDtoHAsync_v2)(back.as_mut_ptr().cast(), src, 64, s_c),
            SUCCESS
        );
        assert_eq!(back, [9u8; 64]);
        assert_eq!((cu.cuEventSynchronize)(ev), SUCCESS);
    }
    double.arm("TP_FAKE_CUDA_OP_DELAY_US", 0, 0).unwrap();
}

#[test]
fn peer_copy_on_stream_zero_runs_on_the_current_contexts_legacy_stream() {
    let _g = exclusive();
    let Env { double, cu } = env();
    let data: Vec<f32> = (0..16).map(|i| i as f32).collect();
    let c_src = ctx(6);
    let src = alloc(64);
    let scratch = alloc(4);
    upload(src, &data);
    let c_dst = ctx(7);
    let dst = alloc(64);
    let dst_stream = stream();
    double.arm("TP_FAKE_CUDA_OP_DELAY_US", 0, 30_000).unwrap();
    // SAFETY: handles and pointers from the double; host buffers outlive their copies.
    unsafe {
        // The bug: the source context is current, so stream 0 is *its* legacy stream, which is
        // busy; a download ordered only on the destination's stream sees the poison.
        ctx(6);
        for _ in 0..4 {
            assert_eq!((cu.cuMemsetD8Async)(scratch, 0, 4, null_mut()), SUCCESS);
        }
        assert_eq!(
            (cu.cuMemcpyPeerAsync)(dst, c_dst, src, c_src, 64, null_mut()),
            SUCCESS
        );
        let mut early = [0f32; 16];
        let rc = (cu.cuMemcpyDtoHAsync_v2)(early.as_mut_ptr().cast(), dst, 64, dst_stream);
        assert_eq!(rc, SUCCESS);
        assert!(
            poisoned(&early),
            "the copy was queued on the source's legacy stream"
        );
        assert_eq!((cu.cuCtxSynchronize)(), SUCCESS);
        // The fix: the destination context current, stream 0 is its legacy stream.
        ctx(7);
        let fresh = alloc(64);
        assert_eq!(
            (cu.cuMemcpyPeerAsync)(fresh, c_dst, src, c_src, 64, null_mut()),
            SUCCESS
        );
        assert_eq!(download(fresh, 16), data);
    }
    double.arm("TP_FAKE_CUDA_OP_DELAY_US", 0, 0).unwrap();
}

#[test]
fn stub_knob_refuses_init() {
    if !in_child() {
        let _g = shared();
        let t = "stub_knob_refuses_init";
        assert!(child(t, &[("TP_FAKE_CUDA_STUB", "1")]), "child failed");
        return;
    }
    let d = driver::load_double().unwrap();
    let cu = Cu::load(&d);
    let mut n = 0;
    // SAFETY: the driver API, called as documented.
    unsafe {
        assert_eq!((cu.cuInit)(0), STUB_LIBRARY);
        assert_eq!((cu.cuDeviceGetCount)(&mut n), STUB_LIBRARY);
    }
}

#[test]
fn calls_before_init_are_refused() {
    if !in_child() {
        let _g = shared();
        assert!(child("calls_before_init_are_refused", &[]), "child failed");
        return;
    }
    let d = driver::load_double().unwrap();
    let cu = Cu::load(&d);
    let mut n = 0;
    // SAFETY: the driver API, called as documented.
    unsafe {
        assert_eq!((cu.cuDeviceGetCount)(&mut n), NOT_INITIALIZED);
        assert_eq!((cu.cuInit)(0), SUCCESS);
        assert_eq!((cu.cuDeviceGetCount)(&mut n), SUCCESS);
        assert_eq!(n, 1);
    }
}

#[test]
fn drop_symbol_knob_hides_one_entry_point() {
    if !in_child() {
        let _g = shared();
        let t = "drop_symbol_knob_hides_one_entry_point";
        assert!(
            child(t, &[("TP_FAKE_CUDA_DROP_SYMBOL", "cuMemcpyPeerAsync")]),
            "child failed"
        );
        return;
    }
    let d = driver::load_double().unwrap();
    assert!(d.symbol("cuMemcpyPeerAsync").is_none());
    assert!(d.symbol("cuInit").is_some());
    assert_ne!(d.path(), std::path::Path::new(driver::LIB));
}
