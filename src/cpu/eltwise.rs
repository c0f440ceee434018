//! CPU kernels for max_pool2d, relu and softmax/argmax, over contiguous host slices. The public
//! ops in `crate::ops` validate shapes and dtypes, then call these. (Kept out of `crate::cpu`
//! while that module is written in parallel; the integrator moves these files under it.)

use std::borrow::Cow;

use crate::dtype::Element;
use crate::error::{Error, Result};
use crate::tensor::Tensor;

/// Below this many elements of work a kernel runs on the calling thread: waking rayon's pool
/// costs microseconds, more than the recipe's batch-1 layers take in total.
pub(crate) const PAR_MIN_WORK: usize = 1 << 16;

/// A slice of work per rayon task: large enough to amortise task overhead (~1 µs), small enough
/// that two or more cores get balanced shares.
pub(crate) const PAR_CHUNK: usize = 1 << 15;

/// An element type the CPU kernels here can compare. `LOWEST` is where a max starts (-inf for
/// floats, as PyTorch's pooling starts, and the minimum for integers).
pub(crate) trait Scalar: Element + PartialOrd {
    const LOWEST: Self;
    const ZERO: Self;
    fn is_nan(self) -> bool;
}

macro_rules! scalar_float {
    ($($t:ty),*) => {$(
        impl Scalar for $t {
            const LOWEST: Self = <$t>::NEG_INFINITY;
            const ZERO: Self = 0.0;
            #[inline(always)]
            fn is_nan(self) -> bool {
                <$t>::is_nan(self)
            }
        }
    )*};
}
macro_rules! scalar_int {
    ($($t:ty),*) => {$(
        impl Scalar for $t {
            const LOWEST: Self = <$t>::MIN;
            const ZERO: Self = 0;
            #[inline(always)]
            fn is_nan(self) -> bool {
                false
            }
        }
    )*};
}
scalar_float!(f32, f64);
scalar_int!(i64, i32, i16, i8, u8);

/// PyTorch's running-max step, `if (val > max || isnan(val)) max = val`, with `cur` the max so
/// far. Folding it over taps in scan order gives the last NaN if any, else the first of equal
/// maxima (which decides the sign of a zero result). It is associative, so pairwise trees give
/// the same bits as the sequential scan.
#[inline(always)]
pub(crate) fn max_step<T: Scalar>(cur: T, val: T) -> T {
    if val > cur || val.is_nan() {
        val
    } else {
        cur
    }
}

/// Refuses tensors whose data is not in host memory (CUDA ops arrive with the CUDA issue).
pub(crate) fn check_host(op: &'static str, t: &Tensor) -> Result<()> {
    let dev = t.device();
    if dev.is_cuda() {
        return Err(Error::DeviceUnavailable {
            device: dev.to_string(),
            message: format!("{op}: no CUDA implementation yet; move the tensor to the CPU"),
        });
    }
    Ok(())
}

/// The tensor's elements in C order: borrowed when contiguous and aligned, else gathered into a
/// copy (strided views, and mapped checkpoint data that is not aligned for `T`).
pub(crate) fn host_elems<T: Element>(t: &Tensor) -> Result<Cow<'_, [T]>> {
    if t.is_contiguous() {
        if let Ok(s) = t.as_slice::<T>() {
            return Ok(Cow::Borrowed(s));
        }
    }
    Ok(Cow::Owned(t.to_vec::<T>()?))
}

/// Runs `body` for every `unit`-sized piece of `dst` (with the piece's index), in parallel when
/// the total `work` is large, in tasks of whole pieces.
pub(crate) fn for_each_piece<T: Send>(
    dst: &mut [T],
    unit: usize,
    work: usize,
    body: impl Fn(usize, &mut [T]) + Sync,
) {
    use rayon::prelude::*;
    if unit == 0 || dst.is_empty() {
        return;
    }
    if work < PAR_MIN_WORK || super::pool_threads() < 2 {
        for (i, piece) in dst.chunks_exact_mut(unit).enumerate() {
            body(i, piece);
        }
        return;
    }
    // Work per piece scales with its length; group pieces so a task does about PAR_CHUNK of work.
    let pieces = dst.len() / unit;
    let per_piece = (work / pieces.max(1)).max(1);
    let per_task = (PAR_CHUNK / per_piece).clamp(1, pieces.max(1));
    dst.par_chunks_mut(unit * per_task)
        .enumerate()
        .for_each(|(t, chunk)| {
            for (i, piece) in chunk.chunks_exact_mut(unit).enumerate() {
                body(t * per_task + i, piece);
            }
        });
}

/// Dispatches a generic function on a tensor dtype: `with_dtype!(op, dtype, [F32 => f32, ...],
/// f::<T>(args))`. Every other dtype is a typed error listing the accepted ones.
macro_rules! with_dtype {
    ($op:expr, $dtype:expr, [$($variant:ident => $ty:ty),* $(,)?], $f:ident::<T> $args:tt) => {
        match $dtype {
            $($crate::dtype::DType::$variant => $f::<$ty> $args,)*
            other => Err($crate::error::Error::DType {
                op: $op,
                expected: [$($crate::dtype::DType::$variant.name()),*].join(", "),
                got: other,
            }),
        }
    };
}
pub(crate) use with_dtype;
