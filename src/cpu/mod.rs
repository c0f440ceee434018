//! CPU kernels. Each op has one file; the public entry points in `crate::ops` validate shapes,
//! dtypes and devices and then call in here with contiguous host slices and the op's params
//! struct (`crate::kernels`). Nothing here sees a tensor.
//!
//! Threading (`threads.rs`): rayon's global pool (one worker per core) unless the program chose
//! otherwise with `tensorport::set_num_threads`. Small problems run on the calling thread,
//! because waking the pool costs a few microseconds, which is more than a batch-1 layer of a
//! small CNN takes in total.

pub(crate) mod activation;
pub(crate) mod add;
pub(crate) mod avg_pool2d;
pub(crate) mod batch_norm;
mod broadcast;
pub(crate) mod conv2d;
pub(crate) mod convert;
pub(crate) mod epilogue;
pub(crate) mod gemm;
mod gemv;
pub(crate) mod isa;
pub(crate) mod linear;
pub(crate) mod max_pool2d;
pub(crate) mod mul;
mod parallel;
pub(crate) mod reduce;
pub(crate) mod relu;
pub(crate) mod scalar;
pub(crate) mod scalar_arith;
pub(crate) mod softmax;
mod threads;
mod vexp;

use std::cell::RefCell;

pub(crate) use convert::Convert;
pub use isa::{
    best_cpu_capability, cpu_capability, cpu_capability_from_env, set_cpu_capability, CpuCapability,
};
pub(crate) use scalar::{Arith, Float, Scalar};
pub(crate) use threads::{install, pool_threads, serial};
pub use threads::{num_threads, set_num_threads};

/// Below this many FLOPs a problem runs on the calling thread: at ~50–100 GFLOP/s per core,
/// 2 MFLOP is 20–40 µs, where a rayon fork/join (several µs) stops mattering.
pub(crate) const PARALLEL_MIN_FLOPS: usize = 2_000_000;

/// Worker threads worth using for `flops` of work: 1 for small problems.
pub(crate) fn threads_for(flops: usize) -> usize {
    if flops < PARALLEL_MIN_FLOPS {
        1
    } else {
        pool_threads()
    }
}

thread_local! {
    /// Per-thread scratch (im2col columns, padded planes, packed weights), kept between calls
    /// so hot loops reuse warm pages instead of faulting in fresh ones. Stored as f64 so it is
    /// aligned for every `Float`.
    static SCRATCH: RefCell<Vec<f64>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` with a zeroed-or-stale scratch slice of `len` elements of `T` (callers overwrite
/// what they read). When the thread's scratch is already borrowed (a rayon task stolen while
/// this thread waits inside another one) a fresh buffer is used instead of failing.
pub(crate) fn with_scratch<T: Float, R>(len: usize, f: impl FnOnce(&mut [T]) -> R) -> R {
    let words = (len * std::mem::size_of::<T>()).div_ceil(8);
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buf) => {
            if buf.len() < words {
                buf.resize(words, 0.0);
            }
            let bytes: &mut [u8] = bytemuck::cast_slice_mut(&mut buf[..words]);
            f(&mut bytemuck::cast_slice_mut(bytes)[..len])
        }
        Err(_) => {
            let mut fresh = vec![T::ZERO; len];
            f(&mut fresh)
        }
    })
}

/// `v` as f32, when `T` is f32 (the kernels with hand-vectorised f32 paths).
pub(crate) fn as_f32<T: Float>(v: &[T]) -> Option<&[f32]> {
    if T::DTYPE == crate::dtype::DType::F32 {
        bytemuck::try_cast_slice::<T, f32>(v).ok()
    } else {
        None
    }
}

/// [`as_f32`] for an output.
pub(crate) fn as_f32_mut<T: Float>(v: &mut [T]) -> Option<&mut [f32]> {
    if T::DTYPE == crate::dtype::DType::F32 {
        bytemuck::try_cast_slice_mut::<T, f32>(v).ok()
    } else {
        None
    }
}
