//! A CPU-backed CUDA driver double: `libcuda.so` built from `csrc/driver/*.cpp` and the kernel
//! emulator, so tensorport's CUDA path (through cudarc) runs in `cargo test` on a machine
//! without a GPU, under the driver's documented rules rather than convenient ones.
//!
//! # Loading it
//! cudarc opens the driver with `dlopen("libcuda.so")` (no path). [`install`] first opens the
//! double by absolute path ([`LIB`]); because its SONAME is `libcuda.so`, cudarc's later bare-name
//! `dlopen` returns that same handle (checked by `install`). If a real, usable GPU driver is
//! present (`libcuda.so` or `libcuda.so.1` with at least one device), `install` does nothing and
//! returns [`Installed::RealGpu`]. Nothing is put on `LD_LIBRARY_PATH`, so the build (NVRTC
//! opens `libcuda.so.1`) never sees the double.
//!
//! # What it models
//! - Devices (count, name `tensorport driver double (cuda:N)`, compute capability 9.0, 132 SMs,
//!   CUDA's block and grid limits), one primary context per device, a per-thread current context.
//! - Streams, each with its own worker thread running its operations in order and asynchronously
//!   to the host; stream 0 (and `CU_STREAM_LEGACY`/`CU_STREAM_PER_THREAD`) is the calling
//!   thread's current context's legacy stream, implicitly synchronised with that context's
//!   blocking streams (not with `CU_STREAM_NON_BLOCKING` ones). Events capture a stream position;
//!   waits work across streams, contexts and devices.
//! - Copies with the pageable/pinned rules (pageable host-to-device staged before returning,
//!   pageable device-to-host returning when done, pinned both fully asynchronous), every device
//!   range checked against a live allocation when queued and again when run.
//! - Device memory as host memory: each allocation has a PROT_NONE guard page right after its
//!   256-byte-rounded size, starts filled with 0xFF (NaN), and after a free is PROT_NONE with its
//!   address never reused. Stream-ordered allocation and a default pool per device with a release
//!   threshold; pinned host memory.
//! - Modules from PTX text (entries, `.param` sizes, `.maxntid`/`.reqntid`), checked against the
//!   emulator's registry; launches validated like the driver, arguments copied at call time, run
//!   by the emulator on the stream's worker, pointer arguments checked against the launch's
//!   device. Asynchronous failures are sticky on their context, as on a GPU.
//!
//! # Knobs
//! Environment variables read at `cuInit`, each also settable with [`Double::arm`]:
//! `TP_FAKE_CUDA_DEVICES` (1; at most 16), `TP_FAKE_CUDA_POOLS` (1), `TP_FAKE_CUDA_MEM_MB`
//! (4096 per device), `TP_FAKE_CUDA_DMA_GBPS` (off), `TP_FAKE_CUDA_OP_DELAY_US` (0),
//! `TP_FAKE_CUDA_STUB=1` (`cuInit` and everything else return `CUDA_ERROR_STUB_LIBRARY`), and
//! per device `TP_FAKE_CUDA_FAIL_ALLOC=dev:N`, `TP_FAKE_CUDA_FAIL_LAUNCH=dev:N`,
//! `TP_FAKE_CUDA_FAULT_LAUNCH=dev:N`. `TP_FAKE_CUDA_DROP_SYMBOL=cuName` is read by [`install`]:
//! it loads a copy of the library in which `cuName` cannot be found.
//!
//! # What it does not model
//! Kernel timing, concurrency between kernels beyond one running per stream, dynamic shared
//! memory, the `extra` launch argument, cubin images, non-primary contexts, context destruction
//! when the primary context's refcount reaches 0 (it and its memory stay), peer-access
//! enforcement for copies or kernels (kernels may only touch their own device's memory), graphs,
//! and the 64 KiB kernel parameter limit. `cuMemFree` waits for the owning device's queued work.

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Absolute path of the driver double built by `build.rs`.
pub const LIB: &str = env!("TP_FAKE_CUDA_LIB");

const RTLD_LAZY: c_int = 0x1;
const RTLD_NOW: c_int = 0x2;
const RTLD_GLOBAL: c_int = 0x100;

extern "C" {
    fn dlopen(filename: *const c_char, flags: c_int) -> *mut c_void;
    fn dlsym(handle: *mut c_void, symbol: *const c_char) -> *mut c_void;
    fn dlclose(handle: *mut c_void) -> c_int;
}

/// What [`install`] found or loaded.
#[derive(Clone, Debug)]
pub enum Installed {
    /// A real driver with at least one device: the double was not loaded.
    RealGpu,
    /// The double is loaded; cudarc will use it.
    Double(Double),
}

type LiveFn = unsafe extern "C" fn(c_int, *mut u64, *mut u64) -> c_int;
type LivePinnedFn = unsafe extern "C" fn(*mut u64, *mut u64) -> c_int;
type ReleasesFn = unsafe extern "C" fn(c_int) -> u64;
type CallsLenFn = unsafe extern "C" fn() -> usize;
type CallFn = unsafe extern "C" fn(usize, *mut *const c_char, *mut u64) -> c_int;
type ResetFn = unsafe extern "C" fn();
type ArmFn = unsafe extern "C" fn(*const c_char, c_int, i64) -> c_int;
type StickyFn = unsafe extern "C" fn(c_int) -> c_int;
type ReasonFn = unsafe extern "C" fn(c_int, *mut c_char, usize) -> usize;

/// The loaded double and its `tpfake_*` control API.
#[derive(Clone, Debug)]
pub struct Double {
    handle: usize,
    path: PathBuf,
    live: LiveFn,
    live_pinned: LivePinnedFn,
    releases: ReleasesFn,
    calls_len: CallsLenFn,
    call: CallFn,
    reset: ResetFn,
    arm: ArmFn,
    sticky: StickyFn,
    reason: ReasonFn,
}

// SAFETY: the handle is process-wide and never closed; every tpfake_* function is thread-safe.
unsafe impl Send for Double {}
// SAFETY: as above; `Double` has no interior mutability on the Rust side.
unsafe impl Sync for Double {}

/// Makes cudarc find a driver: does nothing when a real GPU is usable, else loads the double
/// (as [`load_double`]). Idempotent and process-wide; every call returns the first outcome.
pub fn install() -> Result<Installed, String> {
    static ONCE: OnceLock<Result<Installed, String>> = OnceLock::new();
    ONCE.get_or_init(install_once).clone()
}

/// Loads the double whether or not a real GPU is present (for tests of the double itself; call
/// it before anything in the process opens a real `libcuda.so`). Idempotent and process-wide.
pub fn load_double() -> Result<Double, String> {
    static ONCE: OnceLock<Result<Double, String>> = OnceLock::new();
    ONCE.get_or_init(load_double_once).clone()
}

fn install_once() -> Result<Installed, String> {
    for name in ["libcuda.so", "libcuda.so.1"] {
        let c = CString::new(name).map_err(|e| e.to_string())?;
        // SAFETY: a NUL-terminated name; loading a shared library runs its initialisers, which
        // is what cudarc is about to do anyway.
        let h = unsafe { dlopen(c.as_ptr(), RTLD_NOW) };
        if h.is_null() {
            continue;
        }
        if !sym(h, "tpfake_arm").is_null() {
            // The double itself is already reachable (e.g. on LD_LIBRARY_PATH): use it.
            return Double::from_handle(h, PathBuf::from(name)).map(Installed::Double);
        }
        if real_gpu_usable(h) {
            return Ok(Installed::RealGpu);
        }
        // SAFETY: h came from dlopen above and nothing of it is used any more.
        unsafe { dlclose(h) };
    }
    load_double().map(Installed::Double)
}

fn load_double_once() -> Result<Double, String> {
    let path = match std::env::var("TP_FAKE_CUDA_DROP_SYMBOL") {
        Ok(name) if !name.is_empty() => copy_without_symbol(&name)?,
        _ => PathBuf::from(LIB),
    };
    let c = CString::new(path.to_string_lossy().into_owned()).map_err(|e| e.to_string())?;
    // SAFETY: a NUL-terminated absolute path to the double built by build.rs.
    let h = unsafe { dlopen(c.as_ptr(), RTLD_NOW | RTLD_GLOBAL) };
    if h.is_null() {
        return Err(format!("dlopen({}) failed", path.display()));
    }
    let double = Double::from_handle(h, path)?;
    // cudarc's own dlopen must land on the same library, or tests would test the wrong driver.
    let bare = CString::new("libcuda.so").map_err(|e| e.to_string())?;
    // SAFETY: as above; this only bumps the refcount of an already loaded object.
    let again = unsafe { dlopen(bare.as_ptr(), RTLD_LAZY) };
    if again != h {
        return Err("dlopen(\"libcuda.so\") does not return the driver double: another libcuda.so is loaded".into());
    }
    Ok(double)
}

fn sym(h: *mut c_void, name: &str) -> *mut c_void {
    match CString::new(name) {
        // SAFETY: h is a live dlopen handle, the name NUL-terminated.
        Ok(c) => unsafe { dlsym(h, c.as_ptr()) },
        Err(_) => std::ptr::null_mut(),
    }
}

/// cuInit(0) succeeds and cuDeviceGetCount reports a device.
fn real_gpu_usable(h: *mut c_void) -> bool {
    let (init, count) = (sym(h, "cuInit"), sym(h, "cuDeviceGetCount"));
    if init.is_null() || count.is_null() {
        return false;
    }
    // SAFETY: the driver API's own signatures for these two symbols.
    unsafe {
        let init: unsafe extern "C" fn(u32) -> c_int = std::mem::transmute(init);
        let count: unsafe extern "C" fn(*mut c_int) -> c_int = std::mem::transmute(count);
        let mut n: c_int = 0;
        init(0) == 0 && count(&mut n) == 0 && n >= 1
    }
}

/// A copy of the double in a fresh temp directory with `name`'s entry in the dynamic string
/// table renamed (its first byte replaced), so `dlsym(name)` fails like a driver too old for it.
fn copy_without_symbol(name: &str) -> Result<PathBuf, String> {
    let mut bytes = std::fs::read(LIB).map_err(|e| format!("reading {LIB}: {e}"))?;
    let needle: Vec<u8> = [b"\0", name.as_bytes(), b"\0"].concat();
    let mut patched = 0;
    let mut i = 0;
    while i + needle.len() <= bytes.len() {
        if bytes[i..i + needle.len()] == needle[..] {
            bytes[i + 1] = b'X';
            patched += 1;
            i += needle.len() - 1;
        } else {
            i += 1;
        }
    }
    if patched == 0 {
        return Err(format!("{LIB} has no symbol named {name}"));
    }
    let dir = std::env::temp_dir().join(format!("tpfake-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let path = dir.join("libcuda.so");
    std::fs::write(&path, &bytes).map_err(|e| format!("writing {}: {e}", path.display()))?;
    Ok(path)
}

impl Double {
    fn from_handle(h: *mut c_void, path: PathBuf) -> Result<Double, String> {
        let get = |name: &str| {
            let p = sym(h, name);
            if p.is_null() {
                Err(format!("{}: missing {name}", path.display()))
            } else {
                Ok(p)
            }
        };
        // SAFETY: each symbol is a tpfake_* function of csrc/driver/control.cpp with exactly the
        // signature of its type alias.
        unsafe {
            Ok(Double {
                handle: h as usize,
                live: std::mem::transmute::<*mut c_void, LiveFn>(get("tpfake_live")?),
                live_pinned: std::mem::transmute::<*mut c_void, LivePinnedFn>(get(
                    "tpfake_live_pinned",
                )?),
                releases: std::mem::transmute::<*mut c_void, ReleasesFn>(get(
                    "tpfake_pool_releases",
                )?),
                calls_len: std::mem::transmute::<*mut c_void, CallsLenFn>(get("tpfake_calls_len")?),
                call: std::mem::transmute::<*mut c_void, CallFn>(get("tpfake_call")?),
                reset: std::mem::transmute::<*mut c_void, ResetFn>(get("tpfake_reset_calls")?),
                arm: std::mem::transmute::<*mut c_void, ArmFn>(get("tpfake_arm")?),
                sticky: std::mem::transmute::<*mut c_void, StickyFn>(get("tpfake_sticky")?),
                reason: std::mem::transmute::<*mut c_void, ReasonFn>(get("tpfake_sticky_reason")?),
                path: path.clone(),
            })
        }
    }

    /// The file that was loaded ([`LIB`], or a patched copy under `TP_FAKE_CUDA_DROP_SYMBOL`).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The `dlopen` handle (what cudarc's `dlopen("libcuda.so")` returns too).
    pub fn handle(&self) -> *mut c_void {
        self.handle as *mut c_void
    }

    /// The address of an exported symbol (`cu*` or `tpfake_*`), or `None`.
    pub fn symbol(&self, name: &str) -> Option<*mut c_void> {
        let p = sym(self.handle(), name);
        (!p.is_null()).then_some(p)
    }

    /// Live device allocations and their requested bytes on `device` (a queued
    /// `cuMemFreeAsync` still counts until it runs).
    pub fn live(&self, device: i32) -> (u64, u64) {
        let (mut n, mut b) = (0u64, 0u64);
        // SAFETY: out-pointers to locals; the C side checks the device.
        unsafe { (self.live)(device, &mut n, &mut b) };
        (n, b)
    }

    /// Live pinned host blocks and their bytes, over the whole process.
    pub fn live_pinned(&self) -> (u64, u64) {
        let (mut n, mut b) = (0u64, 0u64);
        // SAFETY: out-pointers to locals.
        unsafe { (self.live_pinned)(&mut n, &mut b) };
        (n, b)
    }

    /// How often `device`'s pool gave reserved memory back (release threshold or trim).
    pub fn pool_releases(&self, device: i32) -> u64 {
        // SAFETY: plain getter; the C side checks the device.
        unsafe { (self.releases)(device) }
    }

    /// Every entry point with its call count since load or the last [`Double::reset_calls`].
    pub fn calls(&self) -> Vec<(String, u64)> {
        // SAFETY: plain getter.
        let len = unsafe { (self.calls_len)() };
        let mut out = Vec::with_capacity(len);
        for i in 0..len {
            let (mut name, mut count) = (std::ptr::null(), 0u64);
            // SAFETY: i < len; on success name points to a static C string.
            if unsafe { (self.call)(i, &mut name, &mut count) } == 0 || name.is_null() {
                continue;
            }
            // SAFETY: non-null, static, NUL-terminated.
            let name = unsafe { CStr::from_ptr(name) }
                .to_string_lossy()
                .into_owned();
            out.push((name, count));
        }
        out
    }

    /// Sets every call counter back to 0.
    pub fn reset_calls(&self) {
        // SAFETY: no arguments.
        unsafe { (self.reset)() }
    }

    /// Sets knob `knob` (the environment variable's name, e.g. `TP_FAKE_CUDA_FAIL_ALLOC`) to `n`
    /// for `device` (ignored by the process-wide knobs; -1 means every device for
    /// `TP_FAKE_CUDA_MEM_MB` and `TP_FAKE_CUDA_POOLS`). Fault countdowns start now; 0 disarms.
    pub fn arm(&self, knob: &str, device: i32, n: i64) -> Result<(), String> {
        let c = CString::new(knob).map_err(|e| e.to_string())?;
        // SAFETY: a NUL-terminated knob name.
        match unsafe { (self.arm)(c.as_ptr(), device, n) } {
            0 => Ok(()),
            rc => Err(format!(
                "tpfake_arm({knob}, {device}, {n}) refused (CUresult {rc})"
            )),
        }
    }

    /// Whether `device`'s context is in a sticky-error state.
    pub fn is_sticky(&self, device: i32) -> bool {
        self.sticky(device).is_some()
    }

    /// `device`'s sticky error (its CUresult) and what caused it, if there is one.
    pub fn sticky(&self, device: i32) -> Option<(i32, String)> {
        // SAFETY: plain getter; the C side checks the device.
        let code = unsafe { (self.sticky)(device) };
        if code == 0 {
            return None;
        }
        let mut buf = [0u8; 512];
        // SAFETY: buf is writable for its length; the C side NUL-terminates within it.
        unsafe { (self.reason)(device, buf.as_mut_ptr().cast(), buf.len()) };
        let why = CStr::from_bytes_until_nul(&buf)
            .map(|c| c.to_string_lossy().into_owned())
            .unwrap_or_default();
        Some((code, why))
    }
}
