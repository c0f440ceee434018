//! Launch shapes and kernel choice of the convolutions (`kernels/conv2d*.cu`): which kernel a
//! shape runs on (`conv2d_kernel`), the 32-bit rules the fast kernels need, and each one's
//! grid and block. The parent module's header says what a shape promises.

use super::{
    blocks, size, LaunchShape, CONV_MAX_BLOCK, DEPTHWISE_MAX_TAPS, GEMM_BLOCK, GEMM_TILE,
    IGEMM_MIN_COUT, SMALL_BLOCK, SMALL_CO, SMALL_MAX_TAPS, WARP,
};
use crate::error::{Error, Result};
use crate::kernels::Conv2dParams;

/// conv2d_f32: one block per (pixel tile, output plane); a tile is `H_out*W_out` rounded up to
/// a warp multiple and clamped to [32, 256] threads, so a 5x5 feature map uses one 32-thread
/// block per plane instead of idling most of a 256-thread one.
pub(crate) fn conv2d(p: &Conv2dParams) -> Result<LaunchShape> {
    pixel_planes("conv2d", p)
}

/// One block per (pixel tile, output plane), the tile following the feature map (conv2d_f32's
/// and conv2d_depthwise_f32's shape).
fn pixel_planes(op: &'static str, p: &Conv2dParams) -> Result<LaunchShape> {
    pool_supported(op, p, false)?;
    let overflow = || Error::Overflow {
        what: format!("{op} launch size"),
    };
    let pixels = size(op, "h_out", p.h_out)?
        .checked_mul(size(op, "w_out", p.w_out)?)
        .ok_or_else(overflow)?;
    let planes = size(op, "n", p.n)?
        .checked_mul(size(op, "c_out", p.c_out)?)
        .ok_or_else(overflow)?;
    let threads = pixels
        .div_ceil(WARP)
        .saturating_mul(WARP)
        .clamp(WARP, CONV_MAX_BLOCK);
    let bx = u32::try_from(threads).map_err(|_| Error::Overflow {
        what: format!("{op} block of {threads} threads"),
    })?;
    Ok(LaunchShape {
        grid: [blocks(op, pixels, threads)?, blocks(op, planes, 1)?, 1],
        block: [bx, 1, 1],
        shared_bytes: 0,
    })
}

/// Whether conv2d_igemm_f32's 32-bit in-image arithmetic holds for `p`: every offset inside an
/// image's channel group (`Cg*H*W`), the reduction length `K = Cg*KH*KW`, the pixels of one
/// output plane, and every input row and column a tap can reach (`(H_out-1)*sh + (KH-1)*dh`,
/// and the padding, which is subtracted; strides and dilations themselves) below 2^31. The batch and the pixel index over it stay
/// 64-bit in the kernel, so `N` is not limited.
pub(crate) fn conv2d_igemm_fits(p: &Conv2dParams) -> bool {
    let lim = i128::from(i32::MAX);
    let v = |x: i64| i128::from(x);
    let cg = v(p.c_in) / v(p.groups.max(1));
    let reach = |out: i64, stride: i64, k: i64, dil: i64| {
        (v(out) - 1).max(0) * v(stride) + (v(k) - 1).max(0) * v(dil)
    };
    [
        cg * v(p.h) * v(p.w),
        cg * v(p.kh) * v(p.kw),
        v(p.h_out) * v(p.w_out),
        v(p.c_out),
        reach(p.h_out, p.stride_h, p.kh, p.dil_h),
        reach(p.w_out, p.stride_w, p.kw, p.dil_w),
        v(p.pad_h),
        v(p.pad_w),
        v(p.stride_h),
        v(p.stride_w),
        v(p.dil_h),
        v(p.dil_w),
    ]
    .iter()
    .all(|&x| (0..=lim).contains(&x))
}

/// conv2d_igemm_f32: one 256-thread block per (128-pixel tile, group x 128-channel tile);
/// grid.x walks the `N*H_out*W_out` pixels, grid.y the groups' channel tiles. Refused for a
/// shape outside [`conv2d_igemm_fits`].
pub(crate) fn conv2d_igemm(p: &Conv2dParams) -> Result<LaunchShape> {
    const OP: &str = "conv2d (implicit GEMM)";
    if !conv2d_igemm_fits(p) {
        return Err(Error::InvalidArgument {
            op: OP,
            name: "shape",
            reason: format!("conv2d_igemm_f32 needs 32-bit in-image offsets, {p:?} has larger"),
        });
    }
    pool_supported(OP, p, false)?;
    let overflow = || Error::Overflow {
        what: format!("{OP} launch size"),
    };
    let pixels = size(OP, "n", p.n)?
        .checked_mul(size(OP, "h_out", p.h_out)?)
        .and_then(|x| x.checked_mul(p.w_out as u64))
        .ok_or_else(overflow)?;
    let groups = size(OP, "groups", p.groups)?;
    let cog = size(OP, "c_out", p.c_out)? / groups.max(1);
    let row_tiles = groups
        .checked_mul(cog.div_ceil(GEMM_TILE))
        .ok_or_else(overflow)?;
    Ok(LaunchShape {
        grid: [blocks(OP, pixels, GEMM_TILE)?, blocks(OP, row_tiles, 1)?, 1],
        block: GEMM_BLOCK,
        shared_bytes: 0,
    })
}

/// Whether conv2d_small{3,5,7}_f32 takes `p` with a `k` x `k` filter: no groups, that filter,
/// at most [`SMALL_MAX_TAPS`] taps per output channel (its shared-memory filter tile) and the
/// implicit GEMM's 32-bit rule.
pub(crate) fn conv2d_small_fits(p: &Conv2dParams, k: i64) -> bool {
    p.groups == 1
        && p.kh == k
        && p.kw == k
        && matches!(k, 3 | 5 | 7)
        && p.c_in
            .checked_mul(k * k)
            .is_some_and(|r| r <= SMALL_MAX_TAPS)
        && conv2d_igemm_fits(p)
}

/// conv2d_small{k}_f32: one 256-thread block per (256-pixel tile of a plane, image x block of 8
/// output channels). Refused for a shape outside [`conv2d_small_fits`].
pub(crate) fn conv2d_small(p: &Conv2dParams, k: i64, pooled: bool) -> Result<LaunchShape> {
    const OP: &str = "conv2d (small channels)";
    if !conv2d_small_fits(p, k) {
        return Err(Error::InvalidArgument {
            op: OP,
            name: "shape",
            reason: format!(
                "conv2d_small{k}_f32 needs groups 1, a {k}x{k} filter, C_in*{k}*{k} <= \
                 {SMALL_MAX_TAPS} and 32-bit in-image offsets; got {p:?}"
            ),
        });
    }
    pool_supported(OP, p, pooled)?;
    let overflow = || Error::Overflow {
        what: format!("{OP} launch size"),
    };
    // One thread per stored pixel: per pooled window when the kernel pools.
    let pixels = size(OP, "h_out", p.stored_h())?
        .checked_mul(size(OP, "w_out", p.stored_w())?)
        .ok_or_else(overflow)?;
    let planes = size(OP, "n", p.n)?
        .checked_mul(size(OP, "c_out", p.c_out)?.div_ceil(SMALL_CO))
        .ok_or_else(overflow)?;
    Ok(LaunchShape {
        grid: [
            blocks(OP, pixels, SMALL_BLOCK[0].into())?,
            blocks(OP, planes, 1)?,
            1,
        ],
        block: SMALL_BLOCK,
        shared_bytes: 0,
    })
}

/// Whether conv2d_depthwise_f32 takes `p`: one input channel per group (groups == C_in, any
/// channel multiplier), at most [`DEPTHWISE_MAX_TAPS`] filter taps (its shared tile) and the
/// implicit GEMM's 32-bit rule.
pub(crate) fn conv2d_depthwise_fits(p: &Conv2dParams) -> bool {
    p.groups > 1
        && p.groups == p.c_in
        && p.kh
            .checked_mul(p.kw)
            .is_some_and(|t| t <= DEPTHWISE_MAX_TAPS)
        && conv2d_igemm_fits(p)
}

/// conv2d_depthwise_f32: conv2d_f32's shape (one block per pixel tile and output plane).
/// Refused for a shape outside [`conv2d_depthwise_fits`].
pub(crate) fn conv2d_depthwise(p: &Conv2dParams) -> Result<LaunchShape> {
    const OP: &str = "conv2d (depthwise)";
    if !conv2d_depthwise_fits(p) {
        return Err(Error::InvalidArgument {
            op: OP,
            name: "shape",
            reason: format!(
                "conv2d_depthwise_f32 needs groups == C_in > 1, at most {DEPTHWISE_MAX_TAPS} \
                 filter taps and 32-bit in-image offsets; got {p:?}"
            ),
        });
    }
    pixel_planes(OP, p)
}

/// Refuses params whose pool the kernel does not do: a pooling kernel (conv2d_small{3,5,7}_pool_f32)
/// takes exactly 2x2 windows at stride 2 over an output with at least one whole window (as
/// PyTorch's max_pool2d(2) would refuse a smaller one); every other kernel takes no pool.
fn pool_supported(op: &'static str, p: &Conv2dParams, pools: bool) -> Result<()> {
    let ok = match (p.pool, pools) {
        (0, false) => true,
        (2, true) => p.h_out >= 2 && p.w_out >= 2,
        _ => false,
    };
    if ok {
        return Ok(());
    }
    Err(Error::InvalidArgument {
        op,
        name: "pool",
        reason: format!(
            "a fused pool of {} over a {}x{} output is not supported by this kernel{}",
            p.pool,
            p.h_out,
            p.w_out,
            if pools {
                " (it pools 2x2 at stride 2, over at least 2x2)"
            } else {
                " (only conv2d_small{3,5,7}_pool_f32 pool)"
            }
        ),
    })
}

/// Which conv2d kernel a shape runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ConvKernel {
    /// conv2d_f32: any shape.
    Direct,
    /// conv2d_small{3,5,7}_f32 (the filter size): fewer than 32 output channels, no groups.
    Small3,
    Small5,
    Small7,
    /// conv2d_igemm_f32: at least 32 output channels per group, 32-bit in-image offsets.
    ImplicitGemm,
    /// conv2d_depthwise_f32: one input channel per group.
    Depthwise,
}

pub(crate) fn conv2d_kernel(p: &Conv2dParams) -> ConvKernel {
    if p.groups > 0 && p.c_out / p.groups >= IGEMM_MIN_COUT && conv2d_igemm_fits(p) {
        return ConvKernel::ImplicitGemm;
    }
    if conv2d_depthwise_fits(p) {
        return ConvKernel::Depthwise;
    }
    match p.kh {
        3 if conv2d_small_fits(p, 3) => ConvKernel::Small3,
        5 if conv2d_small_fits(p, 5) => ConvKernel::Small5,
        7 if conv2d_small_fits(p, 7) => ConvKernel::Small7,
        _ => ConvKernel::Direct,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    /// A 1x1 convolution over one `[1, c, h, w]` image, written out so that sizes past what
    /// `Conv2dParams::new` would ever be asked to allocate can be checked.
    fn conv_1x1(c: i64, h: i64, w: i64, c_out: i64) -> Conv2dParams {
        Conv2dParams {
            n: 1,
            c_in: c,
            h,
            w,
            c_out,
            kh: 1,
            kw: 1,
            stride_h: 1,
            stride_w: 1,
            pad_h: 0,
            pad_w: 0,
            dil_h: 1,
            dil_w: 1,
            groups: 1,
            h_out: h,
            w_out: w,
            has_bias: 0,
            has_residual: 0,
            relu: 0,
            pool: 0,
        }
    }

    #[test]
    fn implicit_gemm_needs_32_bit_offsets() {
        let max = i64::from(i32::MAX);
        // Cg*H*W just below and at 2^31: the last offset inside the image is 2^31 - 2, 2^31 - 1.
        let p = conv_1x1(1, 1, max, 64);
        assert!(conv2d_igemm_fits(&p));
        assert_eq!(conv2d_kernel(&p), ConvKernel::ImplicitGemm);
        let p = conv_1x1(1, 1, max + 1, 64);
        assert!(!conv2d_igemm_fits(&p));
        assert_eq!(conv2d_kernel(&p), ConvKernel::Direct);
        assert!(matches!(
            conv2d_igemm(&p),
            Err(Error::InvalidArgument { .. })
        ));
        // The product, not each factor: 2^16 channels of 2^15 pixels.
        assert!(!conv2d_igemm_fits(&conv_1x1(1 << 16, 1, 1 << 15, 64)));
        assert!(conv2d_igemm_fits(&conv_1x1((1 << 16) - 1, 1, 1 << 15, 64)));
        // A tap's reach: a stride that takes the last output row's taps past 2^31.
        let mut p = conv_1x1(1, 3, 3, 64);
        (p.h_out, p.kh) = (2, 2);
        p.stride_h = max;
        assert!(!conv2d_igemm_fits(&p));
        p.stride_h = max - 1;
        assert!(conv2d_igemm_fits(&p));
        // The batch is not limited: the pixel index is 64-bit in the kernel.
        let mut p = conv_1x1(64, 56, 56, 64);
        p.n = 1 << 40;
        assert_eq!(conv2d_kernel(&p), ConvKernel::ImplicitGemm);
        assert_eq!(conv2d_igemm(&p).unwrap().grid[0], 65535);
        // Narrow groups leave the implicit GEMM: one input channel per group is the depthwise
        // kernel's, 16 channels of a 1x1 the direct one's.
        assert_eq!(conv2d_kernel(&conv_1x1(3, 32, 32, 16)), ConvKernel::Direct);
        let mut p = conv_1x1(64, 8, 8, 64);
        p.groups = 64;
        assert_eq!(conv2d_kernel(&p), ConvKernel::Depthwise);
        // The depthwise kernel's 32-bit rule: a plane of 2^31 - 1 pixels fits, 2^31 does not.
        let mut d = conv_1x1(2, 1, max, 2);
        d.groups = 2;
        assert!(conv2d_depthwise_fits(&d));
        assert_eq!(conv2d_kernel(&d), ConvKernel::Depthwise);
        let mut d = conv_1x1(2, 1, max + 1, 2);
        d.groups = 2;
        assert_eq!(conv2d_kernel(&d), ConvKernel::Direct);
        assert!(matches!(
            conv2d_depthwise(&d),
            Err(Error::InvalidArgument { .. })
        ));
        let mut p = conv_1x1(64, 8, 8, 64);
        p.groups = 2;
        assert_eq!(conv2d_kernel(&p), ConvKernel::ImplicitGemm);
        assert_eq!(conv2d_igemm(&p).unwrap().grid, [1, 2, 1]);
    }

    #[test]
    fn few_channels_take_the_register_blocked_kernel() {
        let conv = |x: [usize; 4], w: [usize; 4], groups| {
            Conv2dParams::new(&x, &w, true, [1, 1], [1, 1], [1, 1], groups).unwrap()
        };
        // The recipe Net's two convolutions.
        let p = conv([1, 3, 32, 32], [6, 3, 5, 5], 1);
        assert_eq!(conv2d_kernel(&p), ConvKernel::Small5);
        assert_eq!(conv2d_small(&p, 5, false).unwrap().grid, [4, 1, 1]);
        let p = conv([64, 6, 14, 14], [16, 6, 5, 5], 1);
        assert_eq!(conv2d_kernel(&p), ConvKernel::Small5);
        assert_eq!(conv2d_small(&p, 5, false).unwrap().grid, [1, 128, 1]);
        assert!(
            conv2d_small(&p, 3, false).is_err(),
            "a 5x5 filter is not the 3x3 kernel's"
        );
        assert_eq!(
            conv2d_kernel(&conv([1, 3, 9, 9], [8, 3, 7, 7], 1)),
            ConvKernel::Small7
        );
        // The shared filter tile: 56*9 = 504 taps fit, 57*9 = 513 do not.
        assert_eq!(
            conv2d_kernel(&conv([1, 56, 9, 9], [8, 56, 3, 3], 1)),
            ConvKernel::Small3
        );
        assert_eq!(
            conv2d_kernel(&conv([1, 57, 9, 9], [8, 57, 3, 3], 1)),
            ConvKernel::Direct
        );
        // Groups, non-square and other sizes stay direct.
        assert_eq!(
            conv2d_kernel(&conv([1, 4, 9, 9], [8, 2, 3, 3], 2)),
            ConvKernel::Direct
        );
        assert_eq!(
            conv2d_kernel(&conv([1, 4, 9, 9], [8, 4, 3, 5], 1)),
            ConvKernel::Direct
        );
        assert_eq!(
            conv2d_kernel(&conv([1, 4, 9, 9], [8, 4, 4, 4], 1)),
            ConvKernel::Direct
        );
    }
}
