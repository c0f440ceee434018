//! batch_norm, avg_pool2d, adaptive_avg_pool2d and the strided copy through the emulator, bit
//! for bit against the CPU ops (the kernels make the CPU's roundings in the CPU's order), each
//! also with a grid far below the launch shape's (the grid-stride loops cover the rest). The
//! pooling sums compare NaN as NaN (`Tol::Exact`): when a window adds NaNs of different payloads
//! (inf − inf makes one) which payload survives depends on the operand order the compiler picks
//! for a commutative add, and a real GPU returns its canonical NaN anyway.

use super::closeness::{assert_close, Tol};
use super::rng::Rng;
use super::{run, EmuArg};
use crate::kernels::{
    AdaptiveAvgPool2dF32, AdaptivePool2dParams, AvgPool2dF32, AvgPool2dParams, BatchNormF32,
    BatchNormParams, CopyB4, CopyParams,
};
use crate::ops::copy::Side;
use crate::ops::{adaptive_avg_pool2d, avg_pool2d, batch_norm, AvgPool2dArgs};
use crate::tensor::Tensor;

const GRIDS: [Option<[u32; 3]>; 2] = [None, Some([3, 1, 1])];

fn sentinel(n: usize) -> Vec<f32> {
    vec![f32::from_bits(0x7fc0_dead); n]
}

#[test]
fn batch_norm_matches_cpu_bit_for_bit() {
    let mut rng = Rng::new(21);
    for (shape, affine) in [
        (vec![2usize, 3], [true, true]),
        (vec![4, 5, 7], [true, false]),
        (vec![2, 3, 4, 5], [false, true]),
        (vec![1, 16, 9, 9], [false, false]),
        (vec![2, 3, 2, 2, 2], [true, true]),
    ] {
        let c = shape[1];
        let n: usize = shape.iter().product();
        let x = rng.vec_with_specials(n, 7);
        let (m, w, b) = (rng.vec(c), rng.vec(c), rng.vec(c));
        let v: Vec<f32> = rng.vec(c).iter().map(|v| v.abs() + 0.01).collect();
        let t = |d: &[f32], s: &[usize]| Tensor::from_slice(d, s).unwrap();
        let (wt, bt) = (t(&w, &[c]), t(&b, &[c]));
        let (wo, bo) = (affine[0].then_some(&wt), affine[1].then_some(&bt));
        let want = batch_norm(&t(&x, &shape), wo, bo, &t(&m, &[c]), &t(&v, &[c]), 1e-5)
            .unwrap()
            .to_vec::<f32>()
            .unwrap();
        let p = BatchNormParams::new(
            &shape,
            [
                ("weight", wo),
                ("bias", bo),
                ("running_mean", None),
                ("running_var", None),
            ],
            1e-5,
        )
        .unwrap();
        let opt = |on: bool, d| if on { EmuArg::In(d) } else { EmuArg::Absent };
        for grid in GRIDS {
            let mut y = sentinel(n);
            run::<BatchNormF32>(
                &p,
                grid,
                &mut [
                    EmuArg::In(&x),
                    opt(affine[0], &w),
                    opt(affine[1], &b),
                    EmuArg::In(&m),
                    EmuArg::In(&v),
                    EmuArg::Out(&mut y),
                ],
            )
            .unwrap();
            let what = format!("batch_norm {shape:?} affine {affine:?} grid {grid:?}");
            assert_close(&what, &y, &want, Tol::Bits);
        }
    }
}

#[test]
fn avg_pools_match_cpu_bit_for_bit() {
    let mut rng = Rng::new(22);
    let mut cases = 0;
    while cases < 60 {
        let shape = [
            rng.range(1, 2),
            rng.range(1, 4),
            rng.range(1, 11),
            rng.range(1, 11),
        ];
        let k = [rng.range(1, 4), rng.range(1, 4)];
        let args = AvgPool2dArgs {
            kernel_size: k,
            stride: Some([rng.range(1, 3), rng.range(1, 3)]),
            padding: [rng.range(0, k[0] / 2), rng.range(0, k[1] / 2)],
            ceil_mode: rng.below(2) == 1,
            count_include_pad: rng.below(2) == 1,
            divisor_override: (rng.below(4) == 0).then(|| rng.range(1, 9) as i64),
        };
        let Ok(p) = AvgPool2dParams::new(&shape, &args) else {
            continue;
        };
        cases += 1;
        let n: usize = shape.iter().product();
        let x = rng.vec_with_specials(n, 9);
        let xt = Tensor::from_slice(&x, &shape).unwrap();
        let want = avg_pool2d(&xt, &args).unwrap().to_vec::<f32>().unwrap();
        for grid in GRIDS {
            let mut y = sentinel(want.len());
            run::<AvgPool2dF32>(&p, grid, &mut [EmuArg::In(&x), EmuArg::Out(&mut y)]).unwrap();
            assert_close(
                &format!("avg_pool2d {shape:?} {args:?}"),
                &y,
                &want,
                Tol::Exact,
            );
        }
        // Adaptive, to a size that is not 1x1 (that one is torch's mean on the CPU).
        let out = [rng.range(1, 7), rng.range(2, 7)];
        let p = AdaptivePool2dParams::new(&shape, out).unwrap();
        let want = adaptive_avg_pool2d(&xt, out)
            .unwrap()
            .to_vec::<f32>()
            .unwrap();
        for grid in GRIDS {
            let mut y = sentinel(want.len());
            run::<AdaptiveAvgPool2dF32>(&p, grid, &mut [EmuArg::In(&x), EmuArg::Out(&mut y)])
                .unwrap();
            assert_close(
                &format!("adaptive {shape:?} to {out:?}"),
                &y,
                &want,
                Tol::Exact,
            );
        }
    }
}

#[test]
fn strided_copy_gathers_in_c_order() {
    // A [3, 4, 5] buffer viewed as a permuted, offset slice, copied into a contiguous buffer.
    let src: Vec<f32> = (0..60).map(|i| i as f32).collect();
    let (shape, strides, offset) = ([5usize, 2, 3], [1usize, 5, 20], 6usize);
    let t = Tensor::from_slice(&src, &[60]).unwrap();
    let view = Tensor::from_storage(
        t.storage().clone(),
        t.dtype(),
        offset,
        shape.to_vec(),
        strides.to_vec(),
    )
    .unwrap();
    let want = view.to_vec::<f32>().unwrap();
    let s = Side {
        offset,
        strides: &strides,
        len: 60,
    };
    let d = Side {
        offset: 0,
        strides: &[6, 3, 1],
        len: 30,
    };
    let (p, unit) = CopyParams::new(4, &shape, &s, &d).unwrap();
    assert_eq!(unit, 4);
    for grid in GRIDS {
        let mut y = sentinel(30);
        run::<CopyB4>(&p, grid, &mut [EmuArg::In(&src), EmuArg::Out(&mut y)]).unwrap();
        assert_close(&format!("copy grid {grid:?}"), &y, &want, Tol::Bits);
    }
    // A destination view reaching past its buffer is refused before any launch.
    let d = Side {
        offset: 1,
        strides: &[6, 3, 1],
        len: 30,
    };
    assert!(CopyParams::new(4, &shape, &s, &d).is_err());
}
