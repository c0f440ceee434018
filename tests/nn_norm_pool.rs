//! The layers `BatchNorm2d`, `LayerNorm`, `AvgPool2d` and `AdaptiveAvgPool2d`: PyTorch's names,
//! kinds, defaults and `_metadata` (BatchNorm's `_version` 2), checked against a state dict real
//! PyTorch saved (`tests/fixtures/ok/training_checkpoint.pt`, whose `Small` model has a
//! `nn.BatchNorm2d(2)` named `bn`), and their forward passes against the ops.

mod common;

use common::closeness::{assert_tensor_close, Tol};
use common::fixtures_dir;
use tensorport::nn::{
    load_state_dict, AdaptiveAvgPool2d, AvgPool2d, BatchNorm2d, Conv2d, LayerNorm, Linear,
    LoadOptions, Module, Sequential,
};
use tensorport::ops::{adaptive_avg_pool2d, avg_pool2d, batch_norm, layer_norm, AvgPool2dArgs};
use tensorport::prelude::*;
use tensorport_cli::describe::describe;

fn small() -> Sequential {
    Sequential::new()
        .add("conv", Conv2d::new(1, 2, 3).unwrap())
        .add("bn", BatchNorm2d::new(2).unwrap())
        .add("fc", Linear::new(8, 3).unwrap())
}

#[test]
fn batch_norm2d_state_dict_is_pytorchs() {
    let mut model = small();
    let names: Vec<String> = model.state_dict().keys().map(|k| k.to_string()).collect();
    assert_eq!(
        names[2..7],
        [
            "bn.weight",
            "bn.bias",
            "bn.running_mean",
            "bn.running_var",
            "bn.num_batches_tracked"
        ]
    );
    let ckpt = load(
        fixtures_dir().join("ok/training_checkpoint.pt"),
        &MapLocation::Keep,
    )
    .unwrap();
    let theirs = ckpt.state_dict_at("model_state_dict").unwrap();
    load_state_dict(&mut model, "Small", &theirs, LoadOptions::default()).unwrap();
    // Names, order, values, dtypes (num_batches_tracked int64) and _metadata (version 2).
    let loc = |s: &tensorport::Storage| s.device().location_tag();
    let ours = describe(&model.state_dict().to_value(), &loc, &|_| None).unwrap();
    let want = describe(&theirs.to_value(), &loc, &|_| None).unwrap();
    assert_eq!(ours, want);
}

#[test]
fn layers_run_their_ops() {
    let x = Tensor::from_vec(
        (0..2 * 3 * 4 * 4).map(|i| (i as f32).sin()).collect(),
        &[2, 3, 4, 4],
    )
    .unwrap();
    let mut bn = BatchNorm2d::with_options(3, 1e-3, None, true).unwrap();
    bn.running_mean = Tensor::from_vec(vec![0.1f32, -0.2, 0.3], &[3]).unwrap();
    let want = batch_norm(
        &x,
        bn.weight.as_ref(),
        bn.bias.as_ref(),
        &bn.running_mean,
        &bn.running_var,
        1e-3,
    )
    .unwrap();
    assert_tensor_close("BatchNorm2d", &bn.forward(&x).unwrap(), &want, Tol::Bits);
    assert!(bn
        .forward(&Tensor::zeros(DType::F32, &[3, 4, 4]).unwrap())
        .is_err());
    let plain = BatchNorm2d::with_options(3, 1e-5, Some(0.1), false).unwrap();
    let names: Vec<String> = plain.state_dict().keys().map(|k| k.to_string()).collect();
    assert_eq!(
        names,
        ["running_mean", "running_var", "num_batches_tracked"]
    );

    let ln = LayerNorm::new(&[4, 4]).unwrap();
    let names: Vec<String> = ln.state_dict().keys().map(|k| k.to_string()).collect();
    assert_eq!(names, ["weight", "bias"]);
    assert_eq!(ln.weight.as_ref().unwrap().shape(), [4, 4]);
    let want = layer_norm(&x, &[4, 4], ln.weight.as_ref(), ln.bias.as_ref(), 1e-5).unwrap();
    assert_tensor_close("LayerNorm", &ln.forward(&x).unwrap(), &want, Tol::Bits);

    let pool = AvgPool2d::new(2);
    let want = avg_pool2d(&x, &AvgPool2dArgs::new(2)).unwrap();
    assert_tensor_close("AvgPool2d", &pool.forward(&x).unwrap(), &want, Tol::Bits);
    let gap = AdaptiveAvgPool2d::new(1);
    let want = adaptive_avg_pool2d(&x, [1, 1]).unwrap();
    assert_tensor_close(
        "AdaptiveAvgPool2d",
        &gap.forward(&x).unwrap(),
        &want,
        Tol::Bits,
    );
    assert!(pool.state_dict().is_empty() && gap.state_dict().is_empty());
}
