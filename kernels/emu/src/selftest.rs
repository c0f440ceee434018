//! The emulator's own checks (csrc/selftest.cpp): barrier and shared-memory semantics and
//! divergence detection, run from tensorport's kernel tests (`src/kernels/tests/`).

use std::ffi::{c_char, c_int};

use crate::{status, EmuError, Launch, Result, ERR_LEN};

extern "C" {
    fn tp_emu_selftest_reverse(
        grid: *const u32,
        block: *const u32,
        x: *const f32,
        y: *mut f32,
        err: *mut c_char,
        err_len: usize,
    ) -> c_int;
    fn tp_emu_selftest_divergent(site: c_int, err: *mut c_char, err_len: usize) -> c_int;
}

/// Reverses each block-sized slice of `x` through shared memory (`block` is `[bx, by]`, one
/// block per slice). Right only if `__syncthreads` waits for every thread.
pub fn reverse_blocks(block: [u32; 2], x: &[f32]) -> Result<Vec<f32>> {
    const K: &str = "selftest_reverse";
    let len = block[0] as usize * block[1] as usize;
    if len == 0 || len > 1024 || x.is_empty() || x.len() % len != 0 {
        return Err(EmuError::BadParams {
            kernel: K.into(),
            reason: format!("{} elements in blocks of {block:?}", x.len()),
        });
    }
    let blocks = u32::try_from(x.len() / len).map_err(|_| EmuError::BadParams {
        kernel: K.into(),
        reason: "too many blocks".into(),
    })?;
    let l = Launch {
        grid: [blocks, 1, 1],
        block: [block[0], block[1], 1],
        shared_bytes: 0,
    };
    let mut y = vec![0.0f32; x.len()];
    let mut err = [0u8; ERR_LEN];
    // SAFETY: block b reads and writes [b*len, (b+1)*len) of x and y, both x.len() long.
    let rc = unsafe {
        tp_emu_selftest_reverse(
            l.grid.as_ptr(),
            l.block.as_ptr(),
            x.as_ptr(),
            y.as_mut_ptr(),
            err.as_mut_ptr().cast(),
            ERR_LEN,
        )
    };
    status(K, rc, &err).map(|()| y)
}

/// Runs a kernel with a divergent barrier: some threads return early (`site == false`) or wait
/// at another `__syncthreads` (`site == true`). Must return an error, not hang.
pub fn divergent(site: bool) -> Result<()> {
    let mut err = [0u8; ERR_LEN];
    // SAFETY: the self-test kernels only touch their own stack array.
    let rc =
        unsafe { tp_emu_selftest_divergent(c_int::from(site), err.as_mut_ptr().cast(), ERR_LEN) };
    status("selftest_divergent", rc, &err)
}
