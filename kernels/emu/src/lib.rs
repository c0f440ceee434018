//! Dev-only CPU emulator for tensorport's CUDA kernels.
//!
//! `build.rs` compiles the very source files NVRTC compiles (`kernels/*.cu`) as C++ through a
//! small shim (`csrc/shim.h`); `csrc/emu.cpp` runs each CUDA thread as a fiber, blocks in
//! parallel on worker threads, `__syncthreads` as a real barrier (a divergent one is an error,
//! not a hang).
//!
//! Kernels are launched as the driver launches them: by entry name, with an array holding a
//! pointer to each argument ([`launch`]). This crate does not depend on tensorport (whose tests
//! depend on it), so it knows nothing of operand sizes: tensorport's test harness checks every
//! buffer against the lengths its kernel registry derives from the params, the same check its
//! CUDA launch makes, before it calls in here.
//!
//! [`driver`] is the other way in: a CPU-backed CUDA driver double (`libcuda.so`) built from the
//! same objects, which cudarc loads like the real driver, so tensorport's CUDA path runs under the
//! driver's own rules (streams, events, copies, sticky errors) on a machine without a GPU.

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::fmt;

pub mod driver;
pub mod selftest;

/// A launch configuration: grid and block dimensions and dynamic shared memory bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Launch {
    /// Blocks in x, y, z.
    pub grid: [u32; 3],
    /// Threads per block in x, y, z.
    pub block: [u32; 3],
    /// Dynamic shared memory per block (the emulator, like our kernels, only has static).
    pub shared_bytes: u32,
}

/// Why a launch was refused or failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EmuError {
    /// Arguments a self-test cannot run with.
    BadParams {
        /// The kernel.
        kernel: String,
        /// What is wrong.
        reason: String,
    },
    /// Dynamic shared memory was requested; the emulator (and our kernels) only use static.
    DynamicShared {
        /// The kernel.
        kernel: String,
        /// Bytes requested.
        bytes: u32,
    },
    /// The scheduler refused the launch (an unknown entry, a wrong argument count, a grid or
    /// block beyond CUDA's limits) or the kernel misbehaved (a divergent `__syncthreads`).
    Launch {
        /// The kernel.
        kernel: String,
        /// What the C side reported.
        message: String,
    },
}

impl fmt::Display for EmuError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EmuError::BadParams { kernel, reason } => write!(f, "{kernel}: bad params: {reason}"),
            EmuError::DynamicShared { kernel, bytes } => write!(
                f,
                "{kernel}: {bytes} bytes of dynamic shared memory requested; only static __shared__ is emulated"
            ),
            EmuError::Launch { kernel, message } => write!(f, "{kernel}: {message}"),
        }
    }
}

impl std::error::Error for EmuError {}

type Result<T> = std::result::Result<T, EmuError>;

pub(crate) const ERR_LEN: usize = 512;

extern "C" {
    fn tp_emu_launch_entry(
        entry: *const c_char,
        grid: *const u32,
        block: *const u32,
        args: *const *mut c_void,
        nargs: usize,
        err: *mut c_char,
        err_len: usize,
    ) -> c_int;
    fn tp_emu_kernels_len() -> usize;
    fn tp_emu_kernel_row(i: usize, entry: *mut *const c_char, nargs: *mut u32) -> c_int;
    fn tp_emu_layout_rows() -> usize;
    fn tp_emu_layout_row(
        i: usize,
        st: *mut *const c_char,
        field: *mut *const c_char,
        value: *mut usize,
    ) -> c_int;
}

/// Turns the C side's status and message into a `Result`.
pub(crate) fn status(kernel: &str, rc: c_int, err: &[u8; ERR_LEN]) -> Result<()> {
    if rc == 0 {
        return Ok(());
    }
    let message = CStr::from_bytes_until_nul(err)
        .map(|c| c.to_string_lossy().into_owned())
        .unwrap_or_else(|_| "unknown error".to_owned());
    Err(EmuError::Launch {
        kernel: kernel.to_owned(),
        message,
    })
}

/// Runs kernel `entry` over the grid of `l` and returns when every block has finished.
/// `args[i]` points to the kernel's i-th argument, as `cuLaunchKernel`'s `kernelParams`: the
/// params struct first, then a pointer variable per operand.
///
/// # Safety
/// `args` must match the kernel's signature (the argument count is checked, the types are not):
/// `args[0]` points to its params struct, every other entry to a pointer that is null or valid
/// for every element the kernel reads or writes under those params, and no written buffer may
/// alias another operand. The pointers are only used until this call returns.
pub unsafe fn launch(entry: &str, l: &Launch, args: &[*mut c_void]) -> Result<()> {
    if l.shared_bytes != 0 {
        return Err(EmuError::DynamicShared {
            kernel: entry.to_owned(),
            bytes: l.shared_bytes,
        });
    }
    let name = CString::new(entry).map_err(|_| EmuError::Launch {
        kernel: entry.to_owned(),
        message: "entry name contains a NUL byte".into(),
    })?;
    let mut err = [0u8; ERR_LEN];
    // SAFETY: the caller guarantees the arguments; grid and block are validated by the C
    // launcher, which returns only after every worker thread has joined.
    let rc = unsafe {
        tp_emu_launch_entry(
            name.as_ptr(),
            l.grid.as_ptr(),
            l.block.as_ptr(),
            args.as_ptr(),
            args.len(),
            err.as_mut_ptr().cast(),
            ERR_LEN,
        )
    };
    status(entry, rc, &err)
}

/// Every kernel the emulator was built with: its entry name and argument count.
pub fn kernels() -> Vec<(String, u32)> {
    // SAFETY: plain getter without arguments.
    let len = unsafe { tp_emu_kernels_len() };
    let mut out = Vec::with_capacity(len);
    for i in 0..len {
        let (mut entry, mut nargs) = (std::ptr::null(), 0u32);
        // SAFETY: i < len; on success the C side stores a pointer to a static C string.
        let ok = unsafe { tp_emu_kernel_row(i, &mut entry, &mut nargs) };
        if ok == 0 || entry.is_null() {
            continue;
        }
        // SAFETY: a non-null pointer to a static NUL-terminated string literal.
        let entry = unsafe { CStr::from_ptr(entry) };
        out.push((entry.to_string_lossy().into_owned(), nargs));
    }
    out
}

/// One row of the C side's params layout (as g++ lays out the generated `params.cuh`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayoutRow {
    /// The struct, e.g. `Conv2dParams`.
    pub st: String,
    /// The field, or empty for the row that gives `sizeof` the struct.
    pub field: String,
    /// The field's offset, or the struct's size.
    pub value: usize,
}

/// Sizes and field offsets of every params struct, in declaration order.
pub fn c_layout() -> Vec<LayoutRow> {
    // SAFETY: plain getter without arguments.
    let len = unsafe { tp_emu_layout_rows() };
    let mut rows = Vec::with_capacity(len);
    for i in 0..len {
        let (mut st, mut field, mut value) = (std::ptr::null(), std::ptr::null(), 0usize);
        // SAFETY: i < len; on success the C side stores pointers to static NUL-terminated
        // string literals.
        let ok = unsafe { tp_emu_layout_row(i, &mut st, &mut field, &mut value) };
        if ok == 0 || st.is_null() || field.is_null() {
            continue;
        }
        // SAFETY: non-null pointers to static C string literals (checked just above).
        let (st, field) = unsafe { (CStr::from_ptr(st), CStr::from_ptr(field)) };
        rows.push(LayoutRow {
            st: st.to_string_lossy().into_owned(),
            field: field.to_string_lossy().into_owned(),
            value,
        });
    }
    rows
}
