//! The activation layers and pass-throughs of `tensorport::nn`: each forward is its op (bit
//! for bit), each `state_dict()` is empty as torch's, and the constructors refuse what torch's
//! refuse, with torch's messages.

use tensorport::nn::{
    Dropout, Hardsigmoid, Hardswish, Hardtanh, Identity, Module, ReLU6, SiLU, Sigmoid, GELU,
};
use tensorport::ops::{
    gelu, hardsigmoid, hardswish, hardtanh, relu6, sigmoid, silu, GeluApproximate,
};
use tensorport::{Error, Result, Tensor};

type Op = fn(&Tensor) -> Result<Tensor>;

#[test]
fn layers_are_their_ops_and_have_no_state() {
    let x = Tensor::from_vec(
        vec![
            -7.0f32,
            -3.0,
            -1.5,
            -0.0,
            0.0,
            0.25,
            2.0,
            3.0,
            6.5,
            f32::NAN,
        ],
        &[2, 5],
    )
    .unwrap();
    let gelu_tanh = |t: &Tensor| gelu(t, GeluApproximate::Tanh);
    let gelu_none = |t: &Tensor| gelu(t, GeluApproximate::None);
    let ht = |t: &Tensor| hardtanh(t, -2.0, 2.5);
    let layers: Vec<(Box<dyn Module>, Op)> = vec![
        (Box::new(ReLU6::new()), relu6),
        (Box::new(SiLU::new()), silu),
        (Box::new(Sigmoid::new()), sigmoid),
        (Box::new(Hardswish::new()), hardswish),
        (Box::new(Hardsigmoid::new()), hardsigmoid),
        (Box::new(Hardtanh::new(-2.0, 2.5).unwrap()), ht),
        (Box::new(GELU::new(GeluApproximate::Tanh)), gelu_tanh),
        (Box::new(GELU::default()), gelu_none),
    ];
    for (i, (layer, op)) in layers.iter().enumerate() {
        let (got, want) = (layer.forward(&x).unwrap(), op(&x).unwrap());
        let bits = |t: &Tensor| -> Vec<u32> {
            t.to_vec::<f32>()
                .unwrap()
                .iter()
                .map(|v| v.to_bits())
                .collect()
        };
        assert_eq!(bits(&got), bits(&want), "layer {i}");
        assert!(layer.state_dict().is_empty(), "layer {i} has state");
        assert!(layer.named_parameters().is_empty());
    }
    // Hardtanh() is [-1, 1]; GELU() the exact form; Dropout() p = 0.5.
    let d = Hardtanh::default();
    assert_eq!((d.min_val, d.max_val), (-1.0, 1.0));
    assert_eq!(GELU::default().approximate, GeluApproximate::None);
    assert_eq!(Dropout::default().p, 0.5);
    // Dropout (evaluation) and Identity return the input itself.
    for layer in [
        Box::new(Dropout::new(0.2).unwrap()) as Box<dyn Module>,
        Box::new(Identity::new()),
    ] {
        let y = layer.forward(&x).unwrap();
        assert!(y.shares_storage(&x) && y.shape() == x.shape());
        assert!(layer.state_dict().is_empty());
    }
}

#[test]
fn constructors_refuse_what_torch_refuses() {
    // torch: nn.Hardtanh(1., -1.) -> "max_val (-1.0) must be greater than min_val (1.0)";
    // equal bounds too (its assert is strict), while F.hardtanh accepts them.
    for (lo, hi) in [(1.0, -1.0), (2.5, 2.5), (f64::NAN, 1.0)] {
        let e = Hardtanh::new(lo, hi).unwrap_err();
        assert!(matches!(e, Error::InvalidArgument { .. }), "{e:?}");
    }
    let e = Hardtanh::new(1.0, -1.0).unwrap_err();
    assert!(
        e.to_string()
            .contains("max_val (-1.0) must be greater than min_val (1.0)"),
        "{e}"
    );
    // torch: nn.Dropout(1.5) -> "dropout probability has to be between 0 and 1, but got 1.5".
    for p in [1.5, -0.1, f64::NAN] {
        let e = Dropout::new(p).unwrap_err();
        assert!(
            e.to_string()
                .contains("dropout probability has to be between 0 and 1, but got"),
            "{e}"
        );
    }
    assert!(Dropout::new(0.0).is_ok() && Dropout::new(1.0).is_ok());
}
