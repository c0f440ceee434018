//! Dev-only CPU emulator for tensorport's CUDA kernels.
//!
//! `build.rs` compiles the very source files NVRTC compiles (`kernels/*.cu`) as C++ through a
//! small shim (`csrc/shim.h`); `csrc/emu.cpp` runs each CUDA thread as a fiber, blocks in
//! parallel on worker threads, `__syncthreads` as a real barrier (a divergent one is an error,
//! not a hang). This crate exposes one safe launcher per kernel. It does not depend on
//! `tensorport` (that would be a cycle: tensorport's tests depend on it), so params arrive as the
//! raw bytes of tensorport's `#[repr(C)]` structs, which are checked for size and read into the
//! mirrors below; every buffer is checked against the lengths the params imply before the
//! kernel runs, so a kernel that respects its params never touches memory outside the slices.

use std::ffi::{c_char, c_int, CStr};
use std::fmt;

mod mirror;
pub mod selftest;

pub use mirror::{Conv2dParams, EltwiseParams, LinearParams, Pool2dParams};

/// A launch configuration: grid and block dimensions and dynamic shared memory bytes, as in
/// `tensorport::ops::launch::LaunchShape`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Launch {
    pub grid: [u32; 3],
    pub block: [u32; 3],
    pub shared_bytes: u32,
}

/// Why a launch was refused or failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EmuError {
    /// The params bytes are not the size of the kernel's params struct.
    ParamsSize {
        kernel: &'static str,
        expected: usize,
        got: usize,
    },
    /// Params the kernel cannot run safely with (negative sizes, groups that do not divide).
    BadParams {
        kernel: &'static str,
        reason: String,
    },
    /// A buffer shorter than the params say the kernel reads or writes.
    BufferTooSmall {
        kernel: &'static str,
        buffer: &'static str,
        needed: usize,
        got: usize,
    },
    /// Dynamic shared memory was requested; the emulator (and our kernels) only use static.
    DynamicShared { kernel: &'static str, bytes: u32 },
    /// The scheduler refused the launch configuration or the kernel misbehaved (divergent
    /// `__syncthreads`).
    Launch {
        kernel: &'static str,
        message: String,
    },
}

impl fmt::Display for EmuError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EmuError::ParamsSize {
                kernel,
                expected,
                got,
            } => write!(f, "{kernel}: params are {got} bytes, expected {expected}"),
            EmuError::BadParams { kernel, reason } => write!(f, "{kernel}: bad params: {reason}"),
            EmuError::BufferTooSmall {
                kernel,
                buffer,
                needed,
                got,
            } => write!(
                f,
                "{kernel}: buffer {buffer} holds {got} elements, the params need {needed}"
            ),
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
    fn tp_emu_relu_f32(
        grid: *const u32,
        block: *const u32,
        p: *const EltwiseParams,
        x: *const f32,
        y: *mut f32,
        err: *mut c_char,
        err_len: usize,
    ) -> c_int;
    fn tp_emu_max_pool2d_f32(
        grid: *const u32,
        block: *const u32,
        p: *const Pool2dParams,
        x: *const f32,
        y: *mut f32,
        err: *mut c_char,
        err_len: usize,
    ) -> c_int;
    fn tp_emu_conv2d_f32(
        grid: *const u32,
        block: *const u32,
        p: *const Conv2dParams,
        x: *const f32,
        w: *const f32,
        b: *const f32,
        y: *mut f32,
        err: *mut c_char,
        err_len: usize,
    ) -> c_int;
    fn tp_emu_linear_f32(
        grid: *const u32,
        block: *const u32,
        p: *const LinearParams,
        x: *const f32,
        w: *const f32,
        b: *const f32,
        y: *mut f32,
        err: *mut c_char,
        err_len: usize,
    ) -> c_int;
    fn tp_emu_layout_len() -> usize;
    fn tp_emu_layout_row(
        i: usize,
        st: *mut *const c_char,
        field: *mut *const c_char,
        value: *mut usize,
    ) -> c_int;
}

/// Reads params bytes as the mirror struct `P` after checking their size.
fn read_params<P: bytemuck::Pod>(kernel: &'static str, bytes: &[u8]) -> Result<P> {
    if bytes.len() != std::mem::size_of::<P>() {
        return Err(EmuError::ParamsSize {
            kernel,
            expected: std::mem::size_of::<P>(),
            got: bytes.len(),
        });
    }
    Ok(bytemuck::pod_read_unaligned(bytes))
}

fn check_len(kernel: &'static str, buffer: &'static str, needed: usize, got: usize) -> Result<()> {
    if got < needed {
        return Err(EmuError::BufferTooSmall {
            kernel,
            buffer,
            needed,
            got,
        });
    }
    Ok(())
}

fn check_launch(kernel: &'static str, l: &Launch) -> Result<()> {
    if l.shared_bytes != 0 {
        return Err(EmuError::DynamicShared {
            kernel,
            bytes: l.shared_bytes,
        });
    }
    Ok(())
}

/// Turns the C side's status and message into a `Result`.
pub(crate) fn status(kernel: &'static str, rc: c_int, err: &[u8; ERR_LEN]) -> Result<()> {
    if rc == 0 {
        return Ok(());
    }
    let message = CStr::from_bytes_until_nul(err)
        .map(|c| c.to_string_lossy().into_owned())
        .unwrap_or_else(|_| "unknown error".to_owned());
    Err(EmuError::Launch { kernel, message })
}

/// Runs `relu_f32(p, x, y)`; `params` are the bytes of tensorport's `EltwiseParams`.
pub fn launch_relu_f32(l: &Launch, params: &[u8], x: &[f32], y: &mut [f32]) -> Result<()> {
    const K: &str = "relu_f32";
    let p: EltwiseParams = read_params(K, params)?;
    check_launch(K, l)?;
    let n = mirror::count(K, &[("n", p.n)])?;
    check_len(K, "x", n, x.len())?;
    check_len(K, "y", n, y.len())?;
    let mut err = [0u8; ERR_LEN];
    // SAFETY: the kernel reads x[0..n) and writes y[0..n) only, and both slices hold at least n
    // elements; grid/block are validated by the C launcher; the call returns only after every
    // worker thread has joined, so no pointer outlives the borrows.
    let rc = unsafe {
        tp_emu_relu_f32(
            l.grid.as_ptr(),
            l.block.as_ptr(),
            &p,
            x.as_ptr(),
            y.as_mut_ptr(),
            err.as_mut_ptr().cast(),
            ERR_LEN,
        )
    };
    status(K, rc, &err)
}

/// Runs `max_pool2d_f32(p, x, y)`; `params` are the bytes of tensorport's `Pool2dParams`.
pub fn launch_max_pool2d_f32(l: &Launch, params: &[u8], x: &[f32], y: &mut [f32]) -> Result<()> {
    const K: &str = "max_pool2d_f32";
    let p: Pool2dParams = read_params(K, params)?;
    check_launch(K, l)?;
    mirror::check_pool(K, &p)?;
    let nx = mirror::count(K, &[("n", p.n), ("c", p.c), ("h", p.h), ("w", p.w)])?;
    let ny = mirror::count(
        K,
        &[
            ("n", p.n),
            ("c", p.c),
            ("h_out", p.h_out),
            ("w_out", p.w_out),
        ],
    )?;
    check_len(K, "x", nx, x.len())?;
    check_len(K, "y", ny, y.len())?;
    let mut err = [0u8; ERR_LEN];
    // SAFETY: every read is x[plane*h*w + ih*w + iw] with plane < n*c, 0 <= ih < h, 0 <= iw < w
    // (taps outside are skipped), every write y[i] with i < n*c*h_out*w_out; both fit the
    // checked lengths. The call returns only after all worker threads joined.
    let rc = unsafe {
        tp_emu_max_pool2d_f32(
            l.grid.as_ptr(),
            l.block.as_ptr(),
            &p,
            x.as_ptr(),
            y.as_mut_ptr(),
            err.as_mut_ptr().cast(),
            ERR_LEN,
        )
    };
    status(K, rc, &err)
}

/// Runs `conv2d_f32(p, x, w, b, y)`; `params` are the bytes of tensorport's `Conv2dParams`.
/// `b` may be empty when `has_bias == 0`.
pub fn launch_conv2d_f32(
    l: &Launch,
    params: &[u8],
    x: &[f32],
    w: &[f32],
    b: &[f32],
    y: &mut [f32],
) -> Result<()> {
    const K: &str = "conv2d_f32";
    let p: Conv2dParams = read_params(K, params)?;
    check_launch(K, l)?;
    let lens = mirror::conv_lens(K, &p)?;
    check_len(K, "x", lens.x, x.len())?;
    check_len(K, "w", lens.w, w.len())?;
    check_len(K, "b", lens.b, b.len())?;
    check_len(K, "y", lens.y, y.len())?;
    let mut err = [0u8; ERR_LEN];
    // SAFETY: conv_lens checked that groups divides c_in and c_out, so every read index
    // ((n*c_in + g*cg + ci)*h + ih)*w + iw < n*c_in*h*w (taps outside the input skipped),
    // co*cg*kh*kw + r < c_out*cg*kh*kw, b[co] only when has_bias (then b holds c_out), and every
    // write (n*c_out + co)*h_out*w_out + o < the y length. All slices were checked above; the
    // call returns after all workers joined.
    let rc = unsafe {
        tp_emu_conv2d_f32(
            l.grid.as_ptr(),
            l.block.as_ptr(),
            &p,
            x.as_ptr(),
            w.as_ptr(),
            b.as_ptr(),
            y.as_mut_ptr(),
            err.as_mut_ptr().cast(),
            ERR_LEN,
        )
    };
    status(K, rc, &err)
}

/// Runs `linear_f32(p, x, w, b, y)`; `params` are the bytes of tensorport's `LinearParams`.
/// `b` may be empty when `has_bias == 0`.
pub fn launch_linear_f32(
    l: &Launch,
    params: &[u8],
    x: &[f32],
    w: &[f32],
    b: &[f32],
    y: &mut [f32],
) -> Result<()> {
    const K: &str = "linear_f32";
    let p: LinearParams = read_params(K, params)?;
    check_launch(K, l)?;
    let lens = mirror::linear_lens(K, &p)?;
    check_len(K, "x", lens.x, x.len())?;
    check_len(K, "w", lens.w, w.len())?;
    check_len(K, "b", lens.b, b.len())?;
    check_len(K, "y", lens.y, y.len())?;
    let mut err = [0u8; ERR_LEN];
    // SAFETY: reads x[gm*k + gk] with gm < m, gk < k; w[gn*k + gk] with gn < n; b[gn] only when
    // has_bias; writes y[gm*n + gn] with gm < m, gn < n: all inside the checked lengths. The call
    // returns after all workers joined.
    let rc = unsafe {
        tp_emu_linear_f32(
            l.grid.as_ptr(),
            l.block.as_ptr(),
            &p,
            x.as_ptr(),
            w.as_ptr(),
            b.as_ptr(),
            y.as_mut_ptr(),
            err.as_mut_ptr().cast(),
            ERR_LEN,
        )
    };
    status(K, rc, &err)
}

/// One row of the C side's params layout (as g++ lays out `kernels/params.cuh`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayoutRow {
    /// The struct, e.g. `Conv2dParams`.
    pub st: String,
    /// The field, or empty for the row that gives `sizeof` the struct.
    pub field: String,
    /// The field's offset, or the struct's size.
    pub value: usize,
}

/// Sizes and field offsets of every struct in `kernels/params.cuh`.
pub fn c_layout() -> Vec<LayoutRow> {
    // SAFETY: plain getter without arguments.
    let len = unsafe { tp_emu_layout_len() };
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

/// `sizeof(name)` on the C side, if `name` is a params struct.
pub fn c_sizeof(name: &str) -> Option<usize> {
    c_layout()
        .into_iter()
        .find(|r| r.st == name && r.field.is_empty())
        .map(|r| r.value)
}

/// `offsetof(st, field)` on the C side.
pub fn c_offsetof(st: &str, field: &str) -> Option<usize> {
    c_layout()
        .into_iter()
        .find(|r| r.st == st && r.field == field)
        .map(|r| r.value)
}
