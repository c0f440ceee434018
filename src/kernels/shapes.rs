//! Launch shapes of the kernels in `kernels/*.cu`: grid, block and dynamic shared memory.
//!
//! Part of each kernel's contract (its header comment states the same numbers, and `decl.rs`
//! names the function here that makes its shape): the CUDA launch uses these, and the emulator
//! tests run the kernel source with these very shapes, so the tests prove the real
//! configuration.
//!
//! Grids are capped; the kernels use grid-stride loops over 64-bit indices to cover the rest, so
//! no size is ever narrowed to 32 bits: every conversion is a checked `u32::try_from`.

use crate::error::{Error, Result};
use crate::kernels::LinearParams;

mod conv;
pub(crate) use conv::*;

/// A kernel launch configuration (`cudarc::driver::LaunchConfig` without the type dependency).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct LaunchShape {
    /// Blocks in x, y, z.
    pub grid: [u32; 3],
    /// Threads per block in x, y, z.
    pub block: [u32; 3],
    /// Dynamic shared memory per block, in bytes.
    pub shared_bytes: u32,
}

/// Threads per block of the 1-D grid-stride kernels (relu, max_pool2d, ...).
const ELTWISE_BLOCK: u32 = 256;
/// Cap on any grid dimension: 65535 is the CUDA limit of grid.y/z and plenty for grid.x (a
/// 256-thread block per slot is 16.7M threads, far beyond what any GPU keeps resident); the
/// grid-stride loops cover the rest.
const GRID_CAP: u64 = 65535;
/// Output tile of linear_f32 (`LIN_TM` x `LIN_TN` in kernels/linear.cu) and its 16 x 16 block.
const LINEAR_TILE: u64 = 64;
const LINEAR_BLOCK: [u32; 3] = [16, 16, 1];
/// Output tile of the register-tiled kernels (`GT_BM` x `GT_BN` in kernels/gemm_tile.cuh:
/// linear_tiled_f32, conv2d_igemm_f32) and their 256-thread block.
const GEMM_TILE: u64 = 128;
const GEMM_BLOCK: [u32; 3] = [256, 1, 1];
/// linear_gemv_f32: output features per block (one warp each), its block, and the most rows of
/// x it takes (`GV_WARPS`, `GV_ROWS` in kernels/linear.cu).
const GEMV_OUTPUTS: u64 = 8;
const GEMV_BLOCK: [u32; 3] = [256, 1, 1];
pub(crate) const GEMV_MAX_ROWS: i64 = 8;
/// linear_tiled_f32 wants both M and N at least this large: below, most of a 128-wide tile
/// would compute rows or columns that are never stored, and linear_f32's 64-wide tile wastes
/// less.
const TILED_MIN: i64 = 64;
/// conv2d_igemm_f32 wants at least this many output channels per group: below, the 128-row
/// filter tile is mostly padding and the direct kernel (one pixel per thread, every output
/// channel a separate plane) does less wasted work. Depthwise layers take their own kernel and
/// the recipe's Net (6 and 16 channels) the small-channel ones.
const IGEMM_MIN_COUT: i64 = 32;
/// conv2d_small{3,5,7}_f32: output channels per thread (`SC_CO`), block, and the most filter taps
/// per channel its shared tile holds (`SC_MAX_R`, kernels/conv2d_small.cu).
const SMALL_CO: u64 = 8;
const SMALL_BLOCK: [u32; 3] = [256, 1, 1];
const SMALL_MAX_TAPS: i64 = 512;
/// conv2d_depthwise_f32: the most filter taps its shared tile holds (`DW_MAX_TAPS`).
const DEPTHWISE_MAX_TAPS: i64 = 256;
/// Largest conv2d block (kernels/conv2d.cu: one output pixel per thread).
const CONV_MAX_BLOCK: u64 = 256;
const WARP: u64 = 32;

/// A params field that must be a non-negative size.
fn size(op: &'static str, name: &'static str, v: i64) -> Result<u64> {
    u64::try_from(v).map_err(|_| Error::InvalidArgument {
        op,
        name,
        reason: format!("{name} = {v} is negative"),
    })
}

/// `ceil(work / per_block)` blocks, at least 1 (CUDA rejects an empty grid; the kernels' loops
/// simply do nothing when there is no work) and at most [`GRID_CAP`].
fn blocks(op: &'static str, work: u64, per_block: u64) -> Result<u32> {
    let n = work.div_ceil(per_block).clamp(1, GRID_CAP);
    u32::try_from(n).map_err(|_| Error::Overflow {
        what: format!("{op} grid of {n} blocks"),
    })
}

/// 256-thread blocks over `n` items, grid-stride.
pub(crate) fn grid_stride(n: i64) -> Result<LaunchShape> {
    grid_stride_product(&[n])
}

/// 256-thread blocks over the product of `dims` items (each non-negative), grid-stride.
pub(crate) fn grid_stride_product(dims: &[i64]) -> Result<LaunchShape> {
    const OP: &str = "grid-stride launch";
    let n = dims.iter().try_fold(1u64, |acc, &d| {
        acc.checked_mul(size(OP, "size", d)?)
            .ok_or_else(|| Error::Overflow {
                what: format!("{OP} over {dims:?}"),
            })
    })?;
    Ok(LaunchShape {
        grid: [blocks(OP, n, ELTWISE_BLOCK.into())?, 1, 1],
        block: [ELTWISE_BLOCK, 1, 1],
        shared_bytes: 0,
    })
}

/// linear_f32: one 16x16-thread block per 64x64 tile of the `[M, N]` output; grid.x walks the N
/// (column) tiles and grid.y the M (row) tiles.
pub(crate) fn linear(p: &LinearParams) -> Result<LaunchShape> {
    tiles_2d("linear", p, LINEAR_TILE, LINEAR_BLOCK)
}

/// linear_tiled_f32: one 256-thread block per 128x128 tile of `[M, N]`; grid.x walks the N
/// tiles and grid.y the M tiles.
pub(crate) fn linear_tiled(p: &LinearParams) -> Result<LaunchShape> {
    tiles_2d("linear (tiled)", p, GEMM_TILE, GEMM_BLOCK)
}

/// One `block` per `tile` x `tile` piece of the `[M, N]` output: grid.x walks the N tiles,
/// grid.y the M tiles.
fn tiles_2d(op: &'static str, p: &LinearParams, tile: u64, block: [u32; 3]) -> Result<LaunchShape> {
    let m = size(op, "m", p.m)?;
    let n = size(op, "n", p.n)?;
    size(op, "k", p.k)?;
    Ok(LaunchShape {
        grid: [blocks(op, n, tile)?, blocks(op, m, tile)?, 1],
        block,
        shared_bytes: 0,
    })
}

/// linear_gemv_f32: 8 output features per 256-thread block. The kernel keeps at most
/// [`GEMV_MAX_ROWS`] partial sums per lane, so more rows are refused here.
pub(crate) fn linear_gemv(p: &LinearParams) -> Result<LaunchShape> {
    const OP: &str = "linear (gemv)";
    let m = size(OP, "m", p.m)?;
    let n = size(OP, "n", p.n)?;
    size(OP, "k", p.k)?;
    if m > GEMV_MAX_ROWS as u64 {
        return Err(Error::InvalidArgument {
            op: OP,
            name: "m",
            reason: format!("linear_gemv_f32 takes at most {GEMV_MAX_ROWS} rows, got {m}"),
        });
    }
    Ok(LaunchShape {
        grid: [blocks(OP, n, GEMV_OUTPUTS)?, 1, 1],
        block: GEMV_BLOCK,
        shared_bytes: 0,
    })
}

/// Which linear kernel a shape runs on (the CUDA launch and the tests use this one rule).
///
/// linear_gemv_f32 is not among them although it is built and tested: it adds a row's products
/// in another order (lane partials, then across lanes) than the two tiles (increasing k, one
/// FMA each, bit for bit the same), and choosing it by M would make a row's result depend on
/// the batch it came in: `DataParallel` over GPUs would no longer be bit-identical to one GPU
/// (tests/nn_parallel.rs). The tiles agree with each other, so choosing between them by shape
/// keeps that property.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LinearKernel {
    /// linear_tiled_f32: M and N both at least 64.
    Tiled,
    /// linear_f32: the rest.
    General,
}

pub(crate) fn linear_kernel(p: &LinearParams) -> LinearKernel {
    if p.m >= TILED_MIN && p.n >= TILED_MIN {
        LinearKernel::Tiled
    } else {
        LinearKernel::General
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grids_are_capped_and_never_empty() {
        let s = grid_stride(0).unwrap();
        assert_eq!(s.grid, [1, 1, 1]);
        let s = grid_stride(1 << 40).unwrap();
        assert_eq!(s.grid, [65535, 1, 1]);
        assert_eq!(s.block, [256, 1, 1]);
        assert!(matches!(
            grid_stride(-1),
            Err(Error::InvalidArgument { .. })
        ));
        let p = LinearParams {
            m: 1 << 33,
            k: 3,
            n: 65,
            has_bias: 0,
            relu: 0,
        };
        assert_eq!(linear(&p).unwrap().grid, [2, 65535, 1]);
    }

    #[test]
    fn size_overflow_is_an_error() {
        assert!(matches!(
            grid_stride_product(&[i64::MAX, i64::MAX, 1, 1]),
            Err(Error::Overflow { .. })
        ));
    }

    #[test]
    fn linear_kernel_follows_the_shape() {
        let p = |m, n| LinearParams {
            m,
            k: 5,
            n,
            has_bias: 0,
            relu: 0,
        };
        assert_eq!(linear_kernel(&p(1, 4096)), LinearKernel::General);
        assert_eq!(linear_kernel(&p(8, 10)), LinearKernel::General);
        assert_eq!(linear_kernel(&p(9, 4096)), LinearKernel::General);
        assert_eq!(linear_kernel(&p(64, 63)), LinearKernel::General);
        assert_eq!(linear_kernel(&p(64, 64)), LinearKernel::Tiled);
        assert_eq!(linear_gemv(&p(8, 4097)).unwrap().grid, [513, 1, 1]);
        assert!(matches!(
            linear_gemv(&p(9, 1)),
            Err(Error::InvalidArgument { .. })
        ));
        assert_eq!(linear_tiled(&p(129, 1 << 30)).unwrap().grid, [65535, 2, 1]);
    }
}
