//! Shared by the driver double's test binaries (`driver.rs`, `driver_launch.rs`): typed entry
//! points, the one-time set-up, the guards and small helpers.
//!
//! The double's state is process-wide and tests run in parallel, so each test works on its own
//! device (16 are enabled once) and tests that change a process-wide knob (op delay) or count
//! process-wide things (pinned memory) hold [`exclusive`]; all others hold [`shared`]. Knobs read
//! at `cuInit` are checked in a child process: the test binary re-run with a filter ([`child`]).
#![allow(dead_code, unused_imports)]

pub use std::ffi::{c_char, c_int, c_uint, c_void, CStr, CString};
pub use std::ptr::null_mut;
use std::sync::{OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard};

pub use tensorport_emu::driver::{self, Double, Installed};

pub type Ctx = *mut c_void;
pub type Stream = *mut c_void;
pub type Event = *mut c_void;
pub type DPtr = u64;

pub const SUCCESS: c_int = 0;
pub const INVALID_VALUE: c_int = 1;
pub const OUT_OF_MEMORY: c_int = 2;
pub const NOT_INITIALIZED: c_int = 3;
pub const STUB_LIBRARY: c_int = 34;
pub const INVALID_CONTEXT: c_int = 201;
pub const INVALID_PTX: c_int = 218;
pub const NOT_FOUND: c_int = 500;
pub const NOT_READY: c_int = 600;
pub const ILLEGAL_ADDRESS: c_int = 700;
pub const LAUNCH_OUT_OF_RESOURCES: c_int = 701;
pub const NOT_SUPPORTED: c_int = 801;
pub const ILLEGAL_STATE: c_int = 401;
pub const INVALID_HANDLE: c_int = 400;
pub const CAPTURE_UNSUPPORTED: c_int = 900;
pub const CAPTURE_INVALIDATED: c_int = 901;
pub const NON_BLOCKING: c_uint = 1;
pub const RELU_PTX: &str = include_str!("../../../ptx/relu.ptx");
pub const CHILD: &str = "TP_FAKE_CUDA_TEST_CHILD";

macro_rules! api {
    ($($name:ident : fn($($arg:ty),*);)*) => {
        /// Typed pointers to the double's entry points.
        #[allow(non_snake_case)]
        pub struct Cu { $(pub $name: unsafe extern "C" fn($($arg),*) -> c_int,)* }
        impl Cu {
            pub fn load(d: &Double) -> Cu {
                // SAFETY: each symbol has the driver API's signature, as declared here.
                unsafe {
                    Cu { $($name: std::mem::transmute::<*mut c_void, unsafe extern "C" fn($($arg),*) -> c_int>(
                        d.symbol(stringify!($name)).expect(stringify!($name)),
                    ),)* }
                }
            }
        }
    };
}

api! {
    cuInit: fn(c_uint);
    cuDriverGetVersion: fn(*mut c_int);
    cuDeviceGetCount: fn(*mut c_int);
    cuDeviceGet: fn(*mut c_int, c_int);
    cuDeviceGetName: fn(*mut c_char, c_int, c_int);
    cuDeviceGetAttribute: fn(*mut c_int, c_int, c_int);
    cuDeviceTotalMem_v2: fn(*mut usize, c_int);
    cuDeviceGetUuid_v2: fn(*mut [u8; 16], c_int);
    cuDevicePrimaryCtxRetain: fn(*mut Ctx, c_int);
    cuCtxSetCurrent: fn(Ctx);
    cuCtxGetCurrent: fn(*mut Ctx);
    cuCtxSynchronize: fn();
    cuStreamCreate: fn(*mut Stream, c_uint);
    cuStreamDestroy_v2: fn(Stream);
    cuStreamSynchronize: fn(Stream);
    cuStreamQuery: fn(Stream);
    cuStreamWaitEvent: fn(Stream, Event, c_uint);
    cuEventCreate: fn(*mut Event, c_uint);
    cuEventRecord: fn(Event, Stream);
    cuEventQuery: fn(Event);
    cuEventSynchronize: fn(Event);
    cuMemAlloc_v2: fn(*mut DPtr, usize);
    cuMemFree_v2: fn(DPtr);
    cuMemAllocAsync: fn(*mut DPtr, usize, Stream);
    cuMemFreeAsync: fn(DPtr, Stream);
    cuDeviceGetDefaultMemPool: fn(*mut *mut c_void, c_int);
    cuMemPoolSetAttribute: fn(*mut c_void, c_int, *mut c_void);
    cuMemPoolGetAttribute: fn(*mut c_void, c_int, *mut c_void);
    cuMemPoolTrimTo: fn(*mut c_void, usize);
    cuMemHostAlloc: fn(*mut *mut c_void, usize, c_uint);
    cuMemFreeHost: fn(*mut c_void);
    cuMemcpyHtoDAsync_v2: fn(DPtr, *const c_void, usize, Stream);
    cuMemcpyDtoHAsync_v2: fn(*mut c_void, DPtr, usize, Stream);
    cuMemcpyHtoD_v2: fn(DPtr, *const c_void, usize);
    cuMemcpyDtoH_v2: fn(*mut c_void, DPtr, usize);
    cuMemcpyDtoDAsync_v2: fn(DPtr, DPtr, usize, Stream);
    cuMemcpyPeerAsync: fn(DPtr, Ctx, DPtr, Ctx, usize, Stream);
    cuMemsetD8Async: fn(DPtr, u8, usize, Stream);
    cuModuleLoadData: fn(*mut *mut c_void, *const c_void);
    cuModuleGetFunction: fn(*mut *mut c_void, *mut c_void, *const c_char);
    cuLaunchKernel: fn(*mut c_void, c_uint, c_uint, c_uint, c_uint, c_uint, c_uint, c_uint, Stream, *mut *mut c_void, *mut *mut c_void);
    cuGetErrorName: fn(c_int, *mut *const c_char);
    cuStreamBeginCapture_v2: fn(Stream, c_int);
    cuStreamEndCapture: fn(Stream, *mut *mut c_void);
    cuStreamIsCapturing: fn(Stream, *mut c_int);
    cuGraphInstantiateWithFlags: fn(*mut *mut c_void, *mut c_void, u64);
    cuGraphLaunch: fn(*mut c_void, Stream);
    cuGraphExecDestroy: fn(*mut c_void);
    cuGraphDestroy: fn(*mut c_void);
}

pub struct Env {
    pub double: Double,
    pub cu: Cu,
}

pub fn env() -> &'static Env {
    static ENV: OnceLock<Env> = OnceLock::new();
    ENV.get_or_init(|| {
        let double = match driver::install().expect("install") {
            Installed::Double(d) => d,
            // A real GPU: test the double anyway (cudarc is not used in this binary).
            Installed::RealGpu => driver::load_double().expect("load the double"),
        };
        let cu = Cu::load(&double);
        // SAFETY: the driver API, called as documented.
        assert_eq!(unsafe { (cu.cuInit)(0) }, SUCCESS);
        double
            .arm("TP_FAKE_CUDA_DEVICES", -1, 16)
            .expect("16 devices");
        Env { double, cu }
    })
}

pub static GLOBAL: RwLock<()> = RwLock::new(());

pub fn shared() -> RwLockReadGuard<'static, ()> {
    GLOBAL.read().unwrap_or_else(|e| e.into_inner())
}

pub fn exclusive() -> RwLockWriteGuard<'static, ()> {
    GLOBAL.write().unwrap_or_else(|e| e.into_inner())
}

/// Makes device `d`'s primary context current on this thread and returns it.
pub fn ctx(d: c_int) -> Ctx {
    let cu = &env().cu;
    let mut c: Ctx = null_mut();
    // SAFETY: out-pointer to a local.
    unsafe {
        assert_eq!((cu.cuDevicePrimaryCtxRetain)(&mut c, d), SUCCESS);
        assert_eq!((cu.cuCtxSetCurrent)(c), SUCCESS);
    }
    c
}

pub fn alloc(n: usize) -> DPtr {
    let mut p: DPtr = 0;
    // SAFETY: out-pointer to a local; a context is current.
    assert_eq!(unsafe { (env().cu.cuMemAlloc_v2)(&mut p, n) }, SUCCESS);
    p
}

pub fn stream() -> Stream {
    let mut s: Stream = null_mut();
    // SAFETY: out-pointer to a local; a context is current.
    assert_eq!(
        unsafe { (env().cu.cuStreamCreate)(&mut s, NON_BLOCKING) },
        SUCCESS
    );
    s
}

pub fn upload(p: DPtr, data: &[f32]) {
    // SAFETY: data is valid for its length; the copy is synchronous.
    let rc = unsafe { (env().cu.cuMemcpyHtoD_v2)(p, data.as_ptr().cast(), size_of_val(data)) };
    assert_eq!(rc, SUCCESS);
}

pub fn download(p: DPtr, n: usize) -> Vec<f32> {
    let mut out = vec![0f32; n];
    // SAFETY: out is writable for n floats; the copy is synchronous.
    let rc = unsafe { (env().cu.cuMemcpyDtoH_v2)(out.as_mut_ptr().cast(), p, n * 4) };
    assert_eq!(rc, SUCCESS);
    out
}

pub fn poisoned(v: &[f32]) -> bool {
    v.iter().all(|x| x.to_bits() == u32::MAX)
}

/// Runs this test binary again with only `test` and the given environment; true if it passed.
pub fn child(test: &str, vars: &[(&str, &str)]) -> bool {
    let exe = std::env::current_exe().expect("current_exe");
    let mut cmd = std::process::Command::new(exe);
    cmd.args([test, "--exact", "--test-threads=1"])
        .env(CHILD, "1");
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("spawn child");
    let text = String::from_utf8_lossy(&out.stdout);
    out.status.success() && text.contains("1 passed")
}

pub fn in_child() -> bool {
    std::env::var_os(CHILD).is_some()
}

pub fn count(d: &Double, name: &str) -> u64 {
    d.calls()
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, c)| c)
        .unwrap()
}

pub struct Relu {
    pub func: *mut c_void,
}

pub fn load_relu() -> Relu {
    let cu = &env().cu;
    let ptx = CString::new(RELU_PTX).unwrap();
    let (mut module, mut func) = (null_mut(), null_mut());
    // SAFETY: NUL-terminated PTX and names; out-pointers to locals.
    unsafe {
        assert_eq!(
            (cu.cuModuleLoadData)(&mut module, ptx.as_ptr().cast()),
            SUCCESS
        );
        let missing = CString::new("relu_f64").unwrap();
        assert_eq!(
            (cu.cuModuleGetFunction)(&mut func, module, missing.as_ptr()),
            NOT_FOUND
        );
        let name = CString::new("relu_f32").unwrap();
        assert_eq!(
            (cu.cuModuleGetFunction)(&mut func, module, name.as_ptr()),
            SUCCESS
        );
    }
    Relu { func }
}

/// Launches relu_f32 over n elements, x -> y; the launch's own status.
pub fn launch_relu(
    r: &Relu,
    n: i64,
    x: DPtr,
    y: DPtr,
    block: u32,
    shared: u32,
    s: Stream,
) -> c_int {
    let (mut p, mut x, mut y) = (n, x, y);
    let mut args: [*mut c_void; 3] = [
        (&mut p as *mut i64).cast(),
        (&mut x as *mut DPtr).cast(),
        (&mut y as *mut DPtr).cast(),
    ];
    let grid = (n as u32).div_ceil(block).max(1);
    // SAFETY: args point at locals of the right sizes; the double copies them at once.
    unsafe {
        (env().cu.cuLaunchKernel)(
            r.func,
            grid,
            1,
            1,
            block,
            1,
            1,
            shared,
            s,
            args.as_mut_ptr(),
            null_mut(),
        )
    }
}
