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
use super::conv_cases::{direct_cases, small_cases, Case, DEPTHWISE_CASES, IGEMM_CASES};
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
