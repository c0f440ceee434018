//! The recipe's Net end to end against PyTorch: weights and an input batch saved by real torch
//! (tests/fixtures/gen_fixtures.py: net_state_dict.pt, net_io.pt), logits compared with torch's;
//! `load_state_dict` strictness and messages; our `state_dict()` equals torch's exactly.

#[macro_use]
mod common;

use common::closeness::{assert_close, Tol};
use common::net::{assert_logits, torch_io};
use common::{describe_checkpoint, fixtures_dir, manifest};
use tensorport::nn::{load_state_dict, LoadOptions, Module, Net};
use tensorport::ops::argmax;
use tensorport::{load, Device, Error, MapLocation, Tensor};

device_tests!(net_matches_torch_logits_and_predictions);
use tensorport_cli::describe::describe;

fn fixture(name: &str) -> std::path::PathBuf {
    fixtures_dir().join(name)
}

fn net_from(name: &str, opts: LoadOptions) -> tensorport::Result<Net> {
    let ckpt = load(fixture(name), &MapLocation::Keep)?;
    let mut net = Net::new(7)?;
    load_state_dict(&mut net, "Net", &ckpt.state_dict()?, opts)?;
    Ok(net)
}

fn net_matches_torch_logits_and_predictions(dev: &Device) {
    let (x, want) = torch_io();
    let mut net = net_from("ok/net_state_dict.pt", LoadOptions::default()).expect("load");
    net.to_device(dev).expect("model.to(device)");
    let logits = net
        .forward(&x.to(dev).expect("x to device"))
        .expect("forward")
        .to(&Device::Cpu)
        .expect("logits to host");
    assert_eq!(logits.shape(), &[4, 10]);
    assert_logits(&logits.to_vec::<f32>().expect("f32"), &want);
    let pred = argmax(&logits, 1)
        .expect("argmax")
        .to_vec::<i64>()
        .expect("i64");
    let want_pred: Vec<i64> = want
        .chunks(10)
        .map(|r| (0..10).fold(0, |best, j| if r[j] > r[best] { j } else { best }) as i64)
        .collect();
    assert_eq!(pred, want_pred);
    // One image without the batch dim, like PyTorch's unbatched conv input.
    let one = x
        .contiguous()
        .expect("c")
        .reshape_view(&[4, 3, 32, 32])
        .expect("v");
    let first = Tensor::from_slice(
        &one.to_vec::<f32>().expect("f32")[..3 * 32 * 32],
        &[3, 32, 32],
    )
    .expect("image");
    let l1 = net
        .forward(&first.to(dev).expect("to device"))
        .expect("unbatched")
        .to(&Device::Cpu)
        .expect("to host");
    assert_eq!(l1.shape(), &[10]);
    assert_logits(&l1.to_vec::<f32>().expect("f32"), &want[..10]);
}

#[test]
fn dataparallel_checkpoint_loads_when_asked() {
    let (x, want) = torch_io();
    match net_from("ok/net_state_dict_dataparallel.pt", LoadOptions::default()) {
        Err(Error::LoadStateDict {
            missing,
            unexpected,
            mismatched,
            ..
        }) => {
            assert_eq!(missing.len(), 10);
            assert!(unexpected.iter().all(|k| k.starts_with("module.")));
            assert!(mismatched.is_empty());
        }
        other => panic!("expected a strict-load error, got {:?}", other.map(|_| ())),
    }
    let opts = LoadOptions {
        strict: true,
        strip_wrapper_prefixes: true,
    };
    let net = net_from("ok/net_state_dict_dataparallel.pt", opts).expect("stripped");
    assert_logits(
        &net.forward(&x).expect("f").to_vec::<f32>().expect("v"),
        &want,
    );
}

#[test]
fn load_state_dict_reports_like_pytorch() {
    let ckpt = load(fixture("ok/net_state_dict.pt"), &MapLocation::Keep).expect("load");
    let mut sd = ckpt.state_dict().expect("sd");
    sd.insert(
        "extra.weight",
        Tensor::zeros(tensorport::DType::F32, &[2]).expect("z"),
    );
    let mut net = Net::new(0).expect("net");
    let lax = LoadOptions {
        strict: false,
        strip_wrapper_prefixes: false,
    };
    let report = load_state_dict(&mut net, "Net", &sd, lax).expect("non-strict");
    assert_eq!(report.unexpected_keys, ["extra.weight"]);
    assert!(report.missing_keys.is_empty());
    let err = load_state_dict(&mut net, "Net", &sd, LoadOptions::default()).expect_err("strict");
    assert!(
        err.to_string()
            .contains("Unexpected key(s) in state_dict: \"extra.weight\""),
        "{err}"
    );
    // A shape mismatch is an error even when not strict, worded as PyTorch words it.
    sd.insert(
        "fc3.bias",
        Tensor::zeros(tensorport::DType::F32, &[11]).expect("z"),
    );
    let err = load_state_dict(&mut net, "Net", &sd, lax).expect_err("mismatch");
    let msg = err.to_string();
    assert!(
        msg.contains("size mismatch for fc3.bias: copying a param with shape [11]"),
        "{msg}"
    );
    assert!(msg.contains("the shape in current model is [10]"), "{msg}");
    // A wrong dtype is an error too, never a silent conversion.
    let mut sd = ckpt.state_dict().expect("sd");
    sd.insert(
        "fc3.bias",
        Tensor::zeros(tensorport::DType::F64, &[10]).expect("z"),
    );
    match load_state_dict(&mut net, "Net", &sd, lax) {
        Err(e @ Error::InvalidArgument { .. }) => {
            let msg = e.to_string();
            assert!(
                msg.contains("fc3.bias is float64 in the state dict but float32 in the model"),
                "{msg}"
            );
        }
        other => panic!("expected a dtype refusal naming the key, got {other:?}"),
    }
}

#[test]
fn our_state_dict_equals_torchs() {
    // Load torch's file, then describe what our model's state_dict() would save: names, order,
    // values and _metadata must equal torch's Net.state_dict() exactly.
    let net = net_from("ok/net_state_dict.pt", LoadOptions::default()).expect("load");
    let ours = net.state_dict().to_value();
    let mut doc = describe(&ours, &|s| s.device().location_tag(), &|_| None).expect("describe");
    doc["ok"] = serde_json::Value::Bool(true);
    let want = &manifest()["files"]["ok/net_state_dict.pt"]["describe"];
    assert_eq!(doc["structure"], want["structure"]);
    assert_eq!(doc["tensors"], want["tensors"]);
    // And a fresh Net has the same layout (shapes, names, metadata) as torch's.
    let fresh = Net::new(1).expect("net").state_dict();
    let fresh_shapes: Vec<(String, Vec<usize>)> = fresh
        .iter()
        .map(|(k, t)| (k.to_string(), t.shape().to_vec()))
        .collect();
    let ckpt = load(fixture("ok/net_state_dict.pt"), &MapLocation::Keep).expect("load");
    let theirs: Vec<(String, Vec<usize>)> = ckpt
        .state_dict()
        .expect("sd")
        .iter()
        .map(|(k, t)| (k.to_string(), t.shape().to_vec()))
        .collect();
    assert_eq!(fresh_shapes, theirs);
    let _ = describe_checkpoint(&ckpt);
}

#[test]
fn large_batches_run_in_chunks_with_the_same_logits() {
    // 70 images: chunks of 32, 32 and 6 on the CPU path; each image also alone (batch 1).
    let net = Net::new(3).unwrap();
    let n = 70;
    let per = 3 * 32 * 32;
    let x: Vec<f32> = (0..n * per)
        .map(|i| ((i * 2_654_435_761) % 1000) as f32 / 500.0 - 1.0)
        .collect();
    let batch = net
        .forward(&Tensor::from_slice(&x, &[n, 3, 32, 32]).unwrap())
        .unwrap();
    assert_eq!(batch.shape(), [n, 10]);
    let got = batch.to_vec::<f32>().unwrap();
    for i in 0..n {
        let one = Tensor::from_slice(&x[i * per..][..per], &[1, 3, 32, 32]).unwrap();
        let want = net.forward(&one).unwrap().to_vec::<f32>().unwrap();
        // The same arithmetic in another batch split: within the logits' summation bound.
        let tol = Tol::AbsRel {
            atol: 1e-5,
            rtol: 1e-5,
        };
        assert_close(&format!("image {i}"), &got[i * 10..][..10], &want, tol);
    }
}

cuda_configs!();
