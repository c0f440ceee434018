//! The convolution kernels through the emulator: conv2d_f32, conv2d_igemm_f32 and
//! conv2d_small{3,5,7}_f32, each against the naive f64 reference and the CPU op with `gemm.rs`'s
//! summation-order tolerance, against conv2d_f32, and against itself on a one-block grid (the
//! tile loops must stride over the rest). Then the fused epilogue (conv_epilogue.cuh) on every
//! case: relu, a residual, both, and on the small-channel kernels the 2x2 max pool with and
//! without them, each compared bit for bit with the same kernel's unfused output followed by
//! the standalone ops' formulas (IEEE add, relu `v < 0 ? 0 : v`, max_pool2d's NaN-propagating
//! step) computed here: fusing must not change a bit. One pooled case carries a NaN input.
//! The shapes sit on and around every edge the kernels have: 128-wide tiles, 8-deep K steps, a
//! pixel tile that spans images, groups, strides, padding, dilation, kernel sizes 1 to 11; for
//! the small-channel kernels 8-channel blocks (1, 6, 8, 9, 16, 31 channels), the interior and
//! border paths in one image, odd outputs (a pool drops the last row or column), and the
//! shared filter tile full (512 taps).

use super::closeness::{assert_close, Tol};
use super::gemm::{bias_arg, conv_ref, tolerance};
use super::rng::Rng;
use super::{run, EmuArg};
use crate::kernels::shapes::{conv2d_kernel, ConvKernel};
use crate::kernels::{
    Conv2dDepthwiseF32, Conv2dF32, Conv2dIgemmF32, Conv2dParams, Conv2dSmall3F32,
    Conv2dSmall3PoolF32, Conv2dSmall5F32, Conv2dSmall5PoolF32, Conv2dSmall7F32,
    Conv2dSmall7PoolF32, KernelDef,
};
use crate::ops::{conv2d, Conv2dArgs};
use crate::tensor::Tensor;

/// (input, weight, bias, stride, padding, dilation, groups)
type Case = (
    [usize; 4],
    [usize; 4],
    bool,
    [usize; 2],
    [usize; 2],
    [usize; 2],
    usize,
);

/// Runs a conv2d-shaped kernel `K` in the emulator (with the residual `r` when the params add
/// one), into an output of the stored shape.
fn conv_run<K: KernelDef<Params = Conv2dParams>>(
    p: &Conv2dParams,
    grid: Option<[u32; 3]>,
    x: &[f32],
    w: &[f32],
    b: &[f32],
    r: &[f32],
) -> Result<Vec<f32>, String> {
    let len = p.n * p.c_out * p.stored_h() * p.stored_w();
    let mut y = vec![f32::NAN; len as usize];
    let res = if p.has_residual != 0 {
        EmuArg::In(r)
    } else {
        EmuArg::Absent
    };
    let mut args = [
        EmuArg::In(x),
        EmuArg::In(w),
        bias_arg(p.has_bias, b),
        res,
        EmuArg::Out(&mut y),
    ];
    run::<K>(p, grid, &mut args)?;
    Ok(y)
}

/// The standalone ops after an unfused output `y`: `+ r` (when given), relu (when asked), then
/// max_pool2d(2) (when `pool`), as PyTorch defines them.
fn unfused_epilogue(
    p: &Conv2dParams,
    y: &[f32],
    r: Option<&[f32]>,
    relu: bool,
    pool: bool,
) -> Vec<f32> {
    let mut v: Vec<f32> = y.to_vec();
    if let Some(r) = r {
        v.iter_mut().zip(r).for_each(|(a, b)| *a += *b);
    }
    if relu {
        v.iter_mut()
            .for_each(|a| *a = if *a < 0.0 { 0.0 } else { *a });
    }
    if !pool {
        return v;
    }
    let (ho, wo) = (p.h_out as usize, p.w_out as usize);
    let (hp, wp) = (ho / 2, wo / 2);
    let planes = (p.n * p.c_out) as usize;
    let mut out = Vec::with_capacity(planes * hp * wp);
    for pl in 0..planes {
        for i in 0..hp {
            for j in 0..wp {
                let mut m = f32::NEG_INFINITY;
                for (a, c) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
                    let t = v[(pl * ho + 2 * i + a) * wo + 2 * j + c];
                    if t > m || t.is_nan() {
                        m = t;
                    }
                }
                out.push(m);
            }
        }
    }
    out
}

fn assert_bits(what: &str, got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert_eq!(
            g.to_bits(),
            w.to_bits(),
            "{what}: element {i}: {g} against {w}"
        );
    }
}

/// Every epilogue of `K` on one case: fused output against the unfused output `y` followed by
/// the standalone ops, bit for bit; the pooled ones also on a one-block grid.
fn check_epilogues<K: KernelDef<Params = Conv2dParams>, KP: KernelDef<Params = Conv2dParams>>(
    what: &str,
    p: &Conv2dParams,
    pools: bool,
    rng: &mut Rng,
    (x, w, b): (&[f32], &[f32], &[f32]),
    y: &[f32],
) {
    let r = rng.vec(y.len());
    let pool_ok = pools && p.h_out >= 2 && p.w_out >= 2;
    for (res, relu, pool) in [
        (false, true, false),
        (true, false, false),
        (true, true, false),
        (false, false, true),
        (false, true, true),
        (true, true, true),
    ] {
        if pool && !pool_ok {
            continue;
        }
        let mut q = *p;
        q.has_residual = res as i64;
        q.relu = relu as i64;
        q.pool = if pool { 2 } else { 0 };
        let got = if pool {
            conv_run::<KP>(&q, None, x, w, b, &r).unwrap()
        } else {
            conv_run::<K>(&q, None, x, w, b, &r).unwrap()
        };
        let want = unfused_epilogue(p, y, res.then_some(&r[..]), relu, pool);
        let name = format!("{what} residual {res} relu {relu} pool {pool}");
        assert_bits(&name, &got, &want);
        if pool {
            let one = conv_run::<KP>(&q, Some([1, 1, 1]), x, w, b, &r).unwrap();
            assert_bits(&format!("{name} on grid [1, 1, 1]"), &one, &got);
        }
    }
    // The unpooled kernel refuses to pool; the pooling one refuses not to, and refuses an
    // output smaller than one window.
    let mut q = *p;
    q.pool = 2;
    let err = conv_run::<K>(&q, None, x, w, b, &r).unwrap_err();
    assert!(err.contains("fused pool"), "{what}: {err}");
    if pools {
        if !pool_ok {
            let err = conv_run::<KP>(&q, None, x, w, b, &r).unwrap_err();
            assert!(err.contains("fused pool"), "{what}: {err}");
        }
        let err = conv_run::<KP>(p, None, x, w, b, &r).unwrap_err();
        assert!(err.contains("fused pool"), "{what}: {err}");
    }
}

/// `K` on `cases`, against the reference, the CPU op and conv2d_f32, on a one-block grid, and
/// with every epilogue (the pooled ones on its pooling twin `KP` when `pools`); `check` sees each case's params first
/// (the host's choice of kernel).
fn conv_cases<K: KernelDef<Params = Conv2dParams>, KP: KernelDef<Params = Conv2dParams>>(
    name: &str,
    seed: u64,
    cases: &[Case],
    pools: bool,
    check: impl Fn(usize, &Conv2dParams),
) {
    let mut rng = Rng::new(seed);
    for (i, &(ish, wsh, bias, stride, padding, dilation, groups)) in cases.iter().enumerate() {
        let p = Conv2dParams::new(&ish, &wsh, bias, stride, padding, dilation, groups).unwrap();
        check(i, &p);
        let x = rng.vec(ish.iter().product());
        let w = rng.vec(wsh.iter().product());
        let b = if bias { rng.vec(wsh[0]) } else { Vec::new() };
        let (want, mag) = conv_ref(&p, &x, &w, bias.then_some(&b[..]));
        let tol = tolerance(wsh[1] * wsh[2] * wsh[3], &mag);
        let y = conv_run::<K>(&p, None, &x, &w, &b, &[]).unwrap();
        let what = format!("{name} case {i} {p:?}");
        assert_close(
            &format!("{what} vs f64 reference"),
            &y,
            &want,
            Tol::Each(&tol),
        );
        let args = Conv2dArgs {
            stride,
            padding,
            dilation,
            groups,
        };
        let bt = bias.then(|| Tensor::from_vec(b.clone(), &[wsh[0]]).unwrap());
        let cpu = conv2d(
            &Tensor::from_vec(x.clone(), &ish).unwrap(),
            &Tensor::from_vec(w.clone(), &wsh).unwrap(),
            bt.as_ref(),
            &args,
        )
        .unwrap()
        .to_vec::<f32>()
        .unwrap();
        assert_close(&format!("{what} vs CPU op"), &y, &cpu, Tol::Each(&tol));
        let d = conv_run::<Conv2dF32>(&p, None, &x, &w, &b, &[]).unwrap();
        assert_close(&format!("{what} vs conv2d_f32"), &y, &d, Tol::Each(&tol));
        let y_small = conv_run::<K>(&p, Some([1, 1, 1]), &x, &w, &b, &[]).unwrap();
        assert_eq!(
            y, y_small,
            "{what}: grid [1, 1, 1] differs from the launch shape's"
        );
        check_epilogues::<K, KP>(&what, &p, pools, &mut rng, (&x, &w, &b), &y);
    }
}

#[test]
fn conv2d_direct_matches_reference_and_cpu_op() {
    conv_cases::<Conv2dF32, Conv2dF32>("conv2d", 5, &direct_cases(), false, |_, _| {});
}

#[test]
fn conv2d_igemm_matches_reference_cpu_op_and_direct_kernel() {
    conv_cases::<Conv2dIgemmF32, Conv2dIgemmF32>("conv2d_igemm", 11, IGEMM_CASES, false, |i, p| {
        assert_eq!(
            conv2d_kernel(p) == ConvKernel::ImplicitGemm,
            p.c_out / p.groups >= 32,
            "case {i}: host's choice"
        );
    });
}

#[test]
fn conv2d_small_matches_reference_cpu_op_and_direct_kernel() {
    let expect = |k: usize, want: ConvKernel| {
        move |i: usize, p: &Conv2dParams| {
            assert_eq!(conv2d_kernel(p), want, "{k}x{k} case {i}: host's choice");
        }
    };
    let c3 = small_cases(3);
    conv_cases::<Conv2dSmall3F32, Conv2dSmall3PoolF32>(
        "conv2d_small3",
        14,
        &c3,
        true,
        expect(3, ConvKernel::Small3),
    );
    let c5 = small_cases(5);
    conv_cases::<Conv2dSmall5F32, Conv2dSmall5PoolF32>(
        "conv2d_small5",
        15,
        &c5,
        true,
        expect(5, ConvKernel::Small5),
    );
    let c7 = small_cases(7);
    conv_cases::<Conv2dSmall7F32, Conv2dSmall7PoolF32>(
        "conv2d_small7",
        16,
        &c7,
        true,
        expect(7, ConvKernel::Small7),
    );
}

#[rustfmt::skip]
const DEPTHWISE_CASES: &[Case] = &[
    // MobileNetV2's 3x3 stride 1 and 2, EfficientNet's 5x5.
    ([2, 32, 14, 14], [32, 1, 3, 3], true, [1, 1], [1, 1], [1, 1], 32),
    ([1, 16, 15, 13], [16, 1, 3, 3], true, [2, 2], [1, 1], [1, 1], 16),
    ([1, 8, 9, 9], [8, 1, 5, 5], false, [1, 1], [2, 2], [1, 1], 8),
    // Channel multiplier 2 and 3, dilation, a rectangular filter, strides per axis.
    ([1, 4, 11, 10], [8, 1, 3, 3], true, [1, 1], [2, 2], [2, 2], 4),
    ([2, 3, 7, 12], [9, 1, 3, 1], true, [1, 2], [1, 0], [1, 1], 3),
    // Mostly border: a 4x4 map under a 5x5 filter; padding beyond the filter's reach.
    ([1, 2, 4, 4], [2, 1, 5, 5], true, [1, 1], [2, 2], [1, 1], 2),
    ([1, 2, 5, 5], [2, 1, 2, 2], true, [1, 1], [3, 3], [1, 1], 2),
    // More than one 256-pixel tile; the shared filter tile full (16x16 = 256 taps).
    ([1, 2, 21, 20], [2, 1, 3, 3], true, [1, 1], [1, 1], [1, 1], 2),
    ([1, 2, 18, 17], [2, 1, 16, 16], true, [1, 1], [0, 0], [1, 1], 2),
];

#[test]
fn conv2d_depthwise_matches_reference_cpu_op_and_direct_kernel() {
    conv_cases::<Conv2dDepthwiseF32, Conv2dDepthwiseF32>(
        "conv2d_depthwise",
        18,
        DEPTHWISE_CASES,
        false,
        |i, p| assert_eq!(conv2d_kernel(p), ConvKernel::Depthwise, "case {i}"),
    );
    // The same order as conv2d_f32's: the two agree bit for bit.
    let mut rng = Rng::new(19);
    for &(ish, wsh, bias, stride, padding, dilation, groups) in DEPTHWISE_CASES {
        let p = Conv2dParams::new(&ish, &wsh, bias, stride, padding, dilation, groups).unwrap();
        let x = rng.vec(ish.iter().product());
        let w = rng.vec(wsh.iter().product());
        let b = rng.vec(wsh[0]);
        let y = conv_run::<Conv2dDepthwiseF32>(&p, None, &x, &w, &b, &[]).unwrap();
        let d = conv_run::<Conv2dF32>(&p, None, &x, &w, &b, &[]).unwrap();
        assert_bits(&format!("depthwise {p:?} vs conv2d_f32"), &y, &d);
    }
    // Past the shared tile (17x17 taps), or two input channels per group: the direct kernel.
    let big = Conv2dParams::new(
        &[1, 2, 20, 20],
        &[2, 1, 17, 17],
        true,
        [1, 1],
        [0, 0],
        [1, 1],
        2,
    )
    .unwrap();
    assert_eq!(conv2d_kernel(&big), ConvKernel::Direct);
    let err = conv_run::<Conv2dDepthwiseF32>(&big, None, &[0.0; 800], &[0.0; 578], &[0.0; 2], &[])
        .unwrap_err();
    assert!(err.contains("depthwise"), "{err}");
    let two = Conv2dParams::new(
        &[1, 4, 6, 6],
        &[2, 2, 3, 3],
        true,
        [1, 1],
        [0, 0],
        [1, 1],
        2,
    )
    .unwrap();
    assert_eq!(conv2d_kernel(&two), ConvKernel::Direct);
}

/// NaN through the pooled epilogue: an input NaN makes every output whose window reads it NaN,
/// and the pool must propagate it as max_pool2d does (the NaN wins, whatever its place).
#[test]
fn conv2d_small_pool_propagates_nan() {
    let p = Conv2dParams::new(
        &[1, 2, 12, 11],
        &[6, 2, 5, 5],
        true,
        [1, 1],
        [2, 2],
        [1, 1],
        1,
    )
    .unwrap();
    let mut rng = Rng::new(17);
    let mut x = rng.vec(2 * 12 * 11);
    x[5 * 11 + 6] = f32::NAN;
    let w = rng.vec(6 * 2 * 25);
    let b = rng.vec(6);
    let y = conv_run::<Conv2dSmall5F32>(&p, None, &x, &w, &b, &[]).unwrap();
    let mut q = p;
    q.relu = 1;
    q.pool = 2;
    let got = conv_run::<Conv2dSmall5PoolF32>(&q, None, &x, &w, &b, &[]).unwrap();
    let want = unfused_epilogue(&p, &y, None, true, true);
    assert!(got.iter().any(|v| v.is_nan()) && got.iter().any(|v| !v.is_nan()));
    assert_bits("pooled with a NaN input", &got, &want);
}

/// The direct kernel's shapes (any shape runs on it): LeNet's layers, tiles, every
/// stride/padding/dilation/groups/bias combination.
fn direct_cases() -> Vec<Case> {
    let mut cases: Vec<Case> = vec![
        // LeNet's two convolutions, batch 2.
        (
            [2, 3, 32, 32],
            [6, 3, 5, 5],
            true,
            [1, 1],
            [0, 0],
            [1, 1],
            1,
        ),
        (
            [2, 6, 14, 14],
            [16, 6, 5, 5],
            true,
            [1, 1],
            [0, 0],
            [1, 1],
            1,
        ),
        // 1x1 conv, 1x1 image, depthwise, rectangular everything.
        ([1, 5, 6, 7], [3, 5, 1, 1], false, [1, 1], [0, 0], [1, 1], 1),
        ([3, 2, 1, 1], [4, 2, 1, 1], true, [1, 1], [0, 0], [1, 1], 1),
        ([1, 6, 9, 8], [6, 1, 3, 3], true, [2, 1], [1, 1], [1, 1], 6),
        (
            [1, 4, 11, 13],
            [6, 2, 3, 2],
            true,
            [1, 3],
            [2, 0],
            [2, 1],
            2,
        ),
        // Reductions longer than the 1024-float shared tile, split in the middle of a filter.
        (
            [1, 128, 6, 6],
            [4, 128, 3, 3],
            true,
            [1, 1],
            [1, 1],
            [1, 1],
            1,
        ),
        (
            [1, 9, 13, 12],
            [2, 9, 11, 11],
            false,
            [1, 1],
            [0, 0],
            [1, 1],
            1,
        ),
        // More output pixels than one 256-thread tile; padding larger than the kernel's reach.
        (
            [1, 1, 40, 33],
            [2, 1, 2, 3],
            true,
            [1, 1],
            [3, 3],
            [1, 1],
            1,
        ),
    ];
    // Every stride/padding/dilation/groups/bias combination on an odd-sized input.
    for s in [1, 2] {
        for pd in [0, 1] {
            for d in [1, 2] {
                for g in [1, 2] {
                    for bias in [false, true] {
                        cases.push((
                            [1, 4, 7, 9],
                            [4, 4 / g, 3, 2],
                            bias,
                            [s, s],
                            [pd, pd],
                            [d, d],
                            g,
                        ));
                    }
                }
            }
        }
    }
    cases
}

#[rustfmt::skip]
const IGEMM_CASES: &[Case] = &[
    // A ResNet stage: 3x3, pad 1, K = 576 (72 steps), 392 pixels over 2 images.
    ([2, 64, 14, 14], [64, 64, 3, 3], true, [1, 1], [1, 1], [1, 1], 1),
    // K = 45 (not a multiple of 8), stride 2, 40 channels (a partial row tile).
    ([1, 5, 9, 11], [40, 5, 3, 3], true, [2, 2], [1, 1], [1, 1], 1),
    // 1x1, 130 channels (two row tiles, the second 2 wide), 126 pixels over 3 images.
    ([3, 8, 7, 6], [130, 8, 1, 1], false, [1, 1], [0, 0], [1, 1], 1),
    // 128 and 129 channels; K = 7 and 9.
    ([1, 7, 9, 15], [128, 7, 1, 1], true, [1, 1], [0, 0], [1, 1], 1),
    ([1, 1, 16, 8], [129, 1, 3, 3], true, [1, 1], [1, 1], [1, 1], 1),
    // Two groups of 32 channels, dilation 2.
    ([2, 16, 10, 10], [64, 8, 3, 3], true, [1, 1], [2, 2], [2, 2], 2),
    // Rectangular everything, two groups of 33.
    ([2, 6, 11, 13], [66, 3, 3, 2], true, [1, 3], [2, 0], [2, 1], 2),
    // Kernel sizes 5 and 7; 1296 pixels (11 tiles, the last partial).
    ([1, 3, 40, 40], [32, 3, 5, 5], false, [1, 1], [0, 0], [1, 1], 1),
    ([1, 4, 12, 12], [32, 4, 7, 7], true, [1, 1], [3, 3], [1, 1], 1),
    // K = 1 (one channel, 1x1), padding wider than the kernel's reach.
    ([1, 1, 5, 5], [32, 1, 1, 1], true, [1, 1], [2, 2], [1, 1], 1),
    // A shape the host gives the direct kernel (6 channels): the implicit GEMM is right anyway.
    ([2, 3, 32, 32], [6, 3, 5, 5], true, [1, 1], [0, 0], [1, 1], 1),
];

/// Square k x k filters for conv2d_small{k}_f32.
fn small_cases(k: usize) -> Vec<Case> {
    let mut cases: Vec<Case> = vec![
        // Channel blocks: 1, 6 (the Net's conv1), 8, 9, 16, 31 output channels.
        (
            [2, 3, 12, 12],
            [1, 3, k, k],
            true,
            [1, 1],
            [0, 0],
            [1, 1],
            1,
        ),
        (
            [2, 3, 13, 11],
            [6, 3, k, k],
            true,
            [1, 1],
            [0, 0],
            [1, 1],
            1,
        ),
        (
            [1, 2, 9, 10],
            [8, 2, k, k],
            false,
            [1, 1],
            [1, 1],
            [1, 1],
            1,
        ),
        ([1, 2, 9, 10], [9, 2, k, k], true, [2, 2], [2, 1], [1, 1], 1),
        (
            [3, 6, 14, 14],
            [16, 6, k, k],
            true,
            [1, 1],
            [0, 0],
            [1, 1],
            1,
        ),
        (
            [1, 1, 8, 8],
            [31, 1, k, k],
            true,
            [1, 1],
            [k / 2, k / 2],
            [1, 1],
            1,
        ),
        // Dilation, a stride per axis, padding beyond the filter's reach; more than one
        // 256-pixel tile (a 21x21 output plus one row).
        (
            [1, 2, 15, 17],
            [7, 2, k, k],
            true,
            [1, 2],
            [3, 1],
            [2, 1],
            1,
        ),
        (
            [1, 1, 22 + k, 21 + k],
            [3, 1, k, k],
            false,
            [1, 1],
            [1, 1],
            [1, 1],
            1,
        ),
    ];
    // The shared filter tile full: C_in*k*k up to 512 taps.
    cases.push((
        [1, 512 / (k * k), 6, 7],
        [5, 512 / (k * k), k, k],
        true,
        [1, 1],
        [1, 1],
        [1, 1],
        1,
    ));
    cases
}
