//! conv2d against PyTorch fixtures (tests/fixtures/ops/conv_linear, made by
//! gen_conv_linear.py) and against a naive f64 reference on a grid of shapes covering both CPU
//! paths (direct and im2col + gemm), plus one test per rejected argument.

#[macro_use]
mod common;

use std::path::Path;

use common::closeness::{assert_close, assert_tensor_close, dot_tol, Tol};
use common::devices::{run_on, CUDA_F32};
use common::rng::Rng;

use tensorport::ops::relu;
use tensorport::ops::{conv2d, conv2d_relu, Conv2dArgs};
use tensorport::{load, DType, Device, Error, MapLocation, StateDict, Tensor};

device_tests!(matches_pytorch_fixtures, matches_naive_reference_on_a_grid);

/// The definition, in f64: `out[n, co, oh, ow] = b[co] + Σ x[n, g·Cg + ci, ih, iw] · w[co, ci, kh, kw]`.
#[allow(clippy::too_many_arguments)]
fn naive(
    x: &[f32],
    xs: [usize; 4],
    w: &[f32],
    ws: [usize; 4],
    b: Option<&[f32]>,
    a: &Conv2dArgs,
) -> (Vec<f64>, [usize; 4]) {
    let [n, c_in, h, wd] = xs;
    let [c_out, cg, kh, kw] = ws;
    let ho = (h + 2 * a.padding[0] - a.dilation[0] * (kh - 1) - 1) / a.stride[0] + 1;
    let wo = (wd + 2 * a.padding[1] - a.dilation[1] * (kw - 1) - 1) / a.stride[1] + 1;
    let og = c_out / a.groups;
    let mut out = vec![0f64; n * c_out * ho * wo];
    for i in 0..n {
        for co in 0..c_out {
            let g = co / og;
            for oh in 0..ho {
                for ow in 0..wo {
                    let mut s = b.map_or(0.0, |b| b[co] as f64);
                    for ci in 0..cg {
                        for y in 0..kh {
                            for z in 0..kw {
                                let ih = (oh * a.stride[0] + y * a.dilation[0]) as isize
                                    - a.padding[0] as isize;
                                let iw = (ow * a.stride[1] + z * a.dilation[1]) as isize
                                    - a.padding[1] as isize;
                                if ih < 0 || iw < 0 || ih >= h as isize || iw >= wd as isize {
                                    continue;
                                }
                                let xv = x[((i * c_in + g * cg + ci) * h + ih as usize) * wd
                                    + iw as usize] as f64;
                                s += xv * w[((co * cg + ci) * kh + y) * kw + z] as f64;
                            }
                        }
                    }
                    out[((i * c_out + co) * ho + oh) * wo + ow] = s;
                }
            }
        }
    }
    (out, [n, c_out, ho, wo])
}

fn fixtures(file: &str) -> StateDict {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/ops/conv_linear")
        .join(file);
    load(&path, &MapLocation::Keep)
        .and_then(|c| c.state_dict())
        .unwrap_or_else(|e| panic!("loading {}: {e}", path.display()))
}

fn matches_pytorch_fixtures(dev: &Device) {
    let sd = fixtures("conv2d.pt");
    let names: Vec<String> = sd
        .keys()
        .filter_map(|k| k.strip_suffix(".out"))
        .map(String::from)
        .collect();
    assert_eq!(names.len(), 28, "cases in conv2d.pt");
    for name in &names {
        let get = |s: &str| sd.get(&format!("{name}.{s}"));
        let (x, w, want) = (get("x").unwrap(), get("w").unwrap(), get("out").unwrap());
        let a = get("args").unwrap().to_vec::<i64>().unwrap();
        let u = |i: usize| a[i] as usize;
        let args = Conv2dArgs {
            stride: [u(0), u(1)],
            padding: [u(2), u(3)],
            dilation: [u(4), u(5)],
            groups: u(6),
        };
        if ["channels_last", "transposed_hw", "sliced"]
            .iter()
            .any(|v| name.contains(v))
        {
            // The fixture really is a non-contiguous view, so the op's copy path is exercised.
            assert!(
                !x.is_contiguous() || x.storage_offset() != 0,
                "{name}: {x:?}"
            );
        }
        if name.contains("weight_transposed") {
            assert!(!w.is_contiguous(), "{name}: {w:?}");
        }
        let mut inputs = vec![x, w];
        inputs.extend(get("b"));
        let out = run_on(dev, CUDA_F32, &inputs, |i| {
            conv2d(&i[0], &i[1], i.get(2), &args)
        });
        let Some(out) = out else { continue };
        let out = out.unwrap_or_else(|e| panic!("{name} on {dev}: {e}"));
        let ws = w.shape();
        let tol = dot_tol(ws[1] * ws[2] * ws[3], want.dtype());
        assert_tensor_close(&format!("{name} on {dev}"), &out, want, tol);
    }
}

fn args(
    stride: [usize; 2],
    padding: [usize; 2],
    dilation: [usize; 2],
    groups: usize,
) -> Conv2dArgs {
    Conv2dArgs {
        stride,
        padding,
        dilation,
        groups,
    }
}

fn matches_naive_reference_on_a_grid(dev: &Device) {
    // (input, weight, args): direct path (small C_out per group, stride_w 1) and im2col path.
    let cases: Vec<([usize; 4], [usize; 4], Conv2dArgs)> = vec![
        ([1, 3, 32, 32], [6, 3, 5, 5], Conv2dArgs::default()),
        ([3, 6, 14, 14], [16, 6, 5, 5], Conv2dArgs::default()),
        (
            [2, 3, 11, 13],
            [5, 3, 3, 2],
            args([2, 1], [1, 2], [1, 2], 1),
        ),
        ([2, 4, 9, 17], [6, 2, 3, 3], args([1, 1], [2, 1], [2, 1], 2)),
        ([2, 8, 10, 9], [8, 1, 3, 3], args([1, 1], [1, 1], [1, 1], 8)),
        (
            [2, 8, 10, 9],
            [16, 1, 3, 3],
            args([2, 2], [1, 1], [1, 1], 8),
        ),
        (
            [2, 16, 9, 7],
            [40, 16, 3, 3],
            args([1, 1], [1, 1], [1, 1], 1),
        ),
        (
            [2, 16, 9, 7],
            [40, 8, 3, 1],
            args([2, 3], [1, 0], [2, 1], 2),
        ),
        ([3, 20, 5, 6], [36, 20, 1, 1], Conv2dArgs::default()),
        // Width-1 columns (1-D models such as CREPE), which the CPU runs as height-1 rows:
        // vertical stride, padding and dilation become horizontal ones; direct, depthwise and
        // gemm paths.
        (
            [2, 5, 40, 1],
            [16, 5, 7, 1],
            args([2, 1], [3, 0], [2, 1], 1),
        ),
        ([2, 8, 30, 1], [8, 1, 5, 1], args([1, 1], [2, 0], [1, 1], 8)),
        (
            [1, 24, 33, 1],
            [40, 24, 9, 1],
            args([1, 3], [4, 0], [1, 1], 1),
        ),
        (
            [1, 7, 40, 37],
            [33, 7, 4, 3],
            args([3, 2], [2, 1], [1, 3], 1),
        ),
        ([1, 2, 3, 3], [3, 2, 3, 3], args([1, 1], [4, 4], [1, 1], 1)),
        // 16 output channels per group: the channels-in-lanes kernel, with rows wider than
        // one register block, padding, dilation, vertical stride and groups.
        (
            [2, 3, 9, 40],
            [16, 3, 3, 3],
            args([2, 1], [1, 1], [1, 2], 1),
        ),
        (
            [1, 4, 7, 19],
            [32, 2, 2, 3],
            args([1, 1], [0, 2], [2, 1], 2),
        ),
    ];
    let mut rng = Rng::new(11);
    for (i, (xs, ws, a)) in cases.into_iter().enumerate() {
        let x = rng.vec(xs.iter().product());
        let w = rng.vec(ws.iter().product());
        let b = rng.vec(ws[0]);
        for with_bias in [false, true] {
            let bias = with_bias.then_some(&b[..]);
            let (want, os) = naive(&x, xs, &w, ws, bias, &a);
            let xt = Tensor::from_slice(&x, &xs).unwrap().to(dev).unwrap();
            let wt = Tensor::from_slice(&w, &ws).unwrap().to(dev).unwrap();
            let bt = Tensor::from_slice(&b, &[ws[0]]).unwrap().to(dev).unwrap();
            let out = conv2d(&xt, &wt, with_bias.then_some(&bt), &a).unwrap();
            assert_eq!(out.shape(), os, "case {i}");
            let name = format!("case {i} x{xs:?} w{ws:?} {a:?} bias={with_bias} on {dev}");
            let got: Vec<f64> = out
                .to(&Device::Cpu)
                .unwrap()
                .to_vec::<f32>()
                .unwrap()
                .into_iter()
                .map(f64::from)
                .collect();
            let tol = dot_tol(ws[1] * ws[2] * ws[3], DType::F32);
            assert_close(&name, &got, &want, tol);
        }
    }
}

fn t(shape: &[usize]) -> Tensor {
    Tensor::from_vec(Rng::new(7).vec(shape.iter().product()), shape).unwrap()
}

fn conv_err(x: &[usize], w: &[usize], b: Option<&[usize]>, a: Conv2dArgs) -> Error {
    let bias = b.map(t);
    match conv2d(&t(x), &t(w), bias.as_ref(), &a) {
        Ok(o) => panic!("x{x:?} w{w:?} b{b:?} {a:?} was accepted: {o:?}"),
        Err(e) => e,
    }
}

#[test]
fn rejects_what_pytorch_rejects() {
    let d = Conv2dArgs::default;
    let shape = |e: Error| assert!(matches!(e, Error::Shape { op: "conv2d", .. }), "{e:?}");
    let invalid = |e: Error| {
        assert!(
            matches!(e, Error::InvalidArgument { op: "conv2d", .. }),
            "{e:?}"
        )
    };
    shape(conv_err(&[3, 8, 8], &[6, 3, 3], None, d())); // weight not 4-D
    shape(conv_err(&[8, 8], &[6, 3, 3, 3], None, d())); // 2-D input
    shape(conv_err(&[1, 1, 3, 8, 8], &[6, 3, 3, 3], None, d())); // 5-D input
    shape(conv_err(&[1, 4, 8, 8], &[6, 3, 3, 3], None, d())); // channel mismatch
    shape(conv_err(
        &[1, 4, 8, 8],
        &[6, 2, 3, 3],
        None,
        args([1, 1], [0, 0], [1, 1], 4),
    )); // groups ∤ C_out
    shape(conv_err(
        &[1, 6, 8, 8],
        &[8, 2, 3, 3],
        None,
        args([1, 1], [0, 0], [1, 1], 4),
    )); // C_in ≠ 2·4
    invalid(conv_err(
        &[1, 3, 8, 8],
        &[6, 3, 3, 3],
        None,
        args([1, 1], [0, 0], [1, 1], 0),
    )); // groups 0
    invalid(conv_err(
        &[1, 3, 8, 8],
        &[6, 3, 3, 3],
        None,
        args([0, 1], [0, 0], [1, 1], 1),
    )); // stride 0
    invalid(conv_err(
        &[1, 3, 8, 8],
        &[6, 3, 3, 3],
        None,
        args([1, 1], [0, 0], [1, 0], 1),
    )); // dilation 0
    shape(conv_err(&[1, 3, 4, 4], &[6, 3, 5, 5], None, d())); // kernel > input
    shape(conv_err(
        &[1, 3, 4, 4],
        &[6, 3, 3, 3],
        None,
        args([1, 1], [0, 0], [2, 1], 1),
    )); // dilated kernel > input
    shape(conv_err(
        &[1, 3, 3, 3],
        &[6, 3, 6, 6],
        None,
        args([1, 1], [1, 1], [1, 1], 1),
    )); // > padded input
    shape(conv_err(&[1, 3, 8, 8], &[6, 3, 3, 3], Some(&[5]), d())); // bias length
    shape(conv_err(&[1, 3, 8, 8], &[6, 3, 3, 3], Some(&[1, 6]), d())); // bias rank
    shape(conv_err(&[1, 0, 8, 8], &[6, 0, 3, 3], None, d())); // no channels
    shape(conv_err(&[1, 3, 8, 8], &[0, 3, 3, 3], None, d())); // no output channels
}

#[test]
fn rejects_mixed_and_non_float_dtypes() {
    let x = t(&[1, 3, 8, 8]);
    let w64 = Tensor::from_vec(vec![0.5f64; 6 * 27], &[6, 3, 3, 3]).unwrap();
    let e = conv2d(&x, &w64, None, &Conv2dArgs::default()).unwrap_err();
    assert!(
        matches!(
            e,
            Error::DTypeMismatch {
                first: "input",
                first_dtype: DType::F32,
                second: "weight",
                second_dtype: DType::F64,
                ..
            }
        ),
        "{e:?}"
    );
    let b64 = Tensor::from_vec(vec![0.5f64; 6], &[6]).unwrap();
    let e = conv2d(&x, &t(&[6, 3, 3, 3]), Some(&b64), &Conv2dArgs::default()).unwrap_err();
    assert!(
        matches!(
            e,
            Error::DTypeMismatch {
                second: "bias",
                second_dtype: DType::F64,
                ..
            }
        ),
        "{e:?}"
    );
    // Integer operands of one dtype: refused for the dtype itself (mixed ones are a mismatch).
    let xi = Tensor::from_vec(vec![1i32; 3 * 64], &[1, 3, 8, 8]).unwrap();
    let wi = Tensor::from_vec(vec![1i32; 6 * 27], &[6, 3, 3, 3]).unwrap();
    let e = conv2d(&xi, &wi, None, &Conv2dArgs::default()).unwrap_err();
    assert!(
        matches!(
            e,
            Error::DType {
                got: DType::I32,
                ..
            }
        ),
        "{e:?}"
    );
}

#[test]
fn empty_batch_gives_empty_output() {
    // PyTorch accepts N = 0 and returns [0, C_out, H_out, W_out].
    let x = Tensor::from_vec(Vec::<f32>::new(), &[0, 3, 8, 8]).unwrap();
    let out = conv2d(&x, &t(&[6, 3, 3, 3]), None, &Conv2dArgs::default()).unwrap();
    assert_eq!(out.shape(), [0, 6, 6, 6]);
}

/// A tensor of `v` in `dtype` (F32 or F64).
fn in_dtype(v: &[f32], shape: &[usize], dtype: DType) -> Tensor {
    match dtype {
        DType::F32 => Tensor::from_slice(v, shape).unwrap(),
        _ => Tensor::from_vec(v.iter().map(|&x| f64::from(x)).collect::<Vec<_>>(), shape).unwrap(),
    }
}

#[test]
fn conv2d_relu_equals_conv2d_then_relu() {
    let cases: Vec<([usize; 4], [usize; 4], Conv2dArgs)> = vec![
        ([1, 3, 32, 32], [6, 3, 5, 5], Conv2dArgs::default()),
        ([3, 6, 14, 14], [16, 6, 5, 5], Conv2dArgs::default()),
        (
            [2, 3, 9, 40],
            [16, 3, 3, 3],
            args([2, 1], [1, 1], [1, 2], 1),
        ),
        ([2, 4, 9, 17], [6, 2, 3, 3], args([1, 1], [2, 1], [2, 1], 2)),
        (
            [2, 16, 9, 7],
            [40, 16, 3, 3],
            args([1, 1], [1, 1], [1, 1], 1),
        ),
        ([3, 20, 5, 6], [36, 20, 1, 1], Conv2dArgs::default()),
    ];
    let mut rng = Rng::new(50);
    for (i, (xs, ws, a)) in cases.into_iter().enumerate() {
        let mut x = rng.vec(xs.iter().product());
        // NaN and signed zeros must pass through relu as PyTorch's does.
        x[0] = f32::NAN;
        let mut w = rng.vec(ws.iter().product());
        w[0] = -0.0;
        let b = rng.vec(ws[0]);
        for dtype in [DType::F32, DType::F64] {
            let xt = in_dtype(&x, &xs, dtype);
            let wt = in_dtype(&w, &ws, dtype);
            let bt = in_dtype(&b, &[ws[0]], dtype);
            for bias in [None, Some(&bt)] {
                let want = relu(&conv2d(&xt, &wt, bias, &a).unwrap()).unwrap();
                let got = conv2d_relu(&xt, &wt, bias, &a).unwrap();
                let what = format!("case {i} {dtype:?} bias={}", bias.is_some());
                assert_tensor_close(&what, &got, &want, Tol::Bits);
                let negative = match dtype {
                    DType::F32 => got.to_vec::<f32>().unwrap().iter().any(|v| *v < 0.0),
                    _ => got.to_vec::<f64>().unwrap().iter().any(|v| *v < 0.0),
                };
                assert!(!negative, "case {i}: a negative output after relu");
            }
        }
    }
}

cuda_configs!();
