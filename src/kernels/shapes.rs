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
use crate::kernels::{Conv2dParams, LinearParams};

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

/// conv2d_f32: one block per (pixel tile, output plane); a tile is `H_out*W_out` rounded up to
/// a warp multiple and clamped to [32, 256] threads, so a 5x5 feature map uses one 32-thread
/// block per plane instead of idling most of a 256-thread one.
pub(crate) fn conv2d(p: &Conv2dParams) -> Result<LaunchShape> {
    const OP: &str = "conv2d";
    let overflow = || Error::Overflow {
        what: format!("{OP} launch size"),
    };
    let pixels = size(OP, "h_out", p.h_out)?
        .checked_mul(size(OP, "w_out", p.w_out)?)
        .ok_or_else(overflow)?;
    let planes = size(OP, "n", p.n)?
        .checked_mul(size(OP, "c_out", p.c_out)?)
        .ok_or_else(overflow)?;
    let threads = pixels
        .div_ceil(WARP)
        .saturating_mul(WARP)
        .clamp(WARP, CONV_MAX_BLOCK);
    let bx = u32::try_from(threads).map_err(|_| Error::Overflow {
        what: format!("{OP} block of {threads} threads"),
    })?;
    Ok(LaunchShape {
        grid: [blocks(OP, pixels, threads)?, blocks(OP, planes, 1)?, 1],
        block: [bx, 1, 1],
        shared_bytes: 0,
    })
}

/// linear_f32: one 16x16-thread block per 64x64 tile of the `[M, N]` output; grid.x walks the N
/// (column) tiles and grid.y the M (row) tiles.
pub(crate) fn linear(p: &LinearParams) -> Result<LaunchShape> {
    const OP: &str = "linear";
    let m = size(OP, "m", p.m)?;
    let n = size(OP, "n", p.n)?;
    size(OP, "k", p.k)?;
    Ok(LaunchShape {
        grid: [blocks(OP, n, LINEAR_TILE)?, blocks(OP, m, LINEAR_TILE)?, 1],
        block: LINEAR_BLOCK,
        shared_bytes: 0,
    })
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
    fn conv_block_follows_the_feature_map() {
        let p = Conv2dParams::new(
            &[2, 6, 9, 9],
            &[16, 6, 5, 5],
            true,
            [1, 1],
            [0, 0],
            [1, 1],
            1,
        )
        .unwrap();
        // 5x5 = 25 outputs per plane: one 32-thread block per plane, 2*16 planes.
        let s = conv2d(&p).unwrap();
        assert_eq!((s.grid, s.block), ([1, 32, 1], [32, 1, 1]));
        let p = Conv2dParams::new(
            &[1, 3, 32, 32],
            &[6, 3, 5, 5],
            true,
            [1, 1],
            [0, 0],
            [1, 1],
            1,
        )
        .unwrap();
        // 28x28 = 784 outputs: 4 blocks of 256.
        let s = conv2d(&p).unwrap();
        assert_eq!((s.grid, s.block), ([4, 6, 1], [256, 1, 1]));
    }
}
