//! permute, transpose, unsqueeze, split, chunk, cat, pad, softmax, log_softmax and argmax_with
//! against PyTorch 2.15 (fixtures from `tests/fixtures/ops/gen_structure.py`) on every device,
//! and every call torch refuses.
//!
//! Tolerances: the views, cat, pad and argmax move or compare elements and are checked bit for
//! bit, views also for torch's sizes, strides and offsets (and for sharing the input's storage).
//! softmax and log_softmax: `|ours − torch| ≤ atol + rtol·|torch|` with the tolerance of
//! `tests/ops_shape_softmax.rs` (rtol 8 ulps; exp/log and the summation order differ, each a
//! couple of ulps). log_softmax's `(x − m) − log s` can cancel when `x − m ≈ log s`: there the
//! error is relative to the terms, so atol is `8ε·(|x − m| + |log s|)`, bounded here by
//! `8ε·(2·|torch| + 2·|log s|)`; with `|log s| ≤ log(D)` for the D terms of the line
//! ([`log_softmax_atol`]).

#[macro_use]
mod common;

use std::sync::OnceLock;

use common::closeness::{assert_tensor_close, Tol};
use common::devices::{run_on, Cuda, CUDA_F32};
use common::op_fixtures::{i64s, usizes, OpFixtures};
use serde_json::Value as Json;
use tensorport::ops::{argmax_with, cat, chunk, log_softmax, pad, permute, softmax, split};
use tensorport::ops::{transpose, unsqueeze};
use tensorport::{DType, Device, Error, Tensor};

device_tests!(
    views_match_torch,
    cat_matches_torch,
    cat_refusals,
    pad_matches_torch,
    pad_refusals,
    softmaxes_match_torch,
    argmax_with_matches_torch,
);

const ANY: Cuda = Cuda::AnyLayout(&[
    DType::F32,
    DType::F64,
    DType::I64,
    DType::I32,
    DType::I8,
    DType::U8,
]);

fn fx() -> &'static OpFixtures {
    static F: OnceLock<OpFixtures> = OnceLock::new();
    OpFixtures::load(&F, "structure")
}

fn view_op(op: &str, a: &Json, x: &Tensor) -> tensorport::Result<Vec<Tensor>> {
    let int = |k: &str| a[k].as_i64().unwrap();
    match op {
        "permute" => permute(x, &i64s(&a["dims"])).map(|t| vec![t]),
        "transpose" => transpose(x, int("dim0"), int("dim1")).map(|t| vec![t]),
        "unsqueeze" => unsqueeze(x, int("dim")).map(|t| vec![t]),
        "split" => split(x, int("split_size") as usize, int("dim")),
        "chunk" => chunk(x, int("chunks") as usize, int("dim")),
        _ => unreachable!("{op}"),
    }
}

fn views_match_torch(dev: &Device) {
    let mut n = 0;
    for op in ["permute", "transpose", "unsqueeze", "split", "chunk"] {
        for c in fx().cases(op) {
            let x = fx().tensor(&c["input"]).to(dev).unwrap();
            let ctx = format!("{op} {} {} on {dev}", c["input"], c["args"]);
            let outs = view_op(op, &c["args"], &x).unwrap_or_else(|e| panic!("{ctx}: {e}"));
            assert_eq!(outs.len(), c["outputs"].as_array().unwrap().len(), "{ctx}");
            for (i, t) in outs.iter().enumerate() {
                n += 1;
                assert_eq!(t.shape(), usizes(&c["sizes"][i]), "{ctx}: size");
                if t.numel() > 0 {
                    assert_eq!(t.strides(), usizes(&c["strides"][i]), "{ctx}: stride");
                    let off = c["offsets"][i].as_u64().unwrap() as usize;
                    assert_eq!(
                        t.storage_offset(),
                        x.storage_offset() + off,
                        "{ctx}: offset"
                    );
                }
                assert!(t.shares_storage(&x), "{ctx}: a view, not a copy");
                // The values through the view, and (on a GPU) the strided-copy kernel.
                let got = t.contiguous().unwrap().to(&Device::Cpu).unwrap();
                let want = fx().tensor(&c["outputs"][i]);
                assert_tensor_close(&ctx, &got, &want, Tol::Bits);
            }
        }
    }
    assert!(n >= 38, "{n} views");
    let x = Tensor::zeros(DType::F32, &[2, 3, 4])
        .unwrap()
        .to(dev)
        .unwrap();
    assert!(matches!(permute(&x, &[0, 1]), Err(Error::Shape { .. })));
    assert!(matches!(
        permute(&x, &[0, 1, 1]),
        Err(Error::InvalidArgument { .. })
    ));
    assert!(matches!(
        unsqueeze(&x, 4),
        Err(Error::InvalidArgument { .. })
    ));
    assert!(matches!(
        chunk(&x, 0, 0),
        Err(Error::InvalidArgument { .. })
    ));
    assert!(matches!(
        split(&x, 0, 0),
        Err(Error::InvalidArgument { .. })
    ));
}

fn cat_matches_torch(dev: &Device) {
    let (mut n, mut legacy) = (0, 0);
    for c in fx().cases("cat") {
        let parts: Vec<Tensor> = c["inputs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| fx().tensor(t))
            .collect();
        let refs: Vec<&Tensor> = parts.iter().collect();
        let dim = c["dim"].as_i64().unwrap();
        let ctx = format!("cat {} dim {dim} on {dev}", c["output"]);
        n += 1;
        legacy += parts.iter().any(|p| p.shape() == [0]) as usize;
        let Some(ours) = run_on(dev, ANY, &refs, |t| cat(&t.iter().collect::<Vec<_>>(), dim))
        else {
            continue;
        };
        let ours = ours.unwrap_or_else(|e| panic!("{ctx}: {e}"));
        assert_tensor_close(&ctx, &ours, &fx().tensor(&c["output"]), Tol::Bits);
    }
    assert!(
        n >= 29 && legacy >= 8,
        "{n} cases, {legacy} with legacy empty parts"
    );
}

fn cat_refusals(dev: &Device) {
    let refusals = fx().errors("cat");
    assert_eq!(refusals.len(), 4);
    for r in refusals {
        let parts: Vec<Tensor> = r["args"]["shapes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                Tensor::zeros(DType::F32, &usizes(s))
                    .unwrap()
                    .to(dev)
                    .unwrap()
            })
            .collect();
        let refs: Vec<&Tensor> = parts.iter().collect();
        let e = cat(&refs, r["args"]["dim"].as_i64().unwrap()).unwrap_err();
        let torch = r["torch_error"].as_str().unwrap();
        assert!(e.to_string().contains(torch), "{e} vs {torch}");
    }
    assert!(matches!(cat(&[], 0), Err(Error::InvalidArgument { .. })));
    let (a, b) = (
        Tensor::zeros(DType::F32, &[2]).unwrap(),
        Tensor::zeros(DType::F64, &[2]).unwrap(),
    );
    let (a, b) = (a.to(dev).unwrap(), b.to(dev).unwrap());
    assert!(matches!(
        cat(&[&a, &b], 0),
        Err(Error::DTypeMismatch { .. })
    ));
}

fn pad_matches_torch(dev: &Device) {
    let mut n = 0;
    for c in fx().cases("pad") {
        let x = fx().tensor(&c["input"]);
        let p = i64s(&c["pad"]);
        let v: f64 = c["value"].as_str().unwrap().parse().unwrap(); // text: JSON has no inf
        let ctx = format!("pad {} {p:?} value {v} on {dev}", c["input"]);
        n += 1;
        let Some(ours) = run_on(dev, ANY, &[&x], |t| pad(&t[0], &p, v)) else {
            continue;
        };
        let ours = ours.unwrap_or_else(|e| panic!("{ctx}: {e}"));
        assert_tensor_close(&ctx, &ours, &fx().tensor(&c["output"]), Tol::Bits);
    }
    assert!(n >= 20, "{n} cases");
}

fn pad_refusals(dev: &Device) {
    let refusals = fx().errors("pad");
    assert_eq!(refusals.len(), 3);
    for r in refusals {
        let x = Tensor::zeros(DType::F32, &usizes(&r["args"]["shape"]))
            .unwrap()
            .to(dev)
            .unwrap();
        let e = pad(&x, &i64s(&r["args"]["pad"]), 0.0).unwrap_err();
        let torch = r["torch_error"].as_str().unwrap();
        assert!(e.to_string().contains(torch), "{e} vs {torch}");
    }
}

/// The log_softmax atol of the module comment, per element.
fn log_softmax_atol(want: &Tensor, dim_len: usize) -> Vec<f64> {
    let (w, e): (Vec<f64>, f64) = match want.dtype() {
        DType::F32 => (
            want.to_vec::<f32>()
                .unwrap()
                .into_iter()
                .map(f64::from)
                .collect(),
            f64::from(f32::EPSILON),
        ),
        _ => (want.to_vec::<f64>().unwrap(), f64::EPSILON),
    };
    let log_d = (dim_len.max(1) as f64).ln();
    w.iter()
        .map(|v| 8.0 * e * (2.0 * v.abs() + 2.0 * log_d) + 1e-30)
        .collect()
}

fn softmaxes_match_torch(dev: &Device) {
    let mut n = 0;
    for c in fx().cases("softmax") {
        let x = fx().tensor(&c["input"]);
        let dim = c["dim"].as_i64().unwrap() as isize;
        let f64 = x.dtype() == DType::F64;
        let (atol, rtol) = if f64 { (1e-30, 2e-15) } else { (1e-12, 1e-6) };
        let ctx = format!("softmax {} dim {dim} on {dev}", c["input"]);
        n += 1;
        if let Some(ours) = run_on(dev, CUDA_F32, &[&x], |t| softmax(&t[0], dim)) {
            let ours = ours.unwrap_or_else(|e| panic!("{ctx}: {e}"));
            assert_tensor_close(
                &ctx,
                &ours,
                &fx().tensor(&c["softmax"]),
                Tol::AbsRel { atol, rtol },
            );
        }
        if let Some(ours) = run_on(dev, CUDA_F32, &[&x], |t| log_softmax(&t[0], dim)) {
            let ours = ours.unwrap_or_else(|e| panic!("log_{ctx}: {e}"));
            let want = fx().tensor(&c["log_softmax"]);
            let len = if x.ndim() == 0 {
                1
            } else {
                x.shape()[dim.rem_euclid(x.ndim() as isize) as usize]
            };
            let tol: Vec<f64> = log_softmax_atol(&want, len);
            assert_tensor_close(&format!("log_{ctx}"), &ours, &want, Tol::Each(&tol));
        }
    }
    assert!(n >= 17, "{n} cases");
}

fn argmax_with_matches_torch(dev: &Device) {
    let mut n = 0;
    for c in fx().cases("argmax") {
        let x = fx().tensor(&c["input"]);
        let dim = c["dim"].as_i64();
        let keep = c["keepdim"].as_bool().unwrap();
        let ctx = format!("argmax {} dim {dim:?} keepdim {keep} on {dev}", c["input"]);
        n += 1;
        let Some(ours) = run_on(dev, CUDA_F32, &[&x], |t| argmax_with(&t[0], dim, keep)) else {
            continue;
        };
        let ours = ours.unwrap_or_else(|e| panic!("{ctx}: {e}"));
        assert_tensor_close(&ctx, &ours, &fx().tensor(&c["output"]), Tol::Bits);
    }
    assert!(n >= 14, "{n} cases");
    for r in fx().errors("argmax") {
        let x = Tensor::zeros(DType::F32, &usizes(&r["args"]["shape"])).unwrap();
        let e = argmax_with(&x, r["args"]["dim"].as_i64(), false).unwrap_err();
        let torch = r["torch_error"].as_str().unwrap();
        assert!(e.to_string().contains(torch), "{e} vs {torch}");
    }
}

cuda_configs!();
