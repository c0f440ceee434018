//! The throughput kernels through the emulator: conv2d_igemm_f32, conv2d_small{3,5,7}_f32,
//! linear_tiled_f32 and linear_gemv_f32, against the naive f64 reference and the CPU ops with `gemm.rs`'s
//! summation-order tolerance (same derivation: each kernel adds the same K products in its own
//! order), and against themselves on a one-block grid (the tile loops must stride over the
//! rest). The shapes sit on and around every edge the kernels have: 128-wide tiles (127, 128,
//! 129, 130 rows or columns), 8-deep K steps (K = 0, 1, 7, 8, 9, 45), a pixel tile that spans
//! images, groups, strides, padding, dilation, kernel sizes 1, 3, 5 and 7; for the small-channel
//! kernels 8-channel blocks (1, 6, 8, 9, 16, 31 channels), the interior path and the border path
//! in one image, and the shared filter tile full (512 taps); for the GEMV every row count 1..=8
//! and K around its 32- and 128-wide strides.

use super::closeness::{assert_close, Tol};
use super::gemm::{bias_arg, conv_ref, linear_cpu, linear_ref, tolerance};
use super::rng::Rng;
use super::{run, EmuArg};
use crate::kernels::shapes::{conv2d_kernel, linear_kernel, ConvKernel, LinearKernel};
use crate::kernels::{
    Conv2dF32, Conv2dIgemmF32, Conv2dParams, Conv2dSmall3F32, Conv2dSmall5F32, Conv2dSmall7F32,
    KernelDef, LinearGemvF32, LinearParams, LinearTiledF32,
};
use crate::ops::{conv2d, Conv2dArgs};
use crate::tensor::Tensor;

/// Runs a conv2d-shaped kernel `K` in the emulator.
fn conv_run<K: KernelDef<Params = Conv2dParams>>(
    p: &Conv2dParams,
    grid: Option<[u32; 3]>,
    x: &[f32],
    w: &[f32],
    b: &[f32],
) -> Vec<f32> {
    let mut y = vec![f32::NAN; p.out_shape().iter().product()];
    let mut args = [
        EmuArg::In(x),
        EmuArg::In(w),
        bias_arg(p.has_bias, b),
        EmuArg::Out(&mut y),
    ];
    run::<K>(p, grid, &mut args).unwrap();
    y
}

/// Runs a linear-shaped kernel `K` in the emulator.
fn linear_run<K: KernelDef<Params = LinearParams>>(
    p: &LinearParams,
    grid: Option<[u32; 3]>,
    x: &[f32],
    w: &[f32],
    b: &[f32],
) -> Result<Vec<f32>, String> {
    let mut y = vec![f32::NAN; (p.m * p.n) as usize];
    let mut args = [
        EmuArg::In(x),
        EmuArg::In(w),
        bias_arg(p.has_bias, b),
        EmuArg::Out(&mut y),
    ];
    run::<K>(p, grid, &mut args)?;
    Ok(y)
}

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

/// `K` on `cases`, against the reference, the CPU op and conv2d_f32, and on a one-block grid;
/// `check` sees each case's params first (the host's choice of kernel).
fn conv_cases<K: KernelDef<Params = Conv2dParams>>(
    name: &str,
    seed: u64,
    cases: &[Case],
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
        let y = conv_run::<K>(&p, None, &x, &w, &b);
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
        let d = conv_run::<Conv2dF32>(&p, None, &x, &w, &b);
        assert_close(&format!("{what} vs conv2d_f32"), &y, &d, Tol::Each(&tol));
        let y_small = conv_run::<K>(&p, Some([1, 1, 1]), &x, &w, &b);
        assert_eq!(
            y, y_small,
            "{what}: grid [1, 1, 1] differs from the launch shape's"
        );
    }
}

#[test]
fn conv2d_igemm_matches_reference_cpu_op_and_direct_kernel() {
    conv_cases::<Conv2dIgemmF32>("conv2d_igemm", 11, IGEMM_CASES, |i, p| {
        assert_eq!(
            conv2d_kernel(p) == ConvKernel::ImplicitGemm,
            p.c_out / p.groups >= 32,
            "case {i}: host's choice"
        );
    });
}

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

#[test]
fn conv2d_small_matches_reference_cpu_op_and_direct_kernel() {
    let expect = |k: usize, want: ConvKernel| {
        move |i: usize, p: &Conv2dParams| {
            assert_eq!(conv2d_kernel(p), want, "{k}x{k} case {i}: host's choice");
        }
    };
    let c3 = small_cases(3);
    conv_cases::<Conv2dSmall3F32>("conv2d_small3", 14, &c3, expect(3, ConvKernel::Small3));
    let c5 = small_cases(5);
    conv_cases::<Conv2dSmall5F32>("conv2d_small5", 15, &c5, expect(5, ConvKernel::Small5));
    let c7 = small_cases(7);
    conv_cases::<Conv2dSmall7F32>("conv2d_small7", 16, &c7, expect(7, ConvKernel::Small7));
}

/// Every bias/relu combination of `K` on `shapes`, against the reference and the CPU op, and on
/// a one-block grid.
fn linear_cases<K: KernelDef<Params = LinearParams>>(
    name: &str,
    seed: u64,
    shapes: &[(usize, usize, usize)],
    kernel: Option<LinearKernel>,
) {
    let mut rng = Rng::new(seed);
    for &(m, k, n) in shapes {
        for (bias, relu) in [(true, false), (false, false), (true, true), (false, true)] {
            let p = LinearParams::new(&[m, k], &[n, k], bias.then_some(&[n][..]), relu).unwrap();
            if let Some(kernel) = kernel {
                assert_eq!(linear_kernel(&p), kernel, "{name} {p:?}: host's choice");
            }
            let x = rng.vec(m * k);
            let w = rng.vec(n * k);
            let b = if bias { rng.vec(n) } else { Vec::new() };
            let (want, mag) = linear_ref(&p, &x, &w, bias.then_some(&b[..]));
            let y = linear_run::<K>(&p, None, &x, &w, &b).unwrap();
            let what = format!("{name} {p:?}");
            let tol = tolerance(k, &mag);
            assert_close(
                &format!("{what} vs f64 reference"),
                &y,
                &want,
                Tol::Each(&tol),
            );
            let cpu = linear_cpu(m, k, n, &x, &w, bias.then_some(&b[..]), relu);
            assert_close(&format!("{what} vs CPU op"), &y, &cpu, Tol::Each(&tol));
            let y_small = linear_run::<K>(&p, Some([1, 1, 1]), &x, &w, &b).unwrap();
            assert_eq!(
                y, y_small,
                "{what}: grid [1, 1, 1] differs from the launch shape's"
            );
        }
    }
}

#[test]
fn linear_tiled_matches_reference_and_cpu_op() {
    linear_cases::<LinearTiledF32>(
        "linear_tiled",
        12,
        &[
            (64, 8, 64),
            (128, 16, 128),
            (127, 9, 129),
            (130, 7, 200),
            (257, 1, 64),
            (64, 0, 65),
            (70, 45, 300),
            (256, 256, 256),
        ],
        Some(LinearKernel::Tiled),
    );
}

#[test]
fn linear_gemv_matches_reference_and_cpu_op() {
    let mut shapes = Vec::new();
    for m in 1..=8 {
        shapes.push((m, 97, 9));
    }
    for k in [0, 1, 31, 32, 33, 127, 128, 129, 160, 1000] {
        shapes.push((3, k, 17));
    }
    shapes.push((1, 4099, 84));
    shapes.push((8, 513, 1));
    shapes.push((0, 5, 3));
    // Not chosen by the host yet (shapes.rs linear_kernel says why), so no choice to check.
    linear_cases::<LinearGemvF32>("linear_gemv", 13, &shapes, None);
}

#[test]
fn linear_gemv_refuses_more_than_eight_rows() {
    let p = LinearParams::new(&[9, 4], &[3, 4], None, false).unwrap();
    let (x, w) = (vec![0.0; 36], vec![0.0; 12]);
    let err = linear_run::<LinearGemvF32>(&p, None, &x, &w, &[]).unwrap_err();
    assert!(err.contains("at most 8 rows"), "{err}");
}
