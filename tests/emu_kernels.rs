//! The CUDA kernels (`kernels/*.cu`), run on the CPU through the `tensorport-emu` emulator with
//! the same params structs and the same launch shapes (`tensorport::ops::launch`) the GPU launch
//! uses, compared with the CPU ops: bit for bit for relu and max_pool2d, within a stated
//! summation-order bound for conv2d and linear (see `emu_kernels/gemm.rs`).

#[path = "emu_kernels/gemm.rs"]
mod gemm;
#[path = "emu_kernels/support.rs"]
mod support;

use std::mem::{offset_of, size_of};

use support::{assert_bits_eq, launch, Rng};
use tensorport::ops::launch::{max_pool2d_shape, relu_shape};
use tensorport::ops::max_pool2d::{max_pool2d, MaxPool2dArgs};
use tensorport::ops::params::{Conv2dParams, EltwiseParams, LinearParams, Pool2dParams};
use tensorport::ops::relu::relu;
use tensorport::tensor::Tensor;
use tensorport_emu as emu;

/// kernels/params.cuh (as g++ lays it out), src/ops/params.rs and the emulator's mirrors agree
/// on every size, field name, field order and offset.
macro_rules! check_layout {
    ($name:ident, [$($f:ident),* $(,)?]) => {{
        let name = stringify!($name);
        let c_fields: Vec<String> = emu::c_layout()
            .into_iter()
            .filter(|r| r.st == name && !r.field.is_empty())
            .map(|r| r.field)
            .collect();
        assert_eq!(c_fields, [$(stringify!($f)),*], "{name}: fields of params.cuh");
        assert_eq!(emu::c_sizeof(name), Some(size_of::<$name>()), "{name}: sizeof");
        assert_eq!(size_of::<emu::$name>(), size_of::<$name>(), "{name}: emu mirror size");
        $(
            assert_eq!(
                emu::c_offsetof(name, stringify!($f)),
                Some(offset_of!($name, $f)),
                "{name}.{}: offset in params.cuh", stringify!($f)
            );
            assert_eq!(offset_of!(emu::$name, $f), offset_of!($name, $f), "{name}.{}: emu mirror", stringify!($f));
        )*
    }};
}

#[test]
fn params_cuh_matches_params_rs() {
    check_layout!(
        Conv2dParams,
        [
            n, c_in, h, w, c_out, kh, kw, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, groups,
            h_out, w_out, has_bias
        ]
    );
    check_layout!(
        Pool2dParams,
        [n, c, h, w, kh, kw, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, h_out, w_out]
    );
    check_layout!(LinearParams, [m, k, n, has_bias, relu]);
    check_layout!(EltwiseParams, [n]);
}

#[test]
fn emulator_barrier_and_shared_memory() {
    let mut rng = Rng::new(1);
    for block in [[256, 1], [16, 16], [32, 4], [1, 1], [1024, 1]] {
        let len = block[0] as usize * block[1] as usize;
        let x = rng.vec(len * 5);
        let y = emu::selftest::reverse_blocks(block, &x).unwrap();
        let want: Vec<f32> = x
            .chunks(len)
            .flat_map(|c| c.iter().rev().copied())
            .collect();
        assert_bits_eq(&format!("reverse {block:?}"), &y, &want);
    }
}

#[test]
fn emulator_reports_divergent_syncthreads() {
    for site in [false, true] {
        let e = emu::selftest::divergent(site).unwrap_err();
        assert!(e.to_string().contains("divergent __syncthreads"), "{e}");
    }
}

#[test]
fn emulator_checks_buffers_and_launch() {
    let p = EltwiseParams { n: 10 };
    let l = launch(relu_shape(&p).unwrap());
    let x = vec![1.0f32; 10];
    let mut y = vec![0.0f32; 9];
    let e = emu::launch_relu_f32(&l, bytemuck::bytes_of(&p), &x, &mut y).unwrap_err();
    assert!(
        matches!(e, emu::EmuError::BufferTooSmall { buffer: "y", .. }),
        "{e}"
    );
    let mut y = vec![0.0f32; 10];
    let e = emu::launch_relu_f32(&l, &[0u8; 4], &x, &mut y).unwrap_err();
    assert!(matches!(e, emu::EmuError::ParamsSize { .. }), "{e}");
    let bad = emu::Launch {
        block: [2048, 1, 1],
        ..l
    };
    let e = emu::launch_relu_f32(&bad, bytemuck::bytes_of(&p), &x, &mut y).unwrap_err();
    assert!(matches!(e, emu::EmuError::Launch { .. }), "{e}");
}

fn relu_emu(x: &[f32], grid: Option<u32>) -> Vec<f32> {
    let p = EltwiseParams { n: x.len() as i64 };
    let mut l = launch(relu_shape(&p).unwrap());
    if let Some(g) = grid {
        l.grid[0] = g;
    }
    let mut y = vec![f32::from_bits(0x7fc0_dead); x.len()];
    emu::launch_relu_f32(&l, bytemuck::bytes_of(&p), x, &mut y).unwrap();
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
        assert_bits_eq(&format!("relu n={n}"), &relu_emu(&x, None), &want);
        // A grid far below the launch shape's: the grid-stride loop must cover the rest.
        assert_bits_eq(&format!("relu n={n} grid 3"), &relu_emu(&x, Some(3)), &want);
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
        let shape_l = launch(max_pool2d_shape(&p).unwrap());
        for grid in [None, Some(1)] {
            let mut l = shape_l;
            if let Some(g) = grid {
                l.grid[0] = g;
            }
            let mut y = vec![f32::from_bits(0x7fc0_dead); out_len];
            emu::launch_max_pool2d_f32(&l, bytemuck::bytes_of(&p), &x, &mut y).unwrap();
            assert_bits_eq(
                &format!("max_pool2d case {i} {p:?} grid {:?}", l.grid),
                &y,
                &want,
            );
        }
    }
}
