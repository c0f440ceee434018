//! linear and linear_relu against PyTorch fixtures (tests/fixtures/ops/conv_linear/linear.pt,
//! made by gen_conv_linear.py), a naive f64 reference on larger shapes that take the threaded
//! path, and one test per rejected argument.

#[macro_use]
mod common;

use std::path::Path;

use common::closeness::{assert_close, assert_tensor_close, dot_tol};
use common::devices::{run_on, CUDA_F32};
use common::rng::Rng;

use tensorport::ops::{linear, linear_relu};
use tensorport::{load, DType, Device, Error, MapLocation, Tensor};

device_tests!(
    matches_pytorch_fixtures,
    threaded_shapes_match_naive_reference
);

fn matches_pytorch_fixtures(dev: &Device) {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ops/conv_linear/linear.pt");
    let sd = load(&path, &MapLocation::Keep)
        .and_then(|c| c.state_dict())
        .unwrap_or_else(|e| panic!("loading {}: {e}", path.display()));
    let names: Vec<String> = sd
        .keys()
        .filter_map(|k| k.strip_suffix(".out"))
        .map(String::from)
        .collect();
    assert_eq!(names.len(), 14, "cases in linear.pt");
    for name in &names {
        let get = |s: &str| sd.get(&format!("{name}.{s}"));
        let (x, w, want) = (get("x").unwrap(), get("w").unwrap(), get("out").unwrap());
        let relu = get("args").unwrap().to_vec::<i64>().unwrap()[0] != 0;
        if name.contains("x_transposed") || name.contains("x_sliced") {
            assert!(
                !x.is_contiguous() || x.storage_offset() != 0,
                "{name}: {x:?}"
            );
        }
        let op = if relu { linear_relu } else { linear };
        let mut inputs = vec![x, w];
        inputs.extend(get("b"));
        let Some(out) = run_on(dev, CUDA_F32, &inputs, |i| op(&i[0], &i[1], i.get(2))) else {
            continue;
        };
        let out = out.unwrap_or_else(|e| panic!("{name} on {dev}: {e}"));
        let tol = dot_tol(w.shape()[1], want.dtype());
        assert_tensor_close(&format!("{name} on {dev}"), &out, want, tol);
    }
}

fn threaded_shapes_match_naive_reference(dev: &Device) {
    // Big enough (≥ 2 MFLOP) to split rows over the pool, with M not a multiple of the split.
    for (m, k, n, relu) in [
        (301, 257, 70, false),
        (97, 1024, 33, true),
        (1, 4000, 300, true),
    ] {
        let mut rng = Rng::new(1);
        let (x, w, b) = (rng.vec(m * k), rng.vec(n * k), rng.vec(n));
        let on =
            |v: &[f32], shape: &[usize]| Tensor::from_slice(v, shape).unwrap().to(dev).unwrap();
        let (xt, wt, bt) = (on(&x, &[m, k]), on(&w, &[n, k]), on(&b, &[n]));
        let out = if relu {
            linear_relu(&xt, &wt, Some(&bt))
        } else {
            linear(&xt, &wt, Some(&bt))
        };
        let out = out.unwrap().to(&Device::Cpu).unwrap();
        assert_eq!(out.shape(), [m, n]);
        let mut want = vec![0f64; m * n];
        for i in 0..m {
            for o in 0..n {
                let s: f64 = (0..k)
                    .map(|j| x[i * k + j] as f64 * w[o * k + j] as f64)
                    .sum();
                let v = s + b[o] as f64;
                want[i * n + o] = if relu { v.max(0.0) } else { v };
            }
        }
        let got: Vec<f64> = out
            .to_vec::<f32>()
            .unwrap()
            .into_iter()
            .map(f64::from)
            .collect();
        assert_close(
            &format!("m{m} k{k} n{n} on {dev}"),
            &got,
            &want,
            dot_tol(k, DType::F32),
        );
    }
}

#[test]
fn empty_rows_give_empty_output() {
    let x = Tensor::from_vec(Vec::<f32>::new(), &[0, 8]).unwrap();
    let w = Tensor::from_vec(vec![1f32; 40], &[5, 8]).unwrap();
    assert_eq!(linear(&x, &w, None).unwrap().shape(), [0, 5]);
}

#[test]
fn rejects_what_pytorch_rejects() {
    let t =
        |shape: &[usize]| Tensor::from_vec(Rng::new(5).vec(shape.iter().product()), shape).unwrap();
    let shape_err = |x: &[usize], w: &[usize], b: Option<&[usize]>| {
        let bias = b.map(t);
        let e = linear(&t(x), &t(w), bias.as_ref()).unwrap_err();
        assert!(
            matches!(e, Error::Shape { op: "linear", .. }),
            "x{x:?} w{w:?}: {e:?}"
        );
    };
    shape_err(&[], &[5, 1], None); // 0-d input
    shape_err(&[4, 7], &[5, 8], None); // K mismatch
    shape_err(&[4, 8], &[40], None); // 1-D weight
    shape_err(&[4, 8], &[1, 5, 8], None); // 3-D weight
    shape_err(&[4, 8], &[5, 8], Some(&[4])); // bias length
    shape_err(&[4, 8], &[5, 8], Some(&[1, 5])); // bias rank
    let w64 = Tensor::from_vec(vec![0.5f64; 40], &[5, 8]).unwrap();
    let e = linear(&t(&[4, 8]), &w64, None).unwrap_err();
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
    // The message names each side with its own dtype (PyTorch: "mat1 and mat2 must have the
    // same dtype").
    assert_eq!(
        e.to_string(),
        "linear: input has dtype float32 but weight has float64; they must have one dtype"
    );
    // Integer operands of one dtype: refused for the dtype itself (mixed ones are a mismatch).
    let xi = Tensor::from_vec(vec![1i64; 32], &[4, 8]).unwrap();
    let wi = Tensor::from_vec(vec![1i64; 40], &[5, 8]).unwrap();
    let e = linear_relu(&xi, &wi, None).unwrap_err();
    assert!(
        matches!(
            e,
            Error::DType {
                got: DType::I64,
                ..
            }
        ),
        "{e:?}"
    );
}

cuda_configs!();
