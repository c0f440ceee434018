//! Launch shapes of the CUDA kernels in `kernels/*.cu`: grid, block and dynamic shared memory.
//!
//! Owned next to the kernels because each shape is part of its kernel's contract (the kernel's
//! header comment states the same numbers). The CUDA runtime launches with these, and
//! `tests/emu_kernels.rs` runs the kernel source through the CPU emulator with these very shapes,
//! so the tests prove the real launch configuration. Always compiled, with or without `cuda`.
//!
//! Grids are capped; the kernels use grid-stride loops over 64-bit indices to cover the rest, so
//! no size is ever narrowed to 32 bits: every conversion is a checked `u32::try_from`.

use crate::error::{Error, Result};
use crate::ops::params::{Conv2dParams, EltwiseParams, LinearParams, Pool2dParams};

/// A kernel launch configuration (`cudarc::driver::LaunchConfig` without the type dependency).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LaunchShape {
    pub grid: [u32; 3],
    pub block: [u32; 3],
    pub shared_bytes: u32,
}

/// Threads per block of the 1-D elementwise kernels (relu, max_pool2d).
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

/// The product of sizes, checked.
fn product(op: &'static str, dims: &[(&'static str, i64)]) -> Result<u64> {
    dims.iter().try_fold(1u64, |acc, &(name, v)| {
        acc.checked_mul(size(op, name, v)?)
            .ok_or_else(|| Error::Overflow {
                what: format!("{op} launch size"),
            })
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

/// relu_f32: 256-thread blocks over `n` elements, grid-stride.
pub fn relu_shape(p: &EltwiseParams) -> Result<LaunchShape> {
    let n = product("relu", &[("n", p.n)])?;
    Ok(LaunchShape {
        grid: [blocks("relu", n, ELTWISE_BLOCK.into())?, 1, 1],
        block: [ELTWISE_BLOCK, 1, 1],
        shared_bytes: 0,
    })
}

/// max_pool2d_f32: 256-thread blocks over the `N*C*H_out*W_out` outputs, grid-stride.
pub fn max_pool2d_shape(p: &Pool2dParams) -> Result<LaunchShape> {
    const OP: &str = "max_pool2d";
    let n = product(
        OP,
        &[
            ("n", p.n),
            ("c", p.c),
            ("h_out", p.h_out),
            ("w_out", p.w_out),
        ],
    )?;
    Ok(LaunchShape {
        grid: [blocks(OP, n, ELTWISE_BLOCK.into())?, 1, 1],
        block: [ELTWISE_BLOCK, 1, 1],
        shared_bytes: 0,
    })
}

/// conv2d_f32: one block per (pixel tile, output plane); a tile is `H_out*W_out` rounded up to
/// a warp multiple and clamped to [32, 256] threads, so a 5x5 feature map uses one 32-thread
/// block per plane instead of idling most of a 256-thread one.
pub fn conv2d_shape(p: &Conv2dParams) -> Result<LaunchShape> {
    const OP: &str = "conv2d";
    let pixels = product(OP, &[("h_out", p.h_out), ("w_out", p.w_out)])?;
    let planes = product(OP, &[("n", p.n), ("c_out", p.c_out)])?;
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
pub fn linear_shape(p: &LinearParams) -> Result<LaunchShape> {
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
        let s = relu_shape(&EltwiseParams { n: 0 }).unwrap();
        assert_eq!(s.grid, [1, 1, 1]);
        let s = relu_shape(&EltwiseParams { n: 1 << 40 }).unwrap();
        assert_eq!(s.grid, [65535, 1, 1]);
        assert_eq!(s.block, [256, 1, 1]);
        assert!(matches!(
            relu_shape(&EltwiseParams { n: -1 }),
            Err(Error::InvalidArgument { .. })
        ));
        let p = LinearParams {
            m: 1 << 33,
            k: 3,
            n: 65,
            has_bias: 0,
            relu: 0,
        };
        assert_eq!(linear_shape(&p).unwrap().grid, [2, 65535, 1]);
    }

    #[test]
    fn pool_size_overflow_is_an_error() {
        let p = Pool2dParams {
            n: i64::MAX,
            c: i64::MAX,
            h: 1,
            w: 1,
            kh: 1,
            kw: 1,
            stride_h: 1,
            stride_w: 1,
            pad_h: 0,
            pad_w: 0,
            dil_h: 1,
            dil_w: 1,
            h_out: 1,
            w_out: 1,
        };
        assert!(matches!(max_pool2d_shape(&p), Err(Error::Overflow { .. })));
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
        let s = conv2d_shape(&p).unwrap();
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
        let s = conv2d_shape(&p).unwrap();
        assert_eq!((s.grid, s.block), ([4, 6, 1], [256, 1, 1]));
    }
}
