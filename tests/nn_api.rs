//! The public API for building models, used as a program outside the crate uses it: layer
//! constructors with PyTorch's arguments and defaults, modules with parameters and buffers,
//! `state_dict` / `load_state_dict` against what real PyTorch saved, and the thread count.

mod common;

use common::{fixtures_dir, manifest};
use tensorport::nn::{
    join_name, load_state_dict, Conv2d, Flatten, Init, Linear, LoadOptions, MaxPool2d, Module,
    Padding, ReLU, Sequential, TensorKind,
};
use tensorport::ops::{conv2d, Conv2dArgs};
use tensorport::prelude::*;
use tensorport_cli::describe::describe;

fn shapes(v: &[(String, Tensor)]) -> Vec<(String, Vec<usize>)> {
    v.iter()
        .map(|(k, t)| (k.clone(), t.shape().to_vec()))
        .collect()
}

#[test]
fn constructors_take_pytorchs_arguments_and_defaults() {
    let c = Conv2d::new(3, 8, 3).unwrap();
    assert_eq!(c.weight.shape(), [8, 3, 3, 3]);
    assert_eq!(c.bias.as_ref().map(|b| b.shape().to_vec()), Some(vec![8]));
    assert_eq!(c.args, Conv2dArgs::default());
    let c = Conv2d::builder(8, 16, (3, 5))
        .stride(2)
        .padding([1, 2])
        .dilation(1)
        .groups(4)
        .bias(false)
        .build()
        .unwrap();
    assert_eq!(c.weight.shape(), [16, 2, 3, 5]);
    assert!(c.bias.is_none());
    assert_eq!(
        (c.args.stride, c.args.padding, c.args.groups),
        ([2, 2], [1, 2], 4)
    );
    // "same": the output keeps the input's size; "valid": no padding.
    let same = Conv2d::builder(2, 2, 3)
        .padding(Padding::Same)
        .dilation(2)
        .build()
        .unwrap();
    assert_eq!(same.args.padding, [2, 2]);
    let x = Tensor::zeros(DType::F32, &[1, 2, 9, 7]).unwrap();
    assert_eq!(same.forward(&x).unwrap().shape(), [1, 2, 9, 7]);
    let valid = Conv2d::builder(2, 2, 3)
        .padding(Padding::Valid)
        .build()
        .unwrap();
    assert_eq!(valid.forward(&x).unwrap().shape(), [1, 2, 7, 5]);
    // PyTorch's refusals.
    let refused = |b: tensorport::nn::Conv2dBuilder, what: &str| {
        let e = b.build().unwrap_err();
        assert!(e.to_string().contains(what), "{e}");
    };
    refused(
        Conv2d::builder(3, 8, 3).groups(2),
        "in_channels must be divisible",
    );
    refused(
        Conv2d::builder(4, 6, 3).groups(4),
        "out_channels must be divisible",
    );
    refused(Conv2d::builder(4, 4, 3).groups(0), "positive");
    refused(
        Conv2d::builder(2, 2, 3).stride(2).padding(Padding::Same),
        "strided",
    );
    // An even kernel needs asymmetric padding for "same": refused with a reason, not guessed.
    refused(
        Conv2d::builder(2, 2, 4).padding(Padding::Same),
        "asymmetric padding",
    );

    let l = Linear::builder(5, 7).bias(false).build().unwrap();
    assert_eq!(l.weight.shape(), [7, 5]);
    assert!(l.bias.is_none());
    let p = MaxPool2d::builder(3)
        .stride(2)
        .padding(1)
        .ceil_mode(true)
        .build();
    assert_eq!(
        (
            p.args.kernel,
            p.args.stride,
            p.args.padding,
            p.args.ceil_mode
        ),
        ([3, 3], Some([2, 2]), [1, 1], true)
    );
    assert_eq!(MaxPool2d::new(2).args.stride, None);
}

#[test]
fn default_init_is_pytorchs_distribution_and_seeded() {
    // U(-1/sqrt(fan_in), 1/sqrt(fan_in)): fan_in = 4 * 3 * 3 = 36, bound 1/6.
    let a = Conv2d::builder(4, 8, 3)
        .build_with(&mut Init::new(42))
        .unwrap();
    let w = a.weight.to_vec::<f32>().unwrap();
    let bound = 1.0 / 6.0;
    assert!(w.iter().all(|v| v.abs() <= bound), "{w:?}");
    // Roughly uniform: the sample spans most of the interval.
    let (lo, hi) = w
        .iter()
        .fold((0f32, 0f32), |(l, h), &v| (l.min(v), h.max(v)));
    assert!(lo < -0.8 * bound && hi > 0.8 * bound, "{lo} {hi}");
    // The same seed gives the same weights; another seed others.
    let b = Conv2d::builder(4, 8, 3)
        .build_with(&mut Init::new(42))
        .unwrap();
    assert_eq!(w, b.weight.to_vec::<f32>().unwrap());
    let c = Conv2d::builder(4, 8, 3)
        .build_with(&mut Init::new(43))
        .unwrap();
    assert_ne!(w, c.weight.to_vec::<f32>().unwrap());
}

/// The stand-in a user writes for a layer with buffers (here: batch norm's, as PyTorch names
/// them; the real BatchNorm2d is its own issue).
struct Norm {
    weight: Tensor,
    bias: Tensor,
    running_mean: Tensor,
    running_var: Tensor,
    num_batches_tracked: Tensor,
}

impl Norm {
    fn new(c: usize) -> Norm {
        Norm {
            weight: Tensor::from_vec(vec![1f32; c], &[c]).unwrap(),
            bias: Tensor::zeros(DType::F32, &[c]).unwrap(),
            running_mean: Tensor::zeros(DType::F32, &[c]).unwrap(),
            running_var: Tensor::from_vec(vec![1f32; c], &[c]).unwrap(),
            num_batches_tracked: Tensor::zeros(DType::I64, &[]).unwrap(),
        }
    }
}

impl Module for Norm {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Ok(x.clone())
    }
    fn visit(&self, f: &mut dyn FnMut(&str, TensorKind, &Tensor)) {
        f("weight", TensorKind::Parameter, &self.weight);
        f("bias", TensorKind::Parameter, &self.bias);
        f("running_mean", TensorKind::Buffer, &self.running_mean);
        f("running_var", TensorKind::Buffer, &self.running_var);
        f(
            "num_batches_tracked",
            TensorKind::Buffer,
            &self.num_batches_tracked,
        );
    }
    fn visit_mut(&mut self, f: &mut dyn FnMut(&str, TensorKind, &mut Tensor)) {
        f("weight", TensorKind::Parameter, &mut self.weight);
        f("bias", TensorKind::Parameter, &mut self.bias);
        f("running_mean", TensorKind::Buffer, &mut self.running_mean);
        f("running_var", TensorKind::Buffer, &mut self.running_var);
        f(
            "num_batches_tracked",
            TensorKind::Buffer,
            &mut self.num_batches_tracked,
        );
    }
    fn visit_modules(&self, f: &mut dyn FnMut(&str, i64)) {
        f("", 2); // BatchNorm's _version
    }
}

/// The `Small` model of tests/fixtures/gen_fixtures.py (conv 1→2 k3, BatchNorm2d(2), linear
/// 8→3), from the public API.
fn small() -> Sequential {
    Sequential::new()
        .add("conv", Conv2d::new(1, 2, 3).unwrap())
        .add("bn", Norm::new(2))
        .add("fc", Linear::new(8, 3).unwrap())
}

#[test]
fn buffers_are_named_saved_and_loaded_like_pytorchs() {
    let mut model = small();
    assert_eq!(
        shapes(&model.named_parameters()),
        [
            ("conv.weight".to_string(), vec![2, 1, 3, 3]),
            ("conv.bias".into(), vec![2]),
            ("bn.weight".into(), vec![2]),
            ("bn.bias".into(), vec![2]),
            ("fc.weight".into(), vec![3, 8]),
            ("fc.bias".into(), vec![3]),
        ]
    );
    assert_eq!(
        shapes(&model.named_buffers()),
        [
            ("bn.running_mean".to_string(), vec![2]),
            ("bn.running_var".into(), vec![2]),
            ("bn.num_batches_tracked".into(), vec![]),
        ]
    );
    // torch's trained Small: strict load fills parameters and buffers...
    let ckpt = load(
        fixtures_dir().join("ok/training_checkpoint.pt"),
        &MapLocation::Keep,
    )
    .unwrap();
    let theirs = ckpt.state_dict_at("model_state_dict").unwrap();
    load_state_dict(&mut model, "Small", &theirs, LoadOptions::default()).unwrap();
    let tracked = model.named_buffers()[2].1.to_vec::<i64>().unwrap();
    assert_eq!(tracked, [2], "num_batches_tracked after torch's two steps");
    // ...and our state_dict() is then torch's, exactly: names, order, values, dtypes and the
    // _metadata (BatchNorm's version 2 included).
    let ours = model.state_dict().to_value();
    let loc = |s: &tensorport::Storage| s.device().location_tag();
    let doc = describe(&ours, &loc, &|_| None).unwrap();
    let want = describe(&theirs.to_value(), &loc, &|_| None).unwrap();
    assert_eq!(doc, want);
    // The manifest's description of torch's file agrees on the model part too.
    let m = &manifest()["files"]["ok/training_checkpoint.pt"]["describe"]["structure"];
    assert!(m.to_string().contains("running_mean"), "{m}");

    // A missing buffer is a missing key, as PyTorch reports it.
    let mut partial = theirs.clone();
    partial.remove("bn.running_var");
    let e = load_state_dict(&mut small(), "Small", &partial, LoadOptions::default()).unwrap_err();
    assert!(
        e.to_string()
            .contains("Missing key(s) in state_dict: \"bn.running_var\"."),
        "{e}"
    );
}

#[test]
fn a_model_from_the_api_runs_and_moves() {
    let model = Sequential::new()
        .push(Conv2d::builder(3, 4, 3).padding(1).build().unwrap())
        .push(ReLU::new())
        .push(MaxPool2d::new(2))
        .push(Flatten::default())
        .push(Linear::new(4 * 4 * 4, 5).unwrap());
    let x = Tensor::from_vec(vec![0.5f32; 2 * 3 * 8 * 8], &[2, 3, 8, 8]).unwrap();
    let y = model.forward(&x).unwrap();
    assert_eq!(y.shape(), [2, 5]);
    // The layer is the op with the layer's tensors.
    let first = &model.named_parameters();
    let direct = conv2d(
        &x,
        &first[0].1,
        Some(&first[1].1),
        &Conv2dArgs {
            padding: [1, 1],
            ..Conv2dArgs::default()
        },
    )
    .unwrap();
    assert_eq!(direct.shape(), [2, 4, 8, 8]);
    assert_eq!(join_name("features", "0.weight"), "features.0.weight");
    assert_eq!(join_name("", "w"), "w");
    // Moving to a GPU that is not there is the one CUDA error, with the reason inside.
    let mut m = model;
    let missing = Device::Cuda(tensorport::cuda::device_count());
    match m.to_device(&missing) {
        Err(e @ Error::CudaUnavailable { .. }) => assert!(e.no_cuda_reason().is_some()),
        other => panic!("expected CudaUnavailable, got {:?}", other.err()),
    }
}

#[test]
fn the_thread_count_is_the_programs_choice() {
    let x = Tensor::from_vec(
        (0..2 * 3 * 16 * 16).map(|i| (i % 7) as f32 - 3.0).collect(),
        &[2, 3, 16, 16],
    )
    .unwrap();
    let model = Sequential::new()
        .push(
            Conv2d::builder(3, 8, 3)
                .padding(1)
                .relu(true)
                .build()
                .unwrap(),
        )
        .push(Flatten::default())
        .push(Linear::new(8 * 16 * 16, 4).unwrap());
    let default_threads = tensorport::num_threads();
    assert!(default_threads >= 1);
    let reference = model.forward(&x).unwrap().to_vec::<f32>().unwrap();
    for n in [1, 3, 0] {
        tensorport::set_num_threads(n).unwrap();
        let want = if n == 0 { default_threads } else { n };
        assert_eq!(
            tensorport::num_threads(),
            want,
            "after set_num_threads({n})"
        );
        // Each output is computed the same way whatever the split, so the bits agree.
        let y = model.forward(&x).unwrap().to_vec::<f32>().unwrap();
        assert_eq!(y, reference, "{n} threads");
    }
}
