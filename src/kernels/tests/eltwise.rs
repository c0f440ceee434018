//! relu and max_pool2d kernels through the emulator, bit for bit against the CPU ops.

use super::closeness::{assert_close, Tol};
use super::rng::Rng;
use super::{run, EmuArg};
use crate::kernels::{EltwiseParams, MaxPool2dF32, Pool2dParams, ReluF32};
use crate::ops::relu;
use crate::ops::{max_pool2d, MaxPool2dArgs};
use crate::tensor::Tensor;

#[test]
fn launches_are_checked_like_the_gpu_launch() {
    let p = EltwiseParams { n: 10 };
    let x = vec![1.0f32; 10];
    let mut y = vec![0.0f32; 9];
    let e = run::<ReluF32>(&p, None, &mut [EmuArg::In(&x), EmuArg::Out(&mut y)]).unwrap_err();
    assert!(e.contains("operand y of 10 float32 elements"), "{e}");
    let mut y = vec![0.0f32; 10];
    let e = run::<ReluF32>(&p, None, &mut [EmuArg::In(&x)]).unwrap_err();
    assert!(e.contains("1 buffers passed, the kernel takes 2"), "{e}");
    let e = run::<ReluF32>(
        &p,
        None,
        &mut [EmuArg::Out(&mut y.clone()), EmuArg::Out(&mut y)],
    )
    .unwrap_err();
    assert!(e.contains("read-only"), "{e}");
    let e = run::<ReluF32>(
        &p,
        Some([0, 1, 1]),
        &mut [EmuArg::In(&x), EmuArg::Out(&mut y)],
    )
    .unwrap_err();
    assert!(e.contains("grid dimension 0"), "{e}");
}

fn relu_emu(x: &[f32], grid: Option<u32>) -> Vec<f32> {
    let p = EltwiseParams { n: x.len() as i64 };
    let mut y = vec![f32::from_bits(0x7fc0_dead); x.len()];
    run::<ReluF32>(
        &p,
        grid.map(|g| [g, 1, 1]),
        &mut [EmuArg::In(x), EmuArg::Out(&mut y)],
    )
    .unwrap();
    y
}

#[test]
fn relu_matches_cpu_bit_for_bit() {
    let mut rng = Rng::new(2);
    for n in [0usize, 1, 7, 255, 256, 257, 1000, 100_003] {
        let x = rng.vec_with_specials(n, 4);
        let want = relu(&Tensor::from_vec(x.clone(), &[n]).unwrap())
            .unwrap()
            .to_vec::<f32>()
            .unwrap();
        assert_close(
            &format!("relu n={n}"),
            &relu_emu(&x, None),
            &want,
            Tol::Bits,
        );
        // A grid far below the launch shape's: the grid-stride loop must cover the rest.
        let small = relu_emu(&x, Some(3));
        assert_close(&format!("relu n={n} grid 3"), &small, &want, Tol::Bits);
    }
}

/// (input shape, kernel, stride, padding, dilation, ceil_mode)
type PoolCase = (
    [usize; 4],
    [usize; 2],
    Option<[usize; 2]>,
    [usize; 2],
    [usize; 2],
    bool,
);

fn pool_cases() -> Vec<PoolCase> {
    let mut cases: Vec<PoolCase> = vec![
        ([1, 1, 1, 1], [1, 1], None, [0, 0], [1, 1], false),
        ([2, 6, 28, 28], [2, 2], None, [0, 0], [1, 1], false),
        ([1, 3, 7, 9], [2, 2], None, [0, 0], [1, 1], true),
        ([1, 2, 5, 5], [2, 2], None, [1, 1], [1, 1], true),
        ([3, 2, 9, 7], [3, 3], Some([2, 2]), [1, 1], [1, 1], false),
        ([1, 4, 11, 13], [3, 2], Some([1, 3]), [1, 0], [2, 1], true),
        ([2, 1, 10, 10], [3, 3], Some([3, 3]), [1, 1], [2, 2], true),
        ([1, 1, 6, 6], [3, 3], None, [0, 0], [1, 1], true),
        ([1, 2, 4, 17], [1, 5], Some([1, 4]), [0, 2], [1, 1], false),
    ];
    let mut rng = Rng::new(3);
    while cases.len() < 60 {
        let k = [rng.range(1, 4), rng.range(1, 4)];
        let d = [rng.range(1, 2), rng.range(1, 2)];
        // PyTorch allows padding up to half the effective (dilated) kernel.
        let eff = |k: usize, d: usize| (k - 1) * d + 1;
        let pad = [
            rng.range(0, eff(k[0], d[0]) / 2),
            rng.range(0, eff(k[1], d[1]) / 2),
        ];
        let stride = [rng.range(1, 3), rng.range(1, 3)];
        let shape = [
            rng.range(1, 2),
            rng.range(1, 5),
            rng.range(1, 12),
            rng.range(1, 12),
        ];
        let case = (shape, k, Some(stride), pad, d, rng.below(2) == 1);
        // Keep only what PyTorch accepts (kernel no larger than the padded input, ...).
        if Pool2dParams::new(&shape, k, Some(stride), pad, d, case.5).is_ok() {
            cases.push(case);
        }
    }
    cases
}

#[test]
fn max_pool2d_matches_cpu_bit_for_bit() {
    let mut rng = Rng::new(4);
    for (i, (shape, kernel, stride, padding, dilation, ceil_mode)) in
        pool_cases().into_iter().enumerate()
    {
        let p = Pool2dParams::new(&shape, kernel, stride, padding, dilation, ceil_mode).unwrap();
        let numel: usize = shape.iter().product();
        // One in 6 inputs special: windows with NaN, -inf only, ±0 ties, subnormals.
        let x = rng.vec_with_specials(numel, 6);
        let args = MaxPool2dArgs {
            kernel,
            stride,
            padding,
            dilation,
            ceil_mode,
        };
        let want = max_pool2d(&Tensor::from_vec(x.clone(), &shape).unwrap(), &args)
            .unwrap()
            .to_vec::<f32>()
            .unwrap();
        let out_len: usize = p.out_shape().iter().product();
        assert_eq!(want.len(), out_len);
        for grid in [None, Some([1, 1, 1])] {
            let mut y = vec![f32::from_bits(0x7fc0_dead); out_len];
            run::<MaxPool2dF32>(&p, grid, &mut [EmuArg::In(&x), EmuArg::Out(&mut y)]).unwrap();
            let what = format!("max_pool2d case {i} {p:?} grid {grid:?}");
            assert_close(&what, &y, &want, Tol::Bits);
        }
    }
}
