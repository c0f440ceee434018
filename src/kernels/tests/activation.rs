//! The activation kernel through the emulator against the CPU op, every kind: bit for bit where
//! the formula is exact in IEEE arithmetic (hardtanh, relu6, hardswish, hardsigmoid), within a
//! few ulp where a libm function enters (the emulator calls glibc's expf/erff/tanhf through
//! <cmath>, the CPU op std's exp/tanh and the `libm` crate's erff); with specials and a grid
//! far below the launch shape's.

use super::closeness::{assert_close, Tol};
use super::rng::Rng;
use super::{run, EmuArg};
use crate::kernels::ActivationF32;
use crate::ops::activation::Activation;
use crate::ops::{gelu, hardsigmoid, hardswish, hardtanh, relu6, sigmoid, silu, GeluApproximate};
use crate::tensor::Tensor;

/// Inputs over the ranges where the functions bend (±3, ±6, the exp overflow near ±88.7),
/// large magnitudes, and specials.
fn inputs(n: usize) -> Vec<f32> {
    let mut rng = Rng::new(11);
    let mut x: Vec<f32> = rng
        .vec_with_specials(n, 8)
        .into_iter()
        .map(|v| {
            if v.is_finite() && v.abs() > 1e-30 {
                v * 12.0
            } else {
                v
            }
        })
        .collect();
    let edges = [
        -3.0,
        3.0,
        -6.0,
        6.0,
        -0.0,
        0.0,
        -88.0,
        88.0,
        -87.5,
        87.5,
        -104.0,
        104.0,
        1e30,
        -1e30,
        0.5,
        -0.5,
        1.0,
        -1.0,
        f32::MAX,
        f32::MIN_POSITIVE,
    ];
    x.extend_from_slice(&edges);
    x
}

#[test]
fn activation_matches_cpu_every_kind() {
    type Op = Box<dyn Fn(&Tensor) -> crate::error::Result<Tensor>>;
    let eps = f64::from(f32::EPSILON);
    // A libm function: both sides within ~2 ulp of the true value, so 4 ulp relative, plus
    // subnormal results at the smallest normal; gelu's 1 + erf cancels for x << 0, so its error
    // scales with |x| (see tests/ops_activation.rs for the derivation).
    let libm = Tol::AbsRel {
        atol: f64::from(f32::MIN_POSITIVE),
        rtol: 4.0 * eps,
    };
    let cases: Vec<(Activation, Op, bool)> = vec![
        (
            Activation::Hardtanh {
                min_val: -1.0,
                max_val: 1.0,
            },
            Box::new(|t| hardtanh(t, -1.0, 1.0)),
            true,
        ),
        (
            Activation::Hardtanh {
                min_val: 0.0,
                max_val: 6.0,
            },
            Box::new(relu6),
            true,
        ),
        (
            // Bounds that round when converted to float32 (0.1, 1/3).
            Activation::Hardtanh {
                min_val: -0.1,
                max_val: 1.0 / 3.0,
            },
            Box::new(|t| hardtanh(t, -0.1, 1.0 / 3.0)),
            true,
        ),
        (Activation::Hardswish, Box::new(hardswish), true),
        (Activation::Hardsigmoid, Box::new(hardsigmoid), true),
        (Activation::Silu, Box::new(silu), false),
        (Activation::Sigmoid, Box::new(sigmoid), false),
        (
            Activation::Gelu(GeluApproximate::None),
            Box::new(|t| gelu(t, GeluApproximate::None)),
            false,
        ),
        (
            Activation::Gelu(GeluApproximate::Tanh),
            Box::new(|t| gelu(t, GeluApproximate::Tanh)),
            false,
        ),
    ];
    for n in [0usize, 1, 300, 5000] {
        let x = inputs(n);
        let xt = Tensor::from_slice(&x, &[x.len()]).unwrap();
        for (act, op, exact) in &cases {
            let want = op(&xt).unwrap().to_vec::<f32>().unwrap();
            let p = act.params(&xt).unwrap();
            let gelu_tol: Vec<f64> = x
                .iter()
                .zip(&want)
                .map(|(&x, &y)| 4.0 * eps * (f64::from(x).abs() + f64::from(y).abs()) + 1e-38)
                .collect();
            let tol = match act {
                _ if *exact => Tol::Bits,
                Activation::Gelu(_) => Tol::Each(&gelu_tol),
                _ => libm,
            };
            for grid in [None, Some([2, 1, 1])] {
                let mut y = vec![f32::from_bits(0x7fc0_dead); x.len()];
                run::<ActivationF32>(&p, grid, &mut [EmuArg::In(&x), EmuArg::Out(&mut y)]).unwrap();
                assert_close(&format!("{act:?} n={n} grid {grid:?}"), &y, &want, tol);
            }
        }
    }
}
