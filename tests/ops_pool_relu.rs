//! max_pool2d and relu against PyTorch 2.15 (fixtures from
//! `tests/fixtures/ops/gen_pool_eltwise.py`), plus the parallel paths against naive references
//! and every refused argument. Both ops must match PyTorch exactly: bit for bit, including the
//! sign of zero; NaN matches NaN.

mod common;

use common::closeness::{assert_close, assert_tensor_close, Tol};
use common::devices::{run_on, CUDA_F32};
use common::eltwise_fixtures::{fixtures, tensor};

use serde_json::Value as Json;
use tensorport::ops::{max_pool2d, MaxPool2dArgs};
use tensorport::ops::{relu, relu_, relu_into};
use tensorport::{DType, Device, Error, Tensor};

// ----------------------------------------------------------------------------- fixtures

fn cases(op: &str) -> Vec<&'static Json> {
    let all = fixtures().manifest["cases"].as_array().expect("cases");
    let v: Vec<_> = all.iter().filter(|c| c["op"] == op).collect();
    assert!(!v.is_empty(), "no {op} cases");
    v
}

fn refusals(op: &str) -> Vec<&'static Json> {
    let all = fixtures().manifest["errors"].as_array().expect("errors");
    all.iter().filter(|c| c["op"] == op).collect()
}

/// `n` elements of `t` (C order, contiguous) from element `offset`, as a tensor of `shape`.
fn slice(t: &Tensor, offset: usize, shape: &[usize]) -> Tensor {
    let mut strides = vec![1; shape.len()];
    for d in (0..shape.len().saturating_sub(1)).rev() {
        strides[d] = strides[d + 1] * shape[d + 1].max(1);
    }
    let start = t.storage_offset() + offset;
    Tensor::from_storage(
        t.storage().clone(),
        t.dtype(),
        start,
        shape.to_vec(),
        strides,
    )
    .unwrap()
}

// ----------------------------------------------------------------------------- comparison

fn pair(v: &Json) -> [usize; 2] {
    let a = v.as_array().expect("pair");
    [
        a[0].as_u64().unwrap() as usize,
        a[1].as_u64().unwrap() as usize,
    ]
}

fn pool_args(a: &Json) -> MaxPool2dArgs {
    MaxPool2dArgs {
        kernel: pair(&a["kernel"]),
        stride: (!a["stride"].is_null()).then(|| pair(&a["stride"])),
        padding: if a["padding"].is_null() {
            [0, 0]
        } else {
            pair(&a["padding"])
        },
        dilation: if a["dilation"].is_null() {
            [1, 1]
        } else {
            pair(&a["dilation"])
        },
        ceil_mode: a["ceil_mode"].as_bool().unwrap_or(false),
    }
}

device_tests!(
    max_pool2d_matches_torch,
    max_pool2d_refuses_what_torch_refuses,
    relu_matches_torch,
    relu_refusals,
    parallel_paths_match_naive_references,
);

// ----------------------------------------------------------------------------- max_pool2d

fn max_pool2d_matches_torch(dev: &Device) {
    let (mut n, mut strided, mut ceil_edge) = (0, 0, 0);
    for c in cases("max_pool2d") {
        let x = tensor(c["input"].as_str().unwrap());
        let shape: Vec<usize> = c["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_u64().unwrap() as usize)
            .collect();
        let off = c["offset"].as_u64().unwrap() as usize;
        let want = slice(&tensor(c["output"].as_str().unwrap()), off, &shape);
        let args = pool_args(&c["args"]);
        let ctx = format!("max_pool2d {} {args:?} on {dev}", c["input"]);
        n += 1;
        let Some(ours) = run_on(dev, CUDA_F32, &[&x], |i| max_pool2d(&i[0], &args)) else {
            continue;
        };
        let ours = ours.unwrap_or_else(|e| panic!("{ctx}: {e}"));
        assert_tensor_close(&ctx, &ours, &want, Tol::Exact);
        strided += !x.is_contiguous() as usize;
        ceil_edge += c["ceil_drops_last_window"].as_bool().unwrap() as usize;
    }
    assert!(
        n > 600 && strided > 0 && ceil_edge > 20,
        "{n} cases, {strided} strided, {ceil_edge} ceil edges"
    );
}

fn max_pool2d_refuses_what_torch_refuses(dev: &Device) {
    let refused = refusals("max_pool2d");
    assert!(refused.len() >= 12);
    for r in refused {
        let shape: Vec<usize> = r["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_u64().unwrap() as usize)
            .collect();
        let dtype = DType::from_torch_name(r["dtype"].as_str().unwrap()).unwrap();
        let x = Tensor::zeros(dtype, &shape).unwrap().to(dev).unwrap();
        match max_pool2d(&x, &pool_args(&r["args"])) {
            Ok(t) => panic!(
                "accepted {r} (torch: {}), gave {:?}",
                r["torch_error"],
                t.shape()
            ),
            Err(e) => assert!(
                matches!(
                    e,
                    Error::Shape { .. } | Error::InvalidArgument { .. } | Error::DType { .. }
                ),
                "{r}: {e:?}"
            ),
        }
    }
    // Arguments too large for 64-bit arithmetic are refused, not overflowed.
    let x = Tensor::zeros(DType::F32, &[1, 1, 4, 4])
        .unwrap()
        .to(dev)
        .unwrap();
    for args in [
        MaxPool2dArgs {
            kernel: [usize::MAX, 2],
            ..MaxPool2dArgs::new(2)
        },
        MaxPool2dArgs {
            kernel: [1 << 40, 2],
            dilation: [1 << 40, 1],
            ..MaxPool2dArgs::new(2)
        },
        MaxPool2dArgs {
            padding: [usize::MAX, 0],
            ..MaxPool2dArgs::new(2)
        },
        MaxPool2dArgs {
            padding: [1 << 63, 0],
            ..MaxPool2dArgs::new(2)
        },
    ] {
        assert!(max_pool2d(&x, &args).is_err(), "{args:?}");
    }
    // A huge stride is fine: one window.
    let args = MaxPool2dArgs {
        stride: Some([usize::MAX / 2, 1]),
        ..MaxPool2dArgs::new(2)
    };
    assert_eq!(max_pool2d(&x, &args).unwrap().shape(), [1, 1, 1, 3]);
}

// ----------------------------------------------------------------------------- relu

/// A private contiguous copy that relu_ may overwrite.
fn owned_copy(t: &Tensor) -> Tensor {
    Tensor::from_raw_bytes(t.dtype(), t.shape(), &t.contiguous_bytes().unwrap()).unwrap()
}

fn relu_matches_torch(dev: &Device) {
    for c in cases("relu") {
        let x = tensor(c["input"].as_str().unwrap());
        let want = tensor(c["output"].as_str().unwrap());
        let ctx = format!("relu {} on {dev}", c["input"]);
        let Some(ours) = run_on(dev, CUDA_F32, &[&x], |i| relu(&i[0])) else {
            continue;
        };
        assert_tensor_close(&ctx, &ours.unwrap(), &want, Tol::Exact);
        // relu ran on this device, so relu_ can: on the only handle of a fresh storage there.
        let mut in_place = owned_copy(&x).to(dev).unwrap();
        relu_(&mut in_place).unwrap();
        let in_place = in_place.to(&Device::Cpu).unwrap();
        assert_tensor_close(&format!("{ctx} in place"), &in_place, &want, Tol::Exact);
        if dev.is_cuda() {
            // relu_into writes a host buffer: a GPU input is refused, never copied silently.
            let mut out = Tensor::zeros(x.dtype(), x.shape()).unwrap();
            let on_gpu = x.contiguous().unwrap().to(dev).unwrap();
            assert!(matches!(
                relu_into(&on_gpu, &mut out),
                Err(Error::InvalidArgument { .. })
            ));
            continue;
        }
        let mut out = Tensor::zeros(x.dtype(), x.shape()).unwrap();
        relu_into(&x, &mut out).unwrap();
        assert_tensor_close(&format!("{ctx} into"), &out, &want, Tol::Exact);
    }
}

fn relu_refusals(dev: &Device) {
    for r in refusals("relu") {
        let dtype = DType::from_torch_name(r["dtype"].as_str().unwrap()).unwrap();
        let x = Tensor::zeros(dtype, &[3]).unwrap().to(dev).unwrap();
        assert!(matches!(relu(&x), Err(Error::DType { .. })), "{r}");
    }
    let x = Tensor::from_vec(vec![-1.0f32, 2.0, -3.0, 4.0], &[2, 2])
        .unwrap()
        .to(dev)
        .unwrap();
    // In place on a storage another tensor shares: refused, and the other tensor is unchanged.
    let mut shared = x.clone();
    assert!(matches!(
        relu_(&mut shared),
        Err(Error::InvalidArgument { .. })
    ));
    let host = x.to(&Device::Cpu).unwrap();
    assert_eq!(host.to_vec::<f32>().unwrap(), [-1.0, 2.0, -3.0, 4.0]);
    let x = host;
    // Into a buffer of another shape or dtype.
    let mut wrong = Tensor::zeros(DType::F32, &[4]).unwrap();
    assert!(matches!(
        relu_into(&x, &mut wrong),
        Err(Error::Shape { .. })
    ));
    let mut wrong = Tensor::zeros(DType::F64, &[2, 2]).unwrap();
    assert!(matches!(
        relu_into(&x, &mut wrong),
        Err(Error::DTypeMismatch {
            second: "out",
            second_dtype: DType::F64,
            ..
        })
    ));
    for d in [DType::F16, DType::BF16, DType::Bool, DType::C64] {
        let t = Tensor::zeros(d, &[2]).unwrap().to(dev).unwrap();
        assert!(matches!(relu(&t), Err(Error::DType { .. })), "{d}");
    }
}

// ----------------------------------------------------------------------------- parallel paths

/// max_pool2d written the obvious way, independently of the crate's window arithmetic.
fn naive_pool(
    x: &[f32],
    [n, c, h, w]: [usize; 4],
    a: &MaxPool2dArgs,
    [ho, wo]: [usize; 2],
) -> Vec<f32> {
    let s = a.stride.unwrap_or(a.kernel);
    let mut out = Vec::with_capacity(n * c * ho * wo);
    for plane in 0..n * c {
        for oh in 0..ho {
            for ow in 0..wo {
                let mut m = f32::NEG_INFINITY;
                for kh in 0..a.kernel[0] {
                    for kw in 0..a.kernel[1] {
                        let ih = (oh * s[0] + kh * a.dilation[0]) as isize - a.padding[0] as isize;
                        let iw = (ow * s[1] + kw * a.dilation[1]) as isize - a.padding[1] as isize;
                        if ih >= 0 && iw >= 0 && (ih as usize) < h && (iw as usize) < w {
                            let v = x[plane * h * w + ih as usize * w + iw as usize];
                            if v > m || v.is_nan() {
                                m = v;
                            }
                        }
                    }
                }
                out.push(m);
            }
        }
    }
    out
}

fn parallel_paths_match_naive_references(dev: &Device) {
    let shape = [4, 16, 64, 63];
    let numel: usize = shape.iter().product();
    // A cheap deterministic generator: values in [-1, 1) with some NaN.
    let data: Vec<f32> = (0..numel)
        .map(|i| {
            let r = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40;
            if r.is_multiple_of(997) {
                f32::NAN
            } else {
                (r % 20001) as f32 / 10000.0 - 1.0
            }
        })
        .collect();
    let x = Tensor::from_slice(&data, &shape).unwrap().to(dev).unwrap();
    let host = |t: Tensor| t.to(&Device::Cpu).unwrap().to_vec::<f32>().unwrap();
    for args in [
        MaxPool2dArgs::new(2),
        MaxPool2dArgs {
            stride: Some([2, 2]),
            padding: [1, 1],
            ..MaxPool2dArgs::new(3)
        },
        MaxPool2dArgs {
            ceil_mode: true,
            dilation: [2, 1],
            padding: [1, 0],
            ..MaxPool2dArgs::new(3)
        },
    ] {
        let ours = max_pool2d(&x, &args).unwrap();
        let [_, _, ho, wo] = <[usize; 4]>::try_from(ours.shape()).unwrap();
        let want = naive_pool(&data, shape, &args, [ho, wo]);
        let what = format!("parallel max_pool2d {args:?} on {dev}");
        assert_close(&what, &host(ours), &want, Tol::Exact);
    }
    // 16 MiB + 12 bytes of float32: the parallel, streaming-store path with a scalar tail.
    let n = (4 << 20) + 3;
    let big_data: Vec<f32> = (0..n)
        .map(|i| data[i % numel] * if i % 3 == 0 { -1.0 } else { 1.0 })
        .collect();
    let big = Tensor::from_slice(&big_data, &[n]).unwrap();
    let want: Vec<f32> = big_data
        .iter()
        .map(|&v| if v < 0.0 { 0.0f32 } else { v })
        .collect();
    let on_dev = big.to(dev).unwrap();
    assert_close(
        &format!("parallel relu on {dev}"),
        &host(relu(&on_dev).unwrap()),
        &want,
        Tol::Exact,
    );
    let mut inplace = owned_copy(&big).to(dev).unwrap();
    relu_(&mut inplace).unwrap();
    assert_close("parallel relu_", &host(inplace), &want, Tol::Exact);
    if dev.is_cuda() {
        return; // relu_into is host-only (its refusal on a GPU: relu_matches_torch)
    }
    // Into a destination that is not 16-byte aligned (a contiguous view at offset 1).
    let mut storage = Tensor::zeros(DType::F32, &[n + 1]).unwrap();
    let mut out =
        Tensor::from_storage(storage.storage().clone(), DType::F32, 1, vec![n], vec![1]).unwrap();
    drop(std::mem::replace(
        &mut storage,
        Tensor::zeros(DType::F32, &[0]).unwrap(),
    ));
    relu_into(&big, &mut out).unwrap();
    assert_close(
        "parallel relu_into, unaligned",
        &host(out),
        &want,
        Tol::Exact,
    );
}

cuda_configs!();
